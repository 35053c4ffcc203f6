"""Known traffic in a real chDB store and a config pointing the dashboard at it.

The traffic is written within today (UTC), spread between midnight and now, so "today", "this
week", "this month" and the default 7-day range all hold it whatever time the tests run; a second,
older batch (40 days back) is visible only in "All time".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import streamlit as st

from routeledger.attempt import AttemptRow, rows_to_arrow
from routeledger.store.embedded import ChdbAttemptStore
from tests.conftest import make_config
from tests.routeledger.store.test_embedded import row

#: What the seeded traffic adds up to (hand-computed; the tests assert the dashboard shows these).
TOTAL_TODAY = Decimal(88 * 4 + 12 * 11 + 10 * Decimal("0.5"))  # 489.0
ANSWERED = 110
FALLBACKS = 12
OLD_SPEND = Decimal(500)  # 5 requests x $100, 40 days ago
FALLBACK_REQUEST = "s95"  # one of the 12 support requests that fell back


def ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def seed_rows(now: datetime) -> list[AttemptRow]:
    """100 support requests (acme): 88 answered by beta-sonnet at $4 in 200 ms, 12 failed there
    ($1, 200 ms) and were answered by the alpha-4o fallback ($10, 1000 ms); 10 summarize requests
    (globex, alpha-mini, $0.5 each), 3 of them after a free failed first try; and 5 old extract
    requests at $100."""
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    span = max(now - day - timedelta(seconds=1), timedelta(milliseconds=10))
    at = [ns(day + span * i / 120) for i in range(120)]
    rows: list[AttemptRow] = []
    n = 0

    def add(**values: Any) -> None:
        nonlocal n
        rows.append(row(n, **{"duration_ms": 200.0, **values}))
        n += 1

    for i in range(100):
        if i < 88:
            add(start_ns=at[i], request_id=f"s{i}", attempt=1, decision="first", cost_usd=Decimal(4))
        else:
            add(
                start_ns=at[i],
                request_id=f"s{i}",
                attempt=1,
                decision="first",
                cost_usd=Decimal(1),
                outcome="failure",
                failure_class="provider_error",
                http_status=503,
                reason="upstream 503",
            )
            add(
                start_ns=at[i] + 1000,
                request_id=f"s{i}",
                attempt=2,
                decision="fallback",
                model="alpha-4o",
                provider="alpha",
                cost_usd=Decimal(10),
                duration_ms=1000.0,
            )
    summarize = {
        "route": "summarize",
        "task": "summarization",
        "tenant": "globex",
        "feature": "digest",
        "model": "alpha-mini",
        "provider": "alpha",
    }
    for i in range(10):
        t = at[100 + i]
        if i < 3:
            failed = {"outcome": "failure", "failure_class": "rate_limited", "http_status": 429}
            add(start_ns=t, request_id=f"m{i}", attempt=1, decision="first", cost_usd=Decimal(0), **failed, **summarize)
            retry = {"attempt": 2, "decision": "retry", "cost_usd": Decimal("0.5")}
            add(start_ns=t + 1000, request_id=f"m{i}", **retry, **summarize)
        else:
            add(start_ns=t, request_id=f"m{i}", attempt=1, decision="first", cost_usd=Decimal("0.5"), **summarize)
    old = ns(now - timedelta(days=40))
    for i in range(5):
        extract = {"route": "extract", "task": "extraction", "model": "alpha-mini", "provider": "alpha"}
        add(start_ns=old + i, request_id=f"old{i}", attempt=1, decision="first", cost_usd=Decimal(100), **extract)
    return rows


@dataclass
class Dashboard:
    """A seeded (or empty) store and the config file that points the dashboard at it."""

    store: ChdbAttemptStore
    config_path: Path
    now: datetime

    def seed(self) -> None:
        self.store.insert_attempts(rows_to_arrow(seed_rows(self.now)), "dashboard-seed")


def write_config(path: Path, data_dir: Path, database: str, **overrides: Any) -> Path:
    data: dict[str, Any] = {
        "store": {"path": str(data_dir), "database": database},
        "tenants": {
            "acme": {"budget": {"daily_usd": "500", "monthly_usd": "10000"}},
            "globex": {"budget": {"monthly_usd": "10"}},
        },
        # The anomaly window holds all of today's traffic whatever the time of day; nothing before.
        "analytics": {"anomalies": {"window": "2d", "baseline_windows": 3}},
    }
    data.update(overrides)
    config = make_config("http://127.0.0.1:9", **data)
    path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    return path


@pytest.fixture
def dashboard(store: ChdbAttemptStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Dashboard]:
    path = write_config(tmp_path / "routeledger.yaml", store.path, store.database)
    monkeypatch.setenv("ROUTELEDGER_CONFIG", str(path))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    monkeypatch.delenv("ROUTELEDGER_DASHBOARD_PASSWORD", raising=False)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield Dashboard(store, path, datetime.now(UTC))
    st.cache_data.clear()
    st.cache_resource.clear()
