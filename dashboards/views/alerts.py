"""Alerts and anomalies: each with its evidence (value, threshold, volume, window) and state."""

from __future__ import annotations

import streamlit as st

from dashboards.filters import describe
from dashboards.views import View


def render(view: View) -> None:
    sel = view.selection
    alerts = view.ledger.alerts(sel.window, sel.filters)
    st.metric("Open alerts", f"{len(alerts)}")
    if not alerts:
        st.success("No open alerts: every route and model is at or below the fallback line.")
    else:
        for a in alerts:
            st.warning(f"**{a.state}** · {a.kind} · {a.scope} **{a.name}**: {a.evidence}")
        st.dataframe(
            [
                {
                    "state": a.state,
                    "kind": a.kind,
                    "scope": a.scope,
                    "name": a.name,
                    "value": f"{a.value:.1%}",
                    "threshold": f"{a.threshold:.0%}",
                    "requests": a.requests,
                    "evidence": a.evidence,
                }
                for a in alerts
            ],
            hide_index=True,
            width="stretch",
        )
    st.caption(
        f"Window: {describe(sel)}. An alert opens when a route's or primary model's fallback share is "
        "above the line with at least 20 requests."
    )
