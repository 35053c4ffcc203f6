"""Every page through Streamlit's AppTest against known traffic in a real chDB store."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from routeledger.attempt import rows_to_arrow
from tests.dashboards.conftest import FALLBACK_REQUEST, Dashboard, write_config
from tests.routeledger.store.test_embedded import row

APP = str(Path(__file__).resolve().parents[2] / "dashboards" / "app.py")
PAGES = ("overview", "cost", "fallbacks", "latency", "alerts", "budgets", "explorer", "reports")
#: First runs import pandas, altair and plotly and open the store; later runs are quick.
TIMEOUT_S = 60


def run(page: str = "overview", **params: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT_S)
    at.query_params.update(page=page, **params)
    at.run()
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def texts(at: AppTest) -> str:
    parts = [e.value for e in (*at.info, *at.warning, *at.error, *at.success, *at.caption, *at.markdown)]
    return "\n".join(str(p) for p in parts)


def clean(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_known_data(dashboard: Dashboard, page: str) -> None:
    dashboard.seed()
    at = clean(run(page))
    assert at.header[0].value


def test_overview_numbers(dashboard: Dashboard) -> None:
    dashboard.seed()
    shown = metrics(clean(run("overview")))
    assert shown["Spend today"] == "$489.00"
    assert shown["Spend this week"] == "$489.00"
    assert shown["Spend this month"] == "$489.00"
    assert shown["Cost per successful answer"] == "$4.4455"  # 489 / 110 answered
    assert shown["Fallback share"] == "10.9%"  # 12 of 110 requests
    assert shown["p95 latency"] == "1,000 ms"  # 12 of 125 attempts took 1 s
    assert shown["Open alerts"] == "2"  # route support and primary model beta-sonnet at 12% (summarize: too few)
    deltas = {m.label: m.delta for m in run("overview").metric}
    assert deltas["Spend today"] == "98% of $500.00 daily budget"  # acme's $500 is the only daily budget
    assert deltas["Spend this month"] == "5% of $10,010.00 monthly budget"


def test_all_time_includes_the_old_traffic(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("cost", window="all"))
    assert metrics(at)["Total spend (3 route values)"] == "$989.00"
    rows = at.dataframe[0].value
    assert list(rows["route"]) == ["extract", "support", "summarize"]
    assert list(rows["spend"]) == ["$500.0000", "$484.0000", "$5.0000"]


def test_cost_split_by_tenant(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = run("cost")
    at.segmented_control(key="cost_by").set_value("tenant").run()
    clean(at)
    rows = at.dataframe[0].value
    assert dict(zip(rows["tenant"], rows["spend"], strict=True)) == {"acme": "$484.0000", "globex": "$5.0000"}


def test_filters_from_the_url_reach_the_jobs(dashboard: Dashboard) -> None:
    dashboard.seed()
    shown = metrics(clean(run("overview", tenant="globex")))
    assert shown["Spend today"] == "$5.00"
    assert shown["Fallback share"] == "0.0%"
    assert shown["Cost per successful answer"] == "$0.5000"


def test_fallbacks_page_shows_shares_flow_and_reasons(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("fallbacks"))
    shown = metrics(at)
    assert shown["Fallback share"] == "10.9%"
    assert shown["Retry share"] == "2.7%"
    assert shown["Requests that fell back"] == "12 of 110"
    flow = at.dataframe[1].value
    columns = (flow["from"], flow["to"], flow["requests"], flow["cost"])
    links = {(f, t): (n, c) for f, t, n, c in zip(*columns, strict=True)}
    assert links == {
        ("first: beta-sonnet", "answered"): (88, "$352.0000"),
        ("first: beta-sonnet", "fallback: alpha-4o"): (12, "$12.0000"),
        ("fallback: alpha-4o", "answered"): (12, "$120.0000"),
        ("first: alpha-mini", "answered"): (7, "$3.5000"),
        ("first: alpha-mini", "retry: alpha-mini"): (3, "$0.0000"),
        ("retry: alpha-mini", "answered"): (3, "$1.5000"),
    }
    reasons = at.dataframe[2].value
    assert dict(zip(reasons["failure class"], reasons["attempts"], strict=True)) == {
        "provider_error": 12,
        "rate_limited": 3,
    }


def test_latency_page(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("latency"))
    rows = at.dataframe[0].value
    assert metrics(at) == {"Slowest p95": "1,000.0 ms", "Attempts measured": "125"}
    by_model = {m: (n, p95) for m, n, p95 in zip(rows["model"], rows["attempts"], rows["p95"], strict=True)}
    assert by_model == {
        "alpha-4o": (12, "1,000.0 ms"),
        "beta-sonnet": (100, "200.0 ms"),
        "alpha-mini": (13, "200.0 ms"),
    }


def test_alerts_page_lists_evidence(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("alerts"))
    assert metrics(at) == {"Open alerts": "2", "Resolved alerts (30 days)": "0"}
    rows = at.dataframe[0].value
    assert list(zip(rows["scope"], rows["name"], rows["value"], rows["requests"], strict=True)) == [
        ("route", "support", "0.12", 100),
        ("model", "beta-sonnet", "0.12", 100),
    ]
    assert set(rows["state"]) == {"open"}
    assert "fallback share 12.0% for route support is above 5% (100 requests" in " ".join(rows["evidence"])


def test_budgets_against_thresholds(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("budgets"))
    assert metrics(at) == {"Highest budget use": "96.8%", "Budgets at or above 70%": "1"}
    rows = at.dataframe[0].value
    columns = (rows["tenant"], rows["period"], rows["share"], rows["budget"], rows["threshold"])
    table = {(t, p): (s, b, th) for t, p, s, b, th in zip(*columns, strict=True)}
    assert table == {
        ("acme", "today"): ("96.8%", "$500.00", "95% reached"),
        ("acme", "this month"): ("4.8%", "$10,000.00", "below 70%"),
        ("globex", "today"): ("-", "no budget", "-"),
        ("globex", "this month"): ("50.0%", "$10.00", "below 70%"),
    }


def test_key_budgets_from_the_ledger(dashboard: Dashboard) -> None:
    """A key's spend comes from the ledger's api_key column and is held against the key's budget."""
    keys = {
        "checkout": {"hash": "sha256:" + "0" * 64, "tenant": "acme", "budget": {"daily_usd": "10"}},
        "idle": {"hash": "sha256:" + "1" * 64, "tenant": "globex"},
    }
    write_config(dashboard.config_path, dashboard.store.path, dashboard.store.database, keys=keys)
    at_ns = int(dashboard.now.timestamp() * 1e9) - 1_000_000
    dashboard.store.insert_attempts(
        rows_to_arrow([row(0, start_ns=at_ns, api_key="checkout", tenant="acme", cost_usd=Decimal(8))]), "keyed"
    )
    at = clean(run("budgets"))
    assert metrics(at)["Highest budget use"] == "80.0%"
    keyed = at.dataframe[1].value
    columns = (keyed["key"], keyed["period"], keyed["spent"], keyed["share"], keyed["threshold"])
    assert {(k, p): (sp, sh, th) for k, p, sp, sh, th in zip(*columns, strict=True)} == {
        ("checkout", "today"): ("$8.00", "80.0%", "80% reached"),
        ("checkout", "this month"): ("$8.00", "-", "-"),
        ("idle", "today"): ("$0.00", "-", "-"),
        ("idle", "this month"): ("$0.00", "-", "-"),
    }


