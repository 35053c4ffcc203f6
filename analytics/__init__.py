"""routeledger analytics: SQL jobs over the attempt ledger, returning Arrow tables.

Each job is a `.sql` file beside `jobs.py` with bound `{name:Type}` parameters, a Python function
that runs it on any `AttemptStore` (chDB, a ClickHouse server, the service endpoint), and a CLI
command (`routeledger analytics <command>`, with `--json` / `--csv`). The dashboard calls the same
functions; their names and columns are a contract.

Every job takes `store` first, then (keyword or positional as below) a `Window` (default: all
time) and `Filters` (route/task/tenant/feature/model/provider tuples, plus `tenant_scope`: a
scoped caller sees only its own tenant whatever else it asks). Bad input raises
`AnalyticsInputError` with a message naming what is allowed.

    function                                         CLI command       one row per
    cost(store, by, window, filters)                 cost              chosen dimensions
    cost_per_answer(store, by, window, filters)      cost-per-answer   dimensions (primary model)
    spend_over_time(store, bucket, by, window, f)    spend             time bucket [x dimensions]
    fallbacks(store, window, filters, thr, min)      fallbacks         overall / route / model
    fallback_share(store, by, window, f, thr, min)   fallback-share    route|task|tenant|feature|
                                                                       model|provider|hour|overall
    transitions(store, by, window, filters)          transitions       dimensions
    answer_quality(store, by, window, f, long_tok)   quality           dimensions
    latency(store, by, window, filters)              latency           dimensions
    guardrail_blocks(store, by, window, filters)     blocks            dimensions x guardrail reason
    expected_cost(store, by, window, f, weeks)       expected-cost     request type (dimensions)
    double_charges(store, window, filters, limit)    double-charges    request
    unit_economics(store, prices, by, window, f)     unit-economics    task or feature
    request_attempts(store, request_id, filters)     request ID        attempt of one request
    budget_spend(store, by, filters, now)            budget            tenant|key|feature|route
    detect_anomalies(store, config, filters, now)    anomalies         anomaly with its evidence

Beyond the jobs: `analytics.alerts` (`AlertManager(store, cfg.analytics).check()`,
`alert_history(store, window)`, `run_alert_loop` / `start_alert_scheduler` for the service),
`analytics.report` (`build_weekly_report(store, now, filters)` → `render_markdown` / `render_html`),
`analytics.adhoc` (`export_parquet(store, out_dir, window)`, `run_query(out_dir, sql)`).

`by` for the dimension jobs is a list (or comma string) from route, task, tenant, feature, model,
provider. Money columns (`*_usd`) are Decimal; shares (`*_share`) are floats in 0..1.
"""

from routeledger.analytics.anomalies import detect_anomalies
from routeledger.analytics.scope import AnalyticsInputError, Filters, Window

from routeledger.analytics.jobs import (  # isort: skip
    answer_quality,
    budget_spend,
    cost,
    cost_per_answer,
    double_charges,
    expected_cost,
    fallback_share,
    fallbacks,
    guardrail_blocks,
    latency,
    request_attempts,
    spend_over_time,
    transitions,
    unit_economics,
)

__all__ = [
    "AnalyticsInputError",
    "Filters",
    "Window",
    "answer_quality",
    "budget_spend",
    "cost",
    "cost_per_answer",
    "detect_anomalies",
    "double_charges",
    "expected_cost",
    "fallback_share",
    "fallbacks",
    "guardrail_blocks",
    "latency",
    "request_attempts",
    "spend_over_time",
    "transitions",
    "unit_economics",
]
