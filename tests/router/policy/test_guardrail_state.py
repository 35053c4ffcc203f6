"""Guardrail state under concurrency, restarts and replicas (reliability plan D16 to D19), on the
local SQLite journal and on a real redis-server started by the test.

Money: model `pricey` costs $100 per million output tokens and nothing for input; the simulator
answers it with exactly 490 tokens, so every attempt's estimate (max_tokens=490) equals its real
cost, $0.049, and the figures below are exact.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from routeledger.config import ModelProfile, SimulatorConfig, parse_config
from routeledger.demo import Stage, _start, _stop, _wait_ready
from routeledger.guardrails import hash_key
from routeledger.router.ingress.app import create_app
from routeledger.router.policy.state.base import Reservation, Scope, StateStore, to_nanos, to_usd
from routeledger.router.policy.state.local import LocalState
from routeledger.router.policy.state.redis import RedisState
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread
from routeledger.store.service import ServiceAttemptStore
from tests.conftest import MODELS, config_data, set_faults, sim_log

KEY = "rl-test-key-0123456789abcdef"
RPM_KEY = "rl-test-rpm-0123456789abcdef"
PRICEY = {
    "provider": "alpha",
    "upstream": "gpt-pricey",
    "price": {"input_per_mtok": "0", "output_per_mtok": "100"},
    "context_window": 128000,
}
COST = Decimal("0.049")
ROUTES: dict[str, Any] = {
    "pricey": {"task": "pricey", "chain": ["pricey"], "ceilings": {"max_cost_usd": "0.05"}},
    "chat": {"task": "chat", "chain": ["alpha-mini", "beta-haiku"]},
}
PROMPT = [{"role": "user", "content": "Summarise the contract."}]


def month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


@pytest.fixture
def sim() -> Iterator[SimulatorThread]:
    config = SimulatorConfig(profiles={"alpha/gpt-pricey": ModelProfile(output_tokens=490)})
    with SimulatorThread(config) as s:
        yield s


# --- a real redis-server ---------------------------------------------------------------------------


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_redis(workdir: Path) -> RedisServer:
    import redis

    binary = shutil.which("redis-server")
    assert binary, "redis-server is not installed: `apt-get install redis-server` (.ci/run does it)"
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            assert process.poll() is None, "redis-server exited"
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.02)
    client.close()
    return RedisServer(process, port)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


# --- helpers ---------------------------------------------------------------------------------------


def state_config(tmp_path: Path, redis_url: str | None, **extra: Any) -> dict[str, Any]:
    if redis_url:
        return {"state": {"backend": "redis", "redis_url": redis_url, **extra}}
    return {"state": {"path": str(tmp_path / "state.db"), **extra}}


def document(sim: SimulatorThread, guardrails: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    keys = {
        "app": {"hash": hash_key(KEY), "tenant": "acme", "budget": {"monthly_usd": "1.00"}},
        "burst": {"hash": hash_key(RPM_KEY), "tenant": "acme", "rpm": 60},
    }
    doc = {
        "models": {**MODELS, "pricey": PRICEY},
        "routes": ROUTES,
        "tenants": {"acme": {}},
        "keys": keys,
        "guardrails": guardrails,
        "telemetry": {"enabled": False},
        **overrides,
    }
    return config_data(sim.url, **doc)


def open_store(tmp_path: Path, redis_url: str | None) -> StateStore:
    if redis_url:
        return RedisState(redis_url, 600)
    return LocalState(tmp_path / "state.db", 600)


def prespend(store: Callable[[], StateStore], scope: str, usd: Decimal) -> None:
    async def write() -> None:
        state = store()
        held = await state.reserve([Scope(scope, to_nanos(Decimal(10**6)))], 0, "prespend", 1)
        assert isinstance(held, Reservation)
        await state.settle(held, to_nanos(usd))
        await state.close()

    asyncio.run(write())


def usage(store: Callable[[], StateStore], scope: str) -> tuple[Decimal, Decimal]:
    async def read() -> tuple[int, int]:
        state = store()
        try:
            return (await state.usage([scope]))[scope]
        finally:
            await state.close()

    spent, reserved = asyncio.run(read())
    return to_usd(spent), to_usd(reserved)


async def burst(urls: list[str], n: int, key: str, route: str, **body: Any) -> list[httpx.Response]:
    """n requests at once, spread round-robin over the given routers."""
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        payload = {"model": route, "messages": PROMPT, **body}
        headers = {"authorization": f"Bearer {key}"}
        return await asyncio.gather(
            *(
                client.post(urls[i % len(urls)] + "/v1/chat/completions", json=payload, headers=headers)
                for i in range(n)
            )
        )


def check_overshoot(responses: list[httpx.Response], spent: Decimal, reserved: Decimal) -> int:
    admitted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    for response in refused:
        assert response.status_code == 429, response.text
        # No room left, or (seed 002) past 95% spent only critical traffic: both a final quota answer.
        assert response.json()["error"]["code"] in ("budget_exhausted", "budget_restricted")
        assert response.headers["x-should-retry"] == "false"
    # $0.50 left, $0.049 per request: ten fit, the eleventh is admitted at $0.49 < $0.50.
    assert len(admitted) <= 11
    assert spent == Decimal("0.50") + COST * len(admitted)
    assert spent <= Decimal("1.05")  # the budget plus one request's ceiling
    assert reserved == 0
    return len(admitted)


# --- D16: concurrency overshoot --------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["local", "redis"])
def test_200_concurrent_requests_overshoot_by_at_most_one_ceiling(
    backend: str, sim: SimulatorThread, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    redis_url = request.getfixturevalue("redis_server").url if backend == "redis" else None
    scope = f"key:app:month:{month()}"
    prespend(lambda: open_store(tmp_path, redis_url), scope, Decimal("0.50"))
    config = parse_config(document(sim, state_config(tmp_path, redis_url)), "test")
    with ServerThread(create_app(config)) as router:
        responses = asyncio.run(burst([router.url], 200, KEY, "pricey", max_tokens=490))
        spent, reserved = usage(lambda: open_store(tmp_path, redis_url), scope) if redis_url else (None, None)
        if redis_url is None:
            status = httpx.get(router.url + "/v1/routeledger/guardrails").json()
            budget = next(b for b in status["budgets"] if b["scope"] == scope)
            spent, reserved = Decimal(budget["spent_usd"]), Decimal(budget["reserved_usd"])
    assert spent is not None and reserved is not None
    admitted = check_overshoot(responses, spent, reserved)
    assert len(sim_log(sim, model="gpt-pricey")) == admitted


# --- D18: fail closed / fail open ------------------------------------------------------------------


def test_state_store_down_fails_closed_by_default_and_open_where_configured(
    sim: SimulatorThread, tmp_path: Path, redis_server: RedisServer
) -> None:
    routes = {
        "closed": {"task": "closed", "chain": ["alpha-mini"]},
        "open": {"task": "open", "chain": ["alpha-mini"], "on_state_error": "fail_open"},
    }
    doc = document(sim, state_config(tmp_path, redis_server.url), routes=routes)
    doc["tenants"] = {"acme": {"budget": {"daily_usd": "10"}}}
    with ServerThread(create_app(parse_config(doc, "test"))) as router:
        post = lambda route: httpx.post(  # noqa: E731
            router.url + "/v1/chat/completions",
            json={"model": route, "messages": PROMPT},
            headers={"authorization": f"Bearer {KEY}"},
            timeout=30,
        )
        assert post("closed").status_code == 200
        redis_server.stop()
        before = len(sim_log(sim))
        closed = [post("closed") for _ in range(5)]
        assert {r.status_code for r in closed} == {503}
        assert {r.json()["error"]["code"] for r in closed} == {"budget_unavailable"}
        assert len(sim_log(sim)) == before  # nothing reached a provider
        opened = [post("open") for _ in range(7)]
        assert {r.status_code for r in opened} == {200}
        assert len(sim_log(sim)) == before + 7
        decisions = httpx.get(router.url + "/v1/routeledger/guardrails").json()["decisions"]
        assert decisions["unverified"] == 7
        assert decisions["state_unavailable"] == 5


# --- restarts --------------------------------------------------------------------------------------


def test_spend_and_breakers_survive_a_restart(sim: SimulatorThread, tmp_path: Path) -> None:
    providers = {
        "alpha": {"kind": "openai", "base_url": f"{sim.url}/alpha/v1", "breaker": {"min_calls": 4}},
        "beta": {"kind": "anthropic", "base_url": f"{sim.url}/beta/v1"},
    }
    config = parse_config(document(sim, state_config(tmp_path, None), providers=providers), "test")
    scope = f"key:app:month:{month()}"
    headers = {"authorization": f"Bearer {KEY}"}

    def ask(url: str, route: str, **body: Any) -> httpx.Response:
        payload = {"model": route, "messages": PROMPT, **body}
        return httpx.post(url + "/v1/chat/completions", json=payload, headers=headers, timeout=30)

    with ServerThread(create_app(config)) as first:
        for _ in range(3):
            assert ask(first.url, "pricey", max_tokens=490).status_code == 200
        set_faults(sim, [{"kind": "server_error", "provider": "alpha", "model": "gpt-4o-mini", "status": 503}])
        for _ in range(2):
            ask(first.url, "chat")
        breakers = httpx.get(first.url + "/v1/routeledger/breakers").json()["breakers"]
        assert next(b for b in breakers if b["model"] == "alpha-mini")["state"] == "open"
    set_faults(sim, [])
    with ServerThread(create_app(config)) as second:
        budgets = httpx.get(second.url + "/v1/routeledger/guardrails").json()["budgets"]
        assert next(b for b in budgets if b["scope"] == scope)["spent_usd"] == str(to_usd(to_nanos(COST * 3)))
        breakers = httpx.get(second.url + "/v1/routeledger/breakers").json()["breakers"]
        assert next(b for b in breakers if b["model"] == "alpha-mini")["state"] == "open"
        # Still quarantined after the restart: the healthy-again primary is skipped, the backup answers.
        assert ask(second.url, "chat").headers["x-routeledger-model"] == "beta-haiku"


# --- processes: D17 crash with reservations open, D19 two replicas on one redis-server ---------


@dataclass
class Processes:
    workdir: Path
    config_path: Path
    stages: list[Stage]

    def start(self, name: str, command: str, env: dict[str, str] | None = None) -> Stage:
        stage = _start(name, [command], self.config_path, self.workdir, env or {})
        self.stages.append(stage)
        _wait_ready([stage])
        return stage


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, tmp_path / "routeledger.yaml", [])
    yield procs
    _stop(procs.stages)


def write_config(path: Path, doc: dict[str, Any], environ: dict[str, str] | None = None) -> None:
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    parse_config(doc, str(path), environ or {})  # the file the processes read is valid


def test_router_killed_with_50_reservations_open_reconciles_to_the_ledger(
    sim: SimulatorThread, tmp_path: Path, processes: Processes
) -> None:
    doc = document(sim, state_config(tmp_path, None, reservation_ttl_s=1.0, sweep_s=0.2))
    doc["keys"]["app"]["budget"] = {"monthly_usd": "100"}
    doc["store"] = {"path": str(tmp_path / "ledger" / "chdb")}
    doc["routes"]["pricey"]["timeouts"] = {"first_byte_s": 60, "total_s": 120}
    doc["telemetry"] = {"otlp_endpoint": "${ROUTELEDGER_OTLP_ENDPOINT}", "schedule_delay_ms": 50}
    write_config(processes.config_path, doc, {"ROUTELEDGER_OTLP_ENDPOINT": "http://127.0.0.1:9/v1/traces"})
    collector = processes.start("collector", "collector")
    env = {"ROUTELEDGER_OTLP_ENDPOINT": collector.url + "/v1/traces"}
    router = processes.start("router", "router", env)
    scope = f"key:app:month:{month()}"

    answered = asyncio.run(burst([router.url], 20, KEY, "pricey", max_tokens=490))
    assert {r.status_code for r in answered} == {200}
    # 50 requests that hang at the provider, each holding a reservation; then the router dies.
    set_faults(sim, [{"kind": "no_response", "provider": "alpha"}])
    hanging = threading.Thread(
        target=lambda: asyncio.run(_swallow(burst([router.url], 50, KEY, "pricey", max_tokens=490)))
    )
    hanging.start()
    wait_for(lambda: len(sim_log(sim, model="gpt-pricey")) == 70, "50 hanging attempts at the provider")
    assert len(LocalState(tmp_path / "state.db", 600).open) == 50
    router.process.send_signal(signal.SIGKILL)
    router.process.wait(10)
    hanging.join(30)
    set_faults(sim, [])

    restarted = processes.start("router-2", "router", env)

    def budget() -> dict[str, Any]:
        budgets = httpx.get(restarted.url + "/v1/routeledger/guardrails", timeout=5).json()["budgets"]
        found: dict[str, Any] = next(b for b in budgets if b["scope"] == scope)
        return found

    wait_for(lambda: Decimal(budget()["reserved_usd"]) == 0, "reservations released")
    ledger = ServiceAttemptStore(collector.url)
    count = "SELECT count() AS n FROM llm_attempts"
    wait_for(lambda: ledger.query(count).to_pylist() == [{"n": 70}], "the journaled attempts to be stored")
    sql = "SELECT outcome, count() AS n, sum(cost_usd) AS cost FROM llm_attempts GROUP BY outcome ORDER BY outcome"
    stored = {r["outcome"]: r for r in ledger.query(sql).to_pylist()}
    ledger.close()
    # The killed attempts never finished: the restarted router recorded them from its journal as
    # `incomplete` (cost unknown, 0), and nothing was charged to the budget for them.
    assert {k: v["n"] for k, v in stored.items()} == {"incomplete": 50, "success": 20}
    assert stored["incomplete"]["cost"] == 0
    assert Decimal(budget()["spent_usd"]) == Decimal(str(stored["success"]["cost"])) == COST * 20


async def _swallow(requests: Any) -> None:
    with contextlib.suppress(httpx.HTTPError):
        await requests


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_two_replicas_share_rate_limits_and_budgets_on_one_redis(
    sim: SimulatorThread, tmp_path: Path, redis_server: RedisServer, processes: Processes
) -> None:
    doc = document(sim, state_config(tmp_path, redis_server.url))
    write_config(processes.config_path, doc)
    replicas = [processes.start("router-a", "router").url, processes.start("router-b", "router").url]

    # D19: a 60-RPM key, 200 requests at once over both replicas: 60 admitted in all.
    limited = asyncio.run(burst(replicas, 200, RPM_KEY, "chat"))
    statuses = [r.status_code for r in limited]
    assert statuses.count(200) == 60
    assert statuses.count(429) == 140
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in limited if r.status_code == 429)
    assert {r.json()["error"]["code"] for r in limited if r.status_code == 429} == {"rate_limited"}

    # D16 across replicas: $0.50 left on the key's budget, 100 concurrent requests over both.
    scope = f"key:app:month:{month()}"
    prespend(lambda: RedisState(redis_server.url, 600), scope, Decimal("0.50"))
    responses = asyncio.run(burst(replicas, 100, KEY, "pricey", max_tokens=490))
    spent, reserved = usage(lambda: RedisState(redis_server.url, 600), scope)
    admitted = check_overshoot(responses, spent, reserved)
    assert admitted >= 10
    # Each replica took 50 of the requests and refused most of them: both enforced the one budget.
    for replica in (0, 1):
        assert sum(r.status_code == 429 for r in responses[replica::2]) >= 39
