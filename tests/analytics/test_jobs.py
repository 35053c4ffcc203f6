"""Analytics jobs against hand-computed answers on known synthetic traffic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeledger.analytics.jobs import AnalyticsInputError, Filters, Window, cost, fallbacks
from routeledger.attempt import rows_to_arrow
from routeledger.cli import app
from routeledger.store.embedded import ChdbAttemptStore
from tests.conftest import make_config
from tests.routeledger.store.test_embedded import row

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def ns(t: datetime) -> int:
    return int(t.timestamp() * 1e9)


def seed(store: ChdbAttemptStore) -> None:
    """100 support requests: 88 answered by the primary at $4, 12 fell back ($1 failed + $10 backup),
    plus 10 summarize requests on another tenant, 3 of them retried."""
    rows = []
    n = 0
    for i in range(100):
        at = ns(T0 + timedelta(minutes=i))
        if i < 88:
            rows.append(row(n, start_ns=at, request_id=f"s{i}", attempt=1, cost_usd=Decimal(4), decision="first"))
            n += 1
        else:
            rows.append(
                row(
                    n,
                    start_ns=at,
                    request_id=f"s{i}",
                    attempt=1,
                    cost_usd=Decimal(1),
                    outcome="failure",
                    failure_class="provider_error",
                )
            )
            rows.append(
                row(
                    n + 1,
                    start_ns=at + 1,
                    request_id=f"s{i}",
                    attempt=2,
                    decision="fallback",
                    model="alpha-4o",
                    provider="alpha",
                    cost_usd=Decimal(10),
                )
            )
            n += 2
    for i in range(10):
        at = ns(T0 + timedelta(hours=3, minutes=i))
        common = {
            "route": "summarize",
            "task": "summarization",
            "tenant": "globex",
            "feature": "digest",
            "model": "alpha-mini",
            "provider": "alpha",
        }
        if i < 3:
            rows.append(
                row(n, start_ns=at, request_id=f"m{i}", attempt=1, cost_usd=Decimal(0), outcome="failure", **common)
            )
            rows.append(
                row(
                    n + 1,
                    start_ns=at + 1,
                    request_id=f"m{i}",
                    attempt=2,
                    decision="retry",
                    cost_usd=Decimal("0.5"),
                    **common,
                )
            )
            n += 2
        else:
            rows.append(
                row(n, start_ns=at, request_id=f"m{i}", attempt=1, decision="first", cost_usd=Decimal("0.5"), **common)
            )
            n += 1
    store.insert_attempts(rows_to_arrow(rows), "seed")


def test_cost_by_route_matches_the_seed_worked_example(store: ChdbAttemptStore) -> None:
    seed(store)
    by_route = {r["route"]: r for r in cost(store, ["route"]).to_pylist()}
    support = by_route["support"]
    # Seed 001: 88 of 100 at 4 and 12 at 14 (1 failed + 10 backup + ... here 11) → mean per request.
    assert support["requests"] == 100 and support["attempts"] == 112 and support["answers"] == 100
    assert support["cost_usd"] == Decimal(88 * 4 + 12 * 11)
    assert support["failed_cost_usd"] == Decimal(12)
    assert support["cost_usd"] / support["requests"] == Decimal("4.84")
    assert set(cost(store, ["route"]).column_names) == {
        "route",
        "requests",
        "attempts",
        "answers",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "failed_cost_usd",
    }


def test_cost_by_several_dimensions_and_filters(store: ChdbAttemptStore) -> None:
    seed(store)
    rows = cost(store, ["tenant", "model"]).to_pylist()
    assert {(r["tenant"], r["model"]): r["cost_usd"] for r in rows} == {
        ("acme", "beta-sonnet"): Decimal(88 * 4 + 12),
        ("acme", "alpha-4o"): Decimal(120),
        ("globex", "alpha-mini"): Decimal("5.0"),
    }
    only = cost(store, ["route"], filters=Filters(tenants=("globex",))).to_pylist()
    assert [(r["route"], r["requests"]) for r in only] == [("summarize", 10)]
    window = Window(T0 + timedelta(hours=3), T0 + timedelta(hours=4))
    assert [r["route"] for r in cost(store, ["route"], window).to_pylist()] == ["summarize"]


def test_fallback_and_retry_shares_with_flags(store: ChdbAttemptStore) -> None:
    seed(store)
    table = {(r["scope"], r["name"]): r for r in fallbacks(store, min_requests=5).to_pylist()}
    overall = table[("overall", "")]
    assert (overall["requests"], overall["fallbacks"], overall["retries"]) == (110, 12, 3)
    assert overall["fallback_share"] == pytest.approx(12 / 110, abs=1e-6)
    assert overall["flagged"] is True
    assert table[("route", "support")]["fallback_share"] == pytest.approx(0.12)
    assert table[("route", "summarize")]["retry_share"] == pytest.approx(0.3)
    assert table[("route", "summarize")]["flagged"] is False
    assert table[("model", "beta-sonnet")]["fallbacks"] == 12
    assert fallbacks(store, threshold=0.2).to_pylist()[0]["flagged"] is False
    assert fallbacks(store, min_requests=1000).to_pylist()[0]["flagged"] is False


@pytest.mark.parametrize("dims", [["routes"], ["route; DROP TABLE llm_attempts"], [], ["cost_usd"]])
def test_unknown_dimensions_are_refused(store: ChdbAttemptStore, dims: list[str]) -> None:
    with pytest.raises(AnalyticsInputError):
        cost(store, dims)


@pytest.mark.parametrize("spec", ["yesterday", "0d", "-5h", "5 years", ""])
def test_bad_windows_are_refused(spec: str) -> None:
    with pytest.raises(AnalyticsInputError, match="window"):
        Window.last(spec)


@pytest.mark.parametrize("value", ["' OR '1'='1", "acme') OR (1=1", "x\\' --", "SETTINGS readonly=0", "acme\x00"])
def test_hostile_filter_values_are_just_values(store: ChdbAttemptStore, value: str) -> None:
    seed(store)
    assert cost(store, ["route"], filters=Filters(tenants=(value,))).num_rows == 0
    assert cost(store, ["route"], filters=Filters(tenants=("acme", value))).num_rows == 1


def test_cli_prints_json_and_exits_2_on_bad_input(
    store: ChdbAttemptStore, chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(store)
    config = make_config("http://127.0.0.1:9", store={"path": str(chdb_dir), "database": store.database})
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()
    result = runner.invoke(app, ["analytics", "cost", "--by", "route,tenant", "--json", "--config", str(path)])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert {(r["route"], r["tenant"]) for r in records} == {("support", "acme"), ("summarize", "globex")}
    assert sum(Decimal(r["cost_usd"]) for r in records) == Decimal(88 * 4 + 12 * 11 + 5)
    bad = runner.invoke(app, ["analytics", "cost", "--by", "colour", "--config", str(path)])
    assert bad.exit_code == 2
    assert "unknown dimension 'colour'" in bad.output
    table = runner.invoke(app, ["analytics", "fallbacks", "--config", str(path)])
    assert table.exit_code == 0 and "FLAG" in table.output
