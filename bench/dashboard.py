"""Dashboard page render time on a large ledger: `python bench/dashboard.py [--rows N] [--keep DIR]`.

Generates N attempt rows (default 10 million) inside chDB with one INSERT ... SELECT over
numbers() (about 87% single-attempt requests, 10% fallbacks, 3% retries, over 30 days up to now,
4 routes, 5 tenants, 4 models), then renders every page with Streamlit's AppTest against that
store, as `routeledger dashboard` would: cold (empty query cache) and warm (cache hit), for the
default 7-day range and for all time. Prints a table; the last line is
`RESULT slowest_page_s=<cold, 7 days> rows=<n>`. CPU seconds are shown beside wall time because on a
shared machine the wall time mostly measures the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from routeledger.config import CONFIG_ENV  # noqa: E402
from routeledger.store.embedded import ChdbAttemptStore  # noqa: E402

APP = ROOT / "dashboards" / "app.py"
PAGES = ("overview", "cost", "fallbacks", "latency", "alerts", "budgets", "explorer", "reports")
DATABASE = "bench"
#: Share of requests (per 100) that fall back / retry; the rest are answered by the first attempt.
FALLBACK_PER_100 = 10
RETRY_PER_100 = 3
DAYS = 30

# Rows for `requests` requests spread evenly over [start, start + DAYS days); a request with a
# fallback or retry gets two attempts (arrayJoin). Everything is derived from the number n.
GENERATE = """
INSERT INTO llm_attempts
    (ts, request_id, attempt, trace_id, span_id, decision, route, task, tenant, feature, traffic_class,
     model, provider, provider_name, request_model, response_model, server_address, outcome, failure_class,
     error_type, http_status, finish_reason, billable, reason, stream, input_tokens, output_tokens,
     cache_read_tokens, cost_usd, price_source, duration_ms, ttft_ms, service)
SELECT
    {start:DateTime64(6, 'UTC')} + toIntervalMicrosecond(n * {step_us:UInt64} + (a - 1) * 1000),
    concat('r', toString(n)),
    a,
    lower(hex(n)),
    concat(lower(hex(n)), toString(a)),
    multiIf(a = 1, 'first', n % 100 < {fb:UInt8}, 'fallback', 'retry'),
    ['support', 'summarize', 'extract', 'classify'][n % 4 + 1] AS route,
    ['support_chat', 'summarization', 'extraction', 'classification'][n % 4 + 1],
    ['acme', 'globex', 'initech', 'umbrella', 'hooli'][intDiv(n, 7) % 5 + 1],
    ['chat', 'digest', 'search'][n % 3 + 1],
    'critical',
    if(a = 2 AND n % 100 < {fb:UInt8}, ['alpha-4o', 'beta-haiku', 'beta-haiku', 'beta-haiku'][n % 4 + 1],
       ['beta-sonnet', 'alpha-mini', 'alpha-mini', 'alpha-mini'][n % 4 + 1]) AS model,
    if(startsWith(model, 'alpha'), 'alpha', 'beta'),
    if(startsWith(model, 'alpha'), 'openai', 'anthropic'),
    model, model, '127.0.0.1',
    if(a = 1 AND n % 100 < {fb:UInt8} + {rt:UInt8}, 'failure', 'success') AS outcome,
    if(outcome = 'failure', if(n % 100 < {fb:UInt8}, 'provider_error', 'rate_limited'), ''),
    '',
    if(outcome = 'failure', if(n % 100 < {fb:UInt8}, 503, 429), 200),
    if(outcome = 'failure', '', 'stop'),
    true,
    if(outcome = 'failure', 'upstream error', ''),
    n % 2 = 0,
    500 + n % 2000 AS input_tokens,
    if(outcome = 'failure', 0, 100 + n % 400) AS output_tokens,
    0,
    toDecimal128((input_tokens * 2.5 + output_tokens * 10) / 1000000, 9),
    'bench',
    150 + (n * 7919) % 1800 + if(a = 2, 400, 0),
    if(n % 2 = 0, toNullable(80 + (n * 104729) % 600), NULL),
    'bench'
