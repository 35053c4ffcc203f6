"""Analytics jobs: store + window + filters in, Arrow table out; SQL from the `.sql` files beside this.

Every function here is called by the CLI (`routeledger analytics <name>`) and the dashboard; the
names and columns are a contract (listed in `analytics/__init__.py`). See `analytics.scope` for how
user values reach ClickHouse (bound parameters only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from routeledger.analytics.rollup import chain_source, plan
from routeledger.analytics.scope import (
    DIMENSIONS,
    AnalyticsInputError,
    Filters,
    Window,
    active_filters,
    base_params,
    choose,
    dimension_params,
    load_sql,
    parse_dimensions,
)
from routeledger.store import AttemptStore

__all__ = [
    "DEFAULT_FALLBACK_THRESHOLD",
    "DEFAULT_MIN_REQUESTS",
    "DIMENSIONS",
    "AnalyticsInputError",
    "Filters",
    "Window",
    "answer_quality",
    "budget_spend",
    "cost",
    "cost_per_answer",
    "double_charges",
    "expected_cost",
    "fallback_share",
    "fallbacks",
    "latency",
    "request_attempts",
    "spend_over_time",
    "transitions",
    "unit_economics",
]

#: Default flag threshold for fallback share (seed 001: above 3-5% the chain needs work).
DEFAULT_FALLBACK_THRESHOLD = 0.05
#: Below this many requests a share is noise, not a signal.
DEFAULT_MIN_REQUESTS = 20
#: Keys `fallback_share` can group by (`hour` is the UTC hour of day the request started).
SHARE_KEYS = ("overall", "route", "task", "tenant", "feature", "model", "provider", "hour")
#: Each key's column in the per-request rows (SQL text from here, chosen by a checked key).
SHARE_KEY_COLUMNS = {
    "overall": "''",
    **{k: f"r_{k}" for k in ("route", "task", "tenant", "feature", "model", "provider")},
    "hour": "leftPad(toString(toHour(started)), 2, '0')",
}
#: Time buckets for `spend_over_time`, in seconds.
BUCKETS = {"minute": 60, "hour": 3600, "day": 86400, "week": 7 * 86400}
#: Outputs longer than this many tokens count as over-long unless the caller says otherwise.
DEFAULT_LONG_ANSWER_TOKENS = 2000
#: Weeks of history behind the expected-cost probabilities (seed 001: the last 2-4 weeks).
DEFAULT_EXPECTED_COST_WEEKS = 4
#: Seed 000 layer 4: a price keeps a 20-30% buffer over the cost.
DEFAULT_BUFFER_MIN = 0.2


def _check_share(threshold: float, min_requests: int) -> None:
    if not 0 <= threshold <= 1:
        raise AnalyticsInputError(f"threshold {threshold} must be a share between 0 and 1")
    if min_requests < 0:
        raise AnalyticsInputError("min_requests must not be negative")


def _by_dims(
    store: AttemptStore,
    name: str,
    by: Sequence[str] | str,
    params: dict[str, Any],
    rollup: tuple[Window | None, Filters | None, tuple[datetime, ...]] | None = None,
) -> pa.Table:
    """Run a job grouped by the chosen dimensions; the others collapse to '' and are dropped.

    An empty tuple (not an empty string, which is what a user types) means one overall row.
    `rollup` (window, filters, time cuts) marks a job that reads the attempt facts: the rollup and
    its whole periods are planned for these dimensions (`analytics.rollup`).
    """
    dims = () if by == () else parse_dimensions(by)
    params.update(dimension_params(dims))
    grain, chains = None, "table"
    if rollup is not None:
        window, filters, cuts = rollup
        chosen = plan(store, window, filters, dims, cuts=cuts)
        params.update(chosen.params())
        grain, chains = chosen.grain, chosen.chains
    table = store.query(load_sql(name, dims, grain=grain, active=active_filters(params), chains=chains), params)
    return table.drop_columns([d for d in DIMENSIONS if d not in dims])


def cost(
    store: AttemptStore,
    by: Sequence[str] | str = ("route",),
    window: Window | None = None,
    filters: Filters | None = None,
) -> pa.Table:
    """Spend by the chosen dimensions: requests, attempts, tokens, cost, cost of failed attempts."""
    return _by_dims(store, "cost", by, base_params(window, filters), (window, filters, ()))


def guardrail_blocks(
    store: AttemptStore,
    by: Sequence[str] | str = ("route",),
    window: Window | None = None,
    filters: Filters | None = None,
) -> pa.Table:
    """Requests refused by the spend guardrails, by reason, with the block rate of their group."""
    return _by_dims(store, "guardrail_blocks", by, base_params(window, filters))


def cost_per_answer(
    store: AttemptStore,
    by: Sequence[str] | str = ("route",),
    window: Window | None = None,
    filters: Filters | None = None,
) -> pa.Table:
    """Cost per successful answer including its retries and fallbacks, and what the chain added.

    Model and provider are the request's primary (first attempt), and filter on it.
    """
    return _by_dims(store, "cost_per_answer", by, base_params(window, filters), (window, filters, ()))


def spend_over_time(
    store: AttemptStore,
    bucket: str = "hour",
    by: Sequence[str] | str = (),
    window: Window | None = None,
    filters: Filters | None = None,
) -> pa.Table:
    """Spend per minute/hour/day/week bucket, optionally split by dimensions (none: one series)."""
    width = BUCKETS.get(bucket)
    if width is None:
        raise AnalyticsInputError(f"unknown bucket {bucket!r}; choose from {', '.join(BUCKETS)}")
    dims = parse_dimensions(by) if (by if isinstance(by, str) else list(by)) else ()
    params = base_params(window, filters)
    chosen = plan(store, window, filters, dims, bucket_s=width)
    params.update(dimension_params(dims), bucket_s=width)
    params.update(chosen.params())
    table = store.query(
        load_sql("spend_over_time", dims, grain=chosen.grain, chains=chosen.chains, active=active_filters(params)),
        params,
    )
    return table.drop_columns([d for d in DIMENSIONS if d not in dims])


def fallbacks(
    store: AttemptStore,
    window: Window | None = None,
    filters: Filters | None = None,
    threshold: float = DEFAULT_FALLBACK_THRESHOLD,
    min_requests: int = DEFAULT_MIN_REQUESTS,
) -> pa.Table:
    """Fallback and retry share overall, by route and by primary model, with the over-threshold flag."""
    _check_share(threshold, min_requests)
    params = base_params(window, filters)
    chosen = plan(store, window, filters, ("route", "model"))
    params.update(chosen.params(), threshold=threshold, min_requests=min_requests)
    return store.query(
        load_sql("fallbacks", grain=chosen.grain, chains=chosen.chains, active=active_filters(params)), params
    )


def fallback_share(
    store: AttemptStore,
    by: str = "overall",
    window: Window | None = None,
    filters: Filters | None = None,
    threshold: float = DEFAULT_FALLBACK_THRESHOLD,
    min_requests: int = DEFAULT_MIN_REQUESTS,
) -> pa.Table:
    """Fallback and retry share of requests by one key: overall, route, task, tenant, feature,
    model, provider (the primary's) or hour (UTC hour of day, `00`-`23`), flagged above threshold."""
    _check_share(threshold, min_requests)
    params = base_params(window, filters)
    params.update(by=choose(by, SHARE_KEYS, "grouping"), threshold=threshold, min_requests=min_requests)
    chosen = plan(store, window, filters, (by,) if by in DIMENSIONS else (), hour_of_day=by == "hour")
    params.update(chosen.params())
    return store.query(
        load_sql(
            "fallback_share",
            key=SHARE_KEY_COLUMNS[by],
            grain=chosen.grain,
            chains=chosen.chains,
            active=active_filters(params),
        ),
        params,
    )


def transitions(
    store: AttemptStore,
    by: Sequence[str] | str = ("route",),
    window: Window | None = None,
    filters: Filters | None = None,
) -> pa.Table:
    """Chain transitions (retries + fallbacks) per request: mean, max, distribution 0/1/2/3+."""
    return _by_dims(store, "transitions", by, base_params(window, filters), (window, filters, ()))


def answer_quality(
    store: AttemptStore,
    by: Sequence[str] | str = ("model",),
    window: Window | None = None,
    filters: Filters | None = None,
    long_tokens: int = DEFAULT_LONG_ANSWER_TOKENS,
) -> pa.Table:
    """Share of empty, truncated and over-long (> `long_tokens` output tokens) responses."""
    if long_tokens < 1:
        raise AnalyticsInputError("long_tokens must be at least 1")
    params = base_params(window, filters)
    params["long_tokens"] = long_tokens
    return _by_dims(store, "answer_quality", by, params)


def latency(
    store: AttemptStore,
    by: Sequence[str] | str = ("model",),
    window: Window | None = None,
    filters: Filters | None = None,
) -> pa.Table:
    """Attempt duration p50/p95/p99 and time to first token p50/p95, in ms (skipped attempts excluded)."""
    return _by_dims(store, "latency", by, base_params(window, filters)).drop_columns(["q", "t"])


def expected_cost(
    store: AttemptStore,
    by: Sequence[str] | str = ("route",),
    window: Window | None = None,
    filters: Filters | None = None,
    weeks: int = DEFAULT_EXPECTED_COST_WEEKS,
    now: datetime | None = None,
) -> pa.Table:
    """E = C1 + Pfb*C2 + Prt*Crt per request type, with probabilities and prices from the `weeks`
    before the window's end (or now, if sooner), next to the mean cost per request observed in
    the window (seed 001)."""
    if not 1 <= weeks <= 52:
        raise AnalyticsInputError("weeks must be between 1 and 52")
    win = window or Window.all_time()
    end = min(win.until, now or datetime.now(UTC))
    basis_since = end - timedelta(weeks=weeks)
    whole = Window(min(win.since, basis_since), win.until)
    params = base_params(whole, filters)
    params.update(basis_since=basis_since, obs_since=win.since)
    return _by_dims(store, "expected_cost", by, params, (whole, filters, (basis_since, win.since)))


def double_charges(
    store: AttemptStore,
    window: Window | None = None,
    filters: Filters | None = None,
    limit: int = 100,
) -> pa.Table:
    """Requests with more than one billable attempt, most extra cost first, with the chain as `why`."""
    if not 1 <= limit <= 100_000:
        raise AnalyticsInputError("limit must be between 1 and 100000")
    params = base_params(window, filters)
    params["limit"] = limit
    return store.query(load_sql("double_charges", active=active_filters(params), chains=chain_source(store)), params)


def unit_economics(
    store: AttemptStore,
    prices: Mapping[str, Decimal],
    by: str = "task",
    window: Window | None = None,
    filters: Filters | None = None,
    buffer_min: float = DEFAULT_BUFFER_MIN,
) -> pa.Table:
    """Cost per successful answer by task or feature against its configured price: margin, margin
    share and whether the price keeps `buffer_min` (seed 000: 20-30%) over the cost."""
    params = base_params(window, filters)
    params["by"] = choose(by, ("task", "feature"), "grouping")
    if not 0 <= buffer_min <= 1:
        raise AnalyticsInputError("buffer_min must be a share between 0 and 1")
    chosen = plan(store, window, filters, (by,))
    params.update(chosen.params())
    table = store.query(
        load_sql(
            "unit_economics", key=f"r_{by}", grain=chosen.grain, chains=chosen.chains, active=active_filters(params)
        ),
        params,
    )
    price_col: list[Decimal | None] = []
    margin_col: list[Decimal | None] = []
    share_col: list[float | None] = []
    ok_col: list[bool | None] = []
    for name, unit_cost in zip(
        table.column("name").to_pylist(), table.column("cost_per_answer_usd").to_pylist(), strict=True
    ):
        price = prices.get(name)
        price_col.append(price)
        if price is None or unit_cost is None:
            margin_col.append(None)
            share_col.append(None)
            ok_col.append(None)
            continue
        margin = price - unit_cost
        margin_col.append(margin)
        share_col.append(round(float(margin / price), 6))
        ok_col.append(price >= unit_cost * (1 + Decimal(str(buffer_min))))
    money = pa.decimal128(38, 9)
    return (
        table.append_column("price_usd", pa.array(price_col, type=money))
        .append_column("margin_usd", pa.array(margin_col, type=money))
        .append_column("margin_share", pa.array(share_col, type=pa.float64()))
        .append_column("buffer_ok", pa.array(ok_col, type=pa.bool_()))
    )


def request_attempts(store: AttemptStore, request_id: str, filters: Filters | None = None) -> pa.Table:
    """The request explorer: every attempt of one request, in order (respects the tenant scope)."""
    if not request_id or len(request_id) > 256:
        raise AnalyticsInputError("request id must be 1-256 characters")
    params = base_params(Window.all_time(), filters)
    params["request_id"] = request_id
    return store.query(load_sql("request_attempts", active=active_filters(params)), params)


def budget_spend(
    store: AttemptStore,
    by: str = "tenant",
    filters: Filters | None = None,
    now: datetime | None = None,
) -> pa.Table:
    """Spend per tenant (or API key, feature, route) today, this ISO week and this month, UTC."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    day = at.replace(hour=0, minute=0, second=0, microsecond=0)
    week = day - timedelta(days=day.weekday())
    month = day.replace(day=1)
    window = Window(min(week, month), at + timedelta(seconds=1))
    params = base_params(window, filters)
    params.update(by=choose(by, ("tenant", "key", "feature", "route"), "grouping"), day_start=day)
    params.update(week_start=week, month_start=month)
    chosen = plan(store, window, filters, (by,), cuts=(day, week, month))
    params.update(chosen.params())
    return store.query(
        load_sql(
            "budget_spend",
            key="facts.api_key" if by == "key" else f"facts.{by}",
            grain=chosen.grain,
            chains=chosen.chains,
            active=active_filters(params),
        ),
        params,
    )
