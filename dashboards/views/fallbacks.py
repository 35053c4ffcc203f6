"""Fallbacks: share over time by model and route against the 5% line, the chain flow as a Sankey
(first → retry → fallback → answered/failed, with counts and cost), and why attempts failed."""

from __future__ import annotations

import streamlit as st

from routeledger.dashboards import charts
from routeledger.dashboards.data import FALLBACK_DIMENSIONS, FALLBACK_LINE, money
from routeledger.dashboards.page import View


def render(view: View) -> None:
    sel = view.selection
    shares = view.ledger.fallbacks(sel.window, sel.filters).to_pylist()
    if not shares:
        st.info("No requests in this selection.")
        return
    overall = shares[0]
    c1, c2, c3 = st.columns(3)
    c1.metric("Fallback share", f"{overall['fallback_share']:.1%}", f"line at {FALLBACK_LINE:.0%}", delta_color="off")
    c2.metric("Retry share", f"{overall['retry_share']:.1%}")
    c3.metric("Requests that fell back", f"{overall['fallbacks']:,} of {overall['requests']:,}")

    by = st.segmented_control("Share over time by", FALLBACK_DIMENSIONS, default="route", key="fb_by") or "route"
    series = view.ledger.fallback_over_time(by, sel.window, sel.filters)
    st.altair_chart(charts.share_over_time(series, by, FALLBACK_LINE), width="stretch")
    st.dataframe(
        [
            {
                "scope": r["scope"],
                "name": r["name"] or "all traffic",
                "requests": r["requests"],
                "fallbacks": r["fallbacks"],
                "retries": r["retries"],
                "fallback share": f"{r['fallback_share']:.1%}",
                "retry share": f"{r['retry_share']:.1%}",
                "above the line": "FLAG" if r["flagged"] else "",
            }
            for r in shares
        ],
        hide_index=True,
        width="stretch",
    )

    st.subheader("Chain flow")
    flow = view.ledger.chain_flow(sel.window, sel.filters)
    st.plotly_chart(charts.chain_sankey(flow), width="stretch")
    st.dataframe(
        [
            {"from": r["source"], "to": r["target"], "requests": r["requests"], "cost": money(r["cost_usd"], 4)}
            for r in flow.to_pylist()
        ],
        hide_index=True,
        width="stretch",
    )

    st.subheader("Why attempts failed")
    reasons = view.ledger.failure_reasons(sel.window, sel.filters).to_pylist()
    if not reasons:
        st.caption("No failed attempts in this selection.")
        return
    st.dataframe(
        [
            {
                "failure class": r["failure_class"] or "-",
                "model": r["model"],
                "attempts": r["attempts"],
                "cost": money(r["cost_usd"], 4),
                "example": r["example_reason"] or "-",
            }
            for r in reasons
        ],
        hide_index=True,
        width="stretch",
    )
