"""Jobs the dashboard needs before the FinOps analytics jobs (issue 6) land.

Same contract as `analytics.jobs`: a window and filters in, bound `{name:Type}` parameters only, an
Arrow table out, SQL in the `.sql` files beside this module. Each function here is meant to be
replaced by the issue-6 job that answers the same question (spend over time, latency, transitions
per request, ...); the dashboard reaches them only through `dashboards/data.py`, so a swap is one
line there, after which the function and its `.sql` file are deleted.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

from analytics.jobs import AnalyticsInputError, Filters, Window
from routeledger.store import AttemptStore

#: Dimensions a stacked spend chart can split by (fixed columns, picked by a bound name).
SPEND_DIMENSIONS = ("route", "task", "tenant", "feature", "model", "provider")
#: Dimensions fallback share over time can split by.
FALLBACK_DIMENSIONS = ("route", "model")
#: Dimensions latency percentiles can split by.
LATENCY_DIMENSIONS = ("model", "provider", "route")
#: Chart buckets, in seconds: the smallest that keeps a window under ~200 points.
BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_POINTS = 200
#: Longest request id the explorer looks up (ours are 32 hex characters; this bounds user input).
MAX_REQUEST_ID = 128


@cache
def load_sql(name: str) -> str:
    return resources.files("analytics.interim").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def bucket_seconds(window: Window) -> int:
    """Chart resolution for a window: the finest bucket with at most `MAX_POINTS` points."""
    span = max((window.until - window.since).total_seconds(), 1.0)
    for size in BUCKETS_S:
        if span / size <= MAX_POINTS:
            return size
    return BUCKETS_S[-1]


def _params(window: Window | None, filters: Filters | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    params.update((window or Window.all_time()).params())
    params.update((filters or Filters()).params())
    return params


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise AnalyticsInputError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
    return value


def overview(store: AttemptStore, window: Window | None = None, filters: Filters | None = None) -> pa.Table:
    """One row: requests, answers, fallback share, spend, cost per successful answer, latency p50/95/99."""
    return store.query(load_sql("overview"), _params(window, filters))


def spend_periods(
    store: AttemptStore, now: datetime, filters: Filters | None = None, *, by_tenant: bool = False
) -> pa.Table:
    """Spend today, this ISO week and this month (UTC, up to `now`), overall or per tenant."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    params = _params(Window(day, now + timedelta(seconds=1)), filters)
    params.update(
        by_tenant=by_tenant,
        day_start=day,
        week_start=day - timedelta(days=day.weekday()),
        month_start=day.replace(day=1),
    )
    return store.query(load_sql("spend_periods"), params)


def spend_over_time(
    store: AttemptStore, by: str = "route", window: Window | None = None, filters: Filters | None = None
) -> pa.Table:
    """Spend per time bucket and value of `by` (bucket size from `bucket_seconds`)."""
    window = window or Window.all_time()
    params = _params(window, filters)
    params.update(by=_choice(by, SPEND_DIMENSIONS, "dimension"), bucket_s=bucket_seconds(window))
    return store.query(load_sql("spend_over_time"), params)


def fallback_over_time(
    store: AttemptStore, by: str = "route", window: Window | None = None, filters: Filters | None = None
) -> pa.Table:
    """Fallback share per time bucket, by route or by primary model."""
    window = window or Window.all_time()
    params = _params(window, filters)
    params.update(by=_choice(by, FALLBACK_DIMENSIONS, "dimension"), bucket_s=bucket_seconds(window))
    return store.query(load_sql("fallback_over_time"), params)


def latency(
    store: AttemptStore, by: str = "model", window: Window | None = None, filters: Filters | None = None
) -> pa.Table:
    """p50/p95/p99 duration and p50/p95 time to first token, by model, provider or route (ms)."""
    params = _params(window, filters)
    params.update(by=_choice(by, LATENCY_DIMENSIONS, "dimension"))
    return store.query(load_sql("latency"), params).drop_columns(["q", "t"])


def chain_flow(store: AttemptStore, window: Window | None = None, filters: Filters | None = None) -> pa.Table:
    """Links between chain steps (`first: model` → `fallback: model` → answered/failed): requests, cost."""
    return store.query(load_sql("chain_flow"), _params(window, filters))


def failure_reasons(store: AttemptStore, window: Window | None = None, filters: Filters | None = None) -> pa.Table:
    """Failed attempts by failure class and model, with their cost and an example reason."""
    return store.query(load_sql("failure_reasons"), _params(window, filters))


def request_attempts(store: AttemptStore, request_id: str) -> pa.Table:
    """Every attempt of one request, in order."""
    request_id = request_id.strip()
    if not request_id or len(request_id) > MAX_REQUEST_ID or not request_id.isprintable():
        raise AnalyticsInputError(f"a request id is 1-{MAX_REQUEST_ID} printable characters")
    return store.query(load_sql("request_attempts"), {"request_id": request_id})
