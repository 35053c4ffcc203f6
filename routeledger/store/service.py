"""Read through the running collector's query endpoint (it owns the embedded chDB directory).

The endpoint runs the statement on a `readonly=1` connection and answers Arrow IPC, so a reader in
another process (CLI, dashboard) sees exactly what an in-process query would return.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.ipc

from routeledger.errors import QueryError, StoreError, StoreUnavailable

QUERY_PATH = "/v1/query"
ARROW_STREAM = "application/vnd.apache.arrow.stream"


class ServiceAttemptStore:
    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 60.0) -> None:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        self._client = httpx.Client(base_url=url, headers=headers, timeout=timeout_s)

    def migrate(self) -> list[str]:
        raise StoreError("the service owns the schema; migrations run in the collector")

    def insert_attempts(self, batch: pa.Table, dedup_token: str) -> None:
        raise StoreError("the query endpoint is read-only; send spans over OTLP instead")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        try:
            response = self._client.post(QUERY_PATH, json={"sql": sql, "params": _jsonable(params or {})})
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"the routeledger service is not reachable: {exc}") from exc
        if response.status_code != 200:
            try:
                message = response.json()["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = response.text[:500]
            raise QueryError(message)
        with pa.ipc.open_stream(response.content) as reader:
            return reader.read_all()

    def close(self) -> None:
        self._client.close()


def _jsonable(params: Mapping[str, Any]) -> dict[str, Any]:
    """Dates and decimals travel as strings; ClickHouse parses them per the placeholder type."""
    return {key: _json_value(value) for key, value in params.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return str(value)
