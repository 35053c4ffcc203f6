"""Jobs the dashboard needs that the analytics jobs do not answer (yet).

Same contract as `analytics.jobs`: a window and filters in (the shared `__SCOPE__` clause, bound
parameters only), an Arrow table out, SQL in the `interim_*.sql` files beside this module. They
are kept apart so the analytics owners can fold each into a job of their own (an overview in one
scan, fallback share as a time series, the chain flow, failure reasons); the dashboard reaches
them only through `dashboards/data.py`, so that swap is one line there.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from routeledger.analytics.rollup import chain_source, plan
from routeledger.analytics.scope import (
    AnalyticsInputError,
    Filters,
    Window,
    active_filters,
    base_params,
    choose,
    load_sql,
)
from routeledger.store import AttemptStore

#: Dimensions fallback share over time can split by.
FALLBACK_DIMENSIONS = ("route", "model")
#: Chart buckets, in seconds: the smallest that keeps a window under `MAX_POINTS` points.
BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
MAX_POINTS = 200

__all__ = [
    "AnalyticsInputError",
    "bucket_seconds",
    "chain_flow",
    "failure_reasons",
    "fallback_over_time",
    "overview",
]


def bucket_seconds(window: Window) -> int:
    """Chart resolution for a window: the finest bucket with at most `MAX_POINTS` points."""
    span = max((window.until - window.since).total_seconds(), 1.0)
    for size in BUCKETS_S:
        if span / size <= MAX_POINTS:
            return size
    return BUCKETS_S[-1]


def overview(store: AttemptStore, window: Window | None = None, filters: Filters | None = None) -> pa.Table:
    """One row: requests, answers, fallback share, spend, cost per successful answer, latency p50/95/99."""
    params = base_params(window, filters)
    chosen = plan(store, window, filters)
    params.update(chosen.params())
    return store.query(
        load_sql("interim_overview", grain=chosen.grain, chains=chosen.chains, active=active_filters(params)), params
    ).drop_columns(["q"])


def fallback_over_time(
    store: AttemptStore, by: str = "route", window: Window | None = None, filters: Filters | None = None
) -> pa.Table:
    """Fallback share per time bucket (size from `bucket_seconds`), by route or by primary model."""
    window = window or Window.all_time()
    params: dict[str, Any] = base_params(window, filters)
    params.update(by=choose(by, FALLBACK_DIMENSIONS, "dimension"), bucket_s=bucket_seconds(window))
    chosen = plan(store, window, filters, (by,), bucket_s=params["bucket_s"])
    params.update(chosen.params())
    return store.query(
        load_sql("interim_fallback_over_time", grain=chosen.grain, chains=chosen.chains, active=active_filters(params)),
        params,
    )


def chain_flow(store: AttemptStore, window: Window | None = None, filters: Filters | None = None) -> pa.Table:
    """Links between chain steps (`first: model` → `fallback: model` → answered/failed): requests, cost."""
    params = base_params(window, filters)
    chosen = plan(store, window, filters)
    params.update(chosen.params())
    return store.query(
        load_sql("interim_chain_flow", grain=chosen.grain, chains=chosen.chains, active=active_filters(params)),
        params,
    )


def failure_reasons(store: AttemptStore, window: Window | None = None, filters: Filters | None = None) -> pa.Table:
    """Failed attempts by failure class and model, with their cost and an example reason.

    Counted from the chain copy (every failed attempt is in it) rather than every attempt of the
    window; a store without the copy reads `llm_attempts` (`chain_source`), with the same SQL.
    """
    params = base_params(window, filters)
    return store.query(
        load_sql("interim_failure_reasons", chains=chain_source(store), active=active_filters(params)), params
    )
