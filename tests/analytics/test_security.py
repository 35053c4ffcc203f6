"""Reliability tests G35 (analytics injection fuzz) and G36 (tenant isolation).

G35: 500 hostile payloads in every filter, grouping, bucket, window and id field: the result equals
the safe baseline (the payload is just a value that matches nothing) or the input is refused with
`AnalyticsInputError` (the CLI's exit 2 / an HTTP 400); never a ClickHouse error. An AST lint checks
that every query the analytics stage runs is SQL text loaded from its `.sql` files.

G36: a caller scoped to tenant A, whatever filters it sends, gets exactly what the same job returns
on a ledger holding only tenant A's rows.
"""

from __future__ import annotations

import ast
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from routeledger.analytics import jobs
from routeledger.analytics.anomalies import detect_anomalies
from routeledger.analytics.scope import AnalyticsInputError, Filters, Window, parse_dimensions
from routeledger.analytics_config import AnomalyConfig
from routeledger.cli import app
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.traffic import T0, summarize_rows, support_rows, write
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parents[2]
NOW = T0 + timedelta(hours=4)

BASE_PAYLOADS = [
    "' OR '1'='1",
    "acme' OR 1=1 --",
    "acme') OR (1=1",
    "x\\' --",
    "\\",
    "\\\\'",
    "'; DROP TABLE llm_attempts; --",
    "' UNION ALL SELECT * FROM system.tables --",
    "route UNION SELECT name FROM system.users",
    "SETTINGS readonly=0",
    "' SETTINGS max_execution_time=0 --",
    "FORMAT JSONEachRow",
    "' FORMAT TabSeparated --",
    "/* comment */",
    "*/ OR 1=1 /*",
    "-- trailing comment",
    "{since:DateTime64(6, 'UTC')}",
    "{routes:Array(String)}",
    "}",
    "{",
    "acme\x00",
    "\u202eemca",
    "\uff41\uff43\uff4d\uff45",  # fullwidth acme
    "名前",
    "😀' OR ''='",
]
WRAPPERS = ["{}", "acme{}", "{}acme", "support{}", "'{}'", '"{}"', "({})", "{} ", " {}", "`{}`"]
#: 25 payloads x 10 wrappers, plus each with a random-looking suffix: 500 distinct strings.
PAYLOADS = sorted({w.format(p) for p, w in itertools.product(BASE_PAYLOADS, WRAPPERS)})
PAYLOADS += [f"{p}#{i}" for i, p in enumerate(PAYLOADS)]
PAYLOADS = PAYLOADS[:500]


def test_there_are_500_distinct_payloads() -> None:
    assert len(set(PAYLOADS)) == 500


@pytest.fixture
def ledger(store: ChdbAttemptStore) -> ChdbAttemptStore:
    write(store, support_rows() + summarize_rows())
    return store


REAL = Filters(
    routes=("support", "summarize"),
    tasks=("support_chat", "summarization"),
    tenants=("acme", "globex"),
    features=("chat", "digest"),
    models=("beta-sonnet", "alpha-mini"),
    providers=("beta", "alpha"),
)
FIELDS = ("routes", "tasks", "tenants", "features", "models", "providers")


def with_payload(base: Filters, payload: str, fields: tuple[str, ...] = FIELDS) -> Filters:
    return Filters(**{f: (*getattr(base, f), payload) if f in fields else getattr(base, f) for f in FIELDS})


def test_payloads_in_every_filter_equal_the_safe_baseline(ledger: ChdbAttemptStore) -> None:
    baseline = jobs.cost(ledger, "route,tenant,model", filters=REAL)
    assert baseline.num_rows == 2  # alpha-4o (the fallback model) is not in the model filter
    for payload in PAYLOADS:
        assert jobs.cost(ledger, "route,tenant,model", filters=with_payload(REAL, payload)) == baseline, payload
    for payload, field in zip(PAYLOADS[::10], itertools.cycle(FIELDS), strict=False):
        alone = Filters(**{field: (payload,)})
        assert jobs.cost(ledger, "route", filters=alone).num_rows == 0, (field, payload)


def every_job(store: ChdbAttemptStore, filters: Filters) -> Iterator[tuple[str, pa.Table]]:
    yield "cost", jobs.cost(store, "route,task,tenant,feature,model,provider", None, filters)
    yield "cost_per_answer", jobs.cost_per_answer(store, "route,tenant,model", None, filters)
    yield "spend_over_time", jobs.spend_over_time(store, "hour", "route,tenant", None, filters)
    yield "fallbacks", jobs.fallbacks(store, None, filters)
    for key in jobs.SHARE_KEYS:
        yield f"fallback_share/{key}", jobs.fallback_share(store, key, None, filters)
    yield "transitions", jobs.transitions(store, "route,tenant", None, filters)
    yield "answer_quality", jobs.answer_quality(store, "model,tenant", None, filters)
    yield "latency", jobs.latency(store, "model,route,tenant", None, filters)
    yield "expected_cost", jobs.expected_cost(store, "route,tenant", Window(T0, NOW), filters, 2, NOW)
    yield "double_charges", jobs.double_charges(store, None, filters)
    prices = {"support_chat": Decimal(6), "summarization": Decimal(1)}
    yield "unit_economics", jobs.unit_economics(store, prices, "task", None, filters)
    yield "request_attempts/s", jobs.request_attempts(store, "s095", filters)
    yield "request_attempts/m", jobs.request_attempts(store, "m001", filters)
    yield "budget_spend", jobs.budget_spend(store, "tenant", filters, NOW)
    yield "anomalies", detect_anomalies(store, AnomalyConfig(min_requests=1), filters, T0 + timedelta(hours=2))


