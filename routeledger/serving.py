"""Running our HTTP services: on a chosen or free port, announcing readiness, in a thread for tests.

Readiness is announced by a JSON file written atomically once the socket listens (`--ready-file`),
so a supervisor (the demo, a test fixture) waits for the file instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

#: Cyclic-GC thresholds once serving. The default young generation (700 allocations) collects
#: every couple of requests on the proxy path; 20,000 cut the router's CPU per request by 2-5% at
#: concurrency 64 (lower in 5 of 6 alternating pairs, 2026-12-02), and the young generation still
#: holds at most a few MB of garbage.
GC_THRESHOLDS = (20_000, 50, 100)


def install_event_loop() -> None:
    """uvloop when installed: a faster loop for the proxy and the simulator."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def write_ready_file(path: Path, url: str, **extra: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), **extra}), encoding="utf-8")
    os.replace(tmp, path)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket bound before the server starts, so port 0 yields a known free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def socket_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


def uvicorn_config(app: Any, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 5,
        "timeout_keep_alive": 30,
        "backlog": 4096,
        # No X-Forwarded-* rewriting (client addresses are never trusted for anything here) and no
        # Server header: less work per request, nothing to fingerprint.
        "proxy_headers": False,
        "server_header": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(
    app: Any,
    host: str,
    port: int,
    ready_file: Path | None = None,
    *,
    sock: socket.socket | None = None,
    **ready_extra: Any,
) -> None:
    """Serve an ASGI app until SIGINT/SIGTERM (uvicorn handles both gracefully)."""
    install_event_loop()
    sock = sock or bind_socket(host, port)
    url = socket_url(sock)
    server = uvicorn.Server(uvicorn_config(app, loop="none"))

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                await task
                return
            await asyncio.sleep(0.01)
        # Everything built at startup (config, pydantic models, routing tables, imported modules)
        # lives as long as the process: move it out of the cyclic collector's view, so collections
        # triggered by request garbage do not rescan it (~tens of thousands of objects each time).
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        print(json.dumps({"listening": url}), flush=True)
        if ready_file:
            write_ready_file(ready_file, url, **ready_extra)
        await task

    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal; with the default action
    # that would kill the process before the caller's `finally` blocks (close the store, remove
    # the service file) run. Turning it into SystemExit lets them run.
    signal.signal(signal.SIGTERM, _exit_gracefully)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def _exit_gracefully(signum: int, frame: object) -> None:
    raise SystemExit(0)


class ServerThread:
    """An ASGI app served by uvicorn on a background thread (tests; real HTTP on 127.0.0.1)."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._sock = bind_socket(host, port)
        self.url = socket_url(self._sock)
        self._server = uvicorn.Server(uvicorn_config(app, loop="asyncio"))
        self._thread = threading.Thread(target=self._run, name=f"server {self.url}", daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._sock]))

    def start(self, timeout_s: float = 20.0) -> ServerThread:
        """Start and wait until uvicorn reports it is serving (startup hooks done)."""
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server {self.url} failed to start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(15)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
