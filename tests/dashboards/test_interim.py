"""The interim jobs the dashboard uses add up on known traffic."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from analytics import interim
from routeledger.attempt import rows_to_arrow
from routeledger.store.embedded import ChdbAttemptStore
from tests.dashboards.conftest import ANSWERED, FALLBACKS, OLD_SPEND, TOTAL_TODAY, seed_rows


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
