"""The sidebar's time range and filters, and the shareable URL form of them (`?window=7d&route=support`).

A selection is validated before it reaches analytics: an unknown window, a value that names no known
route/task/tenant/model/provider, or a custom range that ends before it starts becomes a message on
the page and is dropped from the selection, never an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from routeledger.analytics.jobs import AnalyticsInputError, Filters, Window
from routeledger.config import RouteledgerConfig

#: Time ranges offered in the sidebar; `custom` opens a date picker.
WINDOWS = ("1h", "24h", "7d", "30d", "90d", "all")
WINDOW_LABELS = {
    "1h": "Last hour",
    "24h": "Last 24 hours",
    "7d": "Last 7 days",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
    "all": "All time",
    "custom": "Custom dates",
}
#: Filter name in the URL → Filters field.
FILTER_FIELDS = {"route": "routes", "task": "tasks", "tenant": "tenants", "model": "models", "provider": "providers"}


@dataclass(frozen=True, slots=True)
class Known:
    """The values each filter may take: from the config, plus tenants seen in the ledger."""

    routes: tuple[str, ...]
    tasks: tuple[str, ...]
    tenants: tuple[str, ...]
    models: tuple[str, ...]
    providers: tuple[str, ...]

    @classmethod
    def from_config(cls, config: RouteledgerConfig, seen_tenants: Iterable[str] = ()) -> Known:
        providers = {m.provider for m in config.models.values()}
        return cls(
            routes=tuple(sorted(config.routes)),
            tasks=tuple(sorted({r.task for r in config.routes.values()})),
            tenants=tuple(sorted(set(config.tenants) | {t for t in seen_tenants if t})),
            models=tuple(sorted(config.models)),
            providers=tuple(sorted(providers)),
        )

    def options(self, name: str) -> tuple[str, ...]:
        value: tuple[str, ...] = getattr(self, FILTER_FIELDS[name])
        return value


@dataclass(frozen=True, slots=True)
class Selection:
    """What the pages query: a window, filters, the window's sidebar key, and any messages."""

    window: Window
    filters: Filters
    window_key: str
    problems: tuple[str, ...] = field(default=())


def window_for(key: str, now: datetime, custom: tuple[date, date] | None = None) -> Window:
    """A sidebar window key (or `custom` with a date range, inclusive, UTC) → Window."""
    if key == "all":
        return Window.all_time()
    if key == "custom":
        if custom is None:
            raise AnalyticsInputError("a custom range needs a start and an end date")
        start, end = custom
        if end < start:
            raise AnalyticsInputError(f"the range ends ({end}) before it starts ({start})")
        return Window(datetime.combine(start, time(), UTC), datetime.combine(end + timedelta(days=1), time(), UTC))
    return Window.last(key, now)


def parse_selection(
    params: Mapping[str, Sequence[str]],
    known: Known,
    now: datetime,
    default_window: str,
    custom: tuple[date, date] | None = None,
) -> Selection:
    """URL / widget values → a valid Selection; whatever is invalid is dropped with a message."""
    problems: list[str] = []
    key = (params.get("window") or [default_window])[0].strip().lower()
    try:
        window = window_for(key, now, custom)
    except AnalyticsInputError as exc:
        problems.append(f"Time range: {exc}. Showing {WINDOW_LABELS.get(default_window, default_window)} instead.")
        key = default_window
        window = window_for(default_window, now) if default_window != "custom" else Window.all_time()
    chosen: dict[str, tuple[str, ...]] = {}
    for name, attr in FILTER_FIELDS.items():
        values = [v.strip() for raw in params.get(name, ()) for v in raw.split(",") if v.strip()]
        allowed = known.options(name)
        unknown = [v for v in values if v not in allowed]
        if unknown:
            shown = ", ".join(allowed[:12]) or "none yet"
            problems.append(f"Unknown {name} {', '.join(map(repr, unknown))} ignored (known: {shown}).")
        chosen[attr] = tuple(dict.fromkeys(v for v in values if v in allowed))
    filters = Filters(
        routes=chosen["routes"],
        tasks=chosen["tasks"],
        tenants=chosen["tenants"],
        models=chosen["models"],
        providers=chosen["providers"],
    )
    return Selection(window=window, filters=filters, window_key=key, problems=tuple(problems))


def describe(selection: Selection) -> str:
    """One line for the page header: the range and the active filters."""
    w = selection.window
    span = "all time" if selection.window_key == "all" else f"{w.since:%Y-%m-%d %H:%M} → {w.until:%Y-%m-%d %H:%M} UTC"
    active = [
        f"{name}: {', '.join(getattr(selection.filters, attr))}"
        for name, attr in FILTER_FIELDS.items()
        if getattr(selection.filters, attr)
    ]
    return span + (" · " + " · ".join(active) if active else "")
