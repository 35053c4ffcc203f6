"""An attempt's outcome as a value: the engine decides on it and telemetry records it."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from routeledger.attempt import Decision, Outcome
from routeledger.pricing import Usage
from router.failures import FailureClass
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

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def response_model(self) -> str:
        return self.completion.response_model if self.completion else ""

    @property
    def finish_reason(self) -> str:
        return self.completion.finish_reason if self.completion else ""
