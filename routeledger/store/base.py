"""The store interface and how a process picks its backend."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from routeledger.config import CLICKHOUSE_URL_ENV, RouteledgerConfig

#: Written by the collector while it owns the chDB directory; readers go through its endpoint.
SERVICE_FILE = "service.json"


class AttemptStore(Protocol):
    """What every stage needs from ClickHouse: schema, idempotent batch inserts, read queries."""

    def migrate(self) -> list[str]:
        """Apply pending schema migrations; returns the names applied (idempotent)."""
        ...

    def insert_attempts(self, batch: pa.Table, dedup_token: str) -> None:
        """Insert one batch atomically; the same token again within the window inserts nothing."""
        ...

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run a read-only query with bound `{name:Type}` parameters."""
        ...

    def close(self) -> None: ...


class WriterStore(AttemptStore, Protocol):
    """A store the collector writes through (`open_writer`): chDB or a ClickHouse server."""

    def session_settings(self, names: Sequence[str]) -> dict[str, str]:
        """The values of these ClickHouse settings in the session that inserts (as `system.settings`
        shows them: the user's profile, the connection's parameters, the engine's defaults), so the
        collector can refuse a session that would lose or double count batches (F32). Names the
        engine does not know are absent."""
        ...


def service_file(config: RouteledgerConfig) -> Path:
    return Path(config.store.path).parent / SERVICE_FILE


def running_service_url(config: RouteledgerConfig) -> str | None:
    """URL of the collector that owns the embedded store, if one is running."""
    path = service_file(config)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        pid = int(info["pid"])
        url = str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return url


def open_writer(config: RouteledgerConfig, environ: Mapping[str, str] | None = None) -> WriterStore:
    """The store the collector writes to: a ClickHouse server if configured, else embedded chDB."""
    env = os.environ if environ is None else environ
    url = env.get(CLICKHOUSE_URL_ENV)
    if url:
        from routeledger.store.server import ClickHouseAttemptStore

        return ClickHouseAttemptStore(url, config.store.database, ttl_days=config.store.ttl_days)
    from routeledger.store.embedded import ChdbAttemptStore

    return ChdbAttemptStore(config.store.path, config.store.database, ttl_days=config.store.ttl_days)


def open_reader(config: RouteledgerConfig, environ: Mapping[str, str] | None = None) -> AttemptStore:
    """The store a reader (CLI, dashboard) uses: server, else the running service, else chDB."""
    env = os.environ if environ is None else environ
    url = env.get(CLICKHOUSE_URL_ENV)
    if url:
        from routeledger.store.server import ClickHouseAttemptStore

        return ClickHouseAttemptStore(url, config.store.database, readonly=True)
    service = running_service_url(config)
    if service:
        from routeledger.store.service import ServiceAttemptStore

        return ServiceAttemptStore(service, token=env.get("ROUTELEDGER_QUERY_TOKEN"))
    from routeledger.store.embedded import ChdbAttemptStore

    return ChdbAttemptStore(config.store.path, config.store.database, readonly=True)
