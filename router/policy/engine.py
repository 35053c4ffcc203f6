"""The attempt loop: run a request's chain, one upstream attempt at a time, within its deadline.

The chain (`router.chain`) decides which model goes next and why; this module makes the calls,
turns each into an `AttemptOutcome` value (classified, priced, with its billable verdict), feeds the
breakers and retry throttles, and hands every outcome to the telemetry sink as it ends.

Streaming (`run_stream`) commits at the first content token: before it, any failure falls over
transparently and the client sees one clean stream; after it, a cut or stalled stream ends with an
explicit error event (never a clean finish of a truncated answer) — see `router.relay`.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

from routeledger.attempt import Outcome
from routeledger.config import RouteledgerConfig
from routeledger.failures import RULES, FailureClass, Step
from routeledger.guardrails import TrafficClass
from routeledger.pricing import PriceSource, Usage
from routeledger.router.api.chat import ChatRequest, requested_max_tokens
from routeledger.router.api.context import RequestContext
from routeledger.router.api.errors import GatewayError
from routeledger.router.policy.breaker import BreakerBoard
from routeledger.router.policy.bulkhead import Bulkhead
from routeledger.router.policy.capabilities import required_capabilities
from routeledger.router.policy.chain import Chain, Guards, Plan, Skip, Stop
from routeledger.router.policy.guard import RequestGuard
from routeledger.router.policy.handoff import handoff_body, handoff_max_tokens
from routeledger.router.policy.retry_budget import RetryBudget, RetryThrottle
from routeledger.router.policy.state import Reservation
from routeledger.router.upstream.classify import classify_answer, classify_exception, classify_status, error_type_of
from routeledger.router.upstream.client import Upstream, UpstreamRequest
from routeledger.router.upstream.outcome import AttemptOutcome, guardrail_stop, started
from routeledger.router.upstream.providers.base import Completion, UpstreamError
from routeledger.router.upstream.relay import Account, LiveStream, open_stream
from routeledger.router.upstream.targets import Target, resolve_targets
from routeledger.tokens import count_input_tokens

ZERO = Decimal(0)

#: Called with each attempt as soon as it ends (telemetry records it).
AttemptSink = Callable[[AttemptOutcome], None]
#: Called with each model passed over without an attempt (quarantined, saturated).
SkipSink = Callable[[Skip], None]
#: Called just before an attempt is sent, with the `incomplete` outcome it would leave behind.
BeginSink = Callable[[AttemptOutcome], None]


@dataclass(frozen=True, slots=True)
class Result:
    attempts: tuple[AttemptOutcome, ...]
    answer: AttemptOutcome | None
    error: GatewayError | None


@dataclass(frozen=True, slots=True)
class StreamStart:
    """Either a committed stream to relay (and the plan that opened it), or the error the chain
    ended with before committing."""

    attempts: tuple[AttemptOutcome, ...]
    live: LiveStream | None
    error: GatewayError | None
    plan: Plan | None = None


class Engine:
    def __init__(
        self,
        config: RouteledgerConfig,
        upstream: Upstream,
        *,
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        self.config = config
        self.upstream = upstream
        self.targets = resolve_targets(config)
        self.guards = Guards(
            breakers=BreakerBoard({name: p.breaker for name, p in config.providers.items()}, clock, seed),
            budget=RetryBudget(config.router.retry_budget),
            throttle=RetryThrottle(config.router.retry_throttle),
            bulkheads={name: Bulkhead(p.max_in_flight) for name, p in config.providers.items()},
            rng=random.Random(seed),
        )

    # --- chains --------------------------------------------------------------------------------

    def chain(
        self, ctx: RequestContext, request: ChatRequest, raw: dict[str, Any], guard: RequestGuard | None = None
    ) -> Chain:
        route = ctx.route
        class_policy = (
            guard.class_policy if guard else self.config.guardrails.class_policy(TrafficClass(ctx.traffic_class))
        )
        return Chain(
            route_name=ctx.route_name,
            route=route,
            targets=[self.targets[name] for name in route.chain],
            needed=required_capabilities(request) | route.requires,
            prompt_tokens=count_input_tokens(raw["messages"], None, raw.get("tools")),
            deadline=ctx.deadline,
            guards=self.guards,
            class_policy=class_policy,
            downgrade=bool(guard and guard.downgrade),
        )

    async def run(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        raw: dict[str, Any],
        on_attempt: AttemptSink,
        on_skip: SkipSink,
        guard: RequestGuard | None = None,
        on_begin: BeginSink | None = None,
    ) -> Result:
        chain = self.chain(ctx, request, raw, guard)
        attempts: list[AttemptOutcome] = []
        self.guards.budget.request_started()
        try:
            step: Plan | Stop = chain.first()
            while isinstance(step, Plan):
                _report_skips(chain, on_skip)
                outcome = await self._attempt(ctx, chain, step, request, raw, len(attempts) + 1, guard, on_begin)
                if isinstance(outcome, GatewayError):
                    on_attempt(guardrail_stop(len(attempts) + 1, step.decision, step.target, outcome))
                    return Result(tuple(attempts), None, outcome)
                attempts.append(outcome)
                on_attempt(outcome)
                if outcome.ok:
                    return Result(tuple(attempts), outcome, None)
                step = chain.after(outcome, step.target)
            _report_skips(chain, on_skip)
            return Result(tuple(attempts), None, step.error)
        finally:
            self.guards.budget.request_finished()

    async def run_stream(
        self,
        ctx: RequestContext,
        request: ChatRequest,
        raw: dict[str, Any],
        on_attempt: AttemptSink,
        on_skip: SkipSink,
        guard: RequestGuard | None = None,
        on_begin: BeginSink | None = None,
    ) -> StreamStart:
        chain = self.chain(ctx, request, raw, guard)
        attempts: list[AttemptOutcome] = []
        self.guards.budget.request_started()
        try:
            step: Plan | Stop = chain.first()
            while isinstance(step, Plan):
                _report_skips(chain, on_skip)
                opened = await self._stream_attempt(ctx, chain, step, request, raw, len(attempts) + 1, guard, on_begin)
                if isinstance(opened, GatewayError):
                    on_attempt(guardrail_stop(len(attempts) + 1, step.decision, step.target, opened))
                    return StreamStart(tuple(attempts), None, opened)
                if isinstance(opened, LiveStream):
                    return StreamStart(tuple(attempts), opened, None, step)
                attempts.append(opened)
                on_attempt(opened)
                step = chain.after(opened, step.target)
            _report_skips(chain, on_skip)
            return StreamStart(tuple(attempts), None, step.error)
        finally:
            self.guards.budget.request_finished()

    # --- one attempt ---------------------------------------------------------------------------

    def _prepare(
        self, ctx: RequestContext, plan: Plan, request: ChatRequest, raw: dict[str, Any], index: int
    ) -> tuple[UpstreamRequest, int | None, int]:
        """The upstream request, the max_tokens it carries (None: the client's own), the prompt tokens."""
        target = plan.target
        body = handoff_body(raw, ctx.route.fallback) if plan.handoff else raw
        asked = requested_max_tokens(request)
        max_tokens = handoff_max_tokens(asked, ctx.route.fallback) if plan.handoff else None
        payload = target.adapter.encode(request, body, target.model, max_tokens)
        headers = target.adapter.headers(target.provider)
        headers["x-routeledger-request-id"] = ctx.request_id
        headers["x-routeledger-attempt"] = str(index)
        prompt_tokens = count_input_tokens(body["messages"], None, body.get("tools"))
        return (
            self.upstream.request(target.endpoint, headers, payload, ctx.route.timeouts.connect_s),
            max_tokens,
            prompt_tokens,
        )

    def _deadlines(self, ctx: RequestContext, plan: Plan) -> tuple[float, float]:
        """(first byte, whole attempt) deadlines; a breaker probe gets its own shorter limit."""
        now = time.monotonic()
        total = min(ctx.deadline, plan.admission.deadline)
        return min(now + ctx.route.timeouts.first_byte_s, total), total

    async def _guard_before(
        self,
        guard: RequestGuard | None,
        plan: Plan,
        request: ChatRequest,
        max_tokens: int | None,
        prompt_tokens: int,
        index: int,
    ) -> Reservation | GatewayError | None:
        """Ceilings and budget reservation; an attempt refused here never runs and holds no slots."""
        if guard is None:
            return None
        max_output = max_tokens or requested_max_tokens(request) or plan.target.model.max_output_tokens
        try:
            return await guard.before(plan.target, prompt_tokens, max_output, index)
        except GatewayError as error:
            self._abandon(plan)
            return error

    async def _attempt(
        self,
        ctx: RequestContext,
        chain: Chain,
        plan: Plan,
        request: ChatRequest,
        raw: dict[str, Any],
        index: int,
        guard: RequestGuard | None = None,
        on_begin: BeginSink | None = None,
    ) -> AttemptOutcome | GatewayError:
        http_request, max_tokens, prompt_tokens = self._prepare(ctx, plan, request, raw, index)
        reservation = await self._guard_before(guard, plan, request, max_tokens, prompt_tokens, index)
        if isinstance(reservation, GatewayError):
            return reservation
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        first_byte, total = self._deadlines(ctx, plan)
        start_ns, started_at = time.time_ns(), time.monotonic()
        if on_begin is not None:
            on_begin(started(index, plan.decision, plan.target, start_ns, plan.reason, ctx.stream))
        status, completion, upstream_error, failure, error_type = 0, None, None, None, ""
        try:
            answer = await self.upstream.post(http_request, first_byte, total)
            status = answer.status
            if status == 200:
                try:
                    completion = plan.target.adapter.decode(answer.body)
                except (ValueError, KeyError, IndexError, TypeError):
                    failure, error_type = FailureClass.INVALID_OUTPUT, "malformed_response"
                else:
                    failure = classify_answer(request, completion, length_expected=max_tokens is not None)
                    error_type = failure.value if failure else ""
            else:
                upstream_error = plan.target.adapter.decode_error(status, answer.body, answer.retry_after)
                failure, error_type = classify_status(upstream_error), str(status)
        except TimeoutError:
            failure, error_type = FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, "timeout"
        except httpx.HTTPError as exc:
            failure, error_type = classify_exception(exc), error_type_of(exc)
        outcome = self.finish(
            ctx,
            plan,
            index,
            start_ns,
            time.monotonic() - started_at,
            status,
            failure,
            error_type,
            completion,
            upstream_error,
            completion.usage if completion else None,
            prompt_tokens,
            None,
        )
        if guard is not None:
            await guard.after(reservation, outcome)
        return outcome

    async def _stream_attempt(
        self,
        ctx: RequestContext,
        chain: Chain,
        plan: Plan,
        request: ChatRequest,
        raw: dict[str, Any],
        index: int,
        guard: RequestGuard | None = None,
        on_begin: BeginSink | None = None,
    ) -> AttemptOutcome | LiveStream | GatewayError:
        http_request, max_tokens, prompt_tokens = self._prepare(ctx, plan, request, raw, index)
        reservation = await self._guard_before(guard, plan, request, max_tokens, prompt_tokens, index)
        if isinstance(reservation, GatewayError):
            return reservation
        if plan.delay_s:
            await asyncio.sleep(plan.delay_s)
        first_byte, total = self._deadlines(ctx, plan)
        start_ns, started_at = time.time_ns(), time.monotonic()
        if on_begin is not None:
            on_begin(started(index, plan.decision, plan.target, start_ns, plan.reason, ctx.stream))
        opened = await open_stream(self.upstream, plan.target, http_request, first_byte)
        if isinstance(opened, LiveStream):
            opened.bind(
                request_id=ctx.request_id,
                include_usage=ctx.include_usage,
                idle_s=ctx.route.timeouts.idle_s,
                deadline=total,
                prompt_tokens=prompt_tokens,
                account=self._stream_account(ctx, plan, index, start_ns, started_at, prompt_tokens),
                settle=functools.partial(guard.after, reservation) if guard is not None else None,
            )
            return opened
        outcome = self.finish(
            ctx,
            plan,
            index,
            start_ns,
            time.monotonic() - started_at,
            opened.status,
            opened.failure,
            opened.error_type,
            None,
            opened.upstream_error,
            opened.usage,
            prompt_tokens,
            None,
        )
        if guard is not None:
            await guard.after(reservation, outcome)
        return outcome

    def _stream_account(
        self, ctx: RequestContext, plan: Plan, index: int, start_ns: int, started_at: float, prompt_tokens: int
    ) -> Account:
        """How a committed stream's attempt is priced and fed to the guards once it ends."""

        def account(failure: FailureClass | None, error_type: str, live: LiveStream) -> AttemptOutcome:
            state = live.state
            return self.finish(
                ctx,
                plan,
                index,
                start_ns,
                time.monotonic() - started_at,
                200,
                failure,
                error_type,
                None,
                None,
                live.usage(),
                prompt_tokens,
                live.ttft_s,
                response_model=state.model,
                finish_reason=state.finish,
                usage_estimated=state.usage is None,
            )

        return account

    # --- outcomes ------------------------------------------------------------------------------

    def finish(
        self,
        ctx: RequestContext,
        plan: Plan,
        index: int,
        start_ns: int,
        elapsed_s: float,
        status: int,
        failure: FailureClass | None,
        error_type: str,
        completion: Completion | None,
        upstream_error: UpstreamError | None,
        usage: Usage | None,
        prompt_tokens: int,
        ttft_s: float | None,
        *,
        response_model: str = "",
        finish_reason: str = "",
        usage_estimated: bool = False,
    ) -> AttemptOutcome:
        """Price the attempt, feed breakers and throttles, release its slots: one outcome value."""
        target = plan.target
        billable = True if failure is None else RULES[failure].billable
        estimated = usage_estimated
        if usage is None and billable:
            usage, estimated = Usage(prompt_tokens, 0), True  # the provider likely charged the prompt
        cost = target.pricing.cost(usage) if usage is not None and billable else ZERO
        source = target.pricing.source.value if usage is not None and billable else PriceSource.NONE.value
        self._feed_guards(plan, failure, ttft_s if ttft_s is not None else elapsed_s)
        return AttemptOutcome(
            index=index,
            decision=plan.decision,
            model=target.name,
            provider=target.provider_name,
            provider_system=target.provider.provider_name,
            request_model=target.model.upstream,
            server_address=target.server_address,
            start_ns=start_ns,
            end_ns=start_ns + int(elapsed_s * 1e9),
            outcome=Outcome.SUCCESS if failure is None else Outcome.FAILURE,
            failure=failure,
            http_status=status,
            error_type=error_type,
            completion=completion,
            upstream_error=upstream_error,
            usage=usage,
            cost=cost,
            price_source=source,
            billable=billable,
            reason=plan.reason,
            ttft_ms=round(ttft_s * 1000, 3) if ttft_s is not None else None,
            usage_estimated=estimated,
            probe=plan.admission.probe,
            stream=ctx.stream,
            response_model_name=response_model,
            finish=finish_reason,
            degraded=plan.degraded,
        )

    def _abandon(self, plan: Plan) -> None:
        """Give back what a planned attempt held (breaker probe, bulkhead, retry slot) without running it."""
        target = plan.target
        self.guards.breakers.get(target.provider_name, target.name).cancel(plan.admission)
        self.guards.bulkheads[target.provider_name].release()
        if plan.budget_slot:
            self.guards.budget.release()

    def _feed_guards(self, plan: Plan, failure: FailureClass | None, latency_s: float) -> None:
        target = plan.target
        breaker = self.guards.breakers.get(target.provider_name, target.name)
        trips = failure is not None and RULES[failure].trips_breaker
        breaker.record(plan.admission, failed=trips, slow=failure is None and breaker.is_slow(latency_s))
        if failure is None:
            self.guards.throttle.on_success(target.provider_name)
        elif RULES[failure].step is Step.RETRY:
            self.guards.throttle.on_retryable_failure(target.provider_name)
        self.guards.bulkheads[target.provider_name].release()
        if plan.budget_slot:
            self.guards.budget.release()

    def breaker_state(self) -> dict[str, Any]:
        guards = self.guards
        return {
            "breakers": guards.breakers.snapshot(),
            "retry_budget": {
                "active_requests": guards.budget.active_requests,
                "active_retries": guards.budget.active_retries,
                "overflow": guards.budget.overflow,
            },
            "retry_throttle": {"tokens": dict(guards.throttle.tokens), "overflow": guards.throttle.overflow},
            "bulkheads": {
                name: {"in_flight": b.in_flight, "limit": b.limit, "overflow": b.overflow}
                for name, b in guards.bulkheads.items()
            },
        }


def _report_skips(chain: Chain, on_skip: SkipSink) -> None:
    while chain.skips:
        on_skip(chain.skips.pop(0))


__all__ = ["Engine", "Result", "StreamStart", "Target"]
