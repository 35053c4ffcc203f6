"""Shared helpers for the benches: start servers as processes, run the load generator, print tables."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent


@contextmanager
def process(args: list[str], env: dict[str, str] | None = None, timeout_s: float = 60) -> Iterator[str]:
    """Run `args` with `--ready-file` appended style (READY placeholder) and yield its URL."""
    workdir = Path(tempfile.mkdtemp(prefix="routeledger-bench-"))
    ready = workdir / "ready.json"
    log = (workdir / "log.txt").open("wb")
    argv = [a.replace("{READY}", str(ready)) for a in args]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=ROOT)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:  # the file may be seen before its writer has finished it (not every stage renames)
                url = json.loads(ready.read_text())["url"]
                break
            except (OSError, ValueError, KeyError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise RuntimeError(f"{argv} failed to start:\n{(workdir / 'log.txt').read_text()[-2000:]}")
            time.sleep(0.02)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def routeledger(*args: str) -> list[str]:
    return [sys.executable, "-m", "routeledger", *args, "--port", "0", "--ready-file", "{READY}"]


def load(
    url: str, path: str, body: dict[str, Any], connections: int, seconds: float, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the load generator in its own process (its own core) and return its JSON result."""
    host, port = url.removeprefix("http://").split(":")
    with tempfile.TemporaryDirectory() as tmp:
        result_file = Path(tmp) / "result.json"
        subprocess.run(
            [
                sys.executable,
                str(BENCH / "loadgen.py"),
                host,
                port,
                path,
                str(connections),
                str(seconds),
                json.dumps(body),
                json.dumps(headers or {}),
                str(result_file),
            ],
            check=True,
        )
        result: dict[str, Any] = json.loads(result_file.read_text(encoding="utf-8"))
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    view = Table(title=title, title_justify="left")
    for c in columns:
        view.add_column(c, justify="right")
    for row in rows:
        view.add_row(*(f"{v:,.2f}" if isinstance(v, float) else str(v) for v in row))
    Console(width=160).print(view)
