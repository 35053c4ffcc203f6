"""The interim jobs the dashboard uses add up on known traffic."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from routeledger.analytics import interim
from routeledger.analytics.rollup import RawAttemptStore
from routeledger.analytics.scope import Filters
from routeledger.attempt import rows_to_arrow
from routeledger.store.embedded import ChdbAttemptStore
from tests.dashboards.conftest import ANSWERED, FALLBACKS, OLD_SPEND, TOTAL_TODAY, seed_rows
from tests.routeledger.store.test_embedded import row


@pytest.fixture
def seeded(store: ChdbAttemptStore) -> ChdbAttemptStore:
    store.insert_attempts(rows_to_arrow(seed_rows(datetime.now(UTC))), "seed")
    return store


def test_overview_adds_up(seeded: ChdbAttemptStore) -> None:
    [row] = interim.overview(seeded).to_pylist()
    assert (row["requests"], row["answered"], row["fallbacks"]) == (115, ANSWERED + 5, FALLBACKS)
    assert row["cost_usd"] == TOTAL_TODAY + OLD_SPEND
    assert row["failed_cost_usd"] == Decimal(12)
    assert row["p95_ms"] == pytest.approx(1000.0)


def test_chain_flow_accounts_for_every_request_and_dollar(seeded: ChdbAttemptStore) -> None:
    flow = interim.chain_flow(seeded).to_pylist()
    ends = sum(r["requests"] for r in flow if r["target"] in ("answered", "failed"))
    assert ends == 115  # every request ends exactly once
    assert sum(r["cost_usd"] for r in flow) == TOTAL_TODAY + OLD_SPEND  # every attempt's cost once


def test_failure_reasons_count_every_failed_attempt(seeded: ChdbAttemptStore) -> None:
    rows = interim.failure_reasons(seeded).to_pylist()
    assert rows == [
        {
            "failure_class": "provider_error",
            "model": "beta-sonnet",
            "attempts": 12,
            "cost_usd": Decimal(12),
            "example_reason": "upstream 503",
        },
        {
            "failure_class": "rate_limited",
            "model": "alpha-mini",
            "attempts": 3,
            "cost_usd": Decimal(0),
            "example_reason": "",
        },
    ]
    assert interim.failure_reasons(RawAttemptStore(seeded)).to_pylist() == rows


def test_the_example_reason_is_the_groups_earliest_failure_in_scope(store: ChdbAttemptStore) -> None:
    """The chain copy holds no reason text: each group's example is looked up in the attempts by the
    earliest failed attempt's sorting key (route, model, ts), within the same filters: another
    tenant's failure at the same key is not it, nor one of a route filtered out."""
    t0 = 1_790_000_000_000_000_000
    failed = {"outcome": "failure", "failure_class": "provider_error", "decision": "first", "attempt": 1}
    early = {"start_ns": t0 + 1_000, "route": "extract"}
    store.insert_attempts(
        rows_to_arrow(
            [
                row(0, start_ns=t0 + 5_000, request_id="a", reason="second", **failed),
                row(1, request_id="b", reason="earliest", **early, **failed),
                row(2, start_ns=t0 + 9_000, request_id="c", reason="third", **failed),
                row(3, request_id="d", reason="globex", tenant="globex", **early, **failed),
            ]
        ),
        "reasons",
    )
    acme = Filters(tenants=("acme",))
    [group] = interim.failure_reasons(store, None, acme).to_pylist()
    assert (group["attempts"], group["example_reason"]) == (3, "earliest")
    [support] = interim.failure_reasons(store, None, Filters(routes=("support",), tenants=("acme",))).to_pylist()
    assert (support["attempts"], support["example_reason"]) == (2, "second")
    assert interim.failure_reasons(RawAttemptStore(store), None, acme).to_pylist() == [group]
