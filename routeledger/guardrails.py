"""Spend guardrails in the configuration: API keys, budgets, per-request ceilings, traffic classes.

Seeds 001 and 002: fallbacks must never turn an outage into a bill. Budgets count every billable
attempt (failed ones too); thresholds on the spent share change what traffic may do (below 70% full
fallback, from 70% non-critical traffic downgraded to cheaper models, from 95% only critical traffic,
at 100% a clear quota answer, never a silent route to an expensive model). Each traffic class has its
own fallback policy (the matrix below, overridable); sensitive routes never downgrade.

API keys are configured by their SHA-256 (`routeledger keys new` prints a key and its hash): the file
never holds a usable secret, and keys never appear in logs, spans or error bodies.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import Field

from routeledger.strict import StrictModel

#: Prefix of configured key hashes.
KEY_HASH_PREFIX = "sha256:"


class TrafficClass(StrEnum):
    """Traffic classes from seed 002; each has its own fallback policy."""

    CRITICAL = "critical"
    NON_CRITICAL = "non_critical"
    INTERNAL = "internal"
    BATCH = "batch"
    EXPERIMENT = "experiment"


class BudgetConfig(StrictModel):
    """Spend limits in USD per UTC day and per UTC month; absent means unlimited."""

    daily_usd: Decimal | None = Field(default=None, gt=0)
    monthly_usd: Decimal | None = Field(default=None, gt=0)


class CeilingConfig(StrictModel):
    """Limits for one user request over its whole chain (seed 001: e.g. 12,000 tokens)."""

    max_tokens: int | None = Field(default=None, gt=0)
    max_cost_usd: Decimal | None = Field(default=None, gt=0)


class KeyConfig(StrictModel):
    #: `sha256:<hex>` of the key; the key itself is never stored.
    hash: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    tenant: str
    #: Routes the key may call; empty means all.
    routes: frozenset[str] = frozenset()
    #: Traffic classes the key may ask for with the x-routeledger-traffic-class header.
    classes: frozenset[TrafficClass] = frozenset()
    #: Requests per minute (rolling 60 s window); absent means unlimited.
    rpm: int | None = Field(default=None, gt=0)
    budget: BudgetConfig = BudgetConfig()
    expires_at: datetime | None = None
    disabled: bool = False


class Downgrade(StrEnum):
    """May a fallback go to a weaker (cheaper) model than the one that failed?"""

    ALLOW = "allow"
    FLAG = "flag"  # allowed, and the answer is marked degraded (header, span)
    NEVER = "never"  # fail clearly instead


class OnExhausted(StrEnum):
    """What the client gets when the class's chain is exhausted."""

    ERROR = "error"
    DEFAULT_RESPONSE = "default_response"  # the route's configured default answer, marked degraded
    RETRY_LATER = "retry_later"  # 503 + Retry-After: queue it and come back


class ClassPolicy(StrictModel):
    fallback: bool = True
    retry: bool = True
    downgrade: Downgrade = Downgrade.ALLOW
    #: Hard stop after this many failed provider attempts.
    max_failures: int | None = Field(default=None, ge=1)
    on_exhausted: OnExhausted = OnExhausted.ERROR
    retry_later_s: int = Field(default=60, ge=1)


#: Seed 002's matrix: critical keeps quality (same class on another provider, a budget model only
#: flagged as degraded, hard stop after two provider failures); non-critical absorbs failures with
#: cheaper models and a default answer; internal goes cheap and queues; batch pauses and resumes;
#: experiments fail fast.
DEFAULT_CLASS_POLICIES: dict[TrafficClass, ClassPolicy] = {
    TrafficClass.CRITICAL: ClassPolicy(downgrade=Downgrade.FLAG, max_failures=2),
    TrafficClass.NON_CRITICAL: ClassPolicy(on_exhausted=OnExhausted.DEFAULT_RESPONSE),
    TrafficClass.INTERNAL: ClassPolicy(on_exhausted=OnExhausted.RETRY_LATER, retry_later_s=60),
    TrafficClass.BATCH: ClassPolicy(retry=False, on_exhausted=OnExhausted.RETRY_LATER, retry_later_s=900),
    TrafficClass.EXPERIMENT: ClassPolicy(fallback=False, retry=False, max_failures=1),
}


class Thresholds(StrictModel):
    """Shares of a budget at which traffic changes (seed 002)."""

    #: From here non-critical traffic is downgraded to the cheapest capable models.
    downgrade: float = Field(default=0.70, gt=0, le=1)
    #: From here only critical traffic is served (batch and the rest are refused).
    critical_only: float = Field(default=0.95, gt=0, le=1)
    #: Crossing these shares records a soft-limit event (once per scope and period).
    soft_events: tuple[float, ...] = (0.70, 0.80, 0.95)


class StateBackend(StrEnum):
    LOCAL = "local"  # in-process, journaled to a local SQLite file (one router)
    REDIS = "redis"  # shared by every replica


class FailureMode(StrEnum):
    CLOSED = "fail_closed"  # spend unknown: refuse budgeted requests (503, no attempt)
    OPEN = "fail_open"  # spend unknown: serve, counted as unverified


class StateConfig(StrictModel):
    backend: StateBackend = StateBackend.LOCAL
    path: str = ".routeledger/router-state.db"
    redis_url: str | None = None
    #: A reservation not settled within this many seconds (a crashed router) is released.
    reservation_ttl_s: float = Field(default=600.0, gt=0)
    #: Seconds between two sweeps for reservations a dead router left open.
    sweep_s: float = Field(default=30.0, gt=0)


class GuardrailsConfig(StrictModel):
    state: StateConfig = StateConfig()
    thresholds: Thresholds = Thresholds()
    #: Overrides of the class matrix, merged over the defaults.
    classes: dict[TrafficClass, ClassPolicy] = {}
    #: When spend cannot be read or written; routes may override.
    on_state_error: FailureMode = FailureMode.CLOSED
    #: Require an API key; by default required as soon as one key is configured.
    auth_required: bool | None = None

    def class_policy(self, traffic_class: TrafficClass) -> ClassPolicy:
        return self.classes.get(traffic_class) or DEFAULT_CLASS_POLICIES[traffic_class]


def hash_key(key: str) -> str:
    """The configured form of an API key."""
    return KEY_HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()
