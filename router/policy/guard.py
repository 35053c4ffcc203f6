"""Spend guardrails at run time: rate limits, budget bands, per-request ceilings, reserve/settle.

    Guardrails.open_request   once per request: RPM window, budget usage → band, soft-limit events
    RequestGuard.before       before each attempt: the request's ceilings, then a reservation of the
                              attempt's estimated cost on every budget (refused → no attempt)
    RequestGuard.after        after each attempt: settle the reservation with the real cost

Budgets count billable attempts, failed ones included. A reservation is admitted while a budget
still has room (spent + reserved < limit), so concurrent requests overshoot a budget by at most one
attempt's estimate, itself bounded by the request ceiling. When spend cannot be read or written the
route's failure mode decides: fail closed (503, no attempt) by default, or fail open (served, counted
as unverified).
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum

from routeledger.config import RouteConfig, RouteledgerConfig
from routeledger.guardrails import BudgetConfig, CeilingConfig, ClassPolicy, FailureMode, TrafficClass
from routeledger.pricing import Usage
from routeledger.router.api.context import RequestContext
from routeledger.router.api.errors import GatewayError
from routeledger.router.api.principal import Principal
from routeledger.router.policy.state import Denied, Reservation, Scope, StateStore, StateUnavailable
from routeledger.router.policy.state.base import to_nanos, to_usd
from routeledger.router.upstream.outcome import AttemptOutcome
from routeledger.router.upstream.targets import Target

#: The rolling window of a requests-per-minute limit, in seconds.
RPM_WINDOW_S = 60.0


class Band(StrEnum):
    """What a budget's spent share allows (seed 002)."""

    NORMAL = "normal"  # below 70%: full fallback
    DOWNGRADE = "downgrade"  # from 70%: non-critical traffic to the cheapest capable models
    CRITICAL_ONLY = "critical_only"  # from 95%: only critical traffic
    EXHAUSTED = "exhausted"  # 100%: a clear quota answer


@dataclass(frozen=True, slots=True)
class Decision:
    """A guardrail decision, recorded on the request span so analytics can count them by reason."""

    kind: str  # rate_limited | budget_exhausted | budget_restricted | downgrade | ceiling | unverified | soft_limit
    reason: str


def period_scopes(owner: str, budget: BudgetConfig, now: datetime) -> list[Scope]:
    """One owner's budgets (`tenant:acme`, `key:billing-app`) for the current UTC day and month."""
    scopes = []
    if budget.daily_usd is not None:
        scopes.append(Scope(f"{owner}:day:{now:%Y-%m-%d}", to_nanos(budget.daily_usd)))
    if budget.monthly_usd is not None:
        scopes.append(Scope(f"{owner}:month:{now:%Y-%m}", to_nanos(budget.monthly_usd)))
    return scopes


def budget_scopes(principal: Principal, tenant: str, tenant_budget: BudgetConfig, now: datetime) -> list[Scope]:
    """Every budget a request spends against: its tenant's and (with a key) its key's."""
    scopes = period_scopes(f"tenant:{tenant}", tenant_budget, now)
    if principal.key:
        scopes += period_scopes(f"key:{principal.key}", principal.budget, now)
    return scopes


def band_for(share: float, downgrade: float, critical_only: float) -> Band:
    if share >= 1.0:
        return Band.EXHAUSTED
    if share >= critical_only:
        return Band.CRITICAL_ONLY
    if share >= downgrade:
        return Band.DOWNGRADE
    return Band.NORMAL


def allowed_by_band(band: Band, traffic_class: TrafficClass) -> bool:
    return band is not Band.EXHAUSTED and (band is not Band.CRITICAL_ONLY or traffic_class is TrafficClass.CRITICAL)


