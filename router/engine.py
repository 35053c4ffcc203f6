"""The attempt loop: walk the route's chain, one upstream attempt at a time, within the deadline.

Foundation rule (the failure-handling issue refines it): a timeout, a 429 or a 5xx moves to the next
model of the chain; anything else ends the request with the provider's reason; at most
`route.max_attempts` attempts. Every attempt's outcome is a value, recorded as one span.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

import httpx

from routeledger.attempt import Decision, Outcome
from routeledger.config import ModelConfig, ProviderConfig, RouteledgerConfig
from routeledger.pricing import ModelPricing, PriceSource, resolve_price
from router.chat import ChatRequest, requested_max_tokens
from router.context import RequestContext
from router.errors import GatewayError
from router.failures import BILLABLE, FailureClass, classify_exception, classify_status
from router.outcome import AttemptOutcome
from router.providers import ProviderAdapter, adapter_for

ZERO = Decimal(0)

#: Called with each attempt as soon as it ends (telemetry records it).
AttemptSink = Callable[[AttemptOutcome], None]

#: Failures after which the foundation rule moves on to the next model.
MOVE_ON = frozenset(
    {
        FailureClass.TRANSIENT_NETWORK,
        FailureClass.RATE_LIMITED,
        FailureClass.PROVIDER_ERROR,
        FailureClass.TIMEOUT_BEFORE_FIRST_BYTE,
    }
)


@dataclass(frozen=True, slots=True)
class Target:
    """A chain hop resolved once at start-up: model, provider, adapter, URL, price."""

    name: str
    model: ModelConfig
    provider_name: str
    provider: ProviderConfig
    adapter: ProviderAdapter
    url: str
    server_address: str
    pricing: ModelPricing


@dataclass(frozen=True, slots=True)
class Result:
    attempts: tuple[AttemptOutcome, ...]
    answer: AttemptOutcome | None
    error: GatewayError | None


def resolve_targets(config: RouteledgerConfig) -> dict[str, Target]:
    targets = {}
    for name, model in config.models.items():
        provider = config.providers[model.provider]
        adapter = adapter_for(provider.kind)
        url = adapter.url(provider)
        targets[name] = Target(
            name=name,
            model=model,
            provider_name=model.provider,
            provider=provider,
            adapter=adapter,
            url=url,
            server_address=urlsplit(url).hostname or "",
            pricing=resolve_price(model.price),
        )
    return targets


class Engine:
    def __init__(self, config: RouteledgerConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client
        self.targets = resolve_targets(config)

    async def run(
        self, ctx: RequestContext, request: ChatRequest, raw: dict[str, object], on_attempt: AttemptSink
    ) -> Result:
        attempts: list[AttemptOutcome] = []
        chain = ctx.route.chain
        for index, name in enumerate(chain[: ctx.route.max_attempts], start=1):
            if time.monotonic() >= ctx.deadline:
                break
            decision = Decision.FIRST if index == 1 else Decision.FALLBACK
            reason = attempts[-1].failure.value if attempts and attempts[-1].failure else ""
            outcome = await self.attempt(ctx, self.targets[name], request, raw, index, decision, reason)
            attempts.append(outcome)
            on_attempt(outcome)
            if outcome.ok:
                return Result(tuple(attempts), outcome, None)
            if outcome.failure not in MOVE_ON:
                return Result(tuple(attempts), None, final_error(outcome))
        last = attempts[-1] if attempts else None
        return Result(tuple(attempts), None, exhausted_error(last))

    async def attempt(
        self,
        ctx: RequestContext,
        target: Target,
        request: ChatRequest,
        raw: dict[str, object],
        index: int,
        decision: Decision,
        reason: str,
    ) -> AttemptOutcome:
        body = target.adapter.encode(request, raw, target.model, requested_max_tokens(request))
        headers = target.adapter.headers(target.provider)
        headers["x-routeledger-request-id"] = ctx.request_id
        headers["x-routeledger-attempt"] = str(index)
        remaining = max(ctx.deadline - time.monotonic(), 0.001)
        start_ns = time.time_ns()
        status = 0
        completion = None
        upstream_error = None
        failure: FailureClass | None = None
        error_type = ""
        try:
            response = await self.client.post(
                target.url, content=body, headers=headers, timeout=httpx.Timeout(remaining)
            )
            status = response.status_code
            if status == 200:
                try:
                    completion = target.adapter.decode(response.content)
                except (ValueError, KeyError, IndexError, TypeError):
                    failure, error_type = FailureClass.INVALID_OUTPUT, "malformed_response"
            else:
                upstream_error = target.adapter.decode_error(
                    status, response.content, response.headers.get("retry-after")
                )
                failure = classify_status(upstream_error)
                error_type = str(status)
        except httpx.HTTPError as exc:
            failure = classify_exception(exc)
            error_type = type(exc.__cause__ or exc).__name__
        end_ns = time.time_ns()
        usage = completion.usage if completion else None
        cost = target.pricing.cost(usage) if usage else ZERO
        return AttemptOutcome(
            index=index,
            decision=decision,
            model=target.name,
            provider=target.provider_name,
            provider_system=target.provider.provider_name,
            request_model=target.model.upstream,
            server_address=target.server_address,
            start_ns=start_ns,
            end_ns=end_ns,
            outcome=Outcome.SUCCESS if failure is None else Outcome.FAILURE,
            failure=failure,
            http_status=status,
            error_type=error_type,
            completion=completion,
            upstream_error=upstream_error,
            usage=usage,
            cost=cost,
            price_source=target.pricing.source.value if usage else PriceSource.NONE.value,
            billable=True if failure is None else BILLABLE[failure],
            reason=reason,
            ttft_ms=None,
        )


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
    return GatewayError(502, f"The upstream answer was unusable ({failure.value}).", "upstream_error", failure.value)


def exhausted_error(last: AttemptOutcome | None) -> GatewayError:
    """Every allowed attempt failed with a transient failure, or the deadline passed."""
    if last is None:
        return GatewayError(
            504, "The request deadline passed before any upstream attempt.", "timeout", "deadline_exceeded"
        )
    failure = last.failure.value if last.failure else "unknown"
    status = 504 if last.failure is FailureClass.TIMEOUT_BEFORE_FIRST_BYTE else 503
    return GatewayError(
        status,
        f"No model of the route could answer: {last.index} attempt(s), last failure {failure}.",
        "upstream_error",
        "upstream_unavailable",
    )
