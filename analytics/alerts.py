"""Alert rules from `analytics.alerts` in the config: evaluate, deduplicate, notify, remember.

One check evaluates every rule over its window ending now, per entity of its scope (route, model,
provider, tenant, or overall). For each alert key (rule, metric, scope, name):

    not firing + breach        → `firing`: stored and notified
    firing + breach, in cooldown   → deduplicated: nothing stored, nothing sent
    firing + breach, cooldown over → `renotified`: stored and notified again ("still firing")
    firing + no breach         → `resolved`: stored, and a recovery notice sent

The state is the latest row per key in the `alerts` table (migration 0010), so it survives restarts
and the CLI and the service's scheduler share it. Time comes from an injected clock and backoff
sleeps from an injected sleep: tests drive the whole lifecycle without waiting.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import orjson
import pyarrow as pa

from routeledger.analytics.anomalies import find_anomalies
from routeledger.analytics.jobs import cost, cost_per_answer, fallback_share, latency
from routeledger.analytics.scope import Filters, Window, load_sql, parse_duration
from routeledger.analytics.webhooks import Delivery, deliver
from routeledger.analytics_config import AlertMetric, AlertRuleConfig, AlertScope, AnalyticsConfig
from routeledger.errors import RouteledgerError, StoreError
from routeledger.store import AttemptStore

log = logging.getLogger("routeledger.alerts")

Clock = Callable[[], datetime]


class WritableStore(AttemptStore, Protocol):
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Observation:
    """One entity's value of a rule's metric in the window, and whether it breaches."""

    rule: str
    metric: str
    scope: str
    name: str
    value: float
    threshold: float
    requests: int
    window_start: datetime
    window_end: datetime
    breached: bool
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.metric}:{self.scope}:{self.name}"


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """What a check did for one alert key: firing, renotified, resolved or deduplicated."""

    status: str
    rule: str
    alert_key: str
    observation: Observation
    deliveries: tuple[Delivery, ...] = ()

    def document(self, at: datetime) -> dict[str, Any]:
        """The alert as the generic JSON webhook receives it."""
        o = self.observation
        return {
            "status": self.status,
            "rule": self.rule,
            "alert_key": self.alert_key,
            "metric": o.metric,
            "scope": o.scope,
            "name": o.name,
            "value": o.value,
            "threshold": o.threshold,
            "requests": o.requests,
            "window_start": o.window_start.isoformat(),
            "window_end": o.window_end.isoformat(),
            "message": self.message,
            "evidence": o.evidence,
            "ts": at.isoformat(),
        }

    @property
    def message(self) -> str:
        if self.status == "resolved":
            return f"recovered: {self.observation.message}"
        return self.observation.message


def _dims(scope: AlertScope) -> tuple[str, ...]:
    return () if scope is AlertScope.OVERALL else (scope.value,)


def observe(
    store: AttemptStore,
    rule_name: str,
    rule: AlertRuleConfig,
    analytics: AnalyticsConfig,
    now: datetime,
    filters: Filters | None = None,
) -> list[Observation]:
    """The rule's metric for every entity with traffic in its window ending `now`."""
    window = Window(now - parse_duration(rule.window), now)
    metric, scope = rule.metric, rule.scope
    found: list[Observation] = []

    def add(name: str, value: float, requests: int, what: str, **evidence: Any) -> None:
        breached = value > rule.threshold and requests >= rule.min_requests
        label = "overall" if scope is AlertScope.OVERALL else f"{scope.value} {name}"
        message = f"{what} {value:.4g} for {label} vs threshold {rule.threshold:.4g} ({requests} requests)"
        found.append(
            Observation(
                rule_name,
                metric.value,
                scope.value,
                name,
                value,
                rule.threshold,
                requests,
                window.since,
                window.until,
                breached,
                message,
                {"window": rule.window, **evidence},
            )
        )

    if metric in (AlertMetric.FALLBACK_SHARE, AlertMetric.RETRY_SHARE):
        column = "fallback_share" if metric is AlertMetric.FALLBACK_SHARE else "retry_share"
        for row in fallback_share(store, scope.value, window, filters).to_pylist():
            add(row["name"], float(row[column]), int(row["requests"]), column.replace("_", " "))
    elif metric is AlertMetric.COST_PER_REQUEST:
        for row in cost_per_answer(store, _dims(scope), window, filters).to_pylist():
            add(row.get(scope.value, ""), float(row["cost_per_request_usd"]), int(row["requests"]), "cost/request $")
    elif metric is AlertMetric.P95_LATENCY_MS:
        for row in latency(store, _dims(scope), window, filters).to_pylist():
            add(row.get(scope.value, ""), float(row["p95_ms"]), int(row["attempts"]), "p95 latency ms")
    elif metric is AlertMetric.SPEND_USD:
        for row in cost(store, _dims(scope), window, filters).to_pylist():
            add(row.get(scope.value, ""), float(row["cost_usd"]), int(row["requests"]), "spend $")
    else:
        scopes = (scope.value,) if scope in (AlertScope.ROUTE, AlertScope.MODEL) else ("route", "model")
        for a in find_anomalies(store, analytics.anomalies, filters, now, scopes):
            found.append(
                Observation(
                    rule_name,
                    f"{a.kind}:{a.metric}",
                    a.scope,
                    a.name,
                    a.value,
                    a.baseline if a.baseline is not None else 0.0,
                    a.requests,
                    a.window_start,
                    a.window_end,
                    True,
                    a.message,
                    {"baseline": a.baseline, "mad": a.mad, "score": a.score, "baseline_windows": a.baseline_windows},
                )
            )
    return found