class Guardrails:
    """Router-wide: the state store and the counters of every decision."""

    def __init__(self, config: RouteledgerConfig, state: StateStore) -> None:
        self.config = config
        self.state = state
        self.decisions: Counter[str] = Counter()

    def failure_mode(self, route: RouteConfig) -> FailureMode:
        return route.on_state_error or self.config.guardrails.on_state_error

    async def open_request(self, ctx: RequestContext, principal: Principal) -> RequestGuard:
        config = self.config
        tenant_config = config.tenants.get(ctx.tenant)
        tenant_budget = tenant_config.budget if tenant_config else BudgetConfig()
        ceiling = (tenant_config.ceilings if tenant_config and tenant_config.ceilings else None) or ctx.route.ceilings
        traffic_class = TrafficClass(ctx.traffic_class)
        guard = RequestGuard(
            self,
            ctx,
            principal,
            budget_scopes(principal, ctx.tenant, tenant_budget, datetime.now(UTC)),
            ceiling,
            config.guardrails.class_policy(traffic_class),
        )
        try:
            guard.blocked = await self._admit(guard, principal)
        except GatewayError as blocked:
            guard.blocked = blocked
        return guard

    async def _admit(self, guard: RequestGuard, principal: Principal) -> GatewayError | None:
        try:
            if principal.rpm is not None:
                wait = await self.state.hit(f"key:{principal.key}", principal.rpm, RPM_WINDOW_S)
                if wait > 0:
                    self.count(
                        guard, Decision("rate_limited", f"key {principal.key!r} above {principal.rpm} requests/minute")
                    )
                    raise GatewayError(
                        429,
                        f"Rate limit reached: this API key allows {principal.rpm} requests per minute.",
                        "rate_limit_error",
                        "rate_limited",
                        headers={"retry-after": str(max(1, math.ceil(wait)))},
                        should_retry=True,
                    )
            if guard.scopes:
                await guard.read_band()
        except StateUnavailable as exc:
            guard.state_failed(exc)
        return None

    async def budgets(self) -> list[dict[str, object]]:
        """Every configured budget of the current day and month: limit, spent, reserved, band."""
        now = datetime.now(UTC)
        config = self.config
        scopes: list[Scope] = []
        for name, tenant in config.tenants.items():
            scopes += period_scopes(f"tenant:{name}", tenant.budget, now)
        for name, key in config.keys.items():
            scopes += period_scopes(f"key:{name}", key.budget, now)
        usage = await self.state.usage([s.key for s in scopes]) if scopes else {}
        thresholds = config.guardrails.thresholds
        report = []
        for scope in scopes:
            spent, reserved = usage[scope.key]
            share = (spent + reserved) / scope.limit
            report.append(
                {
                    "scope": scope.key,
                    "limit_usd": str(to_usd(scope.limit)),
                    "spent_usd": str(to_usd(spent)),
                    "reserved_usd": str(to_usd(reserved)),
                    "share": round(share, 6),
                    "band": band_for(share, thresholds.downgrade, thresholds.critical_only).value,
                }
            )
        return report

    def count(self, guard: RequestGuard, decision: Decision) -> None:
        self.decisions[decision.kind] += 1
        guard.decisions.append(decision)


