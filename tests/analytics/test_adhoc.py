"""Parquet export (day partitions, resumable) and read-only DuckDB queries over it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from routeledger.analytics.adhoc import AdhocQueryError, export_parquet, run_query
from routeledger.analytics.scope import Filters, Window
from routeledger.cli import app
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.test_report import extract_rows
from tests.analytics.traffic import T0, seed_traffic, write
from tests.conftest import make_config

NOW = T0 + timedelta(days=3)
DAY = date(2026, 11, 2)


@pytest.fixture
def exported(store: ChdbAttemptStore, tmp_path: Path) -> Path:
    seed_traffic(store)
    out = tmp_path / "export"
    result = export_parquet(store, out, Window.all_time(), now=NOW)
    assert (result.written, result.skipped, result.rows) == ([DAY], [], 125)
    return out


def test_export_is_partitioned_by_day_and_resumable(store: ChdbAttemptStore, exported: Path) -> None:
    assert sorted(p.name for p in exported.iterdir()) == ["day=2026-11-02"]
    assert (exported / "day=2026-11-02" / "_SUCCESS").read_text() == "125\n"
    again = export_parquet(store, exported, Window.all_time(), now=NOW)
    assert (again.written, again.skipped) == ([], [DAY])
    # A late row for that day changes its count: the day is written again, the others not.
    write(store, extract_rows(), "late")
    third = export_parquet(store, exported, Window.all_time(), now=NOW)
    assert third.written == [DAY] and third.rows == 125 + 58
    # Today's partition is always rewritten (it is still growing).
    assert export_parquet(store, exported, Window.all_time(), now=T0 + timedelta(hours=12)).written == [DAY]


def test_queries_over_the_attempts_view_match_the_ledger(exported: Path) -> None:
    table = run_query(
        exported,
        "SELECT route, sum(cost_usd) AS cost, count(DISTINCT request_id) AS n "
        "FROM attempts GROUP BY route ORDER BY route",
    )
    assert table.to_pylist() == [
        {"route": "summarize", "cost": Decimal(5), "n": 10},
        {"route": "support", "cost": Decimal(520), "n": 100},
    ]
    assert run_query(exported, "SELECT DISTINCT day FROM attempts").to_pylist() == [{"day": DAY}]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC * FROM attempts", 'syntax error at or near "SELEC"'),
        ("SELECT colour FROM attempts", 'column "colour" not found'),
        ("DELETE FROM attempts", "only SELECT"),
        ("COPY attempts TO '/tmp/stolen.csv'", "only SELECT"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT * FROM read_csv('/etc/passwd')", "Permission Error"),
        ("SELECT * FROM read_parquet('/etc/*.parquet')", "Permission Error"),
        ("SET enable_external_access = true", "only SELECT"),
    ],
)
def test_only_reads_of_the_export_are_allowed(exported: Path, sql: str, message: str) -> None:
    with pytest.raises(AdhocQueryError, match=message):
        run_query(exported, sql)


def test_syntax_errors_show_the_position(exported: Path) -> None:
    with pytest.raises(AdhocQueryError) as info:
        run_query(exported, "SELECT route FROM attempts WHERE cost_usd >> > 1")
    assert "LINE 1:" in str(info.value) and "^" in str(info.value)


def test_export_respects_filters(store: ChdbAttemptStore, tmp_path: Path) -> None:
    seed_traffic(store)
    export_parquet(store, tmp_path, Window.all_time(), Filters(tenant_scope="globex"), now=NOW)
    assert run_query(tmp_path, "SELECT DISTINCT tenant FROM attempts").to_pylist() == [{"tenant": "globex"}]


def test_cli_export_and_query(
    store: ChdbAttemptStore, chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_traffic(store)
    config = make_config("http://127.0.0.1:9", store={"path": str(chdb_dir), "database": store.database})
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()
    out = tmp_path / "export"
    result = runner.invoke(app, ["export", "parquet", "--since", "all", "--out", str(out), "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "125 rows" in result.output
    query = runner.invoke(app, ["query", "SELECT count(*) AS n FROM attempts", "--data", str(out), "--json"])
    assert query.exit_code == 0 and json.loads(query.output) == [{"n": 125}]
    bad = runner.invoke(app, ["query", "SELEC 1", "--data", str(out)])
    assert bad.exit_code == 2 and "LINE 1" in bad.output