class AlertManager:
    """Evaluates the configured rules against the store and drives each alert's lifecycle."""

    def __init__(
        self,
        store: WritableStore,
        config: AnalyticsConfig,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        client: httpx.Client | None = None,
        filters: Filters | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sleep = sleep
        self.client = client or httpx.Client(follow_redirects=False)
        self.filters = filters

    def close(self) -> None:
        self.client.close()

    def state(self) -> dict[tuple[str, str], dict[str, Any]]:
        rules = list(self.config.alerts.rules)
        table = self.store.query(load_sql("alert_state"), {"rules": rules})
        return {(r["rule"], r["alert_key"]): r for r in table.to_pylist()}

    def check(self) -> list[AlertEvent]:
        now = self.clock()
        state = self.state()
        events: list[AlertEvent] = []
        for rule_name, rule in self.config.alerts.rules.items():
            cooldown = parse_duration(rule.cooldown)
            observations = {o.key: o for o in observe(self.store, rule_name, rule, self.config, now, self.filters)}
            for key, obs in observations.items():
                if not obs.breached:
                    continue
                current = state.get((rule_name, key))
                if current is None or current["status"] == "resolved":
                    events.append(self._emit("firing", rule, obs, now))
                elif now - current["last_notified"] >= cooldown:
                    events.append(self._emit("renotified", rule, obs, now))
                else:
                    events.append(AlertEvent("deduplicated", rule_name, key, obs))
            for (state_rule, key), current in state.items():
                if state_rule != rule_name or current["status"] == "resolved":
                    continue
                seen = observations.get(key)
                if seen is not None and seen.breached:
                    continue
                quiet = seen or self._quiet(rule_name, rule, key, current, now)
                events.append(self._emit("resolved", rule, quiet, now))
        return events

    @staticmethod
    def _quiet(rule_name: str, rule: AlertRuleConfig, key: str, current: dict[str, Any], now: datetime) -> Observation:
        """A firing alert whose entity no longer breaches because it has no traffic (or anomaly) now."""
        since = now - parse_duration(rule.window)
        label = f"{current['scope']} {current['name']}".strip()
        message = f"{current['metric']} back to normal for {label}"
        metric, scope, name = current["metric"], current["scope"], current["name"]
        return Observation(rule_name, metric, scope, name, 0.0, rule.threshold, 0, since, now, False, message)

    def _emit(self, status: str, rule: AlertRuleConfig, obs: Observation, now: datetime) -> AlertEvent:
        event = AlertEvent(status, obs.rule, obs.key, obs)
        document = event.document(now)
        hooks = rule.webhooks or list(self.config.alerts.webhooks)
        deliveries = tuple(
            deliver(name, self.config.alerts.webhooks[name], document, self.client, self.sleep) for name in hooks
        )
        params = {
            "ts": now,
            "rule": obs.rule,
            "alert_key": obs.key,
            "status": status,
            "metric": obs.metric,
            "scope": obs.scope,
            "name": obs.name,
            "value": obs.value,
            "threshold": obs.threshold,
            "requests": obs.requests,
            "window_start": obs.window_start,
            "window_end": obs.window_end,
            "message": event.message,
            "evidence": orjson.dumps(obs.evidence, default=str).decode(),
            "notified": True,
            "delivery": orjson.dumps([asdict(d) for d in deliveries]).decode(),
        }
        try:
            self.store.execute(load_sql("alert_insert"), params)
        except Exception as exc:
            raise StoreError(f"could not record alert {obs.key}: {exc}") from exc
        return AlertEvent(status, obs.rule, obs.key, obs, deliveries)


def events_table(events: list[AlertEvent]) -> pa.Table:
    rows = [
        {
            "status": e.status,
            "rule": e.rule,
            "alert_key": e.alert_key,
            "value": e.observation.value,
            "threshold": e.observation.threshold,
            "requests": e.observation.requests,
            "delivered": ", ".join(f"{d.webhook}:{'ok' if d.ok else d.detail}" for d in e.deliveries),
            "message": e.message,
        }
        for e in events
    ]
    schema = pa.schema(
        [
            ("status", pa.string()),
            ("rule", pa.string()),
            ("alert_key", pa.string()),
            ("value", pa.float64()),
            ("threshold", pa.float64()),
            ("requests", pa.int64()),
            ("delivered", pa.string()),
            ("message", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def alert_history(store: AttemptStore, window: Window | None = None, limit: int = 200) -> pa.Table:
    """Stored alert events, newest first."""
    params = (window or Window.all_time()).params()
    params["limit"] = limit
    return store.query(load_sql("alert_history"), params)


def run_alert_loop(manager: AlertManager, stop: threading.Event, interval_s: float | None = None) -> None:
    """The service's scheduler: check every `interval_s` until `stop` is set; errors are logged."""
    interval = interval_s or manager.config.alerts.interval_s
    while not stop.is_set():
        try:
            for event in manager.check():
                if event.status != "deduplicated":
                    log.info("alert %s %s: %s", event.status, event.alert_key, event.message)
        except RouteledgerError as exc:
            log.warning("alert check failed: %s", exc)
        stop.wait(interval)


def start_alert_scheduler(store: WritableStore, config: AnalyticsConfig) -> tuple[threading.Thread, threading.Event]:
    """Run `run_alert_loop` in a daemon thread (for the collector service); set the event to stop."""
    stop = threading.Event()
    manager = AlertManager(store, config)
    thread = threading.Thread(target=run_alert_loop, args=(manager, stop), name="routeledger-alerts", daemon=True)
    thread.start()
    return thread, stop
