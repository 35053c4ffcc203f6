"""Alerts and anomalies: stored alerts (rules from the config, fired by the service's scheduler)
with their state, and the anomalies detected right now, each with its evidence."""

from __future__ import annotations

from typing import Any

import streamlit as st

from routeledger.dashboards.data import Alert
from routeledger.dashboards.page import View


def _row(a: Alert) -> dict[str, Any]:
    return {
        "state": a.state,
        "source": a.source,
        "kind": a.kind,
        "scope": a.scope,
        "name": a.name,
        "value": f"{a.value:.4g}",
        "threshold / baseline": f"{a.threshold:.4g}" if a.threshold is not None else "-",
        "requests": a.requests,
        "since": a.since.strftime("%Y-%m-%d %H:%M") if a.since else "-",
        "evidence": a.evidence,
    }


def render(view: View) -> None:
    anomalies_cfg = view.config.analytics.anomalies
    current = view.ledger.alerts(anomalies_cfg, view.selection.filters, view.now)
    stored = view.ledger.alert_events(view.now)
    c1, c2 = st.columns(2)
    c1.metric("Open alerts", f"{len(current)}")
    c2.metric("Resolved alerts (30 days)", f"{sum(1 for a in stored if a.state == 'resolved')}")
    if not current:
        st.success("No open alerts and no anomalies in the current window.")
    for a in current:
        st.warning(f"**{a.state}** · {a.source} · {a.kind} · {a.scope} **{a.name}**: {a.evidence}")
    history = [a for a in stored if a.state == "resolved"]
    if current or history:
        st.dataframe([_row(a) for a in (*current, *history)], hide_index=True, width="stretch")
    st.caption(
        f"Anomalies are judged over the last {anomalies_cfg.window} against the {anomalies_cfg.baseline_windows} "
        f"windows before it (fallback share above {anomalies_cfg.fallback_share_threshold:.0%} with at least "
        f"{anomalies_cfg.min_requests} requests, or a median/MAD spike); alert rules and their delivery are "
        "in the config's `analytics.alerts` section."
    )
