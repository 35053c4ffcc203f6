"""Migrations 0011 (attempt rollups) and 0012 (chain copy): a store created by the previous schema
gets its existing rows summed (copied) in exactly once, also when a migration is interrupted and
runs again; later inserts reach the rollups through the views, and a retried batch is not counted
twice."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from routeledger.attempt import rows_to_arrow
from routeledger.store.embedded import ChdbAttemptStore
from routeledger.store.schema import RECORD_VERSION, migration_files, statements
from tests.routeledger.store.test_embedded import row

ROLLUP = "0011_attempt_rollups.sql"
CHAIN = "0012_chain_attempts.sql"
#: Migrations after these two, applied in the same run (the api_key column and its rollup dimension).
LATER = ["0020_api_key.sql", "0021_rollup_api_key.sql"]

#: The same totals from the raw table and from each rollup, per route, model and decision.
TOTALS = """
SELECT route, model, decision, sum(n) AS n, sum(billable) AS billable, sum(cost) AS cost, sum(tokens) AS tokens
FROM
(
    SELECT route, model, decision, count() AS n, countIf(billable AND outcome != 'skipped') AS billable,
           toDecimal128(sum(cost_usd), 9) AS cost, sum(input_tokens + output_tokens) AS tokens
    FROM {table:Identifier}
    GROUP BY route, model, decision
)
GROUP BY route, model, decision
ORDER BY route, model, decision
"""
ROLLED = """
SELECT route, model, decision, sum(attempts) AS n, sum(billable) AS billable, sum(cost_usd) AS cost,
       sum(input_tokens + output_tokens) AS tokens
FROM {table:Identifier}
GROUP BY route, model, decision
ORDER BY route, model, decision
"""


def rows(offset: int, count: int) -> list:  # type: ignore[type-arg]
    return [
        row(
            offset + i,
            start_ns=1_790_000_000_000_000_000 + (offset + i) * 977_000_000_000,  # ~16 min apart: many hours
            route=("support", "extract")[i % 2],
            model=("beta-sonnet", "alpha-4o", "alpha-mini")[i % 3],
            outcome=("success", "failure", "skipped")[i % 5 % 3],
            billable=i % 4 != 0,
            cost_usd=Decimal(i * 142_857) / Decimal(10**9),
            input_tokens=i,
        )
        for i in range(count)
    ]


@pytest.fixture
def old_store(chdb_dir: Path) -> Iterator[ChdbAttemptStore]:
    """A store at the schema before 0011, with rows in it."""
    store = ChdbAttemptStore(chdb_dir, f"t_{uuid.uuid4().hex[:12]}")
    store.execute("CREATE TABLE IF NOT EXISTS schema_version (version UInt32, name String, "
                  "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = MergeTree ORDER BY version")  # fmt: skip
    for version, name, sql in migration_files():
        if version < 11:
            for statement in statements(sql):
                store.execute(statement)
            store.execute(RECORD_VERSION, {"version": version, "name": name})
    # Rows as a writer of that schema stored them (api_key arrived in 0020).
    store.insert_attempts(rows_to_arrow(rows(0, 300)).drop_columns(["api_key"]), "old-1")
    store.insert_attempts(rows_to_arrow(rows(300, 200)).drop_columns(["api_key"]), "old-2")
    yield store
    store.close()


CHAINS = """
SELECT rkey, request_id, attempt, ts, decision, route, task, tenant, feature, model, provider, outcome, billable,
       cost_usd
FROM {table:Identifier}
ORDER BY rkey, attempt, ts
"""
CHAINS_RAW = """
SELECT cityHash64(request_id) AS rkey, request_id, attempt, ts, decision, route, task, tenant, feature, model,
       provider, outcome, billable, cost_usd
FROM llm_attempts
WHERE NOT (attempt = 1 AND outcome = 'success')
ORDER BY rkey, attempt, ts
"""


def assert_rollups_match(store: ChdbAttemptStore) -> None:
    """Both rollups sum to the raw table; the chain copy holds exactly its multi-attempt rows."""
    raw = store.query(TOTALS, {"table": "llm_attempts"}).to_pylist()
    assert raw
    for table in ("llm_rollup_hour", "llm_rollup_day"):
        assert store.query(ROLLED, {"table": table}).to_pylist() == raw, table
    chains = store.query(CHAINS_RAW).to_pylist()
    assert chains
    assert store.query(CHAINS, {"table": "llm_chain_attempts"}).to_pylist() == chains


def test_upgrading_a_ledger_backfills_the_rollups_once(old_store: ChdbAttemptStore) -> None:
    assert old_store.query("SELECT count() AS n FROM system.tables WHERE database = currentDatabase() "
                           "AND name LIKE 'llm_rollup%'").column("n")[0].as_py() == 0  # fmt: skip
    assert old_store.migrate() == [ROLLUP, CHAIN, *LATER]
    assert_rollups_match(old_store)
    assert old_store.migrate() == []
    old_store.insert_attempts(rows_to_arrow(rows(500, 120)), "new-1")
    old_store.insert_attempts(rows_to_arrow(rows(500, 120)), "new-1")  # retried: deduplicated
    assert_rollups_match(old_store)
    assert old_store.query("SELECT count() AS n FROM llm_attempts").column("n")[0].as_py() == 620


def test_an_interrupted_migration_runs_again_without_counting_twice(old_store: ChdbAttemptStore) -> None:
    """The version row is written last: a crash before it means the whole file runs again."""
    files = dict((name, text) for _, name, text in migration_files())
    for name in (ROLLUP, CHAIN):
        for statement in statements(files[name]):
            old_store.execute(statement)
    between = rows_to_arrow(rows(700, 50)).drop_columns(["api_key"])
    old_store.insert_attempts(between, "between")  # written by the half-done views
    assert old_store.migrate() == [ROLLUP, CHAIN, *LATER]
    assert_rollups_match(old_store)
    old_store.insert_attempts(rows_to_arrow(rows(800, 50)), "after")
    assert_rollups_match(old_store)
