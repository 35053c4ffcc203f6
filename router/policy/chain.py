"""The walk along one request's chain: which model next, after which failure, after what delay.

    Chain.first()        the first model that can serve the request and is admitted
    Chain.after(outcome) a Plan for the next attempt, or a Stop with the error for the client

Rules (defaults from the seeds, steps configurable per route, see `routeledger.failures`):
- network, 429, 5xx → one retry of the same model after a jittered backoff (Retry-After is a floor;
  longer than `max_retry_after_s` → fall over instead); a connection refused before any byte is
  retried at once and is exempt from the retry budgets (nothing was sent, nothing billed);
- a retry the budgets (Envoy budget, gRPC throttle), the breaker or the deadline refuse becomes a
  fallback: a persistent 429 backs off, then falls over;
- silent provider, stall, cut stream, empty answer → the next capable model in chain order;
- truncated or invalid output → the next capable model at least as strong;
- context length → only a model with a larger window, else a clear error to shorten the input;
- bad request, auth, policy, quota → stop, the provider's reason passed through;
- never both a retry and a fallback for one request unless the route allows it; at most
  `max_attempts` attempts; no attempt starts within `min_attempt_s` of the deadline.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from routeledger.attempt import Decision
from routeledger.config import Capability, RouteConfig
from routeledger.failures import RULES, FailureClass, Step
from routeledger.guardrails import ClassPolicy, Downgrade
from routeledger.router.api.errors import GatewayError
from routeledger.router.policy.backoff import backoff_delay
from routeledger.router.policy.breaker import Admission, BreakerBoard
from routeledger.router.policy.bulkhead import Bulkhead
from routeledger.router.policy.capabilities import can_serve
from routeledger.router.policy.retry_budget import RetryBudget, RetryThrottle
from routeledger.router.upstream.classify import CONNECT_ERROR
from routeledger.router.upstream.outcome import AttemptOutcome
from routeledger.router.upstream.targets import Target


@dataclass(frozen=True, slots=True)
class Plan:
    target: Target
    decision: Decision
    reason: str
    delay_s: float
    admission: Admission
    handoff: bool  # send the trimmed context (a fallback), not the full one
    budget_slot: bool  # holds a retry-budget slot to release after the attempt
    degraded: bool = False  # a weaker model than the route's primary


@dataclass(frozen=True, slots=True)
class Stop:
    error: GatewayError


@dataclass(slots=True)
class Skip:
    """A model passed over without an attempt (quarantined or saturated): a span event."""

    model: str
    reason: str


@dataclass(slots=True)
class Guards:
    """The router-wide state every chain consults."""

    breakers: BreakerBoard
    budget: RetryBudget
    throttle: RetryThrottle
    bulkheads: dict[str, Bulkhead]
    rng: random.Random


@dataclass(slots=True)
class Chain:
    route_name: str
    route: RouteConfig
    targets: list[Target]
    needed: frozenset[Capability]
    prompt_tokens: int
    deadline: float
    guards: Guards
    class_policy: ClassPolicy = field(default_factory=ClassPolicy)
    #: Budget pressure: try the cheapest capable models first.
    downgrade: bool = False
    attempts: int = 0
    retries: int = 0
    fallbacks: int = 0
    tried: set[str] = field(default_factory=set)
    skips: list[Skip] = field(default_factory=list)
    capable: list[Target] = field(default_factory=list)
    primary_strength: float = 0.0

    def __post_init__(self) -> None:
        self.capable = [t for t in self.targets if can_serve(t.model, self.needed, self.prompt_tokens)]
        self.primary_strength = self.capable[0].strength if self.capable else 0.0
        if self.downgrade:
            self.capable.sort(key=lambda t: t.strength)

    @property
    def never_weaker(self) -> bool:
        """Sensitive routes and classes that must not downgrade fail clearly instead (seed 002)."""
        return self.route.sensitive or self.class_policy.downgrade is Downgrade.NEVER

    # --- first attempt ---------------------------------------------------------------------------

    def first(self) -> Plan | Stop:
        capable = self.capable
        if not capable:
            return Stop(self._nothing_capable())
        for position, target in enumerate(capable):
            admission = self._admit(target)
            if admission is None:
                continue
            skipped = position > 0 and bool(self.skips)
            decision = Decision.FALLBACK if skipped else Decision.FIRST
            reason = f"skipped {', '.join(f'{s.model} ({s.reason})' for s in self.skips)}" if skipped else ""
            return self._plan(target, decision, reason, 0.0, admission, handoff=False)
        return Stop(self._all_quarantined())

    # --- after a failure -------------------------------------------------------------------------

    def after(self, outcome: AttemptOutcome, current: Target) -> Plan | Stop:
        failure = outcome.failure or FailureClass.UNKNOWN
        step = self.route.policy.steps.get(failure, RULES[failure].step)
        if step is Step.STOP:
            return Stop(final_error(outcome))
        limit = self.class_policy.max_failures
        if self.attempts >= self.route.max_attempts or (limit is not None and self.attempts >= limit):
            return Stop(exhausted_error(self.route_name, outcome))
        if step is Step.RETRY:
            plan = self._retry(outcome, current)
            if plan is not None:
                return plan
            step = Step.FALLBACK
        if (self.retries and not self.route.policy.retry_and_fallback) or not self.class_policy.fallback:
            return Stop(exhausted_error(self.route_name, outcome))
        return self._fallback(step, outcome, current)

    def _retry(self, outcome: AttemptOutcome, current: Target) -> Plan | None:
        policy = self.route.policy
        if not self.class_policy.retry:
            return None
        if self.retries >= policy.max_retries or (self.fallbacks and not policy.retry_and_fallback):
            return None
        error = outcome.upstream_error
        retry_after = error.retry_after_s if error else None
        if retry_after is not None and retry_after > policy.max_retry_after_s:
            return None
        # Refused before any byte was sent: nothing reached the provider, nothing was billed, and an
        # immediate retry costs the budgets nothing (reliability plan A6).
        transparent = outcome.error_type == CONNECT_ERROR
        if transparent:
            delay = 0.0
        else:
            if not self.guards.throttle.allows(current.provider_name):
                return None
            delay = backoff_delay(
                self.retries, policy.backoff_base_s, policy.backoff_cap_s, self.guards.rng, retry_after
            )
        if self._now() + delay + policy.min_attempt_s > self.deadline:
            return None
        if not transparent and not self.guards.budget.try_acquire():
            return None
        admission = self._admit(current)
        if admission is None:
            if not transparent:
                self.guards.budget.release()
            return None
        return self._plan(
            current, Decision.RETRY, _reason(outcome), delay, admission, handoff=False, budget_slot=not transparent
        )

    def _fallback(self, step: Step, outcome: AttemptOutcome, current: Target) -> Plan | Stop:
        if self._now() + self.route.policy.min_attempt_s > self.deadline:
            return Stop(exhausted_error(self.route_name, outcome))
        order = self.targets if step is Step.FALLBACK_LARGER_CONTEXT else self.capable
        after = order[order.index(current) + 1 :] if current in order else order
        for target in after:
            if target.name in self.tried or not self._suits(target, step, current):
                continue
            admission = self._admit(target)
            if admission is None:
                continue
            return self._plan(target, Decision.FALLBACK, _reason(outcome), 0.0, admission, handoff=True)
        if step is Step.FALLBACK_LARGER_CONTEXT:
            return Stop(context_error(self.route_name, outcome))
        if self.never_weaker:
            return Stop(not_downgraded_error(self.route_name, outcome))
        return Stop(exhausted_error(self.route_name, outcome))

    def _suits(self, target: Target, step: Step, current: Target) -> bool:
        if self.never_weaker and target.strength < self.primary_strength:
            return False
        if step is Step.FALLBACK_LARGER_CONTEXT:
            return target.model.context_window > current.model.context_window and can_serve(
                target.model, self.needed, 0
            )
        if not can_serve(target.model, self.needed, self.prompt_tokens):
            return False
        return step is not Step.FALLBACK_STRONGER or target.strength >= current.strength

    # --- helpers ---------------------------------------------------------------------------------

    def _admit(self, target: Target) -> Admission | None:
        bulkhead = self.guards.bulkheads[target.provider_name]
        if not bulkhead.try_acquire():
            self.skips.append(Skip(target.name, "provider_saturated"))
            return None
        admission = self.guards.breakers.get(target.provider_name, target.name).admit()
        if admission is None:
            bulkhead.release()
            self.skips.append(Skip(target.name, "breaker_open"))
        return admission

    def _plan(
        self,
        target: Target,
        decision: Decision,
        reason: str,
        delay: float,
        admission: Admission,
        *,
        handoff: bool,
        budget_slot: bool = False,
    ) -> Plan:
        self.attempts += 1
        self.tried.add(target.name)
        if decision is Decision.RETRY:
            self.retries += 1
        elif decision is Decision.FALLBACK:
            self.fallbacks += 1
        return Plan(
            target, decision, reason, delay, admission, handoff, budget_slot, target.strength < self.primary_strength
        )

    def _now(self) -> float:
        return time.monotonic()

    def _nothing_capable(self) -> GatewayError:
        fits = [t for t in self.targets if can_serve(t.model, self.needed, 0)]
        if fits:
            largest = max(t.model.context_window for t in fits)
            return GatewayError(
                400,
                f"The prompt (about {self.prompt_tokens:,} tokens) does not fit any model of route "
                f"{self.route_name!r} (largest window {largest:,} tokens). Shorten the input or start a new "
                "conversation.",
                "invalid_request_error",
                "context_length_exceeded",
                "messages",
            )
        needed = ", ".join(sorted(self.needed))
        return GatewayError(
            400,
            f"No model of route {self.route_name!r} supports what this request needs ({needed}).",
            "invalid_request_error",
            "unsupported_capability",
        )

    def _all_quarantined(self) -> GatewayError:
        open_for = [self.guards.breakers.get(t.provider_name, t.name).snapshot()["open_for_s"] for t in self.capable]
        wait = max(1, int(min(open_for))) if open_for else 1
        reasons = ", ".join(f"{s.model} ({s.reason})" for s in self.skips)
        return GatewayError(
            503,
            f"Every model of route {self.route_name!r} is unavailable right now: {reasons}.",
            "upstream_error",
            "upstream_unavailable",
            headers={"retry-after": str(wait)},
            should_retry=True,  # a passing state, not a verdict on this request: come back later
        )


def _reason(outcome: AttemptOutcome) -> str:
    """The stated reason for a new attempt; after a billable one it says so (seed 001)."""
    failure = outcome.failure.value if outcome.failure else "unknown"
    return f"{failure} (previous attempt billable)" if outcome.billable else failure


def final_error(outcome: AttemptOutcome) -> GatewayError:
    """A failure no other model would fix: the provider's reason, passed through."""
    failure = outcome.failure or FailureClass.UNKNOWN
    upstream = outcome.upstream_error
    message = upstream.message if upstream else f"The upstream attempt failed ({failure.value})."
    if failure is FailureClass.CONTEXT_LENGTH_EXCEEDED:
        return GatewayError(400, message, "invalid_request_error", "context_length_exceeded", "messages")
    if failure is FailureClass.CONTENT_POLICY:
        return GatewayError(400, message, "invalid_request_error", "content_policy_violation", None)
    if failure is FailureClass.BAD_REQUEST:
        return GatewayError(400, message, "invalid_request_error", upstream.code if upstream else None, None)
    if failure is FailureClass.AUTH:
        return GatewayError(
            502, f"The provider refused the gateway's credentials: {message}", "upstream_error", "upstream_auth"
        )
    if failure is FailureClass.QUOTA_EXHAUSTED:
        return GatewayError(502, f"The provider account is out of quota: {message}", "upstream_error", "upstream_quota")
    if failure is FailureClass.CANCELLED:
        return GatewayError(499, "The client closed the request.", "cancelled", "client_closed_request")
    return GatewayError(502, f"The upstream answer was unusable ({failure.value}).", "upstream_error", failure.value)


def exhausted_error(route_name: str, last: AttemptOutcome) -> GatewayError:
    """The chain ended without an answer within its attempts and deadline."""
    failure = last.failure.value if last.failure else "unknown"
    if last.failure is FailureClass.CONTEXT_LENGTH_EXCEEDED:
        return context_error(route_name, last)
    status = 504 if last.failure in (FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, FailureClass.STALL) else 503
    return GatewayError(
        status,
        f"No model of route {route_name!r} could answer: {last.index} attempt(s), last failure {failure}.",
        "upstream_error",
        "upstream_unavailable",
    )


def not_downgraded_error(route_name: str, last: AttemptOutcome) -> GatewayError:
    failure = last.failure.value if last.failure else "unknown"
    return GatewayError(
        503,
        f"Route {route_name!r} never falls back to a weaker model, and no model at least as strong could answer "
        f"(last failure {failure}).",
        "upstream_error",
        "no_equivalent_model",
    )


def context_error(route_name: str, last: AttemptOutcome) -> GatewayError:
    return GatewayError(
        400,
        f"The conversation is too long for every model of route {route_name!r} "
        f"({last.model} refused it). Shorten the input or start a new conversation.",
        "invalid_request_error",
        "context_length_exceeded",
        "messages",
    )
