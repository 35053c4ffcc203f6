"""The collector service evaluates the alert rules itself: a real `routeledger collector` process,
spans from a real router, a webhook receiver on 127.0.0.1. The primary of route `summarize` is down,
every request falls back, and the service's scheduler posts the alert without anyone running
`alerts check`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from routeledger.config import parse_config
from routeledger.demo import Stage, _start, _stop, _wait_ready
from routeledger.router.ingress.app import create_app
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread
from tests.analytics.test_alerts import Receiver
from tests.conftest import config_data, set_faults


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_the_collector_service_fires_alerts_on_its_own(
    simulator: SimulatorThread, receiver: Receiver, tmp_path: Path
) -> None:
    analytics = {
        "alerts": {
            "interval_s": 0.2,
            "webhooks": {"ops": {"url": receiver.url + "/hook", "backoff_s": 0}},
            "rules": {
                "fallbacks": {
                    "metric": "fallback_share",
                    "threshold": 0.05,
                    "min_requests": 5,
                    "webhooks": ["ops"],
                }
            },
        }
    }
    doc = config_data(simulator.url, analytics=analytics, store={"path": str(tmp_path / "ledger" / "data")})
    # A 5xx falls over at once here (by default it is retried once on the same model).
    doc["routes"] = {
        **doc["routes"],
        "summarize": {**doc["routes"]["summarize"], "policy": {"steps": {"provider_error": "fallback"}}},
    }
    config_path = tmp_path / "routeledger.yaml"
    config_path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    stages: list[Stage] = []
    try:
        collector = _start("collector", ["collector"], config_path, tmp_path, {})
        stages.append(collector)
        _wait_ready([collector])
        config = parse_config({**doc, "telemetry": {"otlp_endpoint": collector.url + "/v1/traces"}}, "test")
        set_faults(simulator, [{"kind": "server_error", "provider": "alpha", "status": 503}])
        with ServerThread(create_app(config)) as router:
            for _ in range(8):
                response = httpx.post(
                    router.url + "/v1/chat/completions",
                    json={"model": "summarize", "messages": [{"role": "user", "content": "Summarise this."}]},
                    timeout=30,
                )
                assert response.headers["x-routeledger-model"] == "beta-haiku"
        deadline = time.monotonic() + 30
        while not receiver.posts("/hook"):
            assert time.monotonic() < deadline, "the service never posted the alert"
            assert collector.process.poll() is None, "the collector exited"
            time.sleep(0.05)
        alert = receiver.posts("/hook")[0]
        assert "summarize" in str(alert) and "fallback" in str(alert).lower()
    finally:
        _stop(stages)