def test_payloads_reach_every_job_as_values(ledger: ChdbAttemptStore) -> None:
    baseline = dict(every_job(ledger, REAL))
    for payload in PAYLOADS[::50]:
        for name, table in every_job(ledger, with_payload(REAL, payload)):
            assert table == baseline[name], (name, payload)
        assert jobs.request_attempts(ledger, payload).num_rows == 0


REFUSING: list[tuple[str, Callable[[ChdbAttemptStore, str], object]]] = [
    ("dimension", lambda s, p: jobs.cost(s, p)),
    ("dimension list", lambda s, p: jobs.latency(s, ["model", p])),
    ("grouping", lambda s, p: jobs.fallback_share(s, p)),
    ("unit grouping", lambda s, p: jobs.unit_economics(s, {}, p)),
    ("budget grouping", lambda s, p: jobs.budget_spend(s, p)),
    ("bucket", lambda s, p: jobs.spend_over_time(s, p)),
    ("window", lambda s, p: Window.parse(p)),
    ("filter name", lambda s, p: Filters.from_mapping({p: ["acme"]})),
]


@pytest.mark.parametrize(("field", "call"), REFUSING, ids=[r[0] for r in REFUSING])
def test_payloads_in_grouping_and_window_fields_are_refused(
    store: ChdbAttemptStore, field: str, call: Callable[[ChdbAttemptStore, str], object]
) -> None:
    for payload in PAYLOADS:
        if field == "dimension list" and "," in payload:
            continue
        with pytest.raises(AnalyticsInputError):
            call(store, payload)


def test_cli_filters_carry_payloads_as_values(
    ledger: ChdbAttemptStore, chdb_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config("http://127.0.0.1:9", store={"path": str(chdb_dir), "database": ledger.database})
    path = tmp_path / "routeledger.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")))
    monkeypatch.delenv("ROUTELEDGER_CLICKHOUSE_URL", raising=False)
    runner = CliRunner()
    for payload in BASE_PAYLOADS[:12]:
        result = runner.invoke(app, ["analytics", "cost", "--tenant", payload, "--json", "--config", str(path)])
        assert result.exit_code == 0 and json.loads(result.output) == [], (payload, result.output)
        bad = runner.invoke(app, ["analytics", "cost", "--by", payload, "--config", str(path)])
        assert bad.exit_code == 2 and "unknown dimension" in bad.output
        assert "DB::Exception" not in bad.output and "Code:" not in bad.output


def test_every_analytics_query_is_sql_text_from_a_sql_file() -> None:
    """AST lint: `.query(sql, params)` in the analytics stage always gets `load_sql(...)`."""
    offenders = []
    for path in sorted((ROOT / "analytics").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in {"query", "execute"}
                and "store" in ast.unparse(node.func.value)
                and len(node.args) == 2
            ):
                first = node.args[0]
                if not (isinstance(first, ast.Call) and getattr(first.func, "id", "") == "load_sql"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_dimensions_are_a_closed_set() -> None:
    assert parse_dimensions("route, tenant") == ("route", "tenant")
    with pytest.raises(AnalyticsInputError):
        parse_dimensions("route,llm_attempts.cost_usd")


# --- G36 tenant isolation -----------------------------------------------------------------------

VALUES = st.sampled_from(
    [
        *("support", "summarize", "support_chat", "summarization", "acme", "globex", "chat", "digest"),
        *("beta-sonnet", "alpha-4o", "alpha-mini", "beta", "alpha", "' OR 1=1 --", ""),
    ]
)
FILTERS = st.builds(
    Filters,
    routes=st.lists(VALUES, max_size=3).map(tuple),
    tasks=st.lists(VALUES, max_size=2).map(tuple),
    tenants=st.lists(VALUES, max_size=3).map(tuple),
    features=st.lists(VALUES, max_size=2).map(tuple),
    models=st.lists(VALUES, max_size=2).map(tuple),
    providers=st.lists(VALUES, max_size=2).map(tuple),
)


@pytest.fixture
def isolation_stores(chdb_dir: Path) -> Iterator[dict[str, ChdbAttemptStore]]:
    """One ledger with both tenants' rows, and one per tenant holding only its own."""
    stores = {}
    for name, rows in {
        "mixed": support_rows() + summarize_rows(),
        "acme": support_rows(),
        "globex": summarize_rows(),
    }.items():
        s = ChdbAttemptStore(chdb_dir, f"iso_{name}_{uuid.uuid4().hex[:8]}")
        s.migrate()
        write(s, rows)
        stores[name] = s
    yield stores
    for s in stores.values():
        s.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=FILTERS, tenant=st.sampled_from(["acme", "globex"]))
def test_a_scoped_caller_sees_only_its_own_tenant(
    isolation_stores: dict[str, ChdbAttemptStore], filters: Filters, tenant: str
) -> None:
    scoped = dict(every_job(isolation_stores["mixed"], filters.scoped(tenant)))
    alone = dict(every_job(isolation_stores[tenant], filters))
    assert scoped.keys() == alone.keys()
    for name in scoped:
        assert scoped[name] == alone[name], name
