"""chDB: ClickHouse inside this process, data in a local directory (the default, no server).

chDB allows one data directory per process and the directory must not be shared between live
processes, so exactly one process (the collector) opens it for writing; readers in other processes
go through that process's query endpoint (`ServiceAttemptStore`).

Reads run on a second connection opened with `readonly=1`, so the query path cannot write even if
handed a write statement. chDB connections are not meant for concurrent use, hence one lock each.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from routeledger.errors import QueryError, StoreError
from routeledger.store.params import bind_params
from routeledger.store.schema import SCHEMA_VERSION_DDL, SESSION_SETTINGS, apply_migrations, retention_statements

INSERT_ATTEMPTS = (
    "INSERT INTO llm_attempts ({columns}) "
    "SETTINGS insert_deduplication_token = {{token:String}}, deduplicate_blocks_in_dependent_materialized_views = 1 "
    "SELECT * FROM Python(batch)"
)


class ChdbAttemptStore:
    """Embedded store; `readonly=True` opens only the read connection (CLI without a service)."""

    def __init__(self, path: str | Path, database: str, *, readonly: bool = False, ttl_days: int = 0) -> None:
        import chdb

        self.path = Path(path).resolve()
        self.database = database
        self.readonly = readonly
        self.ttl_days = ttl_days
        self.path.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._writer = None if readonly else chdb.connect(str(self.path))
        if self._writer is not None:
            self._writer.query("CREATE DATABASE IF NOT EXISTS {db:Identifier}", params={"db": database})
            self._writer.query("USE {db:Identifier}", params={"db": database})
        self._reader = chdb.connect(f"{self.path}?readonly=1")
        if readonly and not self._has_database():
            # A fresh machine: nothing written yet. Reads see an empty ledger, not an error.
            self._reader.close()
            self._reader = chdb.connect(str(self.path))
            self._reader.query("CREATE DATABASE IF NOT EXISTS {db:Identifier}", params={"db": database})
            self._reader.query("USE {db:Identifier}", params={"db": database})
            self.migrate_with(self._reader)
            self._reader.close()
            self._reader = chdb.connect(f"{self.path}?readonly=1")
        self._reader.query("USE {db:Identifier}", params={"db": database})

    def _has_database(self) -> bool:
        result = self._reader.query(
            "SELECT count() FROM system.tables WHERE database = {db:String} AND name = 'llm_attempts'",
            "CSV",
            params={"db": self.database},
        )
        return str(result).strip() != "0"

    def migrate(self) -> list[str]:
        if self._writer is None:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            done = self.migrate_with(self._writer)
            for statement in retention_statements(self.ttl_days):
                self._writer.query(statement)
            return done

    @staticmethod
    def migrate_with(conn: Any) -> list[str]:
        conn.query(SCHEMA_VERSION_DDL)
        versions = conn.query("SELECT version FROM schema_version", "ArrowTable")
        applied = {int(v) for v in versions.column("version").to_pylist()}

        def execute(sql: str, params: Mapping[str, Any] | None) -> None:
            conn.query(sql, params=bind_params(params) if params else None)

        return apply_migrations(execute, applied)

    def insert_attempts(self, batch: pa.Table, dedup_token: str) -> None:
        if self._writer is None:
            raise StoreError("this store was opened read-only")
        sql = INSERT_ATTEMPTS.format(columns=", ".join(batch.column_names))
        with self._write_lock:
            try:
                self._writer.query(sql, params=bind_params({"token": dedup_token}))
            except Exception as exc:
                raise StoreError(f"insert into llm_attempts failed: {_clean_error(str(exc))}") from exc

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement on the writer connection (DDL, admin); not for request data."""
        if self._writer is None:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            self._writer.query(sql, params=bind_params(params) if params else None)

    def session_settings(self, names: Sequence[str]) -> dict[str, str]:
        """Read on the writer connection: its session is the one inserts run in, and chDB keeps
        settings per connection (the reader's are not the writer's)."""
        if self._writer is None:
            raise StoreError("this store was opened read-only")
        with self._write_lock:
            found = self._writer.query(SESSION_SETTINGS, "ArrowTable", params=bind_params({"names": list(names)}))
        return {str(r["name"]): str(r["value"]) for r in found.to_pylist()}

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        with self._read_lock:
            try:
                result: pa.Table = self._reader.query(sql, "ArrowTable", params=bind_params(params) if params else None)
            except Exception as exc:
                raise QueryError(_clean_error(str(exc))) from exc
        return result

    def close(self) -> None:
        for conn in (self._writer, self._reader):
            if conn is not None:
                conn.close()
        self._writer = None


def _clean_error(message: str) -> str:
    """ClickHouse messages carry a stack trace and version; keep the first sentence."""
    first = message.strip().splitlines()[0] if message.strip() else "query failed"
    return first.split(" (version ")[0][:500]
