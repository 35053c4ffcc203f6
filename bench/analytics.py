"""Analytics bench: every dashboard job over N attempt rows in chDB, and DuckDB over their Parquet export.

    python bench/analytics.py                 # 10,000,000 rows
    python bench/analytics.py --rows 1000000

Rows are generated inside the engine (INSERT ... SELECT FROM numbers()): ~88% of requests answered
at the first attempt, ~9% with one more attempt (retry or fallback), ~3% with two more; 30 days,
8 routes, 50 tenants, 6 models on 3 providers. Each job runs once to warm up, then `--repeat`
times; the table shows the median. Target: every dashboard job <= 1 s at 10M rows.
Last line: `RESULT slowest_job_s=<x> rows=<n>`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from routeledger.analytics import jobs  # noqa: E402
from routeledger.analytics.adhoc import export_parquet, run_query  # noqa: E402
from routeledger.analytics.anomalies import detect_anomalies  # noqa: E402
from routeledger.analytics.rollup import RawAttemptStore  # noqa: E402
from routeledger.analytics.scope import Filters, Window  # noqa: E402
from routeledger.store.embedded import ChdbAttemptStore  # noqa: E402

END = datetime(2026, 12, 1, tzinfo=UTC)
DAYS = 30

GENERATE = """
INSERT INTO llm_attempts (ts, request_id, attempt, trace_id, span_id, decision, route, task, tenant, feature,
    traffic_class, model, provider, provider_name, request_model, response_model, server_address, outcome,
    failure_class, error_type, http_status, finish_reason, billable, reason, stream, input_tokens, output_tokens,
    cache_read_tokens, cost_usd, price_source, duration_ms, ttft_ms, service)
SELECT
    toDateTime64({start:Int64} + intDiv(number * {span_s:Int64}, {requests:UInt64}), 6, 'UTC')
        + toIntervalMicrosecond(a * 1000)                                  AS ts,
    concat('r', toString(number))                                          AS request_id,
    toUInt8(a)                                                             AS attempt,
    hex(sipHash128(number))                                                AS trace_id,
    hex(sipHash64(number, a))                                              AS span_id,
    if(a = 1, 'first', if(h % 2 = 0, 'retry', 'fallback'))                 AS decision,
    concat('route', toString(h % 8))                                       AS route,
    concat('task', toString(h % 8))                                        AS task,
    concat('tenant', toString(intDiv(h, 8) % 50))                          AS tenant,
    concat('feature', toString(intDiv(h, 400) % 10))                       AS feature,
    'standard'                                                             AS traffic_class,
    concat('model', toString((h % 6 + a - 1) % 6))                         AS model,
    concat('provider', toString(((h % 6 + a - 1) % 6) % 3))                AS provider,
    'openai', 'm', 'm', '127.0.0.1',
    if(a = n, 'success', 'failure')                                        AS outcome,
    if(a = n, '', if(h % 3 = 0, 'timeout_before_first_byte', 'provider_error')) AS failure_class,
    '', 200,
    if(a = n, if(h % 50 = 0, 'length', 'stop'), '')                        AS finish_reason,
    a = n OR h % 4 = 0                                                     AS billable,
    '', false,
    toUInt32(500 + h % 3000)                                               AS input_tokens,
    toUInt32(if(a = n, 50 + h % 700, 0))                                   AS output_tokens,
    0,
    toDecimal64((500 + h % 3000) * 0.000001 + if(a = n, (50 + h % 700) * 0.000004, 0), 9) AS cost_usd,
    'bench',
    toFloat64(200 + h % 4000)                                              AS duration_ms,
    if(a = n, toFloat64(50 + h % 600), NULL)                               AS ttft_ms,
    'bench'
