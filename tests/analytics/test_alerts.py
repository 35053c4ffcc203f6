"""Alert lifecycle (fire, dedupe, cooldown, resolve) against a real HTTP receiver on 127.0.0.1.

The clock is injected and the retry backoff sleeps are recorded, not slept; delivery is synchronous
inside `check()`, so when it returns the receiver has everything it will get.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from routeledger.analytics.alerts import AlertManager, alert_history, run_alert_loop
from routeledger.analytics.webhooks import deliver
from routeledger.analytics_config import AnalyticsConfig, WebhookConfig, WebhookFormat
from routeledger.cli import app
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.traffic import T0, seed_traffic
from tests.conftest import make_config


class Receiver:
    """Records every POST; answers each path with its queued statuses, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.statuses: dict[str, list[int]] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                receiver.received.append((self.path, body))
                queued = receiver.statuses.get(self.path) or [200]
                status = queued.pop(0) if receiver.statuses.get(self.path) else 200
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def posts(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in self.received if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def analytics_config(url: str) -> AnalyticsConfig:
    return AnalyticsConfig.model_validate(
        {
            "alerts": {
                "rules": {
                    "support_fallbacks": {
                        "metric": "fallback_share",
                        "scope": "route",
                        "threshold": 0.05,
                        "window": "1h",
                        "min_requests": 5,
                        "cooldown": "20m",
                    }
                },
                "webhooks": {
                    "slack": {"url": f"{url}/slack", "format": "slack", "attempts": 3, "backoff_s": 0.5},
                    "ops": {"url": f"{url}/ops", "format": "json"},
                },
            }
        }
    )


def test_fire_dedupe_cooldown_renotify_resolve(store: ChdbAttemptStore, receiver: Receiver) -> None:
    seed_traffic(store)  # support: 12 of the 40 requests in T0+1h..T0+2h fell back (30%)
    clock = Clock(T0 + timedelta(hours=2))
    slept: list[float] = []
    receiver.statuses["/slack"] = [500, 503]  # Slack fails twice, then takes it
    manager = AlertManager(store, analytics_config(receiver.url), clock=clock, sleep=slept.append)

    def check() -> list[tuple[str, str]]:
        return [(e.status, e.alert_key) for e in manager.check() if e.alert_key.endswith(":support")]

    key = "fallback_share:route:support"
    assert check() == [("firing", key)]
    assert slept == [0.5, 1.0]  # doubling backoff between the three tries
    [fired] = receiver.posts("/ops")
    assert fired["status"] == "firing" and fired["value"] == 0.3 and fired["requests"] == 40
    assert fired["window_start"] == (T0 + timedelta(hours=1)).isoformat()
    assert [b["text"] for b in receiver.posts("/slack")][-1].startswith(":rotating_light: [FIRING] support_fallbacks")

    assert check() == [("deduplicated", key)]  # same state, same minute: nothing sent
    clock.now += timedelta(minutes=10)  # still 12 of 30 falling back, inside the 20 min cooldown
    assert check() == [("deduplicated", key)]
    assert len(receiver.posts("/ops")) == 1

    clock.now += timedelta(minutes=10)  # cooldown over, still firing
    assert check() == [("renotified", key)]
    assert receiver.posts("/slack")[-1]["text"].startswith(":rotating_light: [STILL FIRING]")

    clock.now = T0 + timedelta(hours=3, minutes=30)  # no support traffic in the window any more
    assert check() == [("resolved", key)]
    recovery = receiver.posts("/ops")[-1]
    assert recovery["status"] == "resolved" and recovery["message"].startswith("recovered:")
    assert receiver.posts("/slack")[-1]["text"].startswith(":white_check_mark: [RESOLVED]")
    assert check() == []  # resolved stays resolved

    assert [p["status"] for p in receiver.posts("/ops")] == ["firing", "renotified", "resolved"]
    history = alert_history(store).to_pylist()
    assert [(r["status"], r["alert_key"]) for r in reversed(history) if r["alert_key"] == key] == [
        ("firing", key),
        ("renotified", key),
        ("resolved", key),
    ]
    first = next(r for r in reversed(history) if r["alert_key"] == key)
    assert json.loads(first["delivery"]) == [
        {"webhook": "slack", "ok": True, "tries": 3, "detail": "200"},
        {"webhook": "ops", "ok": True, "tries": 1, "detail": "200"},
    ]


def test_the_state_survives_a_new_manager(store: ChdbAttemptStore, receiver: Receiver) -> None:
    seed_traffic(store)
    clock = Clock(T0 + timedelta(hours=2))
    config = analytics_config(receiver.url)
    AlertManager(store, config, clock=clock, sleep=lambda _: None).check()
    restarted = AlertManager(store, config, clock=clock, sleep=lambda _: None)
    assert {e.status for e in restarted.check()} == {"deduplicated"}


def test_delivery_gives_up_on_4xx_at_once_and_on_errors_after_its_tries(receiver: Receiver) -> None:
    receiver.statuses["/gone"] = [404]
    alert = {"status": "firing", "rule": "r", "message": "m"}
    with httpx.Client() as client:
        gone = deliver("g", WebhookConfig(url=f"{receiver.url}/gone"), alert, client, lambda _: None)
        assert (gone.ok, gone.tries, gone.detail) == (False, 1, "404")
        closed = WebhookConfig(url="http://127.0.0.1:9/hook", attempts=2, format=WebhookFormat.SLACK)
        down = deliver("d", closed, alert, client, lambda _: None)
        assert (down.ok, down.tries) == (False, 2) and "ConnectError" in down.detail


def test_scheduler_loop_checks_until_stopped(store: ChdbAttemptStore, receiver: Receiver) -> None:
    seed_traffic(store)
    stop = threading.Event()
    checks: list[datetime] = []

    def clock() -> datetime:
        checks.append(T0)
        if len(checks) >= 2:
            stop.set()  # the second check is the last
        return T0 + timedelta(hours=2)

    manager = AlertManager(store, analytics_config(receiver.url), clock=clock, sleep=lambda _: None)
    run_alert_loop(manager, stop, interval_s=0.001)
    assert len(checks) == 2 and len(receiver.posts("/ops")) == 1


def test_unknown_webhook_in_a_rule_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="unknown webhook 'pager'"):
        AnalyticsConfig.model_validate({"alerts": {"rules": {"r": {"metric": "spend_usd", "webhooks": ["pager"]}}}})
    with pytest.raises(ValueError, match="extra"):
        AnalyticsConfig.model_validate({"alerts": {"rules": {"r": {"metric": "spend_usd", "treshold": 1}}}})


