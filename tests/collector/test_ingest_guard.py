"""The collector's front door: bearer token, spool budget answered 503 + Retry-After, metrics (G39),
and the startup refusal over a store where a retried batch would count twice (F31)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import yaml

from routeledger.collector.app import create_app
from routeledger.serving import ServerThread
from routeledger.store.embedded import ChdbAttemptStore
from routeledger.store.schema import MIN_DEDUP_WINDOW, unguarded_tables
from tests.collector.test_traces import attempt_attrs, post, request, span, stored
from tests.conftest import config_data, make_config


def test_a_configured_token_is_required_on_traces_and_query(store: ChdbAttemptStore) -> None:
    config = make_config("http://127.0.0.1:9", collector={"token_env": "RL_TEST_TOKEN"})
    app = create_app(config, store, environ={"RL_TEST_TOKEN": "s3cret"})
    body = request(span(0, attempt_attrs(0))).SerializeToString()
    with ServerThread(app) as server:
        for headers in (
            {},
            {"authorization": "Bearer nope"},
            {"authorization": "s3cret"},
            {"authorization": "Bearer s3cret2"},
        ):
            answer = post(server.url, body, **headers)
            assert answer.status_code == 401, headers
            assert answer.headers["www-authenticate"] == "Bearer"
        assert httpx.post(server.url + "/v1/query", json={"sql": "SELECT 1"}, timeout=5).status_code == 401
        assert post(server.url, body, authorization="Bearer s3cret").status_code == 200
        assert [r["request_id"] for r in stored(store, app)] == ["req-0"]
        assert "routeledger_collector_unauthorized_total 4\n" in httpx.get(server.url + "/metrics", timeout=5).text


def test_a_full_spool_answers_503_with_retry_after_and_keeps_nothing_of_that_request(store: ChdbAttemptStore) -> None:
    config = make_config("http://127.0.0.1:9", collector={"spool_budget_bytes": 12_000, "retry_after_s": 7})
    app = create_app(config, store)
    with ServerThread(app) as server:
        app.state.writer.stop()  # nothing drains: the budget fills
        assert post(server.url, request(span(0, attempt_attrs(0))).SerializeToString()).status_code == 200
        big = request(*(span(i, attempt_attrs(i)) for i in range(1, 40))).SerializeToString()
        answer = post(server.url, big)
        assert answer.status_code == 503 and answer.headers["retry-after"] == "7"
        assert app.state.spool.depth == 1
        text = httpx.get(server.url + "/metrics", timeout=5).text
        assert "routeledger_collector_spool_full_total 1\n" in text
        assert "routeledger_collector_spool_depth_rows 1\n" in text


def test_tables_without_a_deduplication_window_are_reported(store: ChdbAttemptStore) -> None:
    store.execute("CREATE TABLE rollup (route String, n UInt64) ENGINE = SummingMergeTree ORDER BY route")
    app = create_app(make_config("http://127.0.0.1:9"), store)
    with ServerThread(app) as server:
        text = httpx.get(server.url + "/metrics", timeout=5).text
    assert "routeledger_collector_tables_without_dedup_window 1\n" in text


def test_a_chunked_body_past_the_limit_is_cut_off_with_413(store: ChdbAttemptStore) -> None:
    app = create_app(make_config("http://127.0.0.1:9", collector={"max_body_bytes": 100_000}), store)

    def chunks() -> Iterator[bytes]:
        for _ in range(50):
            yield b"\0" * 10_000  # 500 kB without a Content-Length

    with ServerThread(app) as server:
        answer = httpx.post(
            server.url + "/v1/traces", content=chunks(), headers={"content-type": "application/x-protobuf"}, timeout=10
        )
    assert answer.status_code == 413


def test_a_window_smaller_than_ten_batches_counts_as_none() -> None:
    create = "CREATE TABLE t (a UInt8) ENGINE = MergeTree ORDER BY a SETTINGS non_replicated_deduplication_window = {}"
    tables = [("small", create.format(MIN_DEDUP_WINDOW - 1)), ("ok", create.format(MIN_DEDUP_WINDOW)), ("none", "")]
    assert unguarded_tables([*tables, ("schema_version", "")]) == ["small", "none"]


def test_the_collector_refuses_to_start_over_a_table_that_would_double_count(tmp_path: Path) -> None:
    """F31: a materialized-view target without a deduplication window stops the collector at startup
    with the table's name and the fix, before it acknowledges a single span."""
    config = config_data("http://127.0.0.1:9")
    config["store"] = {"path": str(tmp_path / "chdb"), "database": "f31"}
    config["collector"] = {"spool_path": str(tmp_path / "spool.db")}
    path = tmp_path / "routeledger.yaml"
    path.write_text(yaml.safe_dump(config))
    store = ChdbAttemptStore(tmp_path / "chdb", "f31")
    store.migrate()
    store.execute(
        "CREATE TABLE spend_by_route (route String, usd Decimal(38, 9)) ENGINE = SummingMergeTree ORDER BY route"
    )
    store.execute(
        "CREATE MATERIALIZED VIEW spend_by_route_mv TO spend_by_route"
        " AS SELECT route, cost_usd AS usd FROM llm_attempts"
    )
    store.close()
    started = subprocess.run(
        [sys.executable, "-m", "routeledger", "collector", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 1
    message = " ".join(started.stderr.split())
    assert "refusing to start: spend_by_route has no non_replicated_deduplication_window of at least 10" in message
    assert "ALTER TABLE <name> MODIFY SETTING non_replicated_deduplication_window = 10000" in message
    assert not (tmp_path / "spool.db").exists()  # nothing was acknowledged
