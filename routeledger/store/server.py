"""A ClickHouse server through clickhouse-connect (production; ROUTELEDGER_CLICKHOUSE_URL).

Same DDL and same analytics SQL as the embedded store. The URL is a clickhouse-connect DSN such as
`http://user:password@clickhouse:8123`. Readers pass `readonly=1` with every query, so the query
path cannot write whatever the account's grants are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from routeledger.errors import QueryError, StoreError, StoreUnavailable
from routeledger.store.embedded import _clean_error
from routeledger.store.params import normalize_params
from routeledger.store.schema import SCHEMA_VERSION_DDL, SESSION_SETTINGS, apply_migrations, retention_statements


def insert_settings(token: str) -> dict[str, str | int]:
    """Exactly-once inserts: the batch token, honoured by every materialized-view target too; a
    synchronous insert (async inserts would deduplicate differently and ack before the write). The
    session's own settings (user profile, URL parameters) are checked when the collector starts, and
    one that would run async inserts without waiting, or deduplicate them past the views, is refused
    (`collector.app.refuse_unsafe_insert_settings`)."""
    return {
        "insert_deduplication_token": token,
        "deduplicate_blocks_in_dependent_materialized_views": 1,
        "async_insert": 0,
    }


class ClickHouseAttemptStore:
    def __init__(self, url: str, database: str, *, readonly: bool = False, ttl_days: int = 0) -> None:
        import clickhouse_connect

        self.database = database
        self.readonly = readonly
        self.ttl_days = ttl_days
        try:
            admin = clickhouse_connect.get_client(dsn=url)
            if not readonly:
                admin.command("CREATE DATABASE IF NOT EXISTS {db:Identifier}", parameters={"db": database})
            admin.close()
            self._client = clickhouse_connect.get_client(dsn=url, database=database)
        except Exception as exc:
            raise StoreUnavailable(f"cannot reach ClickHouse: {_clean_error(str(exc))}") from exc

    def migrate(self) -> list[str]:
        if self.readonly:
            raise StoreError("this store was opened read-only")
        self._client.command(SCHEMA_VERSION_DDL)
        versions = self._client.query_arrow("SELECT version FROM schema_version")
        applied = {int(v) for v in versions.column("version").to_pylist()}

        def execute(sql: str, params: Mapping[str, Any] | None) -> None:
            self._client.command(sql, parameters=dict(params) if params else None)

        done = apply_migrations(execute, applied)
        for statement in retention_statements(self.ttl_days):
            self._client.command(statement)
        return done

    def insert_attempts(self, batch: pa.Table, dedup_token: str) -> None:
        if self.readonly:
            raise StoreError("this store was opened read-only")
        try:
            self._client.insert_arrow("llm_attempts", batch, settings=insert_settings(dedup_token))
        except Exception as exc:
            raise StoreError(f"insert into llm_attempts failed: {_clean_error(str(exc))}") from exc

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._client.command(sql, parameters=dict(params) if params else None)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        settings = {"readonly": 1} if self.readonly else None
        try:
            result: pa.Table = self._client.query_arrow(
                sql, parameters=normalize_params(params) if params else None, settings=settings
            )
        except Exception as exc:
            raise QueryError(_clean_error(str(exc))) from exc
        return result

    def session_settings(self, names: Sequence[str]) -> dict[str, str]:
        """Through the inserting client: the server user's profile and the URL's query parameters
        (clickhouse-connect sends those as session settings) both show in `system.settings`."""
        try:
            found = self._client.query_arrow(SESSION_SETTINGS, parameters={"names": list(names)})
        except Exception as exc:
            raise StoreError(f"cannot read the session's settings: {_clean_error(str(exc))}") from exc
        return {str(r["name"]): str(r["value"]) for r in found.to_pylist()}

    def close(self) -> None:
        self._client.close()
