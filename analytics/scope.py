"""What every job takes: a time `Window`, `Filters` (with an optional tenant scope), and its SQL.

User values only ever reach ClickHouse as bound `{name:Type}` parameters: filters are arrays,
dimensions are booleans selecting fixed columns, a choice among fixed columns is a bound string
checked against a closed set first, windows are timestamps. Nothing a caller passes becomes SQL text.

The WHERE clause every job shares lives once in `scope.sql`; a job's file names it with the
`__SCOPE__` marker (attempt level: every filter) or `__REQUEST_SCOPE__` + `__PRIMARY_SCOPE__`
(request level: route, task, tenant and feature on the attempts; model and provider on the
request's primary model, so a model filter does not hide the fallbacks it caused).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

DIMENSIONS = ("route", "task", "tenant", "feature", "model", "provider")
#: Rollup periods in seconds (migration 0011): `hour` without tenant and feature, `day` with every dimension.
GRAINS = {"hour": 3600, "day": 86400}
FILTER_NAMES = ("route", "task", "tenant", "feature", "model", "provider")

_DURATION = re.compile(r"^(\d+)\s*(m|h|d|w)$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
#: A filter value longer than this is not a name anyone configured; refused rather than shipped.
MAX_FILTER_VALUE = 256
#: More values than this in one filter is a mistake (or an attempt to make the query huge).
MAX_FILTER_VALUES = 100


class AnalyticsInputError(ValueError):
    """A window, filter, dimension or job name the caller gave is not valid; the message says which."""


def parse_duration(spec: str) -> timedelta:
    """`30m`, `24h`, `7d`, `4w` as a timedelta."""
    match = _DURATION.match(spec.strip().lower())
    if not match:
        raise AnalyticsInputError(f"window {spec!r} is not a duration like 30m, 24h, 7d or 4w")
    amount = int(match.group(1))
    if amount <= 0:
        raise AnalyticsInputError(f"window {spec!r} must be positive")
    return timedelta(**{_UNITS[match.group(2)]: amount})


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range [since, until), UTC."""

    since: datetime
    until: datetime

    @classmethod
    def last(cls, spec: str, now: datetime | None = None) -> Window:
        """`30m`, `24h`, `7d`, `4w` back from now."""
        end = now or datetime.now(UTC)
        return cls(end - parse_duration(spec), end + timedelta(seconds=1))

    @classmethod
    def all_time(cls) -> Window:
        return cls(datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC))

    @classmethod
    def parse(cls, spec: str, now: datetime | None = None) -> Window:
        """`all`, a duration back from now, or `SINCE..UNTIL` as ISO-8601 times (UTC if no offset)."""
        text = spec.strip()
        if text.lower() == "all":
            return cls.all_time()
        if ".." in text:
            start, _, end = text.partition("..")
            window = cls(_iso(start), _iso(end))
            if window.until <= window.since:
                raise AnalyticsInputError(f"window {spec!r} ends before it starts")
            return window
        return cls.last(text, now)

    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until}


