"""Exactly once in the store: a retried batch (same insert_deduplication_token) is counted once on the
source table and in every materialized-view target; the OTel Collector `otel_traces` layout feeds
`llm_attempts` through its view; retention and the schema version are idempotent (F28, F31)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from routeledger import semconv as sc
from routeledger.attempt import rows_to_arrow
from routeledger.store.embedded import ChdbAttemptStore
from routeledger.store.schema import migration_files
from tests.routeledger.store.test_embedded import row

START = 1_790_000_000_000_000_000

OTEL_INSERT = (
    "INSERT INTO otel_traces (Timestamp, TraceId, SpanId, SpanName, SpanKind, ServiceName, SpanAttributes, "
    "Duration, StatusCode) SETTINGS insert_deduplication_token = {token:String}, "
    "deduplicate_blocks_in_dependent_materialized_views = 1 VALUES "
)


def otel_values(n: int) -> str:
    """Rows as the contrib ClickHouse exporter writes them: every attribute value a string."""
    out = []
    for i in range(n):
        attrs = {
            sc.REQUEST_ID: f"otel-{i}",
            sc.ATTEMPT: "1",
            sc.ROUTE: "support",
            sc.MODEL: "beta-sonnet",
            sc.COST_USD: "0.0135",
            sc.BILLABLE: "true",
            sc.GEN_AI_USAGE_INPUT_TOKENS: "2000",
            sc.GEN_AI_RESPONSE_FINISH_REASONS: '["stop"]',
            sc.HTTP_RESPONSE_STATUS_CODE: "200",
            sc.API_KEY: "support-app",
        }
        mapping = ", ".join(f"'{k}': '{v}'" for k, v in attrs.items())
        out.append(
            f"(fromUnixTimestamp64Nano({START + i}), '{i + 1:032X}', '{i + 1:016X}', 'chat claude-sonnet-4-5', "
            f"'Client', 'otel-router', {{{mapping}}}, 25000000, 'Ok')"
        )
    # a request span (no routeledger.attempt): kept in otel_traces, never an attempt row
    out.append(
        f"(fromUnixTimestamp64Nano({START}), '{0:032x}', '{99:016x}', 'POST /v1/chat/completions', 'Server', "
        "'otel-router', {'http.route': '/v1/chat/completions'}, 1, 'Ok')"
    )
    return ",\n".join(out)


def count_and_sum(store: ChdbAttemptStore, table: str) -> dict[str, object]:
    sql = f"SELECT count() AS n, uniqExact(span_id) AS spans, sum(cost_usd) AS cost FROM {table}"  # noqa: S608
    result: dict[str, object] = store.query(sql).to_pylist()[0]
    return result


def test_retried_llm_attempts_batch_counted_once_in_table_and_view(store: ChdbAttemptStore) -> None:
    # A materialized view over llm_attempts (as analytics roll-ups are) with its own window.
    store.execute(
        "CREATE TABLE spend_by_route (route LowCardinality(String), n UInt64, cost Decimal(38, 9)) "
        "ENGINE = SummingMergeTree ORDER BY route SETTINGS non_replicated_deduplication_window = 1000"
    )
    store.execute(
        "CREATE MATERIALIZED VIEW spend_by_route_mv TO spend_by_route AS "
        "SELECT route, count() AS n, sum(cost_usd) AS cost FROM llm_attempts GROUP BY route"
    )
    batch = rows_to_arrow([row(i) for i in range(10)])
    store.insert_attempts(batch, "token-a")
    store.insert_attempts(batch, "token-a")  # the retry after an ambiguous failure
    assert count_and_sum(store, "llm_attempts") == {"n": 10, "spans": 10, "cost": Decimal("0.135")}
    view = store.query("SELECT sum(n) AS n, sum(cost) AS cost FROM spend_by_route").to_pylist()
    assert view == [{"n": 10, "cost": Decimal("0.135")}]
    print("RESULT name=same_batch_twice table_rows=10 view_rows=10 dup=0")


def test_otel_traces_layout_feeds_llm_attempts_once(store: ChdbAttemptStore) -> None:
    values = otel_values(5)
    store.execute(OTEL_INSERT + values, {"token": "otel-batch-1"})
    store.execute(OTEL_INSERT + values, {"token": "otel-batch-1"})
    assert store.query("SELECT count() AS n FROM otel_traces").to_pylist() == [{"n": 6}]
    rows = store.query(
        "SELECT request_id, attempt, trace_id, span_id, route, cost_usd, billable, input_tokens, finish_reason, "
        "http_status, duration_ms, service, api_key FROM llm_attempts ORDER BY request_id"
    ).to_pylist()
    assert len(rows) == 5
    assert rows[0] == {
        "request_id": "otel-0",
        "attempt": 1,
        "trace_id": f"{1:032x}",
        "span_id": f"{1:016x}",
        "route": "support",
        "cost_usd": Decimal("0.013500000"),
        "billable": True,
        "input_tokens": 2000,
        "finish_reason": "stop",
        "http_status": 200,
        "duration_ms": 25.0,
        "service": "otel-router",
        "api_key": "support-app",
    }


@pytest.mark.parametrize("migration", ["0003_otel_traces_to_llm_attempts.sql", "0020_api_key.sql"])
def test_the_view_reads_only_attribute_names_from_semconv(migration: str) -> None:
    sql = dict((name, text) for _, name, text in migration_files())[migration]
    used = set(re.findall(r"SpanAttributes\['([^']+)'\]", sql)) | set(
        re.findall(r"mapContains\(SpanAttributes, '([^']+)'\)", sql)
    )
    known = {v for k, v in vars(sc).items() if k.isupper() and isinstance(v, str)}
    assert used and used <= known, used - known


def test_every_merge_tree_table_has_a_deduplication_window(store: ChdbAttemptStore) -> None:
    tables = store.query(
        "SELECT name, engine, create_table_query FROM system.tables "
        "WHERE database = currentDatabase() AND engine LIKE '%MergeTree'"
    ).to_pylist()
    assert {t["name"] for t in tables} >= {"llm_attempts", "otel_traces"}
    missing = [
        t["name"]
        for t in tables
        if t["name"] != "schema_version" and "deduplication_window" not in t["create_table_query"]
    ]
    assert missing == []


def test_migrations_and_retention_are_idempotent(chdb_dir: Path) -> None:
    database = f"t_{uuid.uuid4().hex[:12]}"
    store = ChdbAttemptStore(chdb_dir, database, ttl_days=30)
    try:
        assert store.migrate() == [name for _, name, _ in migration_files()]
        assert store.migrate() == []
        versions = store.query("SELECT version FROM schema_version ORDER BY version").column("version").to_pylist()
        assert versions == [v for v, _, _ in migration_files()]
        ddl = store.query(
            "SELECT create_table_query AS q FROM system.tables "
            "WHERE database = currentDatabase() AND name = 'llm_attempts'"
        ).to_pylist()[0]["q"]
        assert "TTL toDateTime(ts) + toIntervalDay(30)" in ddl
    finally:
        store.close()


def test_migration_numbers_are_unique_and_ours_are_below_0010() -> None:
    numbers = [v for v, _, _ in migration_files()]
    assert len(numbers) == len(set(numbers))
    ours = [name for name in resources.files("routeledger.store.migrations").iterdir() if name.name[:2] == "00"]
    assert ours
