"""Anomaly detectors against a route with a known calm history and a known bad hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from routeledger.analytics.anomalies import detect_anomalies, find_anomalies
from routeledger.analytics.scope import Filters
from routeledger.analytics_config import AnomalyConfig
from routeledger.attempt import AttemptRow
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.traffic import ns, write
from tests.routeledger.store.test_embedded import row

NOW = datetime(2026, 11, 10, 12, tzinfo=UTC)


def hour_of_traffic(start: datetime, requests: int, fallbacks: int, tag: str) -> list[AttemptRow]:
    """`requests` support requests in the hour from `start`; the first `fallbacks` fall back."""
    rows = []
    for i in range(requests):
        at = ns(start + timedelta(seconds=i * 3600 // requests))
        rid = f"{tag}-{i}"
        if i < fallbacks:
            rows.append(
                row(
                    len(rows),
                    start_ns=at,
                    request_id=rid,
                    attempt=1,
                    decision="first",
                    outcome="failure",
                    cost_usd=Decimal(4),
                    duration_ms=100.0,
                )
            )
            rows.append(
                row(
                    len(rows),
                    start_ns=at + 1000,
                    request_id=rid,
                    attempt=2,
                    decision="fallback",
                    model="alpha-4o",
                    provider="alpha",
                    cost_usd=Decimal(10),
                    duration_ms=200.0,
                )
            )
        else:
            rows.append(
                row(
                    len(rows),
                    start_ns=at,
                    request_id=rid,
                    attempt=1,
                    decision="first",
                    cost_usd=Decimal(4),
                    duration_ms=100.0,
                )
            )
    return rows


@pytest.fixture
def history(store: ChdbAttemptStore) -> ChdbAttemptStore:
    rows: list[AttemptRow] = []
    for h in range(1, 25):  # 24 calm hours: 40 requests, 1 fallback (2.5%)
        rows += hour_of_traffic(NOW - timedelta(hours=h + 1), 40, 1, f"calm{h}")
    rows += hour_of_traffic(NOW - timedelta(hours=1), 40, 10, "bad")  # the current hour: 25%
    write(store, rows)
    return store


def test_threshold_and_spikes_carry_their_evidence(history: ChdbAttemptStore) -> None:
    found = {(a.kind, a.metric, a.scope, a.name): a for a in find_anomalies(history, now=NOW)}
    threshold = found[("threshold", "fallback_share", "route", "support")]
    assert (threshold.value, threshold.baseline, threshold.requests) == (0.25, 0.05, 40)
    assert (threshold.window_start, threshold.window_end) == (NOW - timedelta(hours=1), NOW)
    spike = found[("spike", "fallback_share", "route", "support")]
    assert (spike.value, spike.baseline, spike.mad, spike.baseline_windows) == (0.25, 0.025, 0.0, 24)
    assert spike.score == pytest.approx((0.25 - 0.025) / 0.02, abs=1e-3)
    cost = found[("spike", "cost_per_request", "route", "support")]
    # baseline (39*4 + 14)/40 = 4.25; now (30*4 + 10*14)/40 = 6.5
    assert (cost.value, cost.baseline) == (pytest.approx(6.5), pytest.approx(4.25))
    latency = found[("spike", "p95_ms", "route", "support")]
    assert (latency.value, latency.baseline) == (300.0, 100.0)
    assert ("threshold", "fallback_share", "model", "beta-sonnet") in found
    assert "25.0%" in threshold.message and "above 5%" in threshold.message


def test_calm_hours_and_thin_volume_raise_nothing(history: ChdbAttemptStore) -> None:
    assert find_anomalies(history, now=NOW - timedelta(hours=1)) == []
    assert find_anomalies(history, AnomalyConfig(min_requests=41), now=NOW) == []
    assert find_anomalies(history, filters=Filters(tenant_scope="globex"), now=NOW) == []


def test_anomaly_table_for_the_dashboard(history: ChdbAttemptStore) -> None:
    table = detect_anomalies(history, now=NOW)
    assert table.num_rows == len(find_anomalies(history, now=NOW)) > 0
    assert {"window_start", "value", "baseline", "requests", "message"} <= set(table.column_names)
