"""The dashboard's pages, one module each; every page is `render(view)` over the `Ledger`.

`PAGES` is the navigation order. Pages only call `view.ledger` methods and draw; the shell around
them (dashboards/shell.py) turns any failure into a message on the page.
"""

from __future__ import annotations

from routeledger.dashboards.page import Page


def pages() -> tuple[Page, ...]:
    from routeledger.dashboards.views import alerts, budgets, cost, explorer, fallbacks, latency, overview, reports

    return (
        Page("overview", "Overview", overview.render),
        Page("cost", "Cost", cost.render),
        Page("fallbacks", "Fallbacks", fallbacks.render),
        Page("latency", "Latency", latency.render),
        Page("alerts", "Alerts & anomalies", alerts.render),
        Page("budgets", "Budgets", budgets.render),
        Page("explorer", "Request explorer", explorer.render),
        Page("reports", "Reports", reports.render),
    )
