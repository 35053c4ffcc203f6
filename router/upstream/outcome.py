"""An attempt's outcome as a value: the chain decides on it and telemetry records it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

from routeledger.attempt import Decision, Outcome
from routeledger.failures import FailureClass
from routeledger.pricing import Usage
from routeledger.router.upstream.providers.base import Completion, UpstreamError

if TYPE_CHECKING:
    from routeledger.router.api.errors import GatewayError
    from routeledger.router.upstream.targets import Target

#: Longest reason text recorded for a guardrail stop.
MAX_REASON = 512
#: `price_source` of an attempt whose cost nobody knows (it never ended: see `started`).
UNKNOWN_PRICE = "unknown"


@dataclass(frozen=True, slots=True)
class AttemptOutcome:
    index: int  # 1-based
    decision: Decision
    model: str  # config name
    provider: str  # config name
    provider_system: str  # gen_ai.provider.name
    request_model: str  # upstream model name
    server_address: str
    start_ns: int
    end_ns: int
    outcome: Outcome
    failure: FailureClass | None
    http_status: int
    error_type: str
    completion: Completion | None
    upstream_error: UpstreamError | None
    usage: Usage | None
    cost: Decimal
    price_source: str
    billable: bool
    reason: str
    ttft_ms: float | None
    #: Usage was estimated by the router (the provider never reported it: a timeout, a cut stream).
    usage_estimated: bool = False
    #: The breaker admitted this attempt as its HALF_OPEN probe.
    probe: bool = False
    stream: bool = False
    response_model_name: str = ""
    finish: str = ""
    #: Answered by a weaker model than the route's primary.
    degraded: bool = False

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def response_model(self) -> str:
        return self.completion.response_model if self.completion else self.response_model_name

    @property
    def finish_reason(self) -> str:
        return self.completion.finish_reason if self.completion else self.finish


def guardrail_stop(index: int, decision: Decision, target: Target, error: GatewayError) -> AttemptOutcome:
    """An attempt the guardrails did not let run (rate limit, budget, ceiling): a `skipped` row in
    the ledger, free and not billable, whose error type is the guardrail's code and whose reason is
    its message, so analytics count block rates by reason next to the attempts that did run."""
    return _unanswered(
        index,
        decision,
        target,
        time.time_ns(),
        Outcome.SKIPPED,
        http_status=error.status,
        error_type=error.code or "guardrail",
        price_source="",
        billable=False,
        reason=error.message[:MAX_REASON],
    )


def started(index: int, decision: Decision, target: Target, start_ns: int, reason: str, stream: bool) -> AttemptOutcome:
    """An attempt about to be sent, as the ledger must show it if the router dies before it ends:
    `incomplete`, billable (the provider may be working on it), cost unknown (`price_source`)."""
    return _unanswered(
        index,
        decision,
        target,
        start_ns,
        Outcome.INCOMPLETE,
        http_status=0,
        error_type="incomplete",
        price_source=UNKNOWN_PRICE,
        billable=True,
        reason=reason,
        stream=stream,
    )


def _unanswered(
    index: int,
    decision: Decision,
    target: Target,
    at_ns: int,
    outcome: Outcome,
    *,
    http_status: int,
    error_type: str,
    price_source: str,
    billable: bool,
    reason: str,
    stream: bool = False,
) -> AttemptOutcome:
    """An attempt on `target` with no answer, no usage and no cost, as of `at_ns`."""
    return AttemptOutcome(
        index=index,
        decision=decision,
        model=target.name,
        provider=target.provider_name,
        provider_system=target.provider.provider_name,
        request_model=target.model.upstream,
        server_address=target.server_address,
        start_ns=at_ns,
        end_ns=at_ns,
        outcome=outcome,
        failure=None,
        http_status=http_status,
        error_type=error_type,
        completion=None,
        upstream_error=None,
        usage=None,
        cost=Decimal(0),
        price_source=price_source,
        billable=billable,
        reason=reason,
        ttft_ms=None,
        stream=stream,
    )
