"""What a dashboard page is and what it gets: `render(view)` over the `Ledger`, the sidebar's
selection, the config and the clock. Pages (`dashboards/views/`) import this; the navigation that
lists them (`views.pages`) imports the pages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from routeledger.config import RouteledgerConfig
from routeledger.dashboards.data import Ledger
from routeledger.dashboards.filters import Selection


@dataclass(frozen=True, slots=True)
class View:
    """What a page gets: the ledger, the sidebar selection, the config (budgets), the clock."""

    ledger: Ledger
    selection: Selection
    config: RouteledgerConfig
    now: datetime


@dataclass(frozen=True, slots=True)
class Page:
    slug: str
    title: str
    render: Callable[[View], None]