def test_cli_alerts_check_and_history(
    store: ChdbAttemptStore, chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, receiver: Receiver
) -> None:
    seed_traffic(store)
    config = make_config(
        "http://127.0.0.1:9",
        store={"path": str(chdb_dir), "database": store.database},
        analytics={
            "alerts": {
                "rules": {"spend": {"metric": "spend_usd", "scope": "overall", "threshold": 0, "window": "52w"}},
                "webhooks": {"ops": {"url": f"{receiver.url}/ops"}},
            }
        },
    )
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["alerts", "check", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.output)
    assert (event["status"], event["alert_key"], event["value"]) == ("firing", "spend_usd:overall:", 525.0)
    assert receiver.posts("/ops")[0]["status"] == "firing"
    history = runner.invoke(app, ["alerts", "history", "--window", "all", "--json", "--config", str(path)])
    assert history.exit_code == 0 and json.loads(history.output)[0]["status"] == "firing"


def test_anomaly_rules_fire_with_evidence_and_resolve_when_quiet(store: ChdbAttemptStore, receiver: Receiver) -> None:
    seed_traffic(store)  # support's second hour: 12 of 40 fell back, above the 5% line
    config = AnalyticsConfig.model_validate(
        {
            "anomalies": {"min_requests": 20},
            "alerts": {
                "rules": {"anomalies": {"metric": "anomaly", "scope": "route", "cooldown": "1h"}},
                "webhooks": {"ops": {"url": f"{receiver.url}/ops"}},
            },
        }
    )
    clock = Clock(T0 + timedelta(hours=2))
    manager = AlertManager(store, config, clock=clock, sleep=lambda _: None)
    assert [(e.status, e.alert_key) for e in manager.check()] == [("firing", "threshold:fallback_share:route:support")]
    fired = receiver.posts("/ops")[0]
    assert (fired["value"], fired["threshold"], fired["requests"]) == (0.3, 0.05, 40)
    clock.now = T0 + timedelta(hours=6)  # nothing in the window any more
    [resolved] = manager.check()
    assert (resolved.status, resolved.alert_key) == ("resolved", "threshold:fallback_share:route:support")
    assert receiver.posts("/ops")[-1]["message"].startswith("recovered: threshold:fallback_share back to normal")
