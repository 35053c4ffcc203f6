"""`routeledger dashboard`: run `streamlit run dashboards/app.py` as a child process and supervise it.

The child gets the config path through ROUTELEDGER_CONFIG and reads the store the same way the CLI
does (`open_reader`). Readiness is Streamlit's own health endpoint answering, polled with a deadline;
then the URL is printed (and written to `--ready-file` for supervisors and tests).
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import httpx

from routeledger.config import CONFIG_ENV, RouteledgerConfig
from routeledger.errors import RouteledgerError
from routeledger.serving import write_ready_file

APP = Path(__file__).with_name("app.py")
HEALTH_PATH = "/_stcore/health"
#: Streamlit imports pandas, altair and plotly before it answers; on a busy 2-core machine that
#: takes a few seconds, so allow a generous start.
START_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.1


class DashboardError(RouteledgerError):
    """The dashboard cannot be started as asked (unsafe exposure, server did not come up)."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    """A port free right now on `host` (Streamlit cannot listen on port 0 and report the port)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def streamlit_command(host: str, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--server.runOnSave",
        "false",
        "--browser.gatherUsageStats",
        "false",
        "--global.developmentMode",
        "false",
        "--client.toolbarMode",
        "viewer",
        "--client.showErrorDetails",
        "none",
    ]


def check_exposure(config: RouteledgerConfig, host: str, environ: Mapping[str, str], allow_anonymous: bool) -> None:
    """Beyond localhost the ledger (tenants, spend) is not for everyone: require a password."""
    if is_loopback(host) or allow_anonymous or config.dashboard.password(environ):
        return
    raise DashboardError(
        f"refusing to serve the dashboard on {host} without a password: set "
        f"{config.dashboard.password_env} (or pass --allow-anonymous)"
    )


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DashboardError(f"streamlit exited with code {process.returncode} before it was ready")
        try:
            if httpx.get(url + HEALTH_PATH, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(POLL_INTERVAL_S)
    raise DashboardError(f"the dashboard did not answer on {url} within {timeout_s:.0f} s")


def run_dashboard(
    config: RouteledgerConfig,
    config_path: Path,
    host: str,
    port: int,
    ready_file: Path | None = None,
    *,
    allow_anonymous: bool = False,
) -> int:
    """Start Streamlit, wait until it answers, print the URL, and run until stopped; the exit code."""
    env = dict(os.environ)
    check_exposure(config, host, env, allow_anonymous)
    port = port or free_port(host)
    env[CONFIG_ENV] = str(config_path.resolve())
    env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] = "false"
    process = subprocess.Popen(streamlit_command(host, port), env=env)

    def stop(signum: int, frame: FrameType | None) -> None:
        process.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    url = f"http://{host}:{port}"
    try:
        wait_ready(url, process)
    except DashboardError:
        process.terminate()
        process.wait(10)
        raise
    print(f"routeledger dashboard on {url}", flush=True)
    if ready_file is not None:
        write_ready_file(ready_file, url)
    return process.wait()
