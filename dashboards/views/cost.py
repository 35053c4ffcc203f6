"""Cost: spend by route, task, tenant, feature, model or provider, stacked over time."""

from __future__ import annotations

import streamlit as st

from dashboards import charts
from dashboards.data import SPEND_DIMENSIONS, money
from dashboards.views import View


def render(view: View) -> None:
    sel = view.selection
    by = st.segmented_control("Split by", SPEND_DIMENSIONS, default="route", key="cost_by") or "route"
    series = view.ledger.spend_over_time(by, sel.window, sel.filters)
    if series.num_rows == 0:
        st.info("No spend in this selection.")
        return
    st.altair_chart(charts.stacked_spend(series, by), width="stretch")
    table = view.ledger.cost((by,), sel.window, sel.filters)
    rows = table.to_pylist()
    total = sum(r["cost_usd"] for r in rows)
    st.metric(f"Total spend ({len(rows)} {by} values)", money(total))
    st.dataframe(
        [
            {
                by: r[by] or "-",
                "requests": r["requests"],
                "attempts": r["attempts"],
                "answers": r["answers"],
                "input tokens": r["input_tokens"],
                "output tokens": r["output_tokens"],
                "spend": money(r["cost_usd"], 4),
                "on failed attempts": money(r["failed_cost_usd"], 4),
                "per answer": money(r["cost_usd"] / r["answers"], 4) if r["answers"] else "-",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
