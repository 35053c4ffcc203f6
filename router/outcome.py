"""An attempt's outcome as a value: the chain decides on it and telemetry records it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from routeledger.attempt import Decision, Outcome
from routeledger.failures import FailureClass
from routeledger.pricing import Usage
from router.providers.base import Completion, UpstreamError


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
