"""Spend guardrails over real HTTP: the official openai client (or httpx) → router → simulator.

Budgets are pre-spent by writing the router's own state file before it starts, exactly as a router
that had served that traffic would have left it; everything else is observed from outside: status,
error body, headers, what the simulator received, the request span's guardrail events.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from routeledger import semconv as sc
from routeledger.config import RouteledgerConfig
from routeledger.guardrails import TrafficClass, hash_key
from routeledger.pricing import GenaiPricesRef, Usage, resolve_price
from routeledger.router.ingress.app import create_app
from routeledger.router.policy.guard import Band, allowed_by_band, band_for
from routeledger.router.policy.state.base import Reservation, Scope, to_nanos
from routeledger.router.policy.state.local import LocalState
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread, count_input_tokens
from tests.conftest import MODELS, make_config, set_faults, sim_log

PROMPT = [{"role": "user", "content": "Where is my order 54128?"}]
CLASSES = [c.value for c in TrafficClass]
#: A premium model first, a budget model second: which one answers shows what the guardrails allowed.
CHAIN = ["alpha-4o", "alpha-mini"]


@pytest.mark.parametrize(
    ("share", "band"),
    [(0.0, Band.NORMAL), (0.6999, Band.NORMAL), (0.70, Band.DOWNGRADE), (0.80, Band.DOWNGRADE),
     (0.9499, Band.DOWNGRADE), (0.95, Band.CRITICAL_ONLY), (0.999, Band.CRITICAL_ONLY), (1.0, Band.EXHAUSTED),
     (3.0, Band.EXHAUSTED)],
)  # fmt: skip
def test_spent_share_to_band(share: float, band: Band) -> None:
    assert band_for(share, 0.70, 0.95) is band


@pytest.mark.parametrize("band", list(Band))
@pytest.mark.parametrize("traffic_class", list(TrafficClass))
def test_band_admits_only_what_seed_002_allows(band: Band, traffic_class: TrafficClass) -> None:
    expected = {
        Band.NORMAL: True,
        Band.DOWNGRADE: True,
        Band.CRITICAL_ONLY: traffic_class is TrafficClass.CRITICAL,
        Band.EXHAUSTED: False,
    }[band]
    assert allowed_by_band(band, traffic_class) is expected


# --- a router with in-memory spans ------------------------------------------------------------------


class Router:
    def __init__(self, config: RouteledgerConfig) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.config = config
        self.server = ServerThread(create_app(config, tracer_provider=provider, strict_telemetry=True)).start()
        self.url = self.server.url

    def post(self, route: str, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
        payload = {"model": route, "messages": PROMPT, **body}
        return httpx.post(self.url + "/v1/chat/completions", json=payload, headers=headers or {}, timeout=30)

    def guardrail_events(self) -> list[tuple[str, str]]:
        events = []
        for span in self.exporter.get_finished_spans():
            for event in span.events:
                if event.name == sc.GUARDRAIL_EVENT:
                    attrs = event.attributes or {}
                    events.append((str(attrs[sc.GUARDRAIL]), str(attrs[sc.GUARDRAIL_REASON])))
        return events

    def status(self) -> dict[str, Any]:
        response = httpx.get(self.url + "/v1/routeledger/guardrails", timeout=5)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def stop(self) -> None:
        self.server.stop()


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def prespend(path: Path, spend: dict[str, Decimal]) -> None:
    """Leave spend in a router state file, as a router that served that traffic would have."""

    async def write() -> None:
        state = LocalState(path, 600)
        for scope, usd in spend.items():
            held = await state.reserve([Scope(scope, to_nanos(Decimal(10**6)))], 0, "prespend", 1)
            assert isinstance(held, Reservation)
            await state.settle(held, to_nanos(usd))
        await state.close()

    asyncio.run(write())


def month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture
def state_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


def guarded(sim: SimulatorThread, state_path: Path, **overrides: Any) -> Router:
    return Router(make_config(sim.url, guardrails={"state": {"path": str(state_path)}}, **overrides))


# --- budget bands x traffic classes ----------------------------------------------------------------


def test_budget_bands_decide_what_each_traffic_class_gets(simulator: SimulatorThread, state_path: Path) -> None:
    """Seed 002's thresholds, end to end: four tenants at 50/75/96/100% of a monthly budget, one
    route per traffic class, each a premium model first and a budget model second."""
    shares = {"t50": "0.50", "t75": "0.75", "t96": "0.96", "t100": "1.00"}
    prespend(state_path, {f"tenant:{t}:month:{month()}": Decimal(s) for t, s in shares.items()})
    routes = {c: {"task": c, "traffic_class": c, "chain": CHAIN} for c in CLASSES}
    tenants = {t: {"budget": {"monthly_usd": "1.00"}} for t in shares}
    router = guarded(simulator, state_path, routes=routes, tenants=tenants)
    try:
        seen: dict[tuple[str, str], str] = {}
        for tenant in shares:
            for traffic_class in CLASSES:
                response = router.post(traffic_class, {"x-routeledger-tenant": tenant})
                if response.status_code == 200:
                    degraded = response.headers.get("x-routeledger-degraded")
                    seen[(tenant, traffic_class)] = response.headers["x-routeledger-model"] + (
                        f" ({degraded})" if degraded else ""
                    )
                else:
                    assert response.status_code == 429, response.text
                    assert response.headers["x-should-retry"] == "false"
                    seen[(tenant, traffic_class)] = error_code(response)
        premium, budget = "alpha-4o", "alpha-mini (budget)"
        expected = {
            ("t50", c): premium for c in CLASSES
        } | {
            ("t75", c): premium if c == "critical" else budget for c in CLASSES
        } | {
            ("t96", c): premium if c == "critical" else "budget_restricted" for c in CLASSES
        } | {
            ("t100", c): "budget_exhausted" for c in CLASSES
        }  # fmt: skip
        assert seen == expected
        # Refused requests never reached a provider: 5 + 5 + 1 answers, one attempt each.
        assert len(sim_log(simulator)) == 11
        kinds = [kind for kind, _ in router.guardrail_events()]
        assert kinds.count("downgrade") == 4
        assert kinds.count("budget_restricted") == 4
        assert kinds.count("budget_exhausted") == 5
        # Soft-limit events: once per scope and threshold, however many requests see the crossing.
        soft = sorted(reason for kind, reason in router.guardrail_events() if kind == "soft_limit")
        assert soft == sorted(
            [f"tenant:t75:month:{month()} crossed 70%"]
            + [f"tenant:t96:month:{month()} crossed {p}%" for p in (70, 80, 95)]
            + [f"tenant:t100:month:{month()} crossed {p}%" for p in (70, 80, 95)]
        )
        budgets = {b["scope"]: b for b in router.status()["budgets"]}
        assert budgets[f"tenant:t96:month:{month()}"]["band"] == "critical_only"
        assert router.status()["decisions"]["budget_exhausted"] == 5
    finally:
        router.stop()


def test_sensitive_route_is_refused_rather_than_downgraded(simulator: SimulatorThread, state_path: Path) -> None:
    prespend(state_path, {f"tenant:acme:month:{month()}": Decimal("0.75")})
    routes = {"legal": {"task": "legal", "chain": CHAIN, "sensitive": True}}
    router = guarded(simulator, state_path, routes=routes, tenants={"acme": {"budget": {"monthly_usd": "1"}}})
    try:
        response = router.post("legal", {"x-routeledger-tenant": "acme"})
        assert response.status_code == 429
        assert error_code(response) == "budget_restricted"
        assert "sensitive" in response.json()["error"]["message"]
        assert sim_log(simulator) == []
    finally:
        router.stop()


def test_sensitive_route_fails_clearly_instead_of_falling_to_a_weaker_model(
    simulator: SimulatorThread, state_path: Path
) -> None:
    """A silent primary normally falls over to the next model; on a sensitive route the next model is
    weaker, so the client gets a clear error instead of a cheaper answer."""
    fast = {"first_byte_s": 0.3, "total_s": 5}
    routes = {
        "legal": {"task": "legal", "chain": CHAIN, "sensitive": True, "timeouts": fast},
        "chat": {"task": "chat", "chain": CHAIN, "timeouts": fast},
    }
    router = guarded(simulator, state_path, routes=routes)
    try:
        set_faults(simulator, [{"kind": "no_response", "provider": "alpha", "model": "gpt-4o"}])
        assert router.post("chat").headers["x-routeledger-model"] == "alpha-mini"
        response = router.post("legal")
        assert response.status_code == 503
        assert error_code(response) == "no_equivalent_model"
        assert "never falls back to a weaker model" in response.json()["error"]["message"]
        legal = sim_log(simulator, request_id=response.headers["x-routeledger-request-id"])
        assert [e["model"] for e in legal] == ["gpt-4o"]
    finally:
        router.stop()


# --- per-request ceilings --------------------------------------------------------------------------


def estimate(model: str, max_tokens: int) -> Decimal:
    price = resolve_price(GenaiPricesRef.model_validate(MODELS[model]["price"]))
    return price.cost(Usage(count_input_tokens(PROMPT, None, None), max_tokens))


def test_cost_ceiling_stops_an_attempt_before_it_is_sent(simulator: SimulatorThread, state_path: Path) -> None:
    # gpt-4o: $2.50 in, $10 out per million. 1,000 output tokens alone cost $0.01.
    routes = {"capped": {"task": "t", "chain": ["alpha-4o"], "ceilings": {"max_cost_usd": "0.01"}}}
    router = guarded(simulator, state_path, routes=routes)
    try:
        over, under = estimate("alpha-4o", 1000), estimate("alpha-4o", 990)
        assert over > Decimal("0.01") > under
        refused = router.post("capped", max_tokens=1000)
        assert refused.status_code == 400
        assert error_code(refused) == "ceiling_exceeded"
        assert refused.json()["error"]["param"] == "max_tokens"
        assert f"${over:.6f}" in refused.json()["error"]["message"]
        assert "$0.01 cost ceiling" in refused.json()["error"]["message"]
        assert sim_log(simulator) == []
        assert router.post("capped", max_tokens=990).status_code == 200
        assert len(sim_log(simulator)) == 1
        assert "ceiling" in [k for k, _ in router.guardrail_events()]
    finally:
        router.stop()


def test_tenant_ceiling_overrides_the_route(simulator: SimulatorThread, state_path: Path) -> None:
    routes = {"capped": {"task": "t", "chain": ["alpha-4o"], "ceilings": {"max_tokens": 12000}}}
    tenants = {"small": {"ceilings": {"max_tokens": 500}}, "big": {}}
    router = guarded(simulator, state_path, routes=routes, tenants=tenants)
    try:
        assert router.post("capped", {"x-routeledger-tenant": "big"}, max_tokens=1000).status_code == 200
        refused = router.post("capped", {"x-routeledger-tenant": "small"}, max_tokens=1000)
        assert refused.status_code == 400
        assert "500-token ceiling" in refused.json()["error"]["message"]
    finally:
        router.stop()


def test_no_backup_starts_when_the_first_attempt_used_the_budget(tmp_path: Path, state_path: Path) -> None:
    """The primary answers 400 tokens of broken JSON (billable); a backup of up to 500 more tokens
    would cross the 900-token ceiling, so none starts and the client is told why."""
    from routeledger.config import ModelProfile, SimulatorConfig

    with SimulatorThread(SimulatorConfig(default=ModelProfile(output_tokens=400))) as sim:
        # A quality failure falls back to a stronger model: the budget model first here.
        routes = {"json": {"task": "t", "chain": CHAIN[::-1], "ceilings": {"max_tokens": 900}}}
        router = guarded(sim, state_path, routes=routes)
        try:
            set_faults(sim, [{"kind": "invalid_json", "provider": "alpha", "model": "gpt-4o-mini"}])
            response = router.post("json", max_tokens=500, response_format={"type": "json_object"})
            assert response.status_code == 503, response.text
            assert error_code(response) == "ceiling_exceeded"
            message = response.json()["error"]["message"]
            assert "no backup was started" in message and "900-token ceiling" in message
            assert [e["model"] for e in sim_log(sim)] == ["gpt-4o-mini"]
        finally:
            router.stop()


# --- traffic-class matrix --------------------------------------------------------------------------


def test_class_matrix_on_a_failing_primary(simulator: SimulatorThread, state_path: Path) -> None:
    """Seed 002's matrix with the premium primary failing: critical falls to the budget model only
    flagged as degraded and stops hard after two provider failures; experiment fails fast; with every
    model down non-critical gets the route's default answer, internal and batch are told when to
    come back, and batch never retries."""
    fast = {"first_byte_s": 0.3, "total_s": 5}
    routes = {
        c: {"task": c, "traffic_class": c, "chain": CHAIN, "default_response": "Try again soon.", "timeouts": fast}
        for c in CLASSES
    }
    router = guarded(simulator, state_path, routes=routes)
    try:
        set_faults(simulator, [{"kind": "no_response", "provider": "alpha", "model": "gpt-4o"}])
        critical = router.post("critical")
        assert critical.status_code == 200
        assert critical.headers["x-routeledger-model"] == "alpha-mini"
        assert critical.headers["x-routeledger-degraded"] == "weaker_model"
        experiment = router.post("experiment")
        assert experiment.status_code == 504
        assert experiment.headers["x-routeledger-attempts"] == "1"

        set_faults(simulator, [{"kind": "server_error", "provider": "alpha", "status": 503}])
        stopped = router.post("critical")
        assert stopped.status_code == 503
        assert stopped.headers["x-routeledger-attempts"] == "2"
        default = router.post("non_critical")
        assert default.status_code == 200
        assert default.json()["choices"][0]["message"]["content"] == "Try again soon."
        assert default.json()["model"] == "routeledger-default-response"
        internal = router.post("internal")
        assert internal.status_code == 503 and internal.headers["retry-after"] == "60"
        batch = router.post("batch")
        assert batch.status_code == 503 and batch.headers["retry-after"] == "900"
        batch_attempts = sim_log(simulator, request_id=batch.headers["x-routeledger-request-id"])
        assert [e["model"] for e in batch_attempts] == ["gpt-4o", "gpt-4o-mini"]
    finally:
        router.stop()


# --- API keys --------------------------------------------------------------------------------------

CANARY = "rl-canary-4f1c0ffee0ddba11"


def keyed(sim: SimulatorThread, state_path: Path, **key: Any) -> Router:
    keys = {"app": {"hash": hash_key(CANARY), "tenant": "acme", **key}}
    return guarded(sim, state_path, keys=keys, tenants={"acme": {}, "other": {}})


BYPASS: list[bytes | None] = [
    None,
    b"",
    b"Bearer",
    b"Bearer ",
    b"Bearer ' OR '1'='1",
    b'Bearer " OR ""="',
    b"Basic " + CANARY.encode(),
    b"Bearer " + CANARY.upper().encode(),
    b"Bearer " + CANARY[:-1].encode(),
    b"Bearer " + CANARY.encode() + b"x",
    b"Bearer sk-" + b"a" * 48,
    b"Bearer sk-proj-" + b"A1" * 40,
    b"Bearer " + b"x" * (1 << 20),
    b"Bearer \xff\xfe" + CANARY.encode(),
    b"Bearer " + CANARY.encode() + b"\x00",
]


def raw_post(url: str, authorization: bytes | None) -> tuple[int, bytes]:
    """A hand-written HTTP/1.1 request: clients refuse to send most of these headers."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    body = b'{"model": "support", "messages": [{"role": "user", "content": "hi"}]}'
    head = [b"POST /v1/chat/completions HTTP/1.1", b"host: x", b"content-type: application/json",
            b"content-length: %d" % len(body), b"connection: close"]  # fmt: skip
    if authorization is not None:
        head.append(b"authorization: " + authorization)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"\r\n".join(head) + b"\r\n\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def test_auth_bypass_attempts_get_401_and_reach_no_provider(simulator: SimulatorThread, state_path: Path) -> None:
    router = keyed(simulator, state_path)
    try:
        for value in BYPASS:
            status, answer = raw_post(router.url, value)
            # A header the HTTP parser itself rejects (a NUL byte) never reaches the router: 400.
            assert status == (400 if value and b"\x00" in value else 401), (value[:40] if value else value, answer)
            assert CANARY.encode() not in answer
            if status == 401:
                assert b'"code":"invalid_api_key"' in answer
                assert b"www-authenticate: bearer" in answer.lower()
        assert sim_log(simulator) == []
        assert router.post("support", {"authorization": f"Bearer {CANARY}"}).status_code == 200
        assert len(sim_log(simulator)) == 1
        assert router.status()["decisions"]["unauthorized"] == len(BYPASS) - 1
    finally:
        router.stop()


