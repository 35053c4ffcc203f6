"""Where the dashboard gets its numbers: analytics functions, cached with a TTL.

Pages never see a store or SQL. They ask a `Ledger` for a named question with a window and filters;
`JOBS` maps each question to the analytics function that answers it. When an analytics job replaces
an interim one (issue 6), the swap is the one line in `JOBS`.

Results are cached per (job, store, arguments) for the configured TTL with `st.cache_data`, so a
page switch or a filter change back and forth does not scan the ledger again; the store handle
itself is not part of the key (`_store`), the `source` string naming it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import streamlit as st

from routeledger.analytics import interim, jobs
from routeledger.analytics.alerts import alert_history
from routeledger.analytics.anomalies import detect_anomalies
from routeledger.analytics.jobs import Filters, Window
from routeledger.analytics.report import WeeklyReport, build_weekly_report
from routeledger.analytics_config import AnomalyConfig
from routeledger.config import RouteledgerConfig
from routeledger.errors import QueryError
from routeledger.store import AttemptStore

Job = Callable[..., pa.Table]

#: Question → analytics function. The only place that knows which function answers what.
JOBS: dict[str, Job] = {
    "cost": jobs.cost,
    "fallbacks": jobs.fallbacks,
    "weekly_report": build_weekly_report,
    "budget_spend": jobs.budget_spend,
    "spend_over_time": jobs.spend_over_time,
    "latency": jobs.latency,
    "request_attempts": jobs.request_attempts,
    "anomalies": detect_anomalies,
    "alert_history": alert_history,
    "overview": interim.overview,
    "fallback_over_time": interim.fallback_over_time,
    "chain_flow": interim.chain_flow,
    "failure_reasons": interim.failure_reasons,
}

#: The fallback-share line every fallback chart is drawn against (seed 001).
FALLBACK_LINE = jobs.DEFAULT_FALLBACK_THRESHOLD
#: Dimensions the pages offer for splitting spend, latency and fallback share.
SPEND_DIMENSIONS = jobs.DIMENSIONS
LATENCY_DIMENSIONS = ("model", "provider", "route")
FALLBACK_DIMENSIONS = interim.FALLBACK_DIMENSIONS
#: Spend chart bucket by window length: the first bucket whose limit the window stays under.
SPEND_BUCKETS = ((timedelta(hours=3), "minute"), (timedelta(days=8), "hour"), (timedelta(days=200), "day"))
#: How far back the Alerts page reads stored alert events for their latest state.
ALERT_LOOKBACK = timedelta(days=30)


def _run_job(job: str, source: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], _store: Any) -> Any:
    """The cached call; `source` and the arguments are the key, `_store` is not hashed."""
    return JOBS[job](_store, *args, **dict(kwargs))


def spend_bucket(window: Window) -> str:
    span = window.until - window.since
    return next((name for limit, name in SPEND_BUCKETS if span <= limit), "week")


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert or anomaly with its evidence (what was measured, over what, against what)."""

    source: str  # "alert rule" (stored, with a lifecycle) or "anomaly" (detected now)
    kind: str
    scope: str
    name: str
    state: str
    value: float
    threshold: float | None
    requests: int
    evidence: str
    since: datetime | None


