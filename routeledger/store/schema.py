"""Versioned, idempotent schema migrations: numbered `.sql` files applied once each, in order.

The applied set lives in `schema_version`, so every backend (chDB, a server) knows where it stands;
the DDL itself is `IF NOT EXISTS`, so a migration interrupted between its statement and its version
row is simply applied again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

MIGRATIONS_PACKAGE = "routeledger.store.migrations"

SCHEMA_VERSION_DDL = """
CREATE TABLE IF NOT EXISTS schema_version
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
"""


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) for every numbered file, ascending."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def statements(sql: str) -> Iterator[str]:
    """Split a file into statements on `;` at a line end; comments-only chunks are dropped."""
    for chunk in sql.split(";\n"):
        body = "\n".join(line for line in chunk.splitlines() if not line.strip().startswith("--"))
        if body.strip().rstrip(";").strip():
            yield body.strip().rstrip(";")


Execute = Callable[[str, Mapping[str, Any] | None], None]

RECORD_VERSION = "INSERT INTO schema_version (version, name) VALUES ({version:UInt32}, {name:String})"


def apply_migrations(execute: Execute, applied: set[int]) -> list[str]:
    """Run every migration not yet in `applied`; `execute` runs one statement with parameters."""
    done = []
    for version, name, sql in migration_files():
        if version in applied:
            continue
        for statement in statements(sql):
            execute(statement, None)
        execute(RECORD_VERSION, {"version": version, "name": name})
        done.append(name)
    return done


#: Tables under retention and the expression their TTL counts from (the rollups by their period's
#: start, so a period leaves the rollup when its first attempts leave `llm_attempts`).
RETENTION: tuple[tuple[str, str], ...] = (
    ("llm_attempts", "ts"),
    ("otel_traces", "Timestamp"),
    ("llm_rollup_hour", "bucket"),
    ("llm_rollup_day", "bucket"),
    ("llm_chain_attempts", "ts"),
)


def retention_statements(ttl_days: int) -> list[str]:
    """`ALTER ... MODIFY TTL` for every retained table; idempotent. 0 = no statements (an existing
    TTL is left alone: removing retention is an operator's deliberate `ALTER ... REMOVE TTL`).

    `ttl_days` is a validated integer from the config (0..36500), not request data, and DDL takes no
    query parameters in a TTL clause."""
    if not ttl_days:
        return []
    days = int(ttl_days)
    return [
        f"ALTER TABLE {table} MODIFY TTL toDateTime({column}) + toIntervalDay({days})" for table, column in RETENTION
    ]


#: Tables that hold no ledger data and need no deduplication window.
DEDUP_EXEMPT = frozenset({"schema_version"})

#: Smallest deduplication window accepted: ten times the batches one collector has in flight (its
#: writer inserts one batch at a time), so a retried batch is still inside the window (F31).
MIN_DEDUP_WINDOW = 10

UNGUARDED_TABLES = """
SELECT name, create_table_query
FROM system.tables
WHERE database = currentDatabase()
  AND engine LIKE '%MergeTree'
  AND engine NOT LIKE 'Replicated%'
ORDER BY name
"""

_WINDOW = re.compile(r"non_replicated_deduplication_window\s*=\s*(\d+)")


def unguarded_tables(tables: list[tuple[str, str]]) -> list[str]:
    """Of the (name, CREATE statement) pairs from `UNGUARDED_TABLES`, the tables that would count a
    retried batch twice: a non-replicated MergeTree without a deduplication window, or with one too
    small to still hold the batch when it is retried (F31)."""
    unguarded = []
    for name, create in tables:
        window = _WINDOW.search(create)
        if name not in DEDUP_EXEMPT and (window is None or int(window.group(1)) < MIN_DEDUP_WINDOW):
            unguarded.append(name)
    return unguarded


#: Session settings that decide whether an insert is acknowledged only once written and whether its
#: `insert_deduplication_token` is honoured (F32). Not every version knows every one (`deduplicate_insert`
#: is recent and supersedes the other two deduplication switches); an unknown one is absent from the answer.
INSERT_SESSION_SETTINGS = (
    "async_insert",
    "wait_for_async_insert",
    "async_insert_deduplicate",
    "insert_deduplicate",
    "deduplicate_insert",
)

SESSION_SETTINGS = "SELECT name, value FROM system.settings WHERE name IN {names:Array(String)}"

#: The materialized views fed by llm_attempts (its roll-ups): what async insert deduplication misses.
DEPENDENT_VIEWS = """
SELECT dependencies_table AS views
FROM system.tables
WHERE database = currentDatabase() AND name = 'llm_attempts'
"""


def unsafe_insert_settings(settings: Mapping[str, str], views: Sequence[str]) -> list[tuple[str, str]]:
    """(setting, why) for every session setting under which the collector's inserts would lose or
    double count spans; `settings` maps names from `INSERT_SESSION_SETTINGS` to their values as
    `system.settings` gives them, `views` names the materialized views fed by llm_attempts.

    The collector drops a batch from its spool once the store has answered the insert, and makes a
    retried batch a no-op through its deduplication token. So (F32):
    - async inserts that do not wait (`wait_for_async_insert=0`) are answered before anything is
      written: a store crash then loses rows the spool has already let go of;
    - `async_insert_deduplicate=1` with views on llm_attempts: before ClickHouse 26.1 the views'
      targets are not deduplicated for async inserts (the insert is even rejected together with
      `deduplicate_blocks_in_dependent_materialized_views`), so a retried batch counts twice in the
      roll-ups while looking right in llm_attempts;
    - deduplication switched off (`deduplicate_insert='disable'`, or `insert_deduplicate=0` where
      that setting decides) makes every retried batch count twice."""
    found = []
    is_async = settings.get("async_insert") == "1"
    if is_async and settings.get("wait_for_async_insert") == "0":
        found.append(
            (
                "wait_for_async_insert",
                "async_insert=1 with wait_for_async_insert=0 acknowledges an insert before it is "
                "written, and the collector drops acknowledged rows from its spool: a store crash would lose "
                "them; fix: wait_for_async_insert=1 (or async_insert=0) for the user routeledger writes as",
            )
        )
    if is_async and settings.get("async_insert_deduplicate") == "1" and views:
        found.append(
            (
                "async_insert_deduplicate",
                f"async_insert_deduplicate=1 with async_insert=1 does not deduplicate the targets of "
                f"llm_attempts' materialized views ({', '.join(views)}) before ClickHouse 26.1: a retried batch "
                "would be counted twice in them; fix: async_insert=0 (routeledger batches its inserts itself)",
            )
        )
    mode = settings.get("deduplicate_insert")
    if mode == "disable":
        found.append(
            (
                "deduplicate_insert",
                "deduplicate_insert='disable' ignores the batch's deduplication token: a retried batch "
                "would be counted twice; fix: deduplicate_insert='enable'",
            )
        )
    elif mode in (None, "backward_compatible_choice") and settings.get("insert_deduplicate") == "0":
        found.append(
            (
                "insert_deduplicate",
                "insert_deduplicate=0 ignores the batch's deduplication token: a retried batch would be "
                "counted twice; fix: insert_deduplicate=1",
            )
        )
    return found
