"""The weekly chain-pruning report on a chain whose faults are known."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeledger.analytics.report import build_weekly_report, render_html, render_markdown
from routeledger.attempt import AttemptRow
from routeledger.cli import app
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.traffic import T0, ns, support_rows, write
from tests.conftest import make_config
from tests.routeledger.store.test_embedded import row

NOW = T0 + timedelta(days=2)
EXTRACT = {"route": "extract", "task": "extraction", "tenant": "acme", "feature": "forms"}


def extract_rows() -> list[AttemptRow]:
    """20 requests: alpha-mini times out (free), slow beta-haiku ($1) rescues 2, alpha-4o ($2) the rest."""
    rows = []
    for i in range(20):
        at, rid, n = ns(T0 + timedelta(hours=5, minutes=i)), f"x{i:03d}", 5000 + 3 * i
        rows.append(
            row(
                n,
                start_ns=at,
                request_id=rid,
                attempt=1,
                decision="first",
                model="alpha-mini",
                provider="alpha",
                outcome="failure",
                failure_class="timeout_before_first_byte",
                billable=False,
                cost_usd=Decimal(0),
                duration_ms=5000.0,
                **EXTRACT,
            )
        )
        rescued = i < 2
        rows.append(
            row(
                n + 1,
                start_ns=at + 1000,
                request_id=rid,
                attempt=2,
                decision="fallback",
                model="beta-haiku",
                provider="beta",
                outcome="success" if rescued else "failure",
                failure_class="" if rescued else "invalid_output",
                cost_usd=Decimal(1),
                duration_ms=9000.0,
                **EXTRACT,
            )
        )
        if not rescued:
            rows.append(
                row(
                    n + 2,
                    start_ns=at + 2000,
                    request_id=rid,
                    attempt=3,
                    decision="fallback",
                    model="alpha-4o",
                    provider="alpha",
                    cost_usd=Decimal(2),
                    duration_ms=800.0,
                    **EXTRACT,
                )
            )
    return rows


@pytest.fixture
def ledger(store: ChdbAttemptStore) -> ChdbAttemptStore:
    write(store, support_rows() + extract_rows())
    return store


def test_recommendations_with_the_money_they_save(ledger: ChdbAttemptStore) -> None:
    steps: list[str] = []
    report = build_weekly_report(ledger, now=NOW, step=steps.append)
    assert len(steps) == 5
    got = [(r.route, r.action, r.saves_usd) for r in report.recommendations]
    assert got == [
        ("*", "replace provider", Decimal(120)),  # beta primary: 12% fell back, no traffic last week
        ("*", "replace provider", Decimal(56)),  # alpha primary on extract: every request moved on
        ("support", "cut context sent to the backup", Decimal(48)),  # 120 * 2000/2500 / 2
        ("extract", "remove hop", Decimal(20)),  # beta-haiku rescued 2 of 20
        ("extract", "cut context sent to the backup", Decimal("14.4")),
        ("extract", "cut context sent to the backup", Decimal(8)),
        ("extract", "shorten timeout", Decimal(0)),  # the timeouts were free, but cost 100 s of waiting
    ]
    assert report.total_savings == Decimal("266.4")
    hop2 = next(h for h in report.hops if h["route"] == "extract" and h["hop"] == 2)
    assert (hop2["runs"], hop2["rescues"], hop2["cost_usd"], hop2["p95_ms"]) == (20, 2, Decimal(20), 9000.0)
    timeout = next(r for r in report.recommendations if r.action == "shorten timeout")
    assert "timed out 20 times, waiting 100.0 s" in timeout.detail
    assert "the route's answers' p95 is 800 ms: try a timeout near 1200 ms" in timeout.detail


def test_markdown_and_html_renderings(ledger: ChdbAttemptStore) -> None:
    report = build_weekly_report(ledger, now=NOW)
    md = render_markdown(report)
    assert md.startswith("# Weekly chain-pruning report, 2026-10-28 to 2026-11-04")
    assert "| extract | remove hop | $20.0000 |" in md
    page = render_html(report)
    assert page.count("<table>") == 4 and 'id="vega-lite-specs"' in page
    specs = json.loads(page.split('id="vega-lite-specs">')[1].split("</script>")[0])
    assert set(specs) == {"cost", "rescue", "spend"} and specs["cost"]["mark"]["type"] == "bar"


def test_cli_writes_the_report(
    ledger: ChdbAttemptStore, chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config("http://127.0.0.1:9", store={"path": str(chdb_dir), "database": ledger.database})
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()
    out = tmp_path / "report.md"
    result = runner.invoke(app, ["report", "weekly", "--out", str(out), "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("# Weekly chain-pruning report")
    bad = runner.invoke(app, ["report", "weekly", "--out", str(tmp_path / "r.pdf"), "--config", str(path)])
    assert bad.exit_code == 2 and "must end in .html or .md" in bad.output