@dataclass(slots=True)
class RequestGuard:
    guardrails: Guardrails
    ctx: RequestContext
    principal: Principal
    scopes: list[Scope]
    ceiling: CeilingConfig
    class_policy: ClassPolicy
    band: Band = Band.NORMAL
    share: float = 0.0
    unverified: bool = False
    spent_tokens: int = 0
    spent_nanos: int = 0
    decisions: list[Decision] = field(default_factory=list)
    #: Why the request may not run at all (rate limit, budget), decided before any attempt.
    blocked: GatewayError | None = None

    @property
    def downgrade(self) -> bool:
        """Budget pressure: serve this non-critical request from the cheapest capable models."""
        return self.band is Band.DOWNGRADE and self.ctx.traffic_class != TrafficClass.CRITICAL

    async def read_band(self) -> None:
        guardrails = self.guardrails
        thresholds = guardrails.config.guardrails.thresholds
        usage = await guardrails.state.usage([s.key for s in self.scopes])
        shares = {s.key: (usage[s.key][0] + usage[s.key][1]) / s.limit for s in self.scopes}
        scope, self.share = max(shares.items(), key=lambda item: item[1])
        self.band = band_for(self.share, thresholds.downgrade, thresholds.critical_only)
        for key, share in shares.items():
            for threshold in thresholds.soft_events:
                if share >= threshold and await guardrails.state.first_crossing(key, threshold):
                    guardrails.count(self, Decision("soft_limit", f"{key} crossed {threshold:.0%}"))
        traffic_class = TrafficClass(self.ctx.traffic_class)
        if self.band is Band.EXHAUSTED:
            guardrails.count(self, Decision("budget_exhausted", f"{scope} at {self.share:.0%}"))
            raise budget_exhausted(scope)
        if not allowed_by_band(self.band, traffic_class):
            guardrails.count(self, Decision("budget_restricted", f"{scope} at {self.share:.0%}: only critical traffic"))
            raise GatewayError(
                429,
                f"The budget {_owner(scope)} is {self.share:.0%} spent: "
                "only critical traffic is served until it resets.",
                "insufficient_quota",
                "budget_restricted",
            )
        if self.downgrade and self.ctx.route.sensitive:
            guardrails.count(self, Decision("budget_restricted", f"{scope}: sensitive route cannot be downgraded"))
            raise GatewayError(
                429,
                f"The budget {_owner(scope)} is {self.share:.0%} spent and route {self.ctx.route_name!r} is sensitive: "
                "it is never moved to a cheaper model, so it is not served until the budget resets.",
                "insufficient_quota",
                "budget_restricted",
            )
        if self.downgrade:
            guardrails.count(self, Decision("downgrade", f"{scope} at {self.share:.0%}: cheapest capable models first"))

    def state_failed(self, exc: StateUnavailable) -> None:
        if not self.scopes and self.principal.rpm is None:
            return
        if self.guardrails.failure_mode(self.ctx.route) is FailureMode.OPEN:
            self.unverified = True
            self.guardrails.count(self, Decision("unverified", str(exc)))
            return
        self.guardrails.count(self, Decision("state_unavailable", str(exc)))
        raise GatewayError(
            503,
            "Spend cannot be verified right now, and this route fails closed: nothing was sent to a provider.",
            "upstream_error",
            "budget_unavailable",
            headers={"retry-after": "5"},
            should_retry=True,
        )

    # --- around each attempt -------------------------------------------------------------------

    async def before(self, target: Target, prompt_tokens: int, max_output: int, index: int) -> Reservation | None:
        """The request's ceilings, then a reservation; raises GatewayError when the attempt may not run."""
        estimate_usd = target.pricing.cost(Usage(prompt_tokens, max_output))
        self._check_ceilings(target, prompt_tokens + max_output, estimate_usd, index)
        if not self.scopes or self.unverified:
            return None
        try:
            held = await self.guardrails.state.reserve(self.scopes, to_nanos(estimate_usd), self.ctx.request_id, index)
        except StateUnavailable as exc:
            self.state_failed(exc)
            return None
        if isinstance(held, Denied):
            self.guardrails.count(self, Decision("budget_exhausted", f"{held.scope} has no room left"))
            raise budget_exhausted(held.scope)
        return held

    async def after(self, reservation: Reservation | None, outcome: AttemptOutcome) -> None:
        actual = to_nanos(outcome.cost)
        if outcome.billable and outcome.usage is not None:
            self.spent_tokens += outcome.usage.input_tokens + outcome.usage.output_tokens
        self.spent_nanos += actual
        if reservation is not None:
            try:
                await self.guardrails.state.settle(reservation, actual)
            except StateUnavailable as exc:
                # The reservation stays open and expires; the ledger still has the attempt's cost.
                self.guardrails.count(self, Decision("unverified", f"settle failed: {exc}"))

    async def release(self, reservation: Reservation | None) -> None:
        """An attempt that never ran: give its reservation back."""
        if reservation is not None:
            with contextlib.suppress(StateUnavailable):
                await self.guardrails.state.settle(reservation, 0)

    def _check_ceilings(self, target: Target, tokens: int, estimate_usd: Decimal, index: int) -> None:
        ceiling = self.ceiling
        stop = None
        if ceiling.max_tokens is not None and self.spent_tokens + tokens > ceiling.max_tokens:
            stop = (
                f"its {ceiling.max_tokens:,}-token ceiling: {target.name} could use up to {tokens:,} tokens"
                f"{self._after_spent(index, f'{self.spent_tokens:,} tokens')}"
            )
        elif ceiling.max_cost_usd is not None and to_usd(self.spent_nanos) + estimate_usd > ceiling.max_cost_usd:
            stop = (
                f"its ${ceiling.max_cost_usd} cost ceiling: {target.name} could cost up to ${estimate_usd:.6f}"
                f"{self._after_spent(index, f'${to_usd(self.spent_nanos):.6f}')}"
            )
        if stop is None:
            return
        self.guardrails.count(self, Decision("ceiling", stop))
        if index == 1:
            raise GatewayError(
                400,
                f"This request would exceed {stop}. Lower max_tokens or shorten the input.",
                "invalid_request_error",
                "ceiling_exceeded",
                "max_tokens",
            )
        raise GatewayError(
            503,
            f"The previous attempt failed and a further attempt would exceed {stop}; no backup was started.",
            "upstream_error",
            "ceiling_exceeded",
        )

    @staticmethod
    def _after_spent(index: int, spent: str) -> str:
        return f" after {spent} already spent" if index > 1 else ""


def budget_exhausted(scope: str) -> GatewayError:
    return GatewayError(
        429,
        f"The budget {_owner(scope)} is exhausted; requests resume when it resets or is raised.",
        "insufficient_quota",
        "budget_exhausted",
    )


def _owner(scope: str) -> str:
    """`tenant:acme:day:2026-11-22` → `of tenant acme for 2026-11-22`."""
    kind, name, _, period = [*scope.split(":"), "", "", "", ""][:4]
    return f"of {kind} {name} for {period}"
