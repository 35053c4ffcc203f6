"""Reports: the latest weekly chain-pruning report (the 7 days up to now): per route and hop, how
often it runs, how often it rescues the request, what it costs; recommendations with the money each
would save per week; the same report as Markdown or HTML to download."""

from __future__ import annotations

import streamlit as st

from routeledger.analytics.report import render_html, render_markdown
from routeledger.dashboards.data import money
from routeledger.dashboards.page import View


def render(view: View) -> None:
    report = view.ledger.weekly_report(view.now, view.selection.filters)
    week = report.window
    st.caption(f"Week {week.since:%Y-%m-%d %H:%M} → {week.until:%Y-%m-%d %H:%M} UTC, with the sidebar's filters.")
    if not report.hops:
        st.info("No traffic in the last seven days.")
        return
    backups = [h for h in report.hops if h["hop"] > 1]
    c1, c2, c3 = st.columns(3)
    c1.metric("Recommendations", f"{len(report.recommendations)}")
    c2.metric("Savings per week", money(report.total_savings))
    c3.metric(
        "Rescues by retries and fallbacks",
        f"{sum(h['rescues'] for h in backups):,} of {sum(h['runs'] for h in backups):,} runs",
    )
    for r in report.recommendations:
        where = "all routes" if r.route.strip("*") == "" else r.route
        st.warning(f"**{where}**: {r.action}. {r.detail} (saves {money(r.saves_usd)} per week)")
    if not report.recommendations:
        st.success("No chain changes recommended this week.")
    st.subheader("Hops")
    st.dataframe(
        [
            {
                "route": h["route"],
                "hop": h["hop"],
                "model": h["model"],
                "runs": h["runs"],
                "answers": h["answers"],
                "rescues": h["rescues"],
                "cost": money(h["cost_usd"], 4),
                "on failures": money(h["wasted_usd"], 4),
                "p95": f"{h['p95_ms']:,.0f} ms",
            }
            for h in report.hops
        ],
        hide_index=True,
        width="stretch",
    )
    c1, c2 = st.columns(2)
    c1.download_button("Download Markdown", render_markdown(report), "weekly-report.md", "text/markdown")
    c2.download_button("Download HTML", render_html(report), "weekly-report.html", "text/html")
