"""Ad-hoc questions with DuckDB over a Parquet export of the ledger.

`export_parquet` writes one Hive partition per UTC day (`DIR/day=2026-11-02/attempts.parquet`).
It is resumable: a finished day gets a `_SUCCESS` marker holding its row count and is skipped next
time unless it is today (still growing) or the store now holds a different count for it; each file
is written under a temporary name and renamed, so an interrupted run leaves no half file.

`run_query` runs one read-only SELECT over the view `attempts`: other statement kinds are refused
before running, DuckDB may read only the export directory (no other files, no writes, no
extensions) and the configuration is locked so the query cannot undo that. Errors come back as
DuckDB words them, with the `LINE n:` excerpt and the caret under the offending position.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from routeledger.analytics.scope import Filters, Window, base_params, load_sql
from routeledger.store import AttemptStore

MARKER = "_SUCCESS"
FILE_NAME = "attempts.parquet"


class AdhocQueryError(ValueError):
    """A query was refused or failed; the message is DuckDB's, with the SQL position."""


@dataclass(frozen=True, slots=True)
class ExportResult:
    written: list[date]
    skipped: list[date]
    rows: int


def export_parquet(
    store: AttemptStore,
    out_dir: Path,
    window: Window,
    filters: Filters | None = None,
    now: datetime | None = None,
    step: Callable[[date, int], None] | None = None,
) -> ExportResult:
    """Write the window's rows as day partitions under `out_dir`, skipping days already complete."""
    today = (now or datetime.now(UTC)).astimezone(UTC).date()
    out_dir.mkdir(parents=True, exist_ok=True)
    days = store.query(load_sql("export_days"), base_params(window, filters)).to_pylist()
    written: list[date] = []
    skipped: list[date] = []
    total = 0
    for entry in days:
        day, count = entry["day"], int(entry["rows"])
        part = out_dir / f"day={day.isoformat()}"
        marker = part / MARKER
        if day < today and marker.exists() and marker.read_text().strip() == str(count):
            skipped.append(day)
            if step:
                step(day, 0)
            continue
        start = datetime.combine(day, time(), tzinfo=UTC)
        bounds = Window(max(start, window.since), min(start + timedelta(days=1), window.until))
        table = store.query(load_sql("export_rows"), base_params(bounds, filters))
        part.mkdir(exist_ok=True)
        marker.unlink(missing_ok=True)
        tmp = part / f".{FILE_NAME}.{os.getpid()}.tmp"
        pq.write_table(_plain(table), tmp, compression="zstd")
        tmp.replace(part / FILE_NAME)
        marker.write_text(f"{table.num_rows}\n")
        written.append(day)
        total += table.num_rows
        if step:
            step(day, table.num_rows)
    return ExportResult(written, skipped, total)


def _plain(table: pa.Table) -> pa.Table:
    """Dictionary columns (ClickHouse LowCardinality) as plain strings, so every day's file has
    the same schema and DuckDB can union them."""
    columns = [
        col.cast(col.type.value_type) if pa.types.is_dictionary(col.type) else col for col in table.itercolumns()
    ]
    return pa.Table.from_arrays(columns, names=table.column_names)


def run_query(data_dir: Path, sql: str, limit: int = 100_000) -> pa.Table:
    """One read-only SELECT over the view `attempts` (the export under `data_dir`)."""
    import duckdb

    root = data_dir.resolve()
    if not any(root.glob(f"day=*/{FILE_NAME}")):
        raise AdhocQueryError(f"no export under {data_dir}; run `routeledger export parquet --out {data_dir}` first")
    con = duckdb.connect(":memory:")
    try:
        con.read_parquet(str(root / "day=*" / FILE_NAME), hive_partitioning=True).create_view("attempts")
        con.execute("SET allowed_directories = ?", [[str(root) + os.sep]])
        con.execute("SET enable_external_access = false")
        con.execute("SET autoinstall_known_extensions = false")
        con.execute("SET autoload_known_extensions = false")
        con.execute("SET lock_configuration = true")
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise AdhocQueryError(str(exc)) from None
        if len(statements) != 1:
            raise AdhocQueryError(f"give exactly one statement, not {len(statements)}")
        kind = statements[0].type
        if kind != duckdb.StatementType.SELECT:
            raise AdhocQueryError(f"only SELECT queries are allowed (this is {kind.name}); the export is read-only")
        try:
            return con.sql(sql).to_arrow_table().slice(0, limit)
        except duckdb.Error as exc:
            raise AdhocQueryError(str(exc)) from None
    finally:
        con.close()