def _iso(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise AnalyticsInputError(f"window bound {text!r} is not an ISO-8601 time like 2026-11-01T00:00") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Filters:
    """Only rows matching every non-empty filter; `tenant_scope` is the caller's own tenant.

    A scoped caller (an API key of tenant A, a dashboard session) sees tenant A's rows whatever the
    other filters say: the scope is its own bound predicate, ANDed with everything else.
    """

    routes: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()
    tenants: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    tenant_scope: str | None = None

    def __post_init__(self) -> None:
        for name in ("routes", "tasks", "tenants", "features", "models", "providers"):
            values = getattr(self, name)
            if isinstance(values, str):
                raise AnalyticsInputError(f"filter {name} must be a list of values, not one string")
            if len(values) > MAX_FILTER_VALUES:
                raise AnalyticsInputError(f"filter {name} has {len(values)} values; at most {MAX_FILTER_VALUES}")
            for value in values:
                if not isinstance(value, str) or len(value) > MAX_FILTER_VALUE:
                    raise AnalyticsInputError(f"filter {name}: values must be strings of at most {MAX_FILTER_VALUE}")

    @classmethod
    def from_mapping(cls, values: dict[str, Iterable[str]], tenant_scope: str | None = None) -> Filters:
        """`{"route": [...], "tenant": [...]}` (the CLI's and dashboard's shape); unknown keys refused."""
        unknown = sorted(set(values) - set(FILTER_NAMES))
        if unknown:
            raise AnalyticsInputError(f"unknown filter {unknown[0]!r}; choose from {', '.join(FILTER_NAMES)}")
        return cls(
            **{f"{name}s": tuple(values.get(name) or ()) for name in FILTER_NAMES},
            tenant_scope=tenant_scope,
        )

    def scoped(self, tenant: str) -> Filters:
        return replace(self, tenant_scope=tenant)

    def params(self) -> dict[str, Any]:
        return {
            "routes": list(self.routes),
            "tasks": list(self.tasks),
            "tenants": list(self.tenants),
            "features": list(self.features),
            "models": list(self.models),
            "providers": list(self.providers),
            "scoped": self.tenant_scope is not None,
            "scope_tenant": self.tenant_scope or "",
        }


_DIM_IF = re.compile(r"if\(\{by_(\w+):Bool\}, (\w+), ''\)")


@cache
def load_sql(
    name: str,
    dims: tuple[str, ...] | None = None,
    key: str | None = None,
    grain: str | None = None,
    active: frozenset[str] | None = None,
    chains: str = "table",
) -> str:
    """A job's SQL with the shared scope clauses put in (all files of this package).

    `grain` (`hour` or `day`, from `analytics.rollup.plan`) picks which rollup the `__FACTS__` and
    `__REQUEST_FACTS__` sources read for whole periods; `chains` (`table` or `raw`) whether the
    attempts of multi-attempt requests come from `llm_chain_attempts` or from `llm_attempts`.

    `dims` (already checked against `DIMENSIONS`) folds each `if({by_x:Bool}, col, '')` to `col` or
    `''`, and `key` (a column expression from a constant table in `jobs`, chosen by a checked name)
    fills `__KEY__`: the text comes from this package only, never from the caller. ClickHouse does
    not fold those constant branches itself, and at 10M rows each costs about a second.
    """
    text = _read(name).replace("__PER_REQUEST__", _read("per_request"))
    if grain is not None:
        if grain not in GRAINS:
            raise AnalyticsInputError(f"unknown rollup grain {grain!r}")
        text = text.replace("__REQUEST_FACTS__", _read("request_facts"))
        text = text.replace("__FACTS__", _read(f"facts_{grain}"))
    if chains not in ("table", "raw"):
        raise AnalyticsInputError(f"unknown chain source {chains!r}")
    text = text.replace("__CHAINS__", _read(f"chains_{chains}"))
    attempt, request, primary, rollup = _parts(_read("scope"))
    text = text.replace("__REQUEST_SCOPE__", request).replace("__PRIMARY_SCOPE__", primary)
    text = text.replace("__ROLLUP_SCOPE__", rollup)
    text = text.replace("__SCOPE__", attempt)
    if dims is not None:
        unknown = set(dims) - set(DIMENSIONS)
        if unknown:
            raise AnalyticsInputError(f"unknown dimension {sorted(unknown)[0]!r}")
        text = _DIM_IF.sub(lambda m: m.group(2) if m.group(1) in dims else "''", text)
    if key is not None:
        text = text.replace("__KEY__", key)
    if active is not None:
        text = _fold_filters(text, active)
    return text


_FILTER_CLAUSE = re.compile(
    r"(\n\s+AND )?\(empty\(\{(\w+):Array\(String\)\}\) OR (has\(\{\2:Array\(String\)\}, [\w.]+\))\)"
)
_SCOPED_CLAUSE = re.compile(r"(\n\s+AND )?\(NOT \{scoped:Bool\} OR ([\w.]+ = \{scope_tenant:String\})\)")


def _fold_filters(text: str, active: frozenset[str]) -> str:
    def fold(match: re.Match[str], name: str, clause: str) -> str:
        joiner = match.group(1)
        if name in active:
            return f"{joiner or ''}{clause}"
        return "" if joiner else "true"

    text = _FILTER_CLAUSE.sub(lambda m: fold(m, m.group(2), m.group(3)), text)
    return _SCOPED_CLAUSE.sub(lambda m: fold(m, "scoped", m.group(2)), text)


def active_filters(params: dict[str, Any]) -> frozenset[str]:
    """Names of the filters in `params` that hold values (`routes`, ...), and `scoped` if scoped."""
    names = {n for n in ("routes", "tasks", "tenants", "features", "models", "providers") if params.get(n)}
    if params.get("scoped"):
        names.add("scoped")
    return frozenset(names)


def _read(name: str) -> str:
    return resources.files(__package__ or "").joinpath(f"{name}.sql").read_text(encoding="utf-8")


def _parts(scope: str) -> tuple[str, str, str, str]:
    """`scope.sql` holds four sections headed `-- @attempt`, `-- @request`, `-- @primary`, `-- @rollup`."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in scope.splitlines():
        if line.startswith("-- @"):
            current = line[4:].strip()
            sections[current] = []
        elif current and not line.lstrip().startswith("--"):
            sections[current].append(line)
    return tuple("\n".join(sections[k]).strip() for k in ("attempt", "request", "primary", "rollup"))  # type: ignore[return-value]


def parse_dimensions(spec: str | Iterable[str], allowed: tuple[str, ...] = DIMENSIONS) -> tuple[str, ...]:
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not items:
        raise AnalyticsInputError(f"--by needs at least one of: {', '.join(allowed)}")
    for item in items:
        if item not in allowed:
            raise AnalyticsInputError(f"unknown dimension {item!r}; choose from {', '.join(allowed)}")
    return tuple(dict.fromkeys(items))


def choose(value: str, allowed: tuple[str, ...], what: str) -> str:
    """One of a closed set (bound as a string parameter afterwards, never spliced)."""
    if value not in allowed:
        raise AnalyticsInputError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
    return value


def base_params(window: Window | None, filters: Filters | None) -> dict[str, Any]:
    params = (window or Window.all_time()).params()
    params.update((filters or Filters()).params())
    return params


def dimension_params(dims: tuple[str, ...]) -> dict[str, bool]:
    return {f"by_{d}": d in dims for d in DIMENSIONS}