def test_a_key_is_limited_to_its_tenant_routes_classes_and_rate(simulator: SimulatorThread, state_path: Path) -> None:
    router = keyed(simulator, state_path, routes=["support", "summarize"], classes=["batch"], rpm=3)
    auth = {"authorization": f"Bearer {CANARY}"}
    try:
        assert router.post("extract", auth).status_code == 403
        assert error_code(router.post("support", {**auth, "x-routeledger-tenant": "other"})) == "tenant_mismatch"
        assert error_code(router.post("support", {**auth, "x-routeledger-traffic-class": "critical"})) == (
            "class_not_allowed"
        )
        assert router.post("summarize", {**auth, "x-routeledger-traffic-class": "batch"}).status_code == 200
        assert router.post("support", auth).status_code == 200
        assert router.post("support", auth).status_code == 200
        # Requests refused for what they asked (403) never reached the limiter; these three did.
        limited = router.post("support", auth)
        assert limited.status_code == 429
        assert error_code(limited) == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        assert limited.headers["x-should-retry"] == "true"
    finally:
        router.stop()


def test_expired_and_disabled_keys_get_401(simulator: SimulatorThread, state_path: Path) -> None:
    for key in ({"expires_at": "2020-01-01T00:00:00Z"}, {"disabled": True}):
        router = keyed(simulator, state_path, **key)
        try:
            response = router.post("support", {"authorization": f"Bearer {CANARY}"})
            assert response.status_code == 401
            assert CANARY not in response.text
        finally:
            router.stop()
    assert sim_log(simulator) == []
