"""The collector as a running service: owns the store, serves OTLP, announces itself to readers.

With the embedded store, the collector is the one process that owns the chDB directory; it writes
`service.json` next to the data so the CLI and dashboard read through its query endpoint instead of
opening the directory themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from routeledger.collector.app import create_app, refuse_unguarded, refuse_unsafe_insert_settings
from routeledger.config import RouteledgerConfig
from routeledger.serving import bind_socket, serve, socket_url, write_ready_file
from routeledger.store import AttemptStore, open_writer
from routeledger.store.base import service_file
from routeledger.store.embedded import ChdbAttemptStore


def run_collector(
    config: RouteledgerConfig,
    host: str,
    port: int,
    ready_file: Path | None = None,
    *,
    on_store: Callable[[AttemptStore], Callable[[], None]] | None = None,
) -> None:
    """Serve until stopped. `on_store` starts work that needs the owned store (the alert scheduler,
    composed by the CLI: stages do not import each other) and returns how to stop it."""
    store = open_writer(config)
    try:
        store.migrate()
        refuse_unguarded(store)
        refuse_unsafe_insert_settings(store)
    except BaseException:
        store.close()
        raise
    sock = bind_socket(host, port)
    announce = service_file(config) if isinstance(store, ChdbAttemptStore) else None
    stop_extra = on_store(store) if on_store is not None else None
    try:
        if announce is not None:
            write_ready_file(announce, socket_url(sock))
        serve(create_app(config, store), host, port, ready_file, sock=sock)
    finally:
        if stop_extra is not None:
            stop_extra()
        if announce is not None:
            with contextlib.suppress(FileNotFoundError):
                announce.unlink()
        store.close()
