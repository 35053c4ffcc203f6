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
from datetime import datetime
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import streamlit as st

from analytics import interim, jobs
from analytics.jobs import Filters, Window
from routeledger.config import RouteledgerConfig
from routeledger.store import AttemptStore

Job = Callable[..., pa.Table]

#: Question → analytics function. The only place that knows which function answers what.
JOBS: dict[str, Job] = {
    "cost": jobs.cost,
    "fallbacks": jobs.fallbacks,
    "overview": interim.overview,
    "spend_periods": interim.spend_periods,
    "spend_over_time": interim.spend_over_time,
    "fallback_over_time": interim.fallback_over_time,
    "latency": interim.latency,
    "chain_flow": interim.chain_flow,
    "failure_reasons": interim.failure_reasons,
    "request_attempts": interim.request_attempts,
}

#: The fallback-share line every fallback chart and alert is drawn against (seed 001).
FALLBACK_LINE = jobs.DEFAULT_FALLBACK_THRESHOLD


def _run_job(job: str, source: str, args: tuple[Any, ...], kwargs: tuple[tuple[str, Any], ...], _store: Any) -> Any:
    """The cached call; `source` and the arguments are the key, `_store` is not hashed."""
    return JOBS[job](_store, *args, **dict(kwargs))


@dataclass(frozen=True, slots=True)
class Alert:
    """An open alert with its evidence (what was measured, over what, against what)."""

    kind: str
    scope: str
    name: str
    state: str
    value: float
    threshold: float
    requests: int
    evidence: str


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

    def spend_periods(self, now: datetime, filters: Filters, *, by_tenant: bool = False) -> pa.Table:
        return self._ask("spend_periods", now, filters, by_tenant=by_tenant)

    def cost(self, by: tuple[str, ...], window: Window, filters: Filters) -> pa.Table:
        return self._ask("cost", by, window, filters)

    def spend_over_time(self, by: str, window: Window, filters: Filters) -> pa.Table:
        return self._ask("spend_over_time", by, window, filters)

    def fallbacks(self, window: Window, filters: Filters) -> pa.Table:
        return self._ask("fallbacks", window, filters)

    def fallback_over_time(self, by: str, window: Window, filters: Filters) -> pa.Table:
        return self._ask("fallback_over_time", by, window, filters)

    def latency(self, by: str, window: Window, filters: Filters) -> pa.Table:
        return self._ask("latency", by, window, filters)

    def chain_flow(self, window: Window, filters: Filters) -> pa.Table:
        return self._ask("chain_flow", window, filters)

    def failure_reasons(self, window: Window, filters: Filters) -> pa.Table:
        return self._ask("failure_reasons", window, filters)

    def request_attempts(self, request_id: str) -> pa.Table:
        return self._ask("request_attempts", request_id)

    def alerts(self, window: Window, filters: Filters) -> list[Alert]:
        """Open alerts: fallback share above the line with enough volume, per route and primary model.

        Until the alerting jobs (issue 6) store firings in an `alerts` table, the open set is what
        the fallback-share job flags in the selected window; its state is therefore always `open`.
        """
        found = []
        for row in self.fallbacks(window, filters).to_pylist():
            if not row["flagged"]:
                continue
            scope = "overall" if row["scope"] == "overall" else row["scope"]
            found.append(
                Alert(
                    kind="fallback_share",
                    scope=scope,
                    name=row["name"] or "all traffic",
                    state="open",
                    value=float(row["fallback_share"]),
                    threshold=FALLBACK_LINE,
                    requests=int(row["requests"]),
                    evidence=(
                        f"{row['fallbacks']:,} of {row['requests']:,} requests fell back "
                        f"({row['fallback_share']:.1%} > {FALLBACK_LINE:.0%}) in the selected window"
                    ),
                )
            )
        return found

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