def test_request_explorer_timeline(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("explorer", request=FALLBACK_REQUEST))
    shown = metrics(at)
    assert shown == {"Attempts": "2", "Outcome": "answered", "Cost": "$11.000000", "Tokens in / out": "4,000 / 1,000"}
    rows = at.dataframe[0].value
    assert list(zip(rows["decision"], rows["model"], rows["outcome"], rows["failure class"], strict=True)) == [
        ("first", "beta-sonnet", "failure", "provider_error"),
        ("fallback", "alpha-4o", "success", "-"),
    ]
    at.text_input(key="request_id").set_value("no-such-request").run()
    assert "No attempts recorded for request 'no-such-request'" in texts(clean(at))


def test_reports_weekly_chain_pruning(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = clean(run("reports"))
    assert metrics(at)["Rescues by retries and fallbacks"] == "15 of 15 runs"
    rows = at.dataframe[0].value
    columns = (rows["route"], rows["hop"], rows["model"], rows["runs"], rows["answers"], rows["rescues"])
    hops = {(r, h, m): (n, a, x) for r, h, m, n, a, x in zip(*columns, strict=True)}
    assert hops == {
        ("support", 1, "beta-sonnet"): (100, 88, 0),
        ("support", 2, "alpha-4o"): (12, 12, 12),
        ("summarize", 1, "alpha-mini"): (10, 7, 0),
        ("summarize", 2, "alpha-mini"): (3, 3, 3),
    }
    assert [b.label for b in at.get("download_button")] == ["Download Markdown", "Download HTML"]


def test_switching_pages_in_one_session(dashboard: Dashboard) -> None:
    dashboard.seed()
    at = run("overview")
    for page in PAGES[1:]:
        at.sidebar.radio(key="page").set_value(page).run()
        clean(at)
    assert at.header[0].value == "Reports"


EMPTY_MESSAGES = {
    "overview": "No attempts in the ledger for this selection yet",
    "cost": "No spend in this selection",
    "fallbacks": "No requests in this selection",
    "latency": "No attempts in this selection",
    "alerts": "No open alerts",
    "budgets": "Thresholds: 70% / 80% / 95% / 100%",
    "explorer": "Enter a request id",
    "reports": "No traffic in the last seven days",
}


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_ledger_is_a_message(dashboard: Dashboard, page: str) -> None:
    at = clean(run(page))
    assert EMPTY_MESSAGES[page] in texts(at)
    if page == "budgets":
        assert set(at.dataframe[0].value["spent"]) == {"$0.00"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"window": "yesterday"}, "Time range"),
        ({"window": "0d"}, "Time range"),
        ({"tenant": "' OR 1=1 --"}, "Unknown tenant"),
        ({"route": "nope,support"}, "Unknown route 'nope'"),
        ({"page": "nowhere"}, "Unknown page 'nowhere'"),
    ],
    ids=["window-word", "window-zero", "tenant-injection", "route-unknown", "page-unknown"],
)
def test_bad_filter_values_are_messages(dashboard: Dashboard, params: dict[str, str], message: str) -> None:
    dashboard.seed()
    page = params.pop("page", "overview")
    at = clean(run(page, **params))
    assert message in texts(at)
    assert metrics(at)["Spend today"] in {"$489.00", "$484.00"}


def test_unreachable_store_is_a_message(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTELEDGER_CLICKHOUSE_URL", "http://127.0.0.1:9")
    at = run("overview")
    assert not at.exception
    assert "cannot be reached" in at.error[0].value


def test_bad_config_is_a_message(dashboard: Dashboard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: {support: {task: x, chain: [nope]}}\nproviders: {}\nmodels: {}\n")
    monkeypatch.setenv("ROUTELEDGER_CONFIG", str(bad))
    at = run("overview")
    assert not at.exception
    assert "configuration cannot be loaded" in at.error[0].value


def test_password_gate(dashboard: Dashboard, monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard.seed()
    monkeypatch.setenv("ROUTELEDGER_DASHBOARD_PASSWORD", "s3cret-token")
    at = run("overview")
    assert not at.metric and not at.sidebar.radio
    at.text_input[0].input("wrong")
    at.button[0].click().run()
    assert "Wrong password" in at.error[0].value and not at.metric
    at.text_input[0].input("s3cret-token")
    at.button[0].click().run()
    assert metrics(clean(at))["Spend today"] == "$489.00"
