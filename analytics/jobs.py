"""Analytics jobs: window and filters in, Arrow table out; SQL from the `.sql` files beside this.

User values only ever reach ClickHouse as bound parameters: filters are arrays, dimensions are
booleans selecting fixed columns, windows are timestamps. Nothing a caller passes becomes SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa

from routeledger.store import AttemptStore

DIMENSIONS = ("route", "task", "tenant", "feature", "model", "provider")
#: Default flag threshold for fallback share (seed 001: above 3-5% the chain needs work).
DEFAULT_FALLBACK_THRESHOLD = 0.05
#: Below this many requests a share is noise, not a signal.
DEFAULT_MIN_REQUESTS = 20

_DURATION = re.compile(r"^(\d+)\s*(m|h|d|w)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class AnalyticsInputError(ValueError):
    """A window, filter or dimension the caller gave is not valid; the message says which."""


@dataclass(frozen=True, slots=True)
class Window:
    since: datetime
    until: datetime

    @classmethod
    def last(cls, spec: str, now: datetime | None = None) -> Window:
        """`30m`, `24h`, `7d`, `4w` back from now."""
        match = _DURATION.match(spec.strip().lower())
        if not match:
            raise AnalyticsInputError(f"window {spec!r} is not a duration like 30m, 24h, 7d or 4w")
        amount = int(match.group(1))
        if amount <= 0:
            raise AnalyticsInputError(f"window {spec!r} must be positive")
        end = now or datetime.now(UTC)
        return cls(end - timedelta(**{_UNITS[match.group(2)]: amount}), end + timedelta(seconds=1))

    @classmethod
    def all_time(cls) -> Window:
        return cls(datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))

    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


@dataclass(frozen=True, slots=True)
class Filters:
    routes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        return {
            "routes": list(self.routes),
            "tasks": list(self.tasks),
            "tenants": list(self.tenants),
            "features": list(self.features),
            "models": list(self.models),
            "providers": list(self.providers),
        }


@cache
def load_sql(name: str) -> str:
    return resources.files("analytics").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def parse_dimensions(spec: str | Iterable[str]) -> tuple[str, ...]:
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise AnalyticsInputError(f"--by needs at least one of: {', '.join(DIMENSIONS)}")
    for item in items:
        if item not in DIMENSIONS:
            raise AnalyticsInputError(f"unknown dimension {item!r}; choose from {', '.join(DIMENSIONS)}")
    return tuple(dict.fromkeys(items))


def cost(
    store: AttemptStore, by: Sequence[str] = ("route",), window: Window | None = None, filters: Filters | None = None
) -> pa.Table:
    """Spend by the chosen dimensions: requests, attempts, tokens, cost, cost of failed attempts."""
    dims = parse_dimensions(by)
    params: dict[str, Any] = {f"by_{d}": d in dims for d in DIMENSIONS}
    params.update((window or Window.all_time()).params())
    params.update((filters or Filters()).params())
    table = store.query(load_sql("cost"), params)
    return table.drop_columns([d for d in DIMENSIONS if d not in dims])


def fallbacks(
    store: AttemptStore,
    window: Window | None = None,
    filters: Filters | None = None,
    threshold: float = DEFAULT_FALLBACK_THRESHOLD,
    min_requests: int = DEFAULT_MIN_REQUESTS,
) -> pa.Table:
    """Fallback and retry share overall, by route and by primary model, with the over-threshold flag."""
    if not 0 <= threshold <= 1:
        raise AnalyticsInputError(f"threshold {threshold} must be a share between 0 and 1")
    if min_requests < 0:
        raise AnalyticsInputError("min_requests must not be negative")
    params: dict[str, Any] = {"threshold": threshold, "min_requests": min_requests}
    params.update((window or Window.all_time()).params())
    params.update((filters or Filters()).params())
    return store.query(load_sql("fallbacks"), params)
