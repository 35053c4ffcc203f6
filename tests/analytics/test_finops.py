"""Every job against answers computed by hand from `traffic.py` (seed 001's worked example inside)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeledger.analytics import jobs
from routeledger.analytics.scope import AnalyticsInputError, Filters, Window
from routeledger.attempt import rows_to_arrow
from routeledger.cli import app
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.traffic import T0, seed_traffic
from tests.conftest import make_config
from tests.routeledger.store.test_embedded import row

NOW = T0 + timedelta(hours=4)


@pytest.fixture
def ledger(store: ChdbAttemptStore) -> ChdbAttemptStore:
    seed_traffic(store)
    return store


def by_key(rows: list[dict[str, object]], key: str) -> dict[object, dict[str, object]]:
    return {r[key]: r for r in rows}


def test_seed_001_worked_example_cost_per_request_is_5_2(ledger: ChdbAttemptStore) -> None:
    rows = by_key(jobs.cost_per_answer(ledger, "route").to_pylist(), "route")
    assert rows["support"] == {
        "route": "support",
        "requests": 100,
        "answers": 100,
        "attempts": 112,
        "cost_usd": Decimal(88 * 4 + 12 * 14),
        "chain_overhead_usd": Decimal(120),
        "cost_per_request_usd": Decimal("5.2"),
        "cost_per_answer_usd": Decimal("5.2"),
        "first_attempt_cost_usd": Decimal(4),
    }
    assert rows["summarize"]["cost_per_answer_usd"] == Decimal("0.5")


def test_expected_cost_formula_matches_the_observed_mean(ledger: ChdbAttemptStore) -> None:
    window = Window(T0, NOW)
    rows = by_key(jobs.expected_cost(ledger, "route", window, weeks=2, now=NOW).to_pylist(), "route")
    # E = C1 + Pfb*C2 + Prt*Crt = 4 + 0.12 * 10 + 0 = 5.2
    assert rows["support"] == {
        "route": "support",
        "basis_requests": 100,
        "c1_usd": Decimal(4),
        "p_fallback": Decimal("0.12"),
        "c2_usd": Decimal(10),
        "p_retry": Decimal(0),
        "crt_usd": Decimal(0),
        "expected_usd": Decimal("5.2"),
        "observed_requests": 100,
        "observed_usd": Decimal("5.2"),
    }
    # 0.35 + 0 + 0.3 * 0.5 = 0.5 (the 3 rate-limited first attempts were free)
    summarize = rows["summarize"]
    assert (summarize["c1_usd"], summarize["p_retry"], summarize["crt_usd"]) == (
        Decimal("0.35"),
        Decimal("0.3"),
        Decimal("0.5"),
    )
    assert summarize["expected_usd"] == summarize["observed_usd"] == Decimal("0.5")


def test_expected_cost_takes_probabilities_from_the_basis_weeks_only(ledger: ChdbAttemptStore) -> None:
    # Observe only the last hour of support (no requests), basis = everything before.
    later = Window(NOW + timedelta(days=1), NOW + timedelta(days=2))
    rows = by_key(jobs.expected_cost(ledger, "route", later, weeks=1, now=later.until).to_pylist(), "route")
    assert rows["support"]["expected_usd"] == Decimal("5.2")
    assert rows["support"]["observed_requests"] == 0 and rows["support"]["observed_usd"] is None


def test_cost_by_tenant_and_failed_cost(ledger: ChdbAttemptStore) -> None:
    rows = by_key(jobs.cost(ledger, ["tenant"]).to_pylist(), "tenant")
    assert rows["acme"]["cost_usd"] == Decimal(520) and rows["acme"]["failed_cost_usd"] == Decimal(48)
    assert rows["globex"]["cost_usd"] == Decimal(5) and rows["globex"]["failed_cost_usd"] == Decimal(0)


def test_spend_over_time_per_hour(ledger: ChdbAttemptStore) -> None:
    rows = jobs.spend_over_time(ledger, "hour").to_pylist()
    assert [(r["bucket"], r["requests"], r["cost_usd"]) for r in rows] == [
        (T0, 60, Decimal(240)),
        (T0 + timedelta(hours=1), 40, Decimal(28 * 4 + 12 * 14)),
        (T0 + timedelta(hours=3), 10, Decimal(5)),
    ]
    split = jobs.spend_over_time(ledger, "day", "route").to_pylist()
    assert {(r["route"], r["cost_usd"]) for r in split} == {("support", Decimal(520)), ("summarize", Decimal(5))}


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("overall", {"": (110, 12, 3)}),
        ("route", {"support": (100, 12, 0), "summarize": (10, 0, 3)}),
        ("task", {"support_chat": (100, 12, 0), "summarization": (10, 0, 3)}),
        ("model", {"beta-sonnet": (100, 12, 0), "alpha-mini": (10, 0, 3)}),
        ("provider", {"beta": (100, 12, 0), "alpha": (10, 0, 3)}),
        ("hour", {"00": (60, 0, 0), "01": (40, 12, 0), "03": (10, 0, 3)}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_fallback_and_retry_share_by_key(
    ledger: ChdbAttemptStore, key: str, expected: dict[str, tuple[int, int, int]]
) -> None:
    rows = jobs.fallback_share(ledger, key, min_requests=5).to_pylist()
    assert {r["name"]: (r["requests"], r["fallbacks"], r["retries"]) for r in rows} == expected
    for r in rows:
        assert r["fallback_share"] == pytest.approx(r["fallbacks"] / r["requests"])
        assert r["flagged"] == (r["fallbacks"] / r["requests"] > 0.05)


def test_a_model_filter_keeps_the_fallbacks_its_failures_caused(ledger: ChdbAttemptStore) -> None:
    rows = jobs.fallback_share(ledger, "overall", filters=Filters(models=("beta-sonnet",))).to_pylist()
    assert (rows[0]["requests"], rows[0]["fallbacks"]) == (100, 12)


def test_transitions_per_request(ledger: ChdbAttemptStore) -> None:
    rows = by_key(jobs.transitions(ledger).to_pylist(), "route")
    assert rows["support"] == {
        "route": "support",
        "requests": 100,
        "mean_transitions": 0.12,
        "max_transitions": 1,
        "none": 88,
        "one": 12,
        "two": 0,
        "three_or_more": 0,
    }
    assert rows["summarize"]["mean_transitions"] == 0.3


def test_share_of_empty_truncated_and_over_long_answers(ledger: ChdbAttemptStore) -> None:
    rows = by_key(jobs.answer_quality(ledger, "model").to_pylist(), "model")
    mini = rows["alpha-mini"]
    assert (mini["responses"], mini["empty"], mini["truncated"], mini["over_long"]) == (13, 1, 1, 1)
    assert mini["empty_share"] == pytest.approx(1 / 13, abs=1e-6)
    assert (rows["beta-sonnet"]["empty"], rows["beta-sonnet"]["truncated"]) == (0, 0)
    stricter = by_key(jobs.answer_quality(ledger, "model", long_tokens=400).to_pylist(), "model")
    assert stricter["beta-sonnet"]["over_long"] == 88  # the 88 answers of 500 tokens


def test_latency_percentiles_and_ttft(ledger: ChdbAttemptStore) -> None:
    rows = by_key(jobs.latency(ledger, "model").to_pylist(), "model")
    sonnet = rows["beta-sonnet"]
    # durations 1..100 ms; quantilesExactLow takes the value at 0-based rank floor(q*n) (lower median)
    assert (sonnet["attempts"], sonnet["p50_ms"], sonnet["p95_ms"], sonnet["p99_ms"]) == (100, 50.0, 96.0, 100.0)
    # ttft on 88 answers: 0.5, 1.0, ... 44.0 -> lower median 22.0, rank 83 -> 42.0
    assert (sonnet["ttft_p50_ms"], sonnet["ttft_p95_ms"]) == (22.0, 42.0)
    assert rows["alpha-4o"]["p99_ms"] == 200.0 and rows["alpha-4o"]["ttft_p50_ms"] is None


def test_double_charges_list_each_request_with_why(ledger: ChdbAttemptStore) -> None:
    rows = jobs.double_charges(ledger).to_pylist()
    assert len(rows) == 12  # the rate-limited first attempts of summarize were not billable
    first = rows[0]
    assert (first["billable_attempts"], first["cost_usd"], first["extra_cost_usd"]) == (2, Decimal(14), Decimal(4))
    assert first["why"] == "#1 first beta-sonnet failure (provider_error) → #2 fallback alpha-4o success"
    assert sum(r["extra_cost_usd"] for r in rows) == Decimal(48)
    assert jobs.double_charges(ledger, limit=3).num_rows == 3


def test_unit_economics_margin_and_buffer(ledger: ChdbAttemptStore) -> None:
    prices = {"support_chat": Decimal(6), "summarization": Decimal(1)}
    rows = by_key(jobs.unit_economics(ledger, prices, "task").to_pylist(), "name")
    support = rows["support_chat"]
    assert (support["cost_per_answer_usd"], support["price_usd"], support["margin_usd"]) == (
        Decimal("5.2"),
        Decimal(6),
        Decimal("0.8"),
    )
    assert support["margin_share"] == pytest.approx(0.8 / 6, abs=1e-6)
    assert support["buffer_ok"] is False  # 6 < 5.2 * 1.2
    assert rows["summarization"]["buffer_ok"] is True
    unpriced = by_key(jobs.unit_economics(ledger, {}, "feature").to_pylist(), "name")
    assert unpriced["chat"]["price_usd"] is None and unpriced["chat"]["buffer_ok"] is None


def test_request_explorer_and_budget_spend(ledger: ChdbAttemptStore) -> None:
    attempts = jobs.request_attempts(ledger, "s095").to_pylist()
    assert [(a["attempt"], a["decision"], a["model"], a["cost_usd"]) for a in attempts] == [
        (1, "first", "beta-sonnet", Decimal(4)),
        (2, "fallback", "alpha-4o", Decimal(10)),
    ]
    assert jobs.request_attempts(ledger, "s095", Filters(tenant_scope="globex")).num_rows == 0
    budget = by_key(jobs.budget_spend(ledger, "tenant", now=NOW).to_pylist(), "name")
    assert budget["acme"]["today_usd"] == budget["acme"]["week_usd"] == budget["acme"]["month_usd"] == Decimal(520)
    assert budget["globex"]["today_requests"] == 10
    tomorrow = by_key(jobs.budget_spend(ledger, "tenant", now=NOW + timedelta(days=1)).to_pylist(), "name")
    assert (tomorrow["acme"]["today_usd"], tomorrow["acme"]["week_usd"]) == (Decimal(0), Decimal(520))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: jobs.fallback_share(s, "colour"), "unknown grouping 'colour'"),
        (lambda s: jobs.spend_over_time(s, "fortnight"), "unknown bucket 'fortnight'"),
        (lambda s: jobs.cost_per_answer(s, "route,price"), "unknown dimension 'price'"),
        (lambda s: jobs.unit_economics(s, {}, "tenant"), "unknown grouping 'tenant'"),
        (lambda s: jobs.budget_spend(s, "model"), "unknown grouping 'model'"),
        (lambda s: jobs.expected_cost(s, weeks=0), "weeks"),
        (lambda s: jobs.request_attempts(s, ""), "request id"),
        (lambda s: jobs.cost(s, filters=Filters.from_mapping({"colour": ["red"]})), "unknown filter 'colour'"),
        (lambda s: Window.parse("2026-11-02..yesterday"), "ISO-8601"),
        (lambda s: Window.parse("2026-11-03..2026-11-02"), "ends before"),
    ],
)
def test_bad_input_gets_a_clear_message(store: ChdbAttemptStore, call: object, message: str) -> None:
    with pytest.raises(AnalyticsInputError, match=message):
        call(store)  # type: ignore[operator]


def test_cli_jobs_print_json_and_refuse_unknowns(
    ledger: ChdbAttemptStore, chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(
        "http://127.0.0.1:9",
        store={"path": str(chdb_dir), "database": ledger.database},
        analytics={"unit_economics": {"tasks": {"support_chat": {"price_usd": "7"}}}},
    )
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()

    def run(*args: str) -> list[dict[str, object]]:
        result = runner.invoke(app, ["analytics", *args, "--json", "--config", str(path)])
        assert result.exit_code == 0, result.output
        records: list[dict[str, object]] = json.loads(result.output)
        return records

    assert run("cost-per-answer", "--route", "support")[0]["cost_per_answer_usd"] == "5.200000000"
    assert run("unit-economics", "--window", "all")[0]["buffer_ok"] is True  # 7 >= 6.24
    assert len(run("double-charges", "--window", "all")) == 12
    assert [r["attempt"] for r in run("request", "s095")] == [1, 2]
    assert {r["name"] for r in run("fallback-share", "--by", "provider")} == {"alpha", "beta"}
    for args, message in [
        (["fallback-share", "--by", "colour"], "unknown grouping"),
        (["latency", "--window", "fortnight"], "window"),
        (["no-such-job"], "No such command"),
        (["cost", "--colour", "red"], "No such option"),
    ]:
        bad = runner.invoke(app, ["analytics", *args, "--config", str(path)])
        assert bad.exit_code == 2 and message in bad.output, bad.output


@pytest.mark.parametrize(
    ("section", "field"),
    [
        ({"colour": 1}, "analytics.colour"),
        ({"anomalies": {"window": "soon"}}, "analytics.anomalies.window"),
        ({"alerts": {"rules": {"r": {"metric": "vibes"}}}}, "analytics.alerts.rules.r.metric"),
        ({"unit_economics": {"tasks": {"support_chat": {"price_usd": -1}}}}, "price_usd"),
    ],
)
def test_the_analytics_config_section_is_strict(section: dict[str, object], field: str) -> None:
    from routeledger.errors import ConfigError

    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make_config("http://127.0.0.1:9", analytics=section)


def test_the_default_analytics_config_runs_the_demo() -> None:
    config = make_config("http://127.0.0.1:9")
    rule = config.analytics.alerts.rules["fallback_share"]
    assert (rule.metric, rule.scope, rule.threshold, rule.window) == ("fallback_share", "route", 0.05, "1h")
    assert config.analytics.anomalies.fallback_share_threshold == 0.05


def test_budget_spend_by_api_key(store: ChdbAttemptStore) -> None:
    """Spend per key (its configured name), with a keyless request under ''; failed attempts count."""
    at = int((T0 + timedelta(hours=1)).timestamp() * 1e9)
    attempts = [
        row(0, start_ns=at, api_key="checkout", cost_usd=Decimal("1.25")),
        row(1, start_ns=at + 1000, api_key="checkout", cost_usd=Decimal("0.50"), outcome="failure"),
        row(2, start_ns=at + 2000, api_key="search", cost_usd=Decimal("2")),
        row(3, start_ns=at + 3000, api_key="", cost_usd=Decimal("4")),
    ]
    store.insert_attempts(rows_to_arrow(attempts), "keys")
    spend = by_key(jobs.budget_spend(store, "key", now=NOW).to_pylist(), "name")
    assert {k: v["month_usd"] for k, v in spend.items()} == {
        "checkout": Decimal("1.75"),
        "search": Decimal(2),
        "": Decimal(4),
    }
    assert spend["checkout"]["today_usd"] == Decimal("1.75")
