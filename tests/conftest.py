"""Shared fixtures: real servers on 127.0.0.1 (port 0), the real chDB engine, the real OTLP exporter.

chDB allows one data directory per process, so every test gets its own database inside one
session-wide directory instead of a directory of its own.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider

from routeledger.config import RouteledgerConfig, SimulatorConfig, parse_config
from routeledger.router.telemetry.spans import build_tracer_provider
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread
from routeledger.store.embedded import ChdbAttemptStore

#: Per-config state and spool directories live under one scratch directory removed when the run ends,
#: so a test run leaves nothing behind in the system temp directory.
SCRATCH = Path(tempfile.mkdtemp(prefix="rl-tests-"))
atexit.register(shutil.rmtree, SCRATCH, ignore_errors=True)

MODELS: dict[str, Any] = {
    "alpha-mini": {
        "provider": "alpha",
        "upstream": "gpt-4o-mini",
        "price": {"genai_prices": "gpt-4o-mini", "provider": "openai"},
        "context_window": 128000,
        "capabilities": ["json_object", "json_schema", "tools", "streaming"],
    },
    "alpha-4o": {
        "provider": "alpha",
        "upstream": "gpt-4o",
        "price": {"genai_prices": "gpt-4o", "provider": "openai"},
        "context_window": 128000,
        "capabilities": ["json_object", "json_schema", "tools", "streaming"],
    },
    "beta-sonnet": {
        "provider": "beta",
        "upstream": "claude-sonnet-4-5",
        "price": {"genai_prices": "claude-sonnet-4-5", "provider": "anthropic"},
        "context_window": 200000,
        "capabilities": ["tools", "long_context", "assistant_prefill", "streaming"],
    },
    "beta-haiku": {
        "provider": "beta",
        "upstream": "claude-haiku-4-5",
        "price": {"genai_prices": "claude-haiku-4-5", "provider": "anthropic"},
        "context_window": 200000,
        "capabilities": ["tools", "long_context", "assistant_prefill", "streaming"],
    },
}

ROUTES: dict[str, Any] = {
    "support": {"task": "support_chat", "traffic_class": "critical", "chain": ["beta-sonnet", "alpha-4o"]},
    "summarize": {"task": "summarization", "chain": ["alpha-mini", "beta-haiku"]},
    "extract": {"task": "extraction", "traffic_class": "internal", "chain": ["alpha-mini", "beta-haiku"]},
}


def config_data(sim_url: str, otlp_endpoint: str = "http://127.0.0.1:9/v1/traces", **overrides: Any) -> dict[str, Any]:
    """The raw document of a valid config whose providers live on the given simulator."""
    data: dict[str, Any] = {
        "providers": {
            "alpha": {"kind": "openai", "base_url": f"{sim_url}/alpha/v1", "api_key_env": "ALPHA_KEY"},
            "beta": {"kind": "anthropic", "base_url": f"{sim_url}/beta/v1", "api_key_env": "BETA_KEY"},
        },
        "models": MODELS,
        "routes": ROUTES,
        "telemetry": {"otlp_endpoint": otlp_endpoint, "schedule_delay_ms": 50},
    }
    # Each config keeps its router state (spend, breakers) apart, as separate deployments would.
    data["guardrails"] = {"state": {"path": f"{tempfile.mkdtemp(prefix='rl-state-', dir=SCRATCH)}/state.db"}}
    data.update(overrides)
    # Each collector spools to a file of its own, as separate deployments would.
    spool = f"{tempfile.mkdtemp(prefix='rl-spool-', dir=SCRATCH)}/collector.db"
    data["collector"] = {"spool_path": spool, **data.get("collector", {})}
    # Test upstreams live on loopback (the simulator): allowed explicitly, as a real local setup must.
    data["providers"] = {
        name: {"allow_private_network": True, **provider} for name, provider in data["providers"].items()
    }
    return data


def make_config(
    sim_url: str, otlp_endpoint: str = "http://127.0.0.1:9/v1/traces", **overrides: Any
) -> RouteledgerConfig:
    """A valid config whose providers live on the given simulator."""
    return parse_config(config_data(sim_url, otlp_endpoint, **overrides), "test-config")


@pytest.fixture(scope="session")
def chdb_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chdb")


@pytest.fixture
def store(chdb_dir: Path) -> Iterator[ChdbAttemptStore]:
    s = ChdbAttemptStore(chdb_dir, f"t_{uuid.uuid4().hex[:12]}")
    s.migrate()
    yield s
    # The directory is shared by the whole session and chDB loads every database in it when a
    # connection opens: a test's database left behind makes every later test's store slower.
    with contextlib.suppress(Exception):
        s.execute(f"DROP DATABASE IF EXISTS {s.database} SYNC")
    s.close()


@pytest.fixture
def simulator() -> Iterator[SimulatorThread]:
    with SimulatorThread(SimulatorConfig()) as sim:
        yield sim


def set_faults(sim: SimulatorThread, rules: list[dict[str, Any]]) -> None:
    """Script faults through the simulator's control API (as a drill would)."""
    response = httpx.put(sim.url + "/_sim/faults", json=rules, timeout=5)
    response.raise_for_status()


def sim_log(sim: SimulatorThread, **query: str) -> list[dict[str, Any]]:
    response = httpx.get(sim.url + "/_sim/log", params=query, timeout=5)
    response.raise_for_status()
    entries: list[dict[str, Any]] = response.json()
    return entries


@dataclass
class Pipeline:
    """Simulator → router → (OTLP) → collector → chDB, each a real server on 127.0.0.1."""

    simulator: SimulatorThread
    router: ServerThread
    collector: ServerThread
    store: ChdbAttemptStore
    tracer_provider: TracerProvider
    collector_app: Any
    config: RouteledgerConfig
    router_app: Any

    def flush(self) -> None:
        """Every finished span exported and every received row written to the store."""
        assert self.tracer_provider.force_flush(30_000), "router spans were not exported"
        assert self.collector_app.state.writer.flush(30), "collector rows were not written"

    def rows(self, where: str = "1", params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        self.flush()
        sql = f"SELECT * FROM llm_attempts WHERE {where} ORDER BY request_id, attempt"  # noqa: S608 - test-owned text
        return self.store.query(sql, params).to_pylist()


def start_pipeline(simulator: SimulatorThread, store: ChdbAttemptStore, **config: Any) -> Pipeline:
    from routeledger.collector.app import create_app as collector_app
    from routeledger.router.ingress.app import create_app as router_app

    base = make_config(simulator.url, **config)
    col_app = collector_app(base, store)
    collector = ServerThread(col_app).start()
    cfg = make_config(simulator.url, otlp_endpoint=collector.url + "/v1/traces", **config)
    provider = build_tracer_provider(cfg.telemetry, OTLPSpanExporter(endpoint=cfg.telemetry.otlp_endpoint))
    app = router_app(cfg, tracer_provider=provider, strict_telemetry=True)
    router = ServerThread(app).start()
    return Pipeline(simulator, router, collector, store, provider, col_app, cfg, app)


@pytest.fixture
def pipeline(simulator: SimulatorThread, store: ChdbAttemptStore) -> Iterator[Pipeline]:
    p = start_pipeline(simulator, store)
    yield p
    p.router.stop()
    p.tracer_provider.shutdown()
    p.collector.stop()
