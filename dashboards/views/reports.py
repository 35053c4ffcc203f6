"""Reports: the latest weekly chain-pruning view: per chain step, how often it runs, how often it
answers (rescues, for a fallback), and what it costs, over the last seven days."""

from __future__ import annotations

import streamlit as st

from analytics.jobs import Window
from dashboards.data import money
from dashboards.views import View

#: A backup step that ran at least this often and answered less than this share of its runs is
#: named as a pruning candidate (seed 001: a hop that rarely rescues costs more than it saves).
MIN_RUNS = 20
RARE_RESCUE = 0.5


def render(view: View) -> None:
    # The same window as the sidebar's "Last 7 days", so the Fallbacks page's flow is reused from cache.
    week = Window.last("7d", view.now)
    st.caption(f"Week {week.since:%Y-%m-%d} → {week.until:%Y-%m-%d} (UTC), with the sidebar's filters.")
    hops = view.ledger.hops(week, view.selection.filters).to_pylist()
    if not hops:
        st.info("No traffic in the last seven days.")
        return
    backups = [h for h in hops if not h["step"].startswith("first")]
    c1, c2 = st.columns(2)
    c1.metric("Chain steps", f"{len(hops)}")
    c2.metric(
        "Answers from retries and fallbacks",
        f"{sum(h['answered'] for h in backups):,} of {sum(h['runs'] for h in backups):,} runs",
    )
    st.dataframe(
        [
            {
                "step": h["step"],
                "runs": h["runs"],
                "answered": h["answered"],
                "answer rate": f"{h['answered'] / h['runs']:.1%}" if h["runs"] else "-",
                "cost": money(h["cost_usd"], 4),
                "cost per answer": money(h["cost_usd"] / h["answered"], 4) if h["answered"] else "-",
            }
            for h in hops
        ],
        hide_index=True,
        width="stretch",
    )
    rarely = [
        h for h in hops if not h["step"].startswith("first") and h["runs"] >= 20 and h["answered"] / h["runs"] < 0.5
    ]
    for h in rarely:
        st.warning(
            f"**{h['step']}** answered {h['answered']:,} of {h['runs']:,} times it ran and cost "
            f"{money(h['cost_usd'])}: a candidate to remove or replace."
        )
    st.caption(
        "The full weekly chain-pruning report with recommendations and savings is written by "
        "`routeledger report weekly` (analytics); this page shows its hop table."
    )