FROM (SELECT number AS n FROM numbers({requests:UInt64}))
ARRAY JOIN if(n % 100 < {fb:UInt8} + {rt:UInt8}, [1, 2], [1]) AS a
SETTINGS max_insert_threads = 2
"""

CONFIG = {
    "providers": {
        "alpha": {"kind": "openai", "base_url": "https://alpha.invalid/v1"},
        "beta": {"kind": "anthropic", "base_url": "https://beta.invalid/v1"},
    },
    "models": {
        name: {"provider": name.split("-")[0], "upstream": name, "context_window": 128000,
               "price": {"input_per_mtok": "2.5", "output_per_mtok": "10"}}
        for name in ("alpha-mini", "alpha-4o", "beta-sonnet", "beta-haiku")
    },
    "routes": {
        "support": {"task": "support_chat", "chain": ["beta-sonnet", "alpha-4o"]},
        "summarize": {"task": "summarization", "chain": ["alpha-mini", "beta-haiku"]},
        "extract": {"task": "extraction", "chain": ["alpha-mini", "beta-haiku"]},
        "classify": {"task": "classification", "chain": ["alpha-mini", "beta-haiku"]},
    },
    "tenants": {t: {"budget": {"daily_usd": "500", "monthly_usd": "12000"}} for t in
                ("acme", "globex", "initech", "umbrella", "hooli")},
}  # fmt: skip


def generate(path: Path, rows: int) -> tuple[int, float]:
    store = ChdbAttemptStore(path, DATABASE)
    store.migrate()
    requests = int(rows / (1 + (FALLBACK_PER_100 + RETRY_PER_100) / 100))
    now = datetime.now(UTC)
    started = time.perf_counter()
    store.execute(
        GENERATE,
        {
            "start": now - timedelta(days=DAYS),
            "step_us": DAYS * 86400 * 1_000_000 // requests,
            "requests": requests,
            "fb": FALLBACK_PER_100,
            "rt": RETRY_PER_100,
        },
    )
    store.execute("OPTIMIZE TABLE llm_attempts FINAL")
    elapsed = time.perf_counter() - started
    count = int(store.query("SELECT count() AS n FROM llm_attempts").column("n")[0].as_py())
    store.close()
    return count, elapsed


def migrate_apart(path: Path) -> list[str]:
    """Bring a kept store's schema up in a process of its own, as the collector does on start: the
    dashboard only ever reads, so this process opens the store read-only, as it does in service."""
    code = (
        "import json, sys; from routeledger.store.embedded import ChdbAttemptStore; "
        "s = ChdbAttemptStore(sys.argv[1], sys.argv[2]); print(json.dumps(s.migrate())); s.close()"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), DATABASE], check=True, capture_output=True, text=True, cwd=ROOT
    )
    applied: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return applied


def warm_up() -> None:
    """One run first so imports (pandas, altair, plotly) and opening the store are not timed."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    at.query_params.update(page="explorer")
    at.run()


def cpu_s() -> float:
    """CPU seconds of this process so far (chDB's query threads included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def render_times(window: str) -> dict[str, tuple[float, float, float]]:
    """page → (cold s, cold CPU s, warm s) with the given time range."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    times = {}
    for page in PAGES:
        params = {"page": page, "window": window}
        if page == "explorer":
            params["request"] = "r12345"
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.query_params.update(params)
        c0, t0 = cpu_s(), time.perf_counter()
        at.run()
        cold, cold_cpu = time.perf_counter() - t0, cpu_s() - c0
        problems = [e.value for e in (*at.exception, *at.error)]
        if problems:
            raise SystemExit(f"page {page} failed: {problems}")
        t0 = time.perf_counter()
        at.run()
        warm = time.perf_counter() - t0
        times[page] = (cold, cold_cpu, warm)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--keep", type=Path, help="Reuse or keep the generated store in this directory.")
    args = parser.parse_args()
    console = Console()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="routeledger-dash-bench-"))
    data = workdir / "data"
    marker = workdir / "rows.json"
    try:
        if marker.exists() and json.loads(marker.read_text())["asked"] == args.rows:
            rows, gen_s = json.loads(marker.read_text())["rows"], 0.0
            console.print(f"reusing {rows:,} rows in {data}")
            started = time.perf_counter()
            applied = migrate_apart(data)
            if applied:
                console.print(f"migrations {', '.join(applied)} in {time.perf_counter() - started:.1f} s")
        else:
            shutil.rmtree(data, ignore_errors=True)
            rows, gen_s = generate(data, args.rows)
            marker.write_text(json.dumps({"asked": args.rows, "rows": rows}))
            console.print(f"generated {rows:,} attempt rows in {gen_s:.1f} s")
        config = dict(CONFIG, store={"path": str(data), "database": DATABASE})
        config_path = workdir / "routeledger.yaml"
        config_path.write_text(json.dumps(config))
        os.environ[CONFIG_ENV] = str(config_path)
        os.environ.pop("ROUTELEDGER_CLICKHOUSE_URL", None)
        warm_up()
        week = render_times("7d")
        everything = render_times("all")
        table = Table(title=f"Dashboard page render time, {rows:,} attempts (AppTest, seconds)")
        columns = ("7 days cold", "cold CPU", "7 days warm", "all time cold", "cold CPU", "all time warm")
        for name in ("page", *columns):
            table.add_column(name, justify="left" if name == "page" else "right")
        for page in PAGES:
            table.add_row(page, *(f"{v:.2f}" for v in (*week[page], *everything[page])))
        console.print(table)
        slowest = max(cold for cold, _, _ in week.values())
        slowest_all = max(cold for cold, _, _ in everything.values())
        console.print(f"slowest page, all time (every row scanned), cold: {slowest_all:.2f} s")
        console.print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        print(f"RESULT slowest_page_s={slowest:.2f} rows={rows}")
    finally:
        if args.keep is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
