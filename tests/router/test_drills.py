"""Failure drills over real HTTP: the official openai client → router → simulator, spans → collector →
chDB. Each drill asserts what the simulator saw (count, spacing), what the client saw, and the
stored attempts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from routeledger.config import ModelProfile, SimulatorConfig
from routeledger.pricing import GenaiPricesRef, Usage, resolve_price
from routeledger.simulator import SimulatorThread, count_input_tokens
from routeledger.store.embedded import ChdbAttemptStore
from tests.conftest import MODELS, Pipeline, set_faults, sim_log, start_pipeline

FAST = {"connect_s": 1.0, "first_byte_s": 0.6, "idle_s": 0.4, "total_s": 4.0}
MINI_SMALL = {**MODELS["alpha-mini"], "upstream": "gpt-small", "context_window": 50}
ROUTES: dict[str, Any] = {
    "chat": {"task": "chat", "chain": ["alpha-mini", "beta-haiku"], "timeouts": FAST},
    "premium": {
        "task": "premium",
        "chain": ["beta-sonnet", "alpha-4o", "beta-haiku"],
        "timeouts": FAST,
        "max_attempts": 3,
    },
    "small": {"task": "small", "chain": ["alpha-small", "beta-haiku"], "timeouts": FAST},
}
PROMPT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order 54128?"}]


@pytest.fixture
def drill_sim() -> Iterator[SimulatorThread]:
    config = SimulatorConfig(
        default=ModelProfile(output_tokens=60),
        profiles={"alpha/gpt-small": ModelProfile(context_window=50, output_tokens=60)},
    )
    with SimulatorThread(config) as sim:
        yield sim


def open_pipeline(sim: SimulatorThread, store: ChdbAttemptStore, **breaker: Any) -> Pipeline:
    providers = {
        "alpha": {"kind": "openai", "base_url": f"{sim.url}/alpha/v1", "breaker": {"min_calls": 4, **breaker}},
        "beta": {"kind": "anthropic", "base_url": f"{sim.url}/beta/v1", "breaker": {"min_calls": 4, **breaker}},
    }
    return start_pipeline(sim, store, providers=providers, models={**MODELS, "alpha-small": MINI_SMALL}, routes=ROUTES)


@pytest.fixture
def drill(drill_sim: SimulatorThread, store: ChdbAttemptStore) -> Iterator[Pipeline]:
    p = open_pipeline(drill_sim, store)
    yield p
    stop(p)


def stop(p: Pipeline) -> None:
    p.router.stop()
    p.tracer_provider.shutdown()
    p.collector.stop()


def client(p: Pipeline, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.router.url + "/v1", api_key="k", max_retries=retries)


def ask(p: Pipeline, route: str = "chat", **kw: Any) -> tuple[Any, httpx.Headers]:
    with client(p) as api:
        raw = api.chat.completions.with_raw_response.create(model=route, messages=kw.pop("messages", PROMPT), **kw)
        return raw.parse(), raw.headers


def attempts_of(p: Pipeline, request_id: str) -> list[dict[str, Any]]:
    return p.rows("request_id = {rid:String}", {"rid": request_id})


def seen(p: Pipeline, **query: str) -> list[dict[str, Any]]:
    return sim_log(p.simulator, **query)


def cost(model: str, usage: Usage) -> Decimal:
    return resolve_price(GenaiPricesRef.model_validate(MODELS[model]["price"])).cost(usage)


# --- non-streaming ---------------------------------------------------------------------------------


def test_429_with_retry_after_is_retried_after_it(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "rate_limit", "provider": "alpha", "retry_after_s": 0.3, "count": 1}])
    _, headers = ask(drill)
    calls = seen(drill)
    assert [c["provider"] for c in calls] == ["alpha", "alpha"]
    assert calls[1]["t"] - calls[0]["t"] >= 0.3
    rows = attempts_of(drill, headers["x-routeledger-request-id"])
    assert [(r["decision"], r["failure_class"], r["billable"]) for r in rows] == [
        ("first", "rate_limited", False),
        ("retry", "", True),
    ]
    assert rows[0]["cost_usd"] == 0


def test_persistent_429_without_retry_after_backs_off_once_then_ends_cleanly(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "rate_limit", "provider": "alpha"}])
    with client(drill, retries=2) as api, pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="chat", messages=PROMPT)  # type: ignore[arg-type]
    assert caught.value.status_code == 503
    assert caught.value.response.headers["x-should-retry"] == "false"
    calls = seen(drill)
    assert len(calls) == 2  # one retry, and the SDK's own retries did not multiply it
    assert 0 <= calls[1]["t"] - calls[0]["t"] < 0.2 + 0.1  # U[0, 0.2) backoff plus transit


def test_500_once_is_retried(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "server_error", "provider": "alpha", "count": 1}])
    answer, headers = ask(drill)
    assert headers["x-routeledger-attempts"] == "2" and headers["x-routeledger-model"] == "alpha-mini"
    assert answer.usage.completion_tokens == 60


def test_persistent_503_opens_the_breaker_and_the_backup_serves(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "server_error", "provider": "alpha", "status": 503}])
    outcomes = []
    for _ in range(6):
        try:
            _, headers = ask(drill)
            outcomes.append(headers["x-routeledger-model"])
        except openai.APIStatusError as exc:
            outcomes.append(exc.status_code)
    # Two requests retry once each (4 failures = min_calls): the breaker opens; the rest skip alpha.
    assert outcomes == [503, 503, "beta-haiku", "beta-haiku", "beta-haiku", "beta-haiku"]
    assert len(seen(drill, provider="alpha")) == 4
    state = httpx.get(drill.router.url + "/v1/routeledger/breakers").json()
    alpha = next(b for b in state["breakers"] if b["model"] == "alpha-mini")
    assert (alpha["state"], alpha["not_permitted"]) == ("open", 4)
    rows = drill.rows("decision = 'fallback'")
    assert len(rows) == 4 and all(r["reason"] == "skipped alpha-mini (breaker_open)" for r in rows)


def test_reset_before_headers_is_a_network_failure_retried(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "reset", "provider": "alpha", "count": 1}])
    _, headers = ask(drill)
    rows = attempts_of(drill, headers["x-routeledger-request-id"])
    assert [(r["failure_class"], r["billable"]) for r in rows] == [("transient_network", False), ("", True)]
    assert rows[1]["decision"] == "retry"


def test_connection_refused_retries_at_once_outside_the_budget(
    drill_sim: SimulatorThread, store: ChdbAttemptStore
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    providers = {
        "alpha": {"kind": "openai", "base_url": f"http://127.0.0.1:{dead}/v1"},
        "beta": {"kind": "anthropic", "base_url": f"{drill_sim.url}/beta/v1"},
    }
    p = start_pipeline(
        drill_sim, store, providers=providers, models={**MODELS, "alpha-small": MINI_SMALL}, routes=ROUTES
    )
    try:
        with pytest.raises(openai.APIStatusError):
            ask(p)
        rows = p.rows()
        assert [(r["decision"], r["failure_class"], r["error_type"], r["billable"]) for r in rows] == [
            ("first", "transient_network", "connect_error", False),
            ("retry", "transient_network", "connect_error", False),
        ]
        assert rows[1]["ts"] - rows[0]["ts"] < __import__("datetime").timedelta(milliseconds=100)
        state = httpx.get(p.router.url + "/v1/routeledger/breakers").json()
        assert state["retry_budget"]["overflow"] == 0
    finally:
        stop(p)


def test_silent_provider_falls_over_without_a_retry(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "no_response", "provider": "alpha"}])
    started = time.monotonic()
    _, headers = ask(drill)
    assert time.monotonic() - started < 0.6 + 1.0
    assert headers["x-routeledger-model"] == "beta-haiku"
    assert headers["x-routeledger-fallback-reason"] == "timeout_before_first_byte (previous attempt billable)"
    rows = attempts_of(drill, headers["x-routeledger-request-id"])
    first = rows[0]
    assert (first["failure_class"], first["billable"]) == ("timeout_before_first_byte", True)
    # The provider may have charged the prompt: the ledger holds the estimate, priced.
    prompt = count_input_tokens(PROMPT)
    assert first["input_tokens"] == prompt and first["output_tokens"] == 0
    assert first["cost_usd"] == cost("alpha-mini", Usage(prompt, 0))
    assert len(seen(drill, provider="alpha")) == 1


@pytest.mark.parametrize(
    ("rule", "status", "code"),
    [
        pytest.param({"kind": "content_policy"}, 400, "content_policy_violation", id="content-policy"),
        pytest.param({"kind": "auth"}, 502, "upstream_auth", id="auth"),
        pytest.param({"kind": "quota"}, 502, "upstream_quota", id="quota"),
    ],
)
def test_non_retryable_failures_make_exactly_one_attempt(
    drill: Pipeline, rule: dict[str, Any], status: int, code: str
) -> None:
    set_faults(drill.simulator, [{**rule, "provider": "alpha"}])
    with client(drill, retries=2) as api, pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="chat", messages=PROMPT)  # type: ignore[arg-type]
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert len(seen(drill)) == 1
    state = httpx.get(drill.router.url + "/v1/routeledger/breakers").json()
    alpha = next(b for b in state["breakers"] if b["model"] == "alpha-mini")
    assert (alpha["state"], alpha["window_failures"]) == ("closed", 0)
    assert state["retry_throttle"]["tokens"].get("alpha", 10.0) == 10.0


def test_context_length_goes_to_a_larger_window(drill: Pipeline) -> None:
    long_prompt = [{"role": "user", "content": "tell me about my order " * 20}]  # ~120 tokens > 50
    _, headers = ask(drill, route="small", messages=long_prompt)
    assert headers["x-routeledger-model"] == "beta-haiku"
    # The router estimated the prompt would not fit alpha-small and never sent it there.
    assert seen(drill, provider="alpha") == []


def test_context_length_reported_by_the_provider_falls_to_a_larger_window(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "context_length", "provider": "alpha"}])
    _, headers = ask(drill, route="small")
    rows = attempts_of(drill, headers["x-routeledger-request-id"])
    assert [r["failure_class"] for r in rows] == ["context_length_exceeded", ""]
    assert rows[1]["model"] == "beta-haiku"


def test_no_larger_window_is_a_clear_error(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "context_length"}])
    with pytest.raises(openai.BadRequestError) as caught:
        ask(drill, route="small")
    assert caught.value.code == "context_length_exceeded"
    assert "Shorten the input or start a new conversation" in str(caught.value.message)


def test_prefill_only_falls_to_models_that_support_it(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "no_response", "provider": "beta", "model": "claude-sonnet-4-5"}])
    prefill = [*PROMPT, {"role": "assistant", "content": "Your order"}]
    _, headers = ask(drill, route="premium", messages=prefill)
    assert headers["x-routeledger-model"] == "beta-haiku"  # alpha-4o declares no assistant_prefill
    assert seen(drill, provider="alpha") == []


def test_a_model_that_rejects_prefill_stops_with_its_reason(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "reject_prefill", "provider": "beta"}])
    prefill = [*PROMPT, {"role": "assistant", "content": "Your order"}]
    with pytest.raises(openai.BadRequestError) as caught:
        ask(drill, route="premium", messages=prefill)
    assert "does not support assistant message prefill" in str(caught.value.message)
    assert len(seen(drill)) == 1


def test_primary_down_then_healthy(drill_sim: SimulatorThread, store: ChdbAttemptStore) -> None:
    """Breaker opens, the fallback serves, a probe finds the primary healthy, traffic returns."""
    p = open_pipeline(drill_sim, store, open_s=0.5, jitter=0, probe_timeout_s=1)
    try:
        set_faults(p.simulator, [{"kind": "server_error", "provider": "alpha", "status": 503, "end_s": 0.8}])
        httpx.post(p.simulator.url + "/_sim/reset").raise_for_status()
        served = []
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and (not served or served[-1] != "alpha-mini" or len(served) < 8):
            try:
                _, headers = ask(p)
                served.append(headers["x-routeledger-model"])
            except openai.APIStatusError:
                served.append("error")
        assert "beta-haiku" in served  # the backup served during the quarantine
        assert served[-1] == "alpha-mini"  # and the primary is back
        alpha = seen(p, provider="alpha")
        failures = [c for c in alpha if c["fault"]]
        assert len(failures) <= 4 + 1  # min_calls, plus at most one failed probe
        rows = p.rows("model = 'alpha-mini'")
        assert any(r["outcome"] == "success" for r in rows)
    finally:
        stop(p)


# --- streaming -------------------------------------------------------------------------------------


def stream(p: Pipeline, route: str = "chat", **kw: Any) -> tuple[str, list[Any]]:
    with client(p) as api:
        chunks = list(api.chat.completions.create(model=route, messages=PROMPT, stream=True, **kw))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def words(n: int) -> str:
    return " ".join(("lorem", "ipsum", "dolor", "amet")[i % 4] for i in range(n))


def test_a_clean_stream_with_usage(drill: Pipeline) -> None:
    text, chunks = stream(drill, stream_options={"include_usage": True})
    assert text == words(60)
    assert chunks[-1].usage.completion_tokens == 60
    [row] = drill.rows()
    assert (row["stream"], row["output_tokens"], row["finish_reason"]) == (True, 60, "stop")
    assert row["ttft_ms"] is not None and row["ttft_ms"] < 600


def test_usage_is_not_sent_unless_asked(drill: Pipeline) -> None:
    _, chunks = stream(drill)
    assert all(c.usage is None for c in chunks)
    [row] = drill.rows()
    assert row["output_tokens"] == 60  # the router still asked for it, to price the answer


def test_slow_first_token_falls_over_transparently(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "slow_first_token", "provider": "alpha", "delay_ms": 2000}])
    text, chunks = stream(drill)
    assert text == words(60)  # one valid stream, from the backup
    assert {c.model for c in chunks} == {"claude-haiku-4-5"}
    rows = drill.rows()
    assert [(r["model"], r["failure_class"]) for r in rows] == [
        ("alpha-mini", "timeout_before_first_byte"),
        ("beta-haiku", ""),
    ]


def test_failure_before_the_first_token_falls_over(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "stream_cut", "provider": "alpha", "after_tokens": 0}])
    text, _ = stream(drill)
    assert text == words(60)
    assert [r["failure_class"] for r in drill.rows()] == ["stream_cut", ""]


def test_stream_cut_after_content_is_an_error_never_a_clean_finish(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "stream_cut", "provider": "alpha", "after_tokens": 40}])
    received = []
    with client(drill) as api, pytest.raises(openai.APIError) as caught:
        for chunk in api.chat.completions.create(model="chat", messages=PROMPT, stream=True):
            received.append(chunk)
    assert "cut before the answer finished" in str(caught.value.message)
    text = "".join(c.choices[0].delta.content or "" for c in received if c.choices)
    assert text == words(40)
    assert not any(c.choices and c.choices[0].finish_reason for c in received)
    [row] = drill.rows()  # no second attempt after the committed point
    assert (row["failure_class"], row["outcome"], row["billable"]) == ("stream_cut", "failure", True)
    prompt = count_input_tokens(PROMPT)
    assert (row["input_tokens"], row["output_tokens"]) == (prompt, 40)  # the tokens actually delivered
    assert row["cost_usd"] == cost("alpha-mini", Usage(prompt, 40))
    assert len(seen(drill)) == 1


def test_a_stalled_stream_ends_with_an_error_event(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "stall", "provider": "alpha", "after_tokens": 10, "delay_ms": 5000}])
    started = time.monotonic()
    with pytest.raises(openai.APIError) as caught:
        stream(drill)
    assert time.monotonic() - started < 0.4 + 2.5  # the idle limit (plus a loaded machine), not the 5 s stall
    assert "stalled" in str(caught.value.message)
    [row] = drill.rows()
    assert (row["failure_class"], row["output_tokens"]) == ("stall", 10)


def test_a_malformed_chunk_is_skipped_and_never_leaks(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "malformed_chunk", "provider": "alpha", "after_tokens": 5}])
    text, _ = stream(drill)
    assert text == words(60)
    [row] = drill.rows()
    assert row["outcome"] == "success"


def test_missing_done_is_finalised_promptly_with_usage(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "missing_done", "provider": "alpha"}])
    started = time.monotonic()
    text, chunks = stream(drill, stream_options={"include_usage": True})
    assert time.monotonic() - started < 0.4  # not waiting for the idle limit
    assert text == words(60)
    assert chunks[-1].usage.completion_tokens == 60
    [row] = drill.rows()
    assert (row["outcome"], row["output_tokens"]) == ("success", 60)


def test_anthropic_streams_are_translated(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "server_error", "provider": "beta", "count": 1}])
    text, chunks = stream(drill, route="premium", stream_options={"include_usage": True})
    assert text == words(60)
    assert chunks[-1].usage.completion_tokens == 60
    rows = drill.rows()
    assert [(r["model"], r["decision"], r["failure_class"]) for r in rows] == [
        ("beta-sonnet", "first", "provider_error"),
        ("beta-sonnet", "retry", ""),
    ]


# --- deadlines and the client SDK -------------------------------------------------------------------


def test_the_route_deadline_holds_for_hanging_upstreams(drill: Pipeline) -> None:
    """Reliability plan A2, scaled down: every request ends within total_s + 0.1 s."""
    set_faults(drill.simulator, [{"kind": "no_response"}])
    route = "premium"  # three models, each silent: 3 x first_byte_s (0.6) would still fit 4 s
    drill_total = 4.0
    worst = 0.0
    for streaming in (False, True):
        started = time.monotonic()
        with client(drill) as api, pytest.raises(openai.APIStatusError) as caught:
            result = api.chat.completions.create(model=route, messages=PROMPT, stream=streaming)  # type: ignore[call-overload]
            list(result) if streaming else None
        worst = max(worst, time.monotonic() - started)
        assert caught.value.status_code == 504
    print(f"RESULT name=deadline worst_s={worst:.3f} total_s={drill_total}")
    assert worst <= drill_total + 0.1


def test_the_sdk_does_not_multiply_final_errors(drill: Pipeline) -> None:
    set_faults(drill.simulator, [{"kind": "server_error", "status": 503}])
    with client(drill, retries=2) as api, pytest.raises(openai.APIStatusError):
        api.chat.completions.create(model="chat", messages=PROMPT)  # type: ignore[arg-type]
    assert len(seen(drill)) == 2  # the router's own retry, nothing from the SDK


def test_a_quarantined_route_asks_the_sdk_to_come_back(drill_sim: SimulatorThread, store: ChdbAttemptStore) -> None:
    """A passing state (every model quarantined) is the one error the SDK may retry, after the
    quarantine's Retry-After; its retry carries the SDK's retry count on the request span (A7)."""
    p = open_pipeline(drill_sim, store, open_s=1.0, jitter=0)
    try:
        spans = InMemorySpanExporter()
        p.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
        engine = p.router_app.state.engine
        for name, provider in (("alpha-mini", "alpha"), ("beta-haiku", "beta")):
            engine.guards.breakers.get(provider, name)._trip(time.monotonic())
        with client(p, retries=1) as api:
            answer = api.chat.completions.create(model="chat", messages=PROMPT)  # type: ignore[arg-type]
        assert answer.usage is not None  # the retry, after Retry-After: 1, met a healthy probe
        requests = [dict(s.attributes or {}) for s in spans.get_finished_spans() if s.name.startswith("POST")]
        assert [(r["http.response.status_code"], r.get("routeledger.client_retry_count")) for r in requests] == [
            (503, None),
            (200, 1),
        ]
        [row] = p.rows()
        assert row["attempt"] == 1 and row["model"] == "alpha-mini"
    finally:
        stop(p)


# --- retry storms and saturation ---------------------------------------------------------------------


def test_retry_amplification_is_bounded_during_an_outage(drill_sim: SimulatorThread, store: ChdbAttemptStore) -> None:
    """Reliability plan A3, scaled down: 100 % 503 at ~200 requests/s; the retry budget and the
    throttle keep attempts near 1x, and every denied retry is counted."""
    import asyncio

    single = {"solo": {"task": "solo", "chain": ["alpha-mini"], "timeouts": FAST}}
    providers = {"alpha": {"kind": "openai", "base_url": f"{drill_sim.url}/alpha/v1", "breaker": {"enabled": False}}}
    p = start_pipeline(
        drill_sim, store, providers=providers, models={"alpha-mini": MODELS["alpha-mini"]}, routes=single
    )
    try:
        set_faults(p.simulator, [{"kind": "server_error", "status": 503}])

        async def offer(n: int, rate: float) -> None:
            async with httpx.AsyncClient(base_url=p.router.url, timeout=10) as http:
                body = {"model": "solo", "messages": PROMPT}
                tasks = []
                for _ in range(n):
                    tasks.append(asyncio.create_task(http.post("/v1/chat/completions", json=body)))
                    await asyncio.sleep(1 / rate)
                await asyncio.gather(*tasks)

        requests = 300
        asyncio.run(offer(requests, 200))
        attempts = len(seen(p))
        state = httpx.get(p.router.url + "/v1/routeledger/breakers").json()
        denied = state["retry_budget"]["overflow"] + state["retry_throttle"]["overflow"]
        retries = attempts - requests
        ratio = attempts / requests
        print(
            f"RESULT name=retry_amplification requests={requests} attempts={attempts} ratio={ratio:.3f} denied={denied}"
        )
        assert attempts <= 1.2 * requests + 3
        assert denied == requests - retries  # every request that did not retry was denied, and counted
    finally:
        stop(p)


def test_a_saturated_provider_is_passed_over_at_once(store: ChdbAttemptStore) -> None:
    """Reliability plan B14: past max_in_flight the chain moves on in well under 5 ms."""
    import asyncio

    config = SimulatorConfig(
        default=ModelProfile(output_tokens=10), profiles={"alpha": ModelProfile(first_byte_ms=400)}
    )
    with SimulatorThread(config) as sim:
        providers = {
            "alpha": {"kind": "openai", "base_url": f"{sim.url}/alpha/v1", "max_in_flight": 2},
            "beta": {"kind": "anthropic", "base_url": f"{sim.url}/beta/v1"},
        }
        p = start_pipeline(sim, store, providers=providers, models={**MODELS, "alpha-small": MINI_SMALL}, routes=ROUTES)
        try:

            async def burst() -> list[httpx.Response]:
                async with httpx.AsyncClient(base_url=p.router.url, timeout=10) as http:
                    body = {"model": "chat", "messages": PROMPT}
                    return list(await asyncio.gather(*(http.post("/v1/chat/completions", json=body) for _ in range(3))))

            responses = asyncio.run(burst())
            models = sorted(r.headers["x-routeledger-model"] for r in responses)
            assert models == ["alpha-mini", "alpha-mini", "beta-haiku"]
            state = httpx.get(p.router.url + "/v1/routeledger/breakers").json()
            assert state["bulkheads"]["alpha"]["overflow"] == 1
            [fallback] = p.rows("model = 'beta-haiku'")
            assert fallback["reason"] == "skipped alpha-mini (provider_saturated)"
            assert fallback["duration_ms"] < 100  # beta is fast; it was not queued behind alpha
        finally:
            stop(p)
