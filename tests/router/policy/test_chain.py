"""Chain decisions as tables: after which failure which model comes next, after what delay — or stop."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson
import pytest

from routeledger.attempt import Decision, Outcome
from routeledger.failures import RULES, FailureClass
from routeledger.router.api.chat import parse_chat_request
from routeledger.router.api.context import RequestContext
from routeledger.router.policy.chain import Chain, Plan, Stop
from routeledger.router.policy.engine import Engine
from routeledger.router.upstream.client import Upstream
from routeledger.router.upstream.outcome import AttemptOutcome
from routeledger.router.upstream.providers.base import UpstreamError
from tests.conftest import MODELS, make_config

ROUTES: dict[str, Any] = {
    # cheap first, then a stronger model on another provider, then a big-window model
    "main": {"task": "t", "chain": ["alpha-mini", "beta-sonnet", "beta-haiku"], "max_attempts": 3},
    "two": {"task": "t", "chain": ["alpha-mini", "beta-sonnet"]},
    "both": {
        "task": "t",
        "chain": ["alpha-mini", "beta-sonnet"],
        "max_attempts": 3,
        "policy": {"retry_and_fallback": True},
    },
    "strong-first": {"task": "t", "chain": ["beta-sonnet", "alpha-mini"]},
    "override": {"task": "t", "chain": ["alpha-mini", "beta-haiku"], "policy": {"steps": {"rate_limited": "fallback"}}},
    "small": {"task": "t", "chain": ["alpha-small", "alpha-mini", "beta-haiku"], "max_attempts": 3},
}
SMALL = {**MODELS["alpha-mini"], "context_window": 1000}


def engine(**router: Any) -> Engine:
    config = make_config("http://127.0.0.1:9", models={**MODELS, "alpha-small": SMALL}, routes=ROUTES, router=router)
    return Engine(config, Upstream(), seed=1)


def chain_for(e: Engine, route: str, *, deadline_s: float = 30.0, **body: Any) -> Chain:
    request, raw = parse_chat_request(
        orjson.dumps({"model": route, "messages": [{"role": "user", "content": "hello"}], **body})
    )
    ctx = RequestContext(
        "r",
        route,
        e.config.routes[route],
        "t",
        "",
        "non_critical",
        False,
        time.time_ns(),
        time.monotonic() + deadline_s,
    )
    return e.chain(ctx, request, raw)


def failed(
    plan: Plan, failure: FailureClass, *, status: int = 0, retry_after: float | None = None, error_type: str = ""
) -> AttemptOutcome:
    """The outcome of `plan` failing with `failure` (and its breaker/bulkhead slots released)."""
    error = UpstreamError(status, "boom", None, None, retry_after) if status else None
    return AttemptOutcome(
        index=1,
        decision=plan.decision,
        model=plan.target.name,
        provider=plan.target.provider_name,
        provider_system="x",
        request_model=plan.target.model.upstream,
        server_address="",
        start_ns=0,
        end_ns=0,
        outcome=Outcome.FAILURE,
        failure=failure,
        http_status=status,
        error_type=error_type,
        completion=None,
        upstream_error=error,
        usage=None,
        cost=Decimal(0),
        price_source="none",
        billable=RULES[failure].billable,
        reason=plan.reason,
        ttft_ms=None,
    )


def step(chain: Chain, plan: Plan, failure: FailureClass, **kw: Any) -> Plan | Stop:
    chain.guards.bulkheads[plan.target.provider_name].release()
    return chain.after(failed(plan, failure, **kw), plan.target)


def first(chain: Chain) -> Plan:
    plan = chain.first()
    assert isinstance(plan, Plan)
    return plan


RETRIES = [
    pytest.param(FailureClass.RATE_LIMITED, 429, id="429"),
    pytest.param(FailureClass.PROVIDER_ERROR, 503, id="503"),
    pytest.param(FailureClass.TRANSIENT_NETWORK, 0, id="network"),
]


@pytest.mark.parametrize(("failure", "status"), RETRIES)
def test_network_429_and_5xx_retry_the_same_model_once(failure: FailureClass, status: int) -> None:
    chain = chain_for(engine(), "main")
    plan = first(chain)
    retry = step(chain, plan, failure, status=status)
    assert isinstance(retry, Plan)
    assert (retry.target.name, retry.decision, retry.reason) == ("alpha-mini", Decision.RETRY, failure.value)
    assert 0 <= retry.delay_s < 0.2  # full jitter, first retry: U[0, base)
    # The same failure again: no second retry, and (by default) no fallback after a retry either.
    again = step(chain, retry, failure, status=status)
    assert isinstance(again, Stop) and again.error.code == "upstream_unavailable"


def test_retry_after_is_a_floor_and_too_long_falls_over() -> None:
    chain = chain_for(engine(), "main")
    plan = first(chain)
    retry = step(chain, plan, FailureClass.RATE_LIMITED, status=429, retry_after=2.0)
    assert isinstance(retry, Plan) and retry.delay_s >= 2.0
    chain = chain_for(engine(), "main")
    plan = first(chain)
    over = step(chain, plan, FailureClass.RATE_LIMITED, status=429, retry_after=60.0)
    assert isinstance(over, Plan)
    assert (over.target.name, over.decision, over.reason) == ("beta-sonnet", Decision.FALLBACK, "rate_limited")


def test_a_retry_that_would_cross_the_deadline_falls_over() -> None:
    chain = chain_for(engine(), "main", deadline_s=1.0)
    plan = first(chain)
    nxt = step(chain, plan, FailureClass.RATE_LIMITED, status=429, retry_after=0.9)
    assert isinstance(nxt, Plan) and nxt.decision is Decision.FALLBACK


def test_connection_refused_retries_at_once_outside_the_budgets() -> None:
    e = engine(retry_budget={"percent": 0, "min_concurrency": 0})
    chain = chain_for(e, "main")
    plan = first(chain)
    retry = step(chain, plan, FailureClass.TRANSIENT_NETWORK, error_type="connect_error")
    assert isinstance(retry, Plan)
    assert (retry.decision, retry.delay_s, retry.budget_slot) == (Decision.RETRY, 0.0, False)
    assert e.guards.budget.overflow == 0


def test_an_exhausted_retry_budget_turns_the_retry_into_a_fallback() -> None:
    e = engine(retry_budget={"percent": 0, "min_concurrency": 0})
    chain = chain_for(e, "main")
    plan = first(chain)
    nxt = step(chain, plan, FailureClass.PROVIDER_ERROR, status=503)
    assert isinstance(nxt, Plan) and nxt.decision is Decision.FALLBACK
    assert e.guards.budget.overflow == 1


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, "beta-sonnet", id="silent"),
        pytest.param(FailureClass.STALL, "beta-sonnet", id="stall"),
        pytest.param(FailureClass.STREAM_CUT, "beta-sonnet", id="cut"),
        pytest.param(FailureClass.EMPTY_RESPONSE, "beta-sonnet", id="empty"),
        pytest.param(FailureClass.INVALID_OUTPUT, "beta-sonnet", id="invalid"),
        pytest.param(FailureClass.TRUNCATED, "beta-sonnet", id="truncated"),
        pytest.param(FailureClass.UNKNOWN, "beta-sonnet", id="unknown"),
    ],
)
def test_silence_and_quality_failures_fall_back_with_a_stated_reason(failure: FailureClass, expected: str) -> None:
    chain = chain_for(engine(), "main")
    plan = first(chain)
    nxt = step(chain, plan, failure)
    assert isinstance(nxt, Plan)
    assert (nxt.target.name, nxt.decision, nxt.handoff) == (expected, Decision.FALLBACK, True)
    assert nxt.reason == f"{failure.value} (previous attempt billable)"


def test_quality_failures_only_go_to_a_stronger_model() -> None:
    # strong-first: beta-sonnet ($15/M out) then alpha-mini ($0.6/M): no stronger backup exists.
    chain = chain_for(engine(), "strong-first")
    plan = first(chain)
    assert isinstance(step(chain, plan, FailureClass.INVALID_OUTPUT), Stop)
    chain = chain_for(engine(), "strong-first")
    plan = first(chain)
    nxt = step(chain, plan, FailureClass.EMPTY_RESPONSE)  # empty: any capable model will do
    assert isinstance(nxt, Plan) and nxt.target.name == "alpha-mini"


def test_context_length_only_goes_to_a_larger_window() -> None:
    chain = chain_for(engine(), "small")
    plan = first(chain)
    assert plan.target.name == "alpha-small"
    nxt = step(chain, plan, FailureClass.CONTEXT_LENGTH_EXCEEDED, status=400)
    assert isinstance(nxt, Plan) and nxt.target.name == "alpha-mini"  # 128k > 1k
    last = step(chain, nxt, FailureClass.CONTEXT_LENGTH_EXCEEDED, status=400)
    assert isinstance(last, Plan) and last.target.name == "beta-haiku"  # 200k > 128k
    end = step(chain, last, FailureClass.CONTEXT_LENGTH_EXCEEDED, status=400)
    assert isinstance(end, Stop)
    assert end.error.code == "context_length_exceeded" and end.error.status == 400
    assert "Shorten the input or start a new conversation" in end.error.message


def test_a_prompt_that_fits_no_window_is_refused_before_any_attempt() -> None:
    chain = chain_for(engine(), "two", messages=[{"role": "user", "content": "x" * 900_000}])
    stop = chain.first()
    assert isinstance(stop, Stop)
    assert (stop.error.status, stop.error.code) == (400, "context_length_exceeded")


@pytest.mark.parametrize(
    "failure",
    [FailureClass.BAD_REQUEST, FailureClass.AUTH, FailureClass.CONTENT_POLICY, FailureClass.QUOTA_EXHAUSTED],
    ids=lambda f: f.value,
)
def test_client_side_failures_stop_with_the_providers_reason(failure: FailureClass) -> None:
    chain = chain_for(engine(), "main")
    plan = first(chain)
    stop = step(chain, plan, failure, status=400)
    assert isinstance(stop, Stop)
    assert stop.error.should_retry is False


def test_at_most_max_attempts() -> None:
    chain = chain_for(engine(), "two")  # max_attempts 2
    plan = first(chain)
    nxt = step(chain, plan, FailureClass.TIMEOUT_BEFORE_FIRST_BYTE)
    assert isinstance(nxt, Plan)
    assert isinstance(step(chain, nxt, FailureClass.TIMEOUT_BEFORE_FIRST_BYTE), Stop)


def test_retry_and_fallback_when_the_route_allows_both() -> None:
    chain = chain_for(engine(), "both")
    plan = first(chain)
    retry = step(chain, plan, FailureClass.PROVIDER_ERROR, status=503)
    assert isinstance(retry, Plan) and retry.decision is Decision.RETRY
    fallback = step(chain, retry, FailureClass.PROVIDER_ERROR, status=503)
    assert isinstance(fallback, Plan) and (fallback.decision, fallback.target.name) == (
        Decision.FALLBACK,
        "beta-sonnet",
    )


def test_route_overrides_the_default_step() -> None:
    chain = chain_for(engine(), "override")
    plan = first(chain)
    nxt = step(chain, plan, FailureClass.RATE_LIMITED, status=429)
    assert isinstance(nxt, Plan) and (nxt.decision, nxt.target.name) == (Decision.FALLBACK, "beta-haiku")


def test_capabilities_filter_the_chain() -> None:
    # JSON schema: beta models do not declare it, so only alpha-mini can serve.
    chain = chain_for(
        engine(), "main", response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}
    )
    plan = first(chain)
    assert plan.target.name == "alpha-mini"
    assert isinstance(step(chain, plan, FailureClass.INVALID_OUTPUT), Stop)
    # Prefill: alpha models do not declare it.
    chain = chain_for(
        engine(), "main", messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{"}]
    )
    assert first(chain).target.name == "beta-sonnet"


def test_open_breakers_are_skipped_without_an_attempt() -> None:
    e = engine()
    breaker = e.guards.breakers.get("alpha", "alpha-mini")
    breaker._trip(time.monotonic())  # quarantined
    chain = chain_for(e, "main")
    plan = first(chain)
    assert (plan.target.name, plan.decision) == ("beta-sonnet", Decision.FALLBACK)
    assert plan.reason == "skipped alpha-mini (breaker_open)"
    assert breaker.not_permitted == 1
    for name in ("beta-sonnet", "beta-haiku"):
        e.guards.breakers.get("beta", name)._trip(time.monotonic())
    stop = chain_for(e, "main").first()
    assert isinstance(stop, Stop)
    assert (stop.error.status, stop.error.should_retry) == (503, True)
    assert int(stop.error.headers["retry-after"]) >= 1
