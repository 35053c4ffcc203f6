"""Overview: spend today / this week / this month against budgets, cost per answer, fallback share
against the 5% line, p95 latency, open alerts."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from routeledger.dashboards.data import FALLBACK_LINE, money
from routeledger.dashboards.page import View

EMPTY = (
    "No attempts in the ledger for this selection yet. Send traffic through the router "
    "(or run `routeledger demo`), or widen the time range."
)


def budget_totals(view: View) -> tuple[Decimal | None, Decimal | None]:
    """Sum of the tenants' daily and monthly budgets; None when no tenant has one."""
    daily = [t.budget.daily_usd for t in view.config.tenants.values() if t.budget.daily_usd is not None]
    monthly = [t.budget.monthly_usd for t in view.config.tenants.values() if t.budget.monthly_usd is not None]
    return (sum(daily, Decimal(0)) if daily else None, sum(monthly, Decimal(0)) if monthly else None)


def _against(spent: Decimal, budget: Decimal | None, period: str) -> str | None:
    if budget is None:
        return None
    return f"{spent / budget:.0%} of {money(budget)} {period} budget"


def render(view: View) -> None:
    sel = view.selection
    spent = view.ledger.spend_periods(view.now, sel.filters)
    daily, monthly = budget_totals(view)
    c1, c2, c3 = st.columns(3)
    today, month = spent["today_usd"], spent["month_usd"]
    c1.metric("Spend today", money(today), _against(today, daily, "daily"), delta_color="off")
    c2.metric("Spend this week", money(spent["week_usd"]))
    c3.metric("Spend this month", money(month), _against(month, monthly, "monthly"), delta_color="off")

    stats = view.ledger.overview(sel.window, sel.filters)
    if not stats or not stats.get("requests"):
        st.info(EMPTY)
        return
    alerts = view.ledger.alerts(view.config.analytics.anomalies, sel.filters, view.now)
    share = float(stats["fallback_share"])
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(
        "Cost per successful answer",
        money(stats["cost_per_answer_usd"], 4),
        help="Every attempt's cost in the range (retries, fallbacks and failed attempts included) "
        "divided by the requests that got an answer.",
    )
    c2.metric(
        "Fallback share",
        f"{share:.1%}",
        f"{'above' if share > FALLBACK_LINE else 'below'} the {FALLBACK_LINE:.0%} line",
        delta_color="inverse" if share > FALLBACK_LINE else "normal",
    )
    c3.metric("p95 latency", f"{stats['p95_ms']:,.0f} ms", f"p50 {stats['p50_ms']:,.0f} ms", delta_color="off")
    c4.metric("Open alerts", f"{len(alerts)}")
    st.caption(
        f"{stats['requests']:,} requests, {stats['answered']:,} answered, {stats['attempts']:,} attempts, "
        f"{money(stats['cost_usd'])} spent in the range ({money(stats['failed_cost_usd'])} on failed attempts)."
    )
    if alerts:
        st.subheader("Open alerts")
        for alert in alerts:
            st.warning(f"**{alert.scope} {alert.name}** ({alert.source}): {alert.evidence}")
