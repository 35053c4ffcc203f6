"""Budgets: each tenant's and each API key's spend today and this month against its budget and the
70/80/95/100% thresholds (seed 002: downgrade from 70%, critical-only from 95%, a quota answer at 100%)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import streamlit as st

from routeledger.dashboards.data import money
from routeledger.dashboards.page import View
from routeledger.guardrails import BudgetConfig


def thresholds(view: View) -> tuple[float, ...]:
    """The shares at which the router changes behaviour or records a soft-limit event, plus 100%."""
    t = view.config.guardrails.thresholds
    return tuple(sorted({*t.soft_events, t.downgrade, t.critical_only, 1.0}))


def crossed(share: float, marks: tuple[float, ...]) -> str:
    reached = [m for m in marks if share >= m]
    return f"{max(reached):.0%} reached" if reached else f"below {marks[0]:.0%}"


def budget_rows(
    name: str, budget: BudgetConfig | None, spent: dict[str, Any], marks: tuple[float, ...]
) -> tuple[list[dict[str, Any]], list[tuple[float, str]]]:
    """Today's and this month's rows of one budget owner (a tenant or a key), and the shares used
    of the budgets it has, as (share, period)."""
    rows, shares = [], []
    for period, limit, used in (
        ("today", budget.daily_usd if budget else None, spent.get("today_usd", Decimal(0))),
        ("this month", budget.monthly_usd if budget else None, spent.get("month_usd", Decimal(0))),
    ):
        share = float(used / limit) if limit else None
        if share is not None:
            shares.append((share, period))
        rows.append(
            {
                "name": name or "-",
                "period": period,
                "spent": money(used),
                "budget": money(limit) if limit else "no budget",
                "used": min(share, 1.0) if share is not None else None,
                "share": f"{share:.1%}" if share is not None else "-",
                "threshold": crossed(share, marks) if share is not None else "-",
            }
        )
    return rows, shares


PROGRESS = {"used": st.column_config.ProgressColumn("used", min_value=0.0, max_value=1.0, format="percent")}


def render(view: View) -> None:
    marks = thresholds(view)
    filters = view.selection.filters
    spend = {r["name"]: r for r in view.ledger.spend_by_tenant(view.now, filters).to_pylist()}
    key_spend = {r["name"]: r for r in view.ledger.spend_by_key(view.now, filters).to_pylist()}
    rows: list[dict[str, Any]] = []
    shares: list[tuple[float, str, str]] = []  # (share used, owner, period) of budgets that exist
    for tenant in sorted(set(view.config.tenants) | set(spend)):
        budget = view.config.tenants[tenant].budget if tenant in view.config.tenants else None
        owned, used = budget_rows(tenant, budget, spend.get(tenant, {}), marks)
        rows += [{"tenant": r.pop("name"), **r} for r in owned]
        shares += [(share, tenant, period) for share, period in used]
    key_rows: list[dict[str, Any]] = []
    for name, key in sorted(view.config.keys.items()):
        owned, used = budget_rows(name, key.budget, key_spend.get(name, {}), marks)
        key_rows += [
            {"key": r.pop("name"), "tenant": key.tenant, **r, "state": "disabled" if key.disabled else "active"}
            for r in owned
        ]
        shares += [(share, f"key {name}", period) for share, period in used]
    if not rows and not key_rows:
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
    if rows:
        st.dataframe(rows, hide_index=True, width="stretch", column_config=PROGRESS)
    st.caption("Thresholds: " + " / ".join(f"{m:.0%}" for m in marks) + " of each budget (UTC day and month).")

    st.subheader("API keys")
    if key_rows:
        st.dataframe(key_rows, hide_index=True, width="stretch", column_config=PROGRESS)
        st.caption("Spend per key from the ledger's `api_key` column (the key's configured name, never the key).")
    else:
        st.caption("No API keys configured.")
