"""Attempt spans as the GenAI semantic conventions name them, checked as whole attribute dicts
with the OTel SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from routeledger.router.ingress.app import create_app
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread
from tests.conftest import make_config, set_faults

PROMPT = [{"role": "user", "content": "Where is my order 54128?"}]


@pytest.fixture
def traced(simulator: SimulatorThread) -> Iterator[tuple[str, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app = create_app(make_config(simulator.url), tracer_provider=provider, strict_telemetry=True)
    with ServerThread(app) as server:
        yield server.url, exporter


def test_one_server_span_and_one_client_span_per_attempt(
    traced: tuple[str, InMemorySpanExporter], simulator: SimulatorThread
) -> None:
    url, exporter = traced
    # A 429 asking for a minute: longer than the route waits, so the chain falls over at once.
    set_faults(simulator, [{"kind": "rate_limit", "provider": "beta", "retry_after_s": 60, "count": 1}])
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "support", "messages": PROMPT, "max_tokens": 100},
        headers={"x-routeledger-tenant": "acme", "x-routeledger-feature": "chat", "authorization": "Bearer sk-canary"},
    )
    assert response.status_code == 200
    request_id = response.headers["x-routeledger-request-id"]
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind is SpanKind.SERVER]
    clients = sorted((s for s in spans if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time or 0)
    assert [s.name for s in server] == ["POST /v1/chat/completions"]
    assert [s.name for s in clients] == ["chat claude-sonnet-4-5", "chat gpt-4o"]
    assert all(c.parent is not None and c.parent.span_id == server[0].context.span_id for c in clients)
    assert dict(clients[0].attributes or {}) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "server.address": "127.0.0.1",
        "routeledger.request_id": request_id,
        "routeledger.attempt": 1,
        "routeledger.decision": "first",
        "routeledger.route": "support",
        "routeledger.task": "support_chat",
        "routeledger.tenant": "acme",
        "routeledger.feature": "chat",
        "routeledger.traffic_class": "critical",
        "routeledger.model": "beta-sonnet",
        "routeledger.provider": "beta",
        "routeledger.cost_usd": "0",
        "routeledger.price_source": "none",
        "routeledger.billable": False,
        "routeledger.outcome": "failure",
        "routeledger.stream": False,
        "routeledger.failure_class": "rate_limited",
        "gen_ai.usage.input_tokens": 0,
        "gen_ai.usage.output_tokens": 0,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "http.response.status_code": 429,
        "error.type": "429",
    }
    second = dict(clients[1].attributes or {})
    assert second["routeledger.decision"] == "fallback"
    assert second["routeledger.reason"] == "rate_limited"
    assert second["gen_ai.response.model"] == "gpt-4o"
    assert second["gen_ai.response.finish_reasons"] == ("stop",)
    assert (second["gen_ai.usage.input_tokens"], second["gen_ai.usage.output_tokens"]) == (13, 32)
    assert second["routeledger.cost_usd"] == "0.000352500"  # 13 x $2.5/M + 32 x $10/M
    assert dict(server[0].attributes or {})["routeledger.attempts"] == 2


def test_prompts_completions_and_keys_are_not_recorded(traced: tuple[str, InMemorySpanExporter]) -> None:
    url, exporter = traced
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "summarize", "messages": [{"role": "user", "content": "canary-prompt-7f3a"}]},
        headers={"authorization": "Bearer sk-canary-key-91b2"},
    )
    assert response.status_code == 200
    dump = repr([(s.name, dict(s.attributes or {}), s.events) for s in exporter.get_finished_spans()])
    for canary in ("canary-prompt-7f3a", "sk-canary-key-91b2", "lorem ipsum"):
        assert canary not in dump
