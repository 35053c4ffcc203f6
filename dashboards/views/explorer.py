"""Request explorer: a request id → its attempts as a timeline (model, decision, failure class,
tokens, cost, latency)."""

from __future__ import annotations

import streamlit as st

from routeledger.dashboards import charts
from routeledger.dashboards.data import money
from routeledger.dashboards.page import View


def render(view: View) -> None:
    preset = st.query_params.get("request", "")
    request_id = st.text_input("Request id", value=preset, key="request_id", placeholder="x-request-id of a response")
    if not request_id.strip():
        st.info("Enter a request id (the `x-request-id` response header, or a row of `routeledger analytics`).")
        return
    attempts = view.ledger.request_attempts(request_id)
    if attempts.num_rows == 0:
        st.warning(f"No attempts recorded for request {request_id.strip()!r}.")
        return
    rows = attempts.to_pylist()
    first = rows[0]
    answered = any(r["outcome"] == "success" for r in rows)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Attempts", f"{len(rows)}")
    c2.metric("Outcome", "answered" if answered else "failed")
    c3.metric("Cost", money(sum(r["cost_usd"] for r in rows), 6))
    c4.metric(
        "Tokens in / out", f"{sum(r['input_tokens'] for r in rows):,} / {sum(r['output_tokens'] for r in rows):,}"
    )
    st.caption(f"route {first['route']} · tenant {first['tenant']}")
    st.altair_chart(charts.attempt_timeline(attempts), width="stretch")
    st.dataframe(
        [
            {
                "#": r["attempt"],
                "started": r["ts"].strftime("%H:%M:%S.%f")[:-3],
                "decision": r["decision"],
                "model": r["model"],
                "provider": r["provider"],
                "outcome": r["outcome"],
                "failure class": r["failure_class"] or "-",
                "status": r["http_status"] or "-",
                "tokens in": r["input_tokens"],
                "tokens out": r["output_tokens"],
                "cost": money(r["cost_usd"], 6),
                "latency": f"{r['duration_ms']:,.1f} ms",
                "TTFT": f"{r['ttft_ms']:,.1f} ms" if r["ttft_ms"] is not None else "-",
                "reason": r["reason"] or "-",
            }
            for r in rows
        ],
        hide_index=True,
        width="stretch",
    )
