"""The embedded store: migrations, idempotent batch inserts, read-only queries, bound parameters."""

from __future__ import annotations

from decimal import Decimal

import pytest

from routeledger.attempt import ATTEMPT_SCHEMA, AttemptRow, rows_to_arrow
from routeledger.errors import QueryError
from routeledger.store.embedded import ChdbAttemptStore


def row(i: int, **changes: object) -> AttemptRow:
    base: dict[str, object] = {
        "start_ns": 1_790_000_000_000_000_000 + i * 1_000_000,
        "request_id": f"req-{i // 2}",
        "attempt": i % 2 + 1,
        "trace_id": f"{i:032x}",
        "span_id": f"{i:016x}",
        "decision": "first" if i % 2 == 0 else "fallback",
        "route": "support",
        "task": "support_chat",
        "tenant": "acme",
        "feature": "chat",
        "traffic_class": "critical",
        "model": "beta-sonnet",
        "provider": "beta",
        "provider_name": "anthropic",
        "request_model": "claude-sonnet-4-5",
        "response_model": "claude-sonnet-4-5",
        "server_address": "127.0.0.1",
        "outcome": "success",
        "failure_class": "",
        "error_type": "",
        "http_status": 200,
        "finish_reason": "stop",
        "billable": True,
        "reason": "",
        "stream": False,
        "input_tokens": 2000,
        "output_tokens": 500,
        "cache_read_tokens": 0,
        "cost_usd": Decimal("0.0135"),
        "price_source": "genai-prices",
        "duration_ms": 12.5,
        "ttft_ms": None,
        "service": "test",
    }
    base.update(changes)
    return AttemptRow(**base)  # type: ignore[arg-type]


def test_arrow_schema_matches_the_migrated_column_order(store: ChdbAttemptStore) -> None:
    found = store.query(
        "SELECT name FROM system.columns"
        " WHERE database = currentDatabase() AND table = 'llm_attempts' ORDER BY position"
    )
    columns = found.column("name").to_pylist()
    assert columns[: len(ATTEMPT_SCHEMA)] == ATTEMPT_SCHEMA.names
    assert columns[len(ATTEMPT_SCHEMA) :] == ["ingested_at"]


def test_migrations_are_idempotent(store: ChdbAttemptStore) -> None:
    assert store.migrate() == []
    versions = store.query("SELECT version, name FROM schema_version ORDER BY version").to_pylist()
    assert versions[0] == {"version": 1, "name": "0001_llm_attempts.sql"}


def test_the_same_batch_twice_is_stored_once(store: ChdbAttemptStore) -> None:
    batch = rows_to_arrow([row(i) for i in range(10)])
    store.insert_attempts(batch, "token-a")
    store.insert_attempts(batch, "token-a")
    result = store.query("SELECT count() AS n, sum(cost_usd) AS cost FROM llm_attempts").to_pylist()
    assert result == [{"n": 10, "cost": Decimal("0.135")}]
    store.insert_attempts(batch, "token-b")  # a different token is a different batch
    assert store.query("SELECT count() AS n FROM llm_attempts").to_pylist() == [{"n": 20}]


def test_values_round_trip_exactly(store: ChdbAttemptStore) -> None:
    original = row(3, cost_usd=Decimal("0.000000123"), ttft_ms=41.5, reason="provider_error")
    store.insert_attempts(rows_to_arrow([original]), "t")
    stored = store.query("SELECT * FROM llm_attempts").to_pylist()[0]
    assert stored["cost_usd"] == Decimal("0.000000123")
    assert stored["ttft_ms"] == 41.5
    assert stored["ts"].timestamp() == pytest.approx(original.start_ns / 1e9)
    assert (stored["trace_id"], stored["span_id"], stored["attempt"]) == (original.trace_id, original.span_id, 2)


def test_the_query_path_is_read_only(store: ChdbAttemptStore) -> None:
    for statement in (
        "DROP TABLE llm_attempts",
        "INSERT INTO llm_attempts (request_id) VALUES ('x')",
        "SELECT 1 SETTINGS readonly = 0",
    ):
        with pytest.raises(QueryError):
            store.query(statement)
    assert store.query("SELECT count() AS n FROM llm_attempts").to_pylist() == [{"n": 0}]


@pytest.mark.parametrize(
    "value", ["plain", "it's", "back\\slash", "' OR 1=1 --", "union select", "ünïcødé", "tab\there"]
)
def test_parameters_are_bound_not_formatted(store: ChdbAttemptStore, value: str) -> None:
    store.insert_attempts(rows_to_arrow([row(0, tenant=value)]), f"t-{value}")
    found = store.query(
        "SELECT tenant FROM llm_attempts WHERE has({tenants:Array(String)}, tenant)", {"tenants": [value]}
    )
    assert found.to_pylist() == [{"tenant": value}]


def test_errors_are_one_clean_line(store: ChdbAttemptStore) -> None:
    with pytest.raises(QueryError) as caught:
        store.query("SELECT (1 FROM")
    assert "\n" not in str(caught.value)
    assert "Syntax error" in str(caught.value)


def test_a_reader_on_a_fresh_directory_sees_an_empty_ledger(chdb_dir: object) -> None:
    reader = ChdbAttemptStore(str(chdb_dir), "t_fresh_reader", readonly=True)
    try:
        assert reader.query("SELECT count() AS n FROM llm_attempts").to_pylist() == [{"n": 0}]
    finally:
        reader.close()
