"""docker-compose.yml holds together without Docker: pinned images, every stage with a healthcheck,
dependencies on healthy services only, durable state in named volumes, loopback-only ports, and
mounted files that exist (G39: default bind addresses are loopback)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = {"clickhouse", "simulator", "collector", "router", "dashboard"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_every_stage_is_a_service_with_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == STAGES
    for name, service in services.items():
        check = service.get("healthcheck", {})
        assert check.get("test") and check.get("interval") and check.get("retries"), name


def test_images_are_pinned_to_exact_versions(compose: dict[str, Any]) -> None:
    clickhouse = compose["services"]["clickhouse"]["image"]
    assert re.fullmatch(r"clickhouse/clickhouse-server:\d+\.\d+\.\d+\.\d+", clickhouse)
    for name, service in compose["services"].items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), name


def test_dependencies_wait_for_healthy_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {
        "collector": {"clickhouse"},
        "router": {"collector", "simulator"},
        "dashboard": {"clickhouse", "collector"},
    }
    for name, needs in expected.items():
        depends = services[name]["depends_on"]
        assert set(depends) == needs, name
        assert all(d == {"condition": "service_healthy"} for d in depends.values()), name


def test_durable_state_lives_in_named_volumes(compose: dict[str, Any]) -> None:
    services, volumes = compose["services"], set(compose["volumes"])
    mounts = {name: [v.split(":")[0] for v in s.get("volumes", [])] for name, s in services.items()}
    assert "clickhouse-data" in mounts["clickhouse"]
    assert "collector-spool" in mounts["collector"] and "router-spool" in mounts["router"]
    env = services["router"]["environment"]
    assert env["ROUTELEDGER_EXPORT_SPOOL"].startswith("/var/lib/routeledger")
    assert env["ROUTELEDGER_STORE_PATH"].startswith("/var/lib/routeledger")
    for name, sources in mounts.items():
        for source in sources:
            if source.startswith("./"):
                assert (ROOT / source).is_file(), (name, source)
            else:
                assert source in volumes, (name, source)


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_the_system_log_config_bounds_every_log_it_keeps() -> None:
    text = (ROOT / "deploy/clickhouse/config.d/system-logs.xml").read_text()
    kept = re.findall(r"<(\w+_log)>", text)
    assert {"query_log", "part_log", "metric_log", "trace_log", "text_log"} <= set(kept)
    for log in kept:
        block = text[text.index(f"<{log}>") : text.index(f"</{log}>")]
        assert re.search(r"<ttl>event_date \+ INTERVAL \d+ DAY DELETE</ttl>", block), log


def test_the_collector_and_router_default_to_loopback() -> None:
    from routeledger.config import CollectorConfig, RouterServerConfig

    assert CollectorConfig().host == RouterServerConfig().host == "127.0.0.1"
