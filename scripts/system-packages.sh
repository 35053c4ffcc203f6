#!/usr/bin/env bash
# System packages the tests start for real, installed once on a fresh machine; `make test` and
# `.ci/run` both call this, so the README's two commands remain the whole set-up:
#   redis-server  shared router state across replicas (tests/router/policy/test_guardrail_state.py)
#   chromium      the dashboard's end-to-end test drives it headless; playwright never downloads one
# Nothing is installed when every command is already there. Needs root or sudo and Debian's apt.
set -euo pipefail

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "system-packages: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO="sudo"
fi
command -v apt-get >/dev/null || { echo "system-packages: install these yourself (no apt-get here): ${missing[*]}" >&2; exit 1; }
echo "system-packages: installing ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
