"""Cost: spend by route, task, tenant, feature, model or provider, stacked over time."""

from __future__ import annotations

import streamlit as st

from routeledger.dashboards import charts
from routeledger.dashboards.data import SPEND_DIMENSIONS, money
from routeledger.dashboards.page import View


def render(view: View) -> None:
    sel = view.selection
    by = st.segmented_control("Split by", SPEND_DIMENSIONS, default="route", key="cost_by") or "route"
    series = view.ledger.spend_over_time(by, sel.window, sel.filters)
    if series.num_rows == 0:
        st.info("No spend in this selection.")
        return
    rows = view.ledger.spend_totals(by, sel.window, sel.filters).to_pylist()
    total = sum(r["cost_usd"] for r in rows)
    c1, c2 = st.columns(2)
    c1.metric(f"Total spend ({len(rows)} {by} values)", money(total))
    c2.metric("Spend on failed attempts", money(sum(r["failed_cost_usd"] for r in rows)))
    st.altair_chart(charts.stacked_spend(series, by), width="stretch")
    st.dataframe(
        [
            {
                by: r["name"] or "-",
                "requests": r["requests"],
                "attempts": r["attempts"],
                "spend": money(r["cost_usd"], 4),
                "on failed attempts": money(r["failed_cost_usd"], 4),
                "per request": money(r["cost_usd"] / r["requests"], 4) if r["requests"] else "-",
                "share of spend": f"{r['cost_usd'] / total:.1%}" if total else "-",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
