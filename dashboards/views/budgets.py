"""Budgets: each tenant's spend today and this month against its budget and the 70/80/95/100%
thresholds (seed 002: downgrade from 70%, critical-only from 95%, a quota answer at 100%)."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from dashboards.data import money
from dashboards.views import View


def thresholds(view: View) -> tuple[float, ...]:
    """The shares at which the router changes behaviour or records a soft-limit event, plus 100%."""
    t = view.config.guardrails.thresholds
    return tuple(sorted({*t.soft_events, t.downgrade, t.critical_only, 1.0}))


def crossed(share: float, marks: tuple[float, ...]) -> str:
    reached = [m for m in marks if share >= m]
    return f"{max(reached):.0%} reached" if reached else f"below {marks[0]:.0%}"


def render(view: View) -> None:
    marks = thresholds(view)
    periods = view.ledger.spend_by_tenant(view.now, view.selection.filters)
    spend = {r["name"]: r for r in periods.to_pylist()}
    rows = []
    shares: list[tuple[float, str, str]] = []  # (share used, tenant, period) of budgets that exist
    for tenant in sorted(set(view.config.tenants) | set(spend)):
        budget = view.config.tenants[tenant].budget if tenant in view.config.tenants else None
        spent = spend.get(tenant, {})
        for period, limit, used in (
            ("today", budget.daily_usd if budget else None, spent.get("today_usd", Decimal(0))),
            ("this month", budget.monthly_usd if budget else None, spent.get("month_usd", Decimal(0))),
        ):
            share = float(used / limit) if limit else None
            if share is not None:
                shares.append((share, tenant, period))
            rows.append(
                {
                    "tenant": tenant or "-",
                    "period": period,
                    "spent": money(used),
                    "budget": money(limit) if limit else "no budget",
                    "used": min(share, 1.0) if share is not None else None,
                    "share": f"{share:.1%}" if share is not None else "-",
                    "threshold": crossed(share, marks) if share is not None else "-",
                }
            )
    if not rows:
        st.info("No tenants configured and no spend in the ledger yet.")
    else:
        top = max(shares, default=None)
        c1, c2 = st.columns(2)
        c1.metric(
            "Highest budget use",
            f"{top[0]:.1%}" if top else "-",
            f"{top[1]} {top[2]}" if top else None,
            delta_color="off",
        )
        c2.metric(f"Budgets at or above {marks[0]:.0%}", f"{sum(1 for share, *_ in shares if share >= marks[0])}")
        st.dataframe(
            rows,
            hide_index=True,
            width="stretch",
            column_config={
                "used": st.column_config.ProgressColumn("used", min_value=0.0, max_value=1.0, format="percent")
            },
        )
    st.caption("Thresholds: " + " / ".join(f"{m:.0%}" for m in marks) + " of each budget (UTC day and month).")

    st.subheader("API keys")
    keys = [
        {
            "key": name,
            "tenant": key.tenant,
            "daily budget": money(key.budget.daily_usd) if key.budget.daily_usd else "none",
            "monthly budget": money(key.budget.monthly_usd) if key.budget.monthly_usd else "none",
            "state": "disabled" if key.disabled else "active",
        }
        for name, key in sorted(view.config.keys.items())
    ]
    if keys:
        st.dataframe(keys, hide_index=True, width="stretch")
        st.caption(
            "Key spend is kept by the router's guardrail state, not in the attempt ledger, so it is not "
            "shown here; the tenant rows above include every key's traffic."
        )
    else:
        st.caption("No API keys configured.")