FROM
(
    SELECT number, sipHash64(number) AS h,
           multiIf(h % 100 < 88, 1, h % 100 < 97, 2, 3) AS n
    FROM numbers({requests:UInt64})
)
ARRAY JOIN range(1, n + 1) AS a
"""


def timed(call: Callable[[], Any], repeat: int) -> tuple[float, int]:
    call()
    samples = []
    rows = 0
    for _ in range(repeat):
        t = time.perf_counter()
        result = call()
        samples.append(time.perf_counter() - t)
        rows = result.num_rows
    return statistics.median(samples), rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000_000, help="attempt rows to generate (approximately)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per job (median shown)")
    parser.add_argument("--data", type=Path, default=None, help="chDB directory (default: a temporary one)")
    parser.add_argument("--raw", action="store_true", help="read llm_attempts only, no rollups (the 'before')")
    args = parser.parse_args()
    console = Console()
    data = args.data or Path(tempfile.mkdtemp(prefix="routeledger-bench-analytics-"))
    store: Any = ChdbAttemptStore(data / "chdb", "bench")
    t = time.perf_counter()
    applied = store.migrate()
    if applied:  # an existing --data directory from an older schema: the rollups' backfill is timed here
        console.print(f"migrations {', '.join(applied)} in {time.perf_counter() - t:.1f}s")
    have = int(store.query("SELECT count() AS n FROM llm_attempts").column("n")[0].as_py())
    requests = int(args.rows / 1.15)
    if have == 0:
        t = time.perf_counter()
        start = int((END - timedelta(days=DAYS)).timestamp())
        store.execute(GENERATE, {"start": start, "span_s": DAYS * 86400, "requests": requests})
        store.execute("OPTIMIZE TABLE llm_attempts FINAL")
        console.print(f"generated in {time.perf_counter() - t:.1f}s")
    rows = int(store.query("SELECT count() AS n FROM llm_attempts").column("n")[0].as_py())
    console.print(f"{rows:,} attempt rows in {data}")
    chdb_store = store
    if args.raw:
        store = RawAttemptStore(store)

    all_time = Window(END - timedelta(days=DAYS + 1), END + timedelta(seconds=1))
    week = Window(END - timedelta(days=7), END)
    one_route = Filters(routes=("route3",))
    prices = {f"task{i}": Decimal("0.01") for i in range(8)}
    dashboard: list[tuple[str, Callable[[], Any]]] = [
        ("cost by route", lambda: jobs.cost(store, ("route",), all_time)),
        ("cost by tenant,model", lambda: jobs.cost(store, ("tenant", "model"), all_time)),
        ("cost per answer by route", lambda: jobs.cost_per_answer(store, ("route",), all_time)),
        ("spend per day by route", lambda: jobs.spend_over_time(store, "day", ("route",), all_time)),
        ("fallbacks", lambda: jobs.fallbacks(store, all_time)),
        ("fallback share by hour", lambda: jobs.fallback_share(store, "hour", all_time)),
        ("fallback share by provider", lambda: jobs.fallback_share(store, "provider", all_time)),
        ("transitions by route", lambda: jobs.transitions(store, ("route",), all_time)),
        ("answer quality by model", lambda: jobs.answer_quality(store, ("model",), all_time)),
        ("latency by model", lambda: jobs.latency(store, ("model",), all_time)),
        ("expected cost by route", lambda: jobs.expected_cost(store, ("route",), week, None, 4, END)),
        ("double charges (top 100)", lambda: jobs.double_charges(store, all_time)),
        ("unit economics by task", lambda: jobs.unit_economics(store, prices, "task", all_time)),
        ("request explorer", lambda: jobs.request_attempts(store, f"r{requests // 2}")),
        ("budget spend by tenant (month)", lambda: jobs.budget_spend(store, "tenant", None, END - timedelta(hours=1))),
        ("anomalies (1h vs 24h)", lambda: detect_anomalies(store, None, None, END)),
        ("cost, one route, 7d", lambda: jobs.cost(store, ("model",), week, one_route)),
        ("fallback share, one route, 7d", lambda: jobs.fallback_share(store, "model", week, one_route)),
        ("cost per answer by route, 7d", lambda: jobs.cost_per_answer(store, ("route",), week)),
        ("fallback share by hour, 7d", lambda: jobs.fallback_share(store, "hour", week)),
        ("transitions by route, 7d", lambda: jobs.transitions(store, ("route",), week)),
    ]
    source = "attempts only, no rollups" if args.raw else "rollups + edges"
    table = Table(title=f"Analytics jobs over {rows:,} attempt rows (chDB, {source}, median of {args.repeat})")
    for column in ("job", "engine", "seconds", "result rows"):
        table.add_column(column, justify="left" if column in ("job", "engine") else "right")
    slowest = 0.0
    for name, call in dashboard:
        seconds, out_rows = timed(call, args.repeat)
        slowest = max(slowest, seconds)
        table.add_row(name, "chdb", f"{seconds:.3f}", f"{out_rows:,}")
        console.print(f"  {name}: {seconds:.3f}s", highlight=False)

    export_dir = data / "export"
    t = time.perf_counter()
    exported = export_parquet(store, export_dir, all_time, now=END + timedelta(days=1))
    table.add_row(
        f"export parquet ({len(exported.written)} days)",
        "chdb→parquet",
        f"{time.perf_counter() - t:.3f}",
        f"{exported.rows:,}",
    )
    adhoc = [
        ("cost by route", "SELECT route, sum(cost_usd) AS cost, count(*) AS attempts FROM attempts GROUP BY route"),
        (
            "fallback share by model",
            "SELECT model, avg((decision = 'fallback')::INT) AS share FROM attempts GROUP BY model",
        ),
        (
            "p95 latency by provider",
            "SELECT provider, quantile_disc(duration_ms, 0.95) AS p95 FROM attempts GROUP BY provider",
        ),
        (
            "cost per request (per request_id)",
            "SELECT route, avg(c) FROM (SELECT route, request_id, sum(cost_usd) AS c FROM attempts "
            "GROUP BY route, request_id) GROUP BY route",
        ),
    ]
    for name, sql in adhoc:
        seconds, out_rows = timed(lambda sql=sql: run_query(export_dir, sql), args.repeat)
        table.add_row(name, "duckdb/parquet", f"{seconds:.3f}", f"{out_rows:,}")
    console.print(table)
    chdb_store.close()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    console.print(f"{os.cpu_count()} cores, load average {load:.1f} at the end")
    print(f"RESULT slowest_job_s={slowest:.3f} rows={rows}")


if __name__ == "__main__":
    main()
