"""Latency: p50/p95/p99 per attempt and time to first token, by model, provider or route."""

from __future__ import annotations

import streamlit as st

from routeledger.dashboards import charts
from routeledger.dashboards.data import LATENCY_DIMENSIONS
from routeledger.dashboards.page import View


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} ms"


def render(view: View) -> None:
    sel = view.selection
    by = st.segmented_control("By", LATENCY_DIMENSIONS, default="model", key="lat_by") or "model"
    table = view.ledger.latency(by, sel.window, sel.filters)
    if table.num_rows == 0:
        st.info("No attempts in this selection.")
        return
    rows = table.to_pylist()
    slowest = rows[0]  # the job orders by p95, slowest first
    c1, c2 = st.columns(2)
    c1.metric("Slowest p95", _ms(slowest["p95_ms"]), f"{by} {slowest['name']}", delta_color="off")
    c2.metric("Attempts measured", f"{sum(r['attempts'] for r in rows):,}")
    st.altair_chart(charts.latency_bars(table, by), width="stretch")
    st.dataframe(
        [
            {
                by: r["name"],
                "attempts": r["attempts"],
                "p50": _ms(r["p50_ms"]),
                "p95": _ms(r["p95_ms"]),
                "p99": _ms(r["p99_ms"]),
                "TTFT p50": _ms(r["ttft_p50_ms"]),
                "TTFT p95": _ms(r["ttft_p95_ms"]),
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
    st.caption("Percentiles of sent attempts (skipped ones never reached a provider); TTFT only for streams.")
