"""Reliability plan G33 (no raw key anywhere) and G37 (SSRF): where the router may connect, and what
it may repeat."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from routeledger.config import parse_config
from routeledger.egress import EgressRefused, guarded_resolver
from routeledger.errors import ConfigError
from routeledger.guardrails import hash_key
from routeledger.simulator import SimulatorThread
from routeledger.store.embedded import ChdbAttemptStore
from tests.conftest import MODELS, ROUTES, config_data, set_faults, sim_log, start_pipeline

CANARY = "rl-canary-7e57c0ffee15600d"
EXPIRED_CANARY = "rl-canary-0ldc0ffee15600d"
PROMPT = [{"role": "user", "content": "Where is my order 54128?"}]


def test_a_canary_key_appears_nowhere(
    simulator: SimulatorThread, store: ChdbAttemptStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Every path a key takes (answered, failed over, wrong model, budget exhausted, expired key,
    rate limited): the key is in no response, log line, span, stored row or state file."""
    caplog.set_level(logging.DEBUG)
    state = tmp_path / "state.db"
    keys = {
        "app": {"hash": hash_key(CANARY), "tenant": "acme", "rpm": 6, "budget": {"monthly_usd": "0.000001"}},
        "old": {"hash": hash_key(EXPIRED_CANARY), "tenant": "acme", "expires_at": "2021-01-01T00:00:00Z"},
    }
    pipeline = start_pipeline(
        simulator, store, keys=keys, tenants={"acme": {}}, guardrails={"state": {"path": str(state)}}
    )
    spans = InMemorySpanExporter()
    pipeline.tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    seen: list[str] = []
    try:

        def post(key: str, route: str = "summarize") -> httpx.Response:
            response = httpx.post(
                pipeline.router.url + "/v1/chat/completions",
                json={"model": route, "messages": PROMPT},
                headers={"authorization": f"Bearer {key}"},
                timeout=30,
            )
            seen.append(f"{response.status_code} {response.headers} {response.text}")
            return response

        set_faults(simulator, [{"kind": "server_error", "provider": "alpha", "count": 1}])
        assert post(CANARY).status_code == 200  # retried, answered; this spends the tiny budget
        assert post(CANARY).json()["error"]["code"] == "budget_exhausted"
        assert post(CANARY, "no-such-route").status_code == 404
        assert post(EXPIRED_CANARY).status_code == 401
        assert post(CANARY + "x").status_code == 401
        for _ in range(5):  # 2 counted above (the 404 and 401s never reach the limiter)
            post(CANARY)
        assert seen[-1].startswith("429") and "rate_limited" in seen[-1]
        rows = pipeline.rows()
        # Two upstream attempts (a 500, its retry); the budget and rate-limit refusals are skipped rows.
        assert [r["outcome"] for r in rows if r["outcome"] != "skipped"] == ["failure", "success"]
    finally:
        pipeline.router.stop()
        pipeline.tracer_provider.shutdown()
        pipeline.collector.stop()
    haystacks = {
        "responses": "\n".join(seen),
        "logs": caplog.text,
        "rows": repr(rows),
        "spans": "\n".join(s.to_json() for s in spans.get_finished_spans()),
        "state file": state.read_bytes().decode("latin-1"),
        "simulator": repr(sim_log(simulator)),
    }
    for name, text in haystacks.items():
        for canary in (CANARY, EXPIRED_CANARY):
            assert canary not in text, f"the key appears in the {name}"
    # The key's configured name is what identifies it.
    names = {s.attributes.get("routeledger.api_key") for s in spans.get_finished_spans() if s.attributes}
    assert names == {"app"}  # a request refused at authentication makes no span


# --- G37: SSRF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url",
    [
        "http://169.254.169.254/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.20:8080/v1",
        "http://127.0.0.1:8700/v1",
        "http://[::1]:8700/v1",
        "http://[fd00::1]/v1",
        "http://[::ffff:169.254.169.254]/v1",
        "http://localhost:8700/v1",
        "http://metadata.google.internal/computeMetadata/v1",
        "http://0.0.0.0/v1",
    ],
)
def test_private_and_metadata_upstreams_are_refused_at_load(base_url: str) -> None:
    data = config_data("http://unused")
    data["providers"]["alpha"] = {"kind": "openai", "base_url": base_url}
    with pytest.raises(ConfigError) as refused:
        parse_config(data, "routeledger.yaml")
    assert "providers.alpha.base_url" in str(refused.value)
    assert "allow_private_network" in str(refused.value)
    data["providers"]["alpha"]["allow_private_network"] = True
    assert parse_config(data, "routeledger.yaml").providers["alpha"].base_url == base_url


def test_public_upstreams_load() -> None:
    data = config_data("http://unused")
    data["providers"]["alpha"] = {"kind": "openai", "base_url": "https://api.openai.com/v1"}
    assert parse_config(data, "routeledger.yaml").providers["alpha"].allow_private_network is False


@pytest.mark.parametrize("field", ["api_base", "base_url", "url", "extra_headers", "api_key"])
def test_a_client_cannot_choose_where_the_router_connects(field: str, simulator: SimulatorThread) -> None:
    from routeledger.router.ingress.app import create_app
    from routeledger.serving import ServerThread
    from tests.conftest import make_config

    value: Any = {"x-forwarded-host": "169.254.169.254"} if field == "extra_headers" else "http://169.254.169.254/"
    with ServerThread(create_app(make_config(simulator.url))) as router:
        response = httpx.post(
            router.url + "/v1/chat/completions",
            json={"model": "summarize", "messages": PROMPT, field: value},
            timeout=10,
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == field
    assert sim_log(simulator) == []


def test_an_upstream_redirect_is_not_followed(simulator: SimulatorThread, store: ChdbAttemptStore) -> None:
    """The redirect points back at the simulator: had the router followed it, the simulator would
    have seen a second request to alpha."""
    pipeline = start_pipeline(simulator, store, models=MODELS, routes=ROUTES)
    try:
        location = f"{simulator.url}/alpha/v1/chat/completions"
        set_faults(simulator, [{"kind": "redirect", "provider": "alpha", "location": location}])
        response = httpx.post(
            pipeline.router.url + "/v1/chat/completions",
            json={"model": "summarize", "messages": PROMPT},
            timeout=30,
        )
        assert response.status_code == 200
        assert response.headers["x-routeledger-provider"] == "beta"
        assert [e["provider"] for e in sim_log(simulator)] == ["alpha", "beta"]
        first = pipeline.rows()[0]
        assert (first["provider"], first["failure_class"]) == ("alpha", "unknown")
    finally:
        pipeline.router.stop()
        pipeline.tracer_provider.shutdown()
        pipeline.collector.stop()


def test_a_name_that_resolves_to_a_forbidden_address_is_refused_at_connect() -> None:
    """DNS rebinding: a name is judged by what it resolves to when the router connects, not only
    when the config was read."""

    async def resolve(allowed: frozenset[str]) -> list[dict[str, Any]]:
        resolver = guarded_resolver(allowed)
        try:
            answers: list[dict[str, Any]] = await resolver.resolve("localhost", 443)
            return answers
        finally:
            await resolver.close()

    with pytest.raises(EgressRefused, match="loopback"):
        asyncio.run(resolve(frozenset()))
    assert {a["host"] for a in asyncio.run(resolve(frozenset({"localhost"})))} & {"127.0.0.1", "::1"}