class Ledger:
    """The dashboard's view of the ledger: one method per question, each one cached analytics call."""

    def __init__(self, store: AttemptStore, source: str, ttl_s: float) -> None:
        self._store = store
        self._source = source
        self._call = st.cache_data(ttl=ttl_s, show_spinner=False, max_entries=512)(_run_job)

    def _ask(self, job: str, *args: Any, **kwargs: Any) -> pa.Table:
        table: pa.Table = self._call(job, self._source, args, tuple(sorted(kwargs.items())), self._store)
        return table

    def overview(self, window: Window, filters: Filters) -> dict[str, Any]:
        rows = self._ask("overview", window, filters).to_pylist()
        return rows[0] if rows else {}

    def spend_by_tenant(self, now: datetime, filters: Filters) -> pa.Table:
        """name (tenant), today_usd, week_usd, month_usd, today_requests."""
        return self._ask("budget_spend", "tenant", filters, now)

    def spend_by_key(self, now: datetime, filters: Filters) -> pa.Table:
        """name (API key name, '' for keyless traffic), today_usd, week_usd, month_usd, today_requests."""
        return self._ask("budget_spend", "key", filters, now)

    def spend_periods(self, now: datetime, filters: Filters) -> dict[str, Decimal]:
        """Total spend today, this week and this month (the tenants' rows added up)."""
        table = self.spend_by_tenant(now, filters)
        return {
            col: Decimal(str(pc.sum(table[col]).as_py() or 0)) if table.num_rows else Decimal(0)
            for col in ("today_usd", "week_usd", "month_usd")
        }

    def cost(self, by: tuple[str, ...], window: Window, filters: Filters) -> pa.Table:
        return self._ask("cost", by, window, filters)

    def spend_over_time(self, by: str, window: Window, filters: Filters) -> pa.Table:
        """bucket, name (the value of `by`), requests, attempts, cost_usd, failed_cost_usd."""
        table = self._ask("spend_over_time", spend_bucket(window), (by,), window, filters)
        return table.rename_columns(["name" if c == by else c for c in table.column_names])

    def spend_totals(self, by: str, window: Window, filters: Filters) -> pa.Table:
        """name, requests, attempts, cost_usd, failed_cost_usd over the whole window, most spend first.

        The spend series added up over its buckets: the Cost page's chart and table from one scan.
        """
        series = self.spend_over_time(by, window, filters)
        totals = series.group_by("name").aggregate(
            [("requests", "sum"), ("attempts", "sum"), ("cost_usd", "sum"), ("failed_cost_usd", "sum")]
        )
        totals = totals.rename_columns(["name", "requests", "attempts", "cost_usd", "failed_cost_usd"])
        return totals.sort_by([("cost_usd", "descending"), ("name", "ascending")])

    def fallbacks(self, window: Window, filters: Filters) -> pa.Table:
        return self._ask("fallbacks", window, filters)

    def fallback_over_time(self, by: str, window: Window, filters: Filters) -> pa.Table:
        return self._ask("fallback_over_time", by, window, filters)

    def latency(self, by: str, window: Window, filters: Filters) -> pa.Table:
        """name (the value of `by`), attempts, p50/p95/p99 and TTFT p50/p95 in ms, slowest p95 first."""
        table = self._ask("latency", (by,), window, filters)
        table = table.rename_columns(["name" if c == by else c for c in table.column_names])
        return table.sort_by([("p95_ms", "descending"), ("name", "ascending")])

    def chain_flow(self, window: Window, filters: Filters) -> pa.Table:
        return self._ask("chain_flow", window, filters)

    def failure_reasons(self, window: Window, filters: Filters) -> pa.Table:
        return self._ask("failure_reasons", window, filters)

    def request_attempts(self, request_id: str) -> pa.Table:
        return self._ask("request_attempts", request_id.strip())

    def alerts(self, config: AnomalyConfig, filters: Filters, now: datetime) -> list[Alert]:
        """Stored alerts not resolved (their latest event), then the anomalies detected right now."""
        found = [a for a in self.alert_events(now) if a.state != "resolved"]
        for row in self._ask("anomalies", config, filters, now).to_pylist():
            found.append(
                Alert(
                    source="anomaly",
                    kind=f"{row['kind']} · {row['metric']}",
                    scope=row["scope"],
                    name=row["name"],
                    state="open",
                    value=float(row["value"]),
                    threshold=row["baseline"],
                    requests=int(row["requests"]),
                    evidence=row["message"],
                    since=row["window_start"],
                )
            )
        return found

    def alert_events(self, now: datetime) -> list[Alert]:
        """The latest event of every stored alert (firing or resolved), newest first.

        A ledger written before the alerts table existed has none; that is "no alerts", not an error.
        """
        try:
            events = self._ask("alert_history", Window(now - ALERT_LOOKBACK, now + timedelta(seconds=1)))
        except QueryError:
            return []
        latest: dict[tuple[str, str], Alert] = {}
        for row in events.to_pylist():  # newest first: the first event seen per key is its state
            key = (row["rule"], row["alert_key"])
            if key not in latest:
                latest[key] = Alert(
                    source="alert rule",
                    kind=f"{row['rule']} · {row['metric']}",
                    scope=row["scope"],
                    name=row["name"],
                    state=row["status"],
                    value=float(row["value"]),
                    threshold=row["threshold"],
                    requests=int(row["requests"]),
                    evidence=row["message"],
                    since=row["ts"],
                )
        return list(latest.values())

    def weekly_report(self, now: datetime, filters: Filters) -> WeeklyReport:
        """The chain-pruning report for the 7 days ending `now` (what `routeledger report weekly` writes)."""
        report: WeeklyReport = self._call("weekly_report", self._source, (now, filters), (), self._store)
        return report

    def hops(self, window: Window, filters: Filters) -> pa.Table:
        """Per chain step: requests through it, how many it answered, what it cost (from the flow)."""
        flow = self.chain_flow(window, filters)
        if flow.num_rows == 0:
            return pa.table({"step": [], "runs": [], "answered": [], "cost_usd": []})
        answered = pc.if_else(pc.equal(flow["target"], "answered"), flow["requests"], 0)
        flow = flow.append_column("answered", answered)
        grouped = flow.group_by("source").aggregate([("requests", "sum"), ("answered", "sum"), ("cost_usd", "sum")])
        grouped = grouped.rename_columns(["step", "runs", "answered", "cost_usd"])
        return grouped.sort_by([("runs", "descending"), ("step", "ascending")])


def money(value: Decimal | float | int | None, digits: int = 2) -> str:
    """`$1,234.56`; amounts below a cent keep enough digits to be seen."""
    if value is None:
        return "-"
    amount = Decimal(str(value))
    if amount != 0 and abs(amount) < Decimal("0.01"):
        digits = max(digits, 6)
    return f"${amount:,.{digits}f}"


def source_name(config: RouteledgerConfig, clickhouse_url: str | None, service_url: str | None) -> str:
    """A stable name of where the numbers come from (cache key part, shown in the sidebar)."""
    if clickhouse_url:
        return f"clickhouse:{config.store.database}"
    if service_url:
        return f"service:{service_url}"
    return f"chdb:{config.store.path}#{config.store.database}"
