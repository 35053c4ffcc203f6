"""`routeledger dashboard` refuses unsafe exposure; the `dashboard:` config section is strict."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeledger.cli import app
from routeledger.config import parse_config
from routeledger.dashboards.launch import check_exposure, is_loopback, streamlit_command
from routeledger.errors import ConfigError
from tests.conftest import make_config


def config_file(tmp_path: Path, **dashboard: object) -> Path:
    config = make_config("http://127.0.0.1:9", dashboard=dashboard)
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    return path


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("10.0.0.5", False), ("x", False)],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_beyond_localhost_needs_a_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROUTELEDGER_DASHBOARD_PASSWORD", raising=False)
    result = CliRunner().invoke(app, ["dashboard", "--config", str(config_file(tmp_path)), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "without a password" in result.output and "ROUTELEDGER_DASHBOARD_PASSWORD" in result.output


def test_exposure_rules() -> None:
    config = make_config("http://127.0.0.1:9")
    check_exposure(config, "127.0.0.1", {}, allow_anonymous=False)
    check_exposure(config, "0.0.0.0", {"ROUTELEDGER_DASHBOARD_PASSWORD": "pw"}, allow_anonymous=False)
    check_exposure(config, "0.0.0.0", {}, allow_anonymous=True)


def test_streamlit_runs_headless_without_telemetry() -> None:
    argv = streamlit_command("127.0.0.1", 8765)
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("dashboards/app.py")
    options = dict(zip(argv[5::2], argv[6::2], strict=True))
    assert options["--server.port"] == "8765"
    assert options["--server.headless"] == "true"
    assert options["--browser.gatherUsageStats"] == "false"


def test_dashboard_section_defaults_and_strictness() -> None:
    base = make_config("http://127.0.0.1:9").model_dump(mode="json")
    config = parse_config(base, "x.yaml")
    assert (config.dashboard.host, config.dashboard.cache_ttl_s, config.dashboard.default_window) == (
        "127.0.0.1",
        60.0,
        "7d",
    )
    with pytest.raises(ConfigError, match=r"dashboard.passwd: unknown key"):
        parse_config({**base, "dashboard": {"passwd": "x"}}, "x.yaml")
    with pytest.raises(ConfigError, match=r"dashboard.default_window"):
        parse_config({**base, "dashboard": {"default_window": "yesterday"}}, "x.yaml")
