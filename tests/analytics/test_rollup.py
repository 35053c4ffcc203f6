"""The rollups and the chain copy never change an answer: every job that reads them equals the same
job reading every attempt (`RawAttemptStore`), for random microsecond windows, filters and groupings over traffic with
every chain shape, including requests whose attempts straddle hour and day boundaries; and an
attempt written after its hour was rolled up is counted.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routeledger.analytics import interim, jobs
from routeledger.analytics.rollup import RawAttemptStore, plan
from routeledger.analytics.scope import Filters, Window
from routeledger.attempt import AttemptRow
from routeledger.store.embedded import ChdbAttemptStore
from tests.analytics.traffic import ns, write
from tests.routeledger.store.test_embedded import row

#: Three days of traffic from a Sunday 21:00 UTC, so windows cross midnights and a week start.
START = datetime(2026, 11, 1, 21, tzinfo=UTC)
SPAN = timedelta(days=3)
ROUTES = ("support", "extract")
TENANTS = ("acme", "globex", "initech")
FEATURES = ("chat", "search")
MODELS = (("beta-sonnet", "beta"), ("alpha-4o", "alpha"), ("alpha-mini", "alpha"))
#: Chain shapes: (decision, outcome, billable) per attempt.
SHAPES: tuple[tuple[tuple[str, str, bool], ...], ...] = (
    (("first", "success", True),),
    (("first", "success", True),),
    (("first", "success", True),),
    (("first", "failure", True), ("fallback", "success", True)),
    (("first", "failure", False), ("retry", "success", True)),
    (("first", "failure", False), ("retry", "failure", True), ("fallback", "success", True)),
    (("first", "failure", True), ("fallback", "failure", True)),
    (("fallback", "success", True),),  # the primary was skipped: the first attempt is a fallback
    (("first", "skipped", False),),  # refused by a guardrail
    (("first", "failure", True), ("fallback", "failure", False), ("fallback", "success", True)),
)


def traffic(seed: int, requests: int) -> list[AttemptRow]:
    """Random requests over `SPAN`; a chain's attempts follow each other by up to two minutes, so
    some requests cross an hour (and a few a day) between their attempts."""
    rnd = random.Random(seed)
    rows: list[AttemptRow] = []
    for r in range(requests):
        at = START + timedelta(microseconds=rnd.randrange(int(SPAN / timedelta(microseconds=1))))
        if r % 50 == 0:  # pile some onto the boundaries themselves
            at = START + timedelta(hours=rnd.randrange(72)) - timedelta(microseconds=rnd.choice((0, 1, 30_000_000)))
        route, tenant, feature = rnd.choice(ROUTES), rnd.choice(TENANTS), rnd.choice(FEATURES)
        key = rnd.choice(("", "checkout", "search"))
        first = rnd.randrange(len(MODELS))
        for index, (decision, outcome, billable) in enumerate(rnd.choice(SHAPES)):
            model, provider = MODELS[(first + (decision == "fallback" and index > 0) * index) % len(MODELS)]
            rows.append(
                row(
                    len(rows),
                    start_ns=ns(at),
                    request_id=f"q{seed}-{r}",
                    attempt=index + 1,
                    decision=decision,
                    route=route,
                    task=f"{route}_task",
                    tenant=tenant,
                    feature=feature,
                    api_key=key,
                    model=model,
                    provider=provider,
                    outcome=outcome,
                    billable=billable,
                    cost_usd=Decimal(rnd.randrange(0, 5_000_000_000)) / Decimal(10**9),
                    input_tokens=rnd.randrange(10, 5000),
                    output_tokens=0 if outcome != "success" else rnd.randrange(1, 3000),
                    duration_ms=float(rnd.randrange(1, 9000)),
                )
            )
            at += timedelta(microseconds=rnd.randrange(1, 120_000_000))
    return rows


@pytest.fixture
def ledger(store: ChdbAttemptStore) -> ChdbAttemptStore:
    data = traffic(7, 1500)
    for i in range(0, len(data), 400):  # several batches, so the rollups hold unmerged parts
        write(store, data[i : i + 400], f"batch{i}")
    return store


def instant(draw: st.DrawFn) -> datetime:
    """Anywhere in the traffic's span (and a little around it), often exactly on an hour or day."""
    hours = draw(st.integers(-3, 76))
    kind = draw(st.sampled_from(("micro", "hour", "day")))
    at = START.replace(hour=0) + timedelta(hours=hours) if kind != "micro" else START + timedelta(hours=hours)
    if kind == "micro":
        at += timedelta(microseconds=draw(st.integers(-3_600_000_000, 3_600_000_000)))
    elif kind == "day":
        at = at.replace(hour=0)
    return at


@st.composite
def windows(draw: st.DrawFn) -> Window:
    a, b = instant(draw), instant(draw)
    if a == b:
        b = a + timedelta(microseconds=1)
    return Window(min(a, b), max(a, b))


@st.composite
def filter_sets(draw: st.DrawFn) -> Filters:
    def pick(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(draw(st.lists(st.sampled_from(values), max_size=2, unique=True)))

    return Filters(
        routes=pick(ROUTES),
        tenants=pick(TENANTS) if draw(st.booleans()) else (),
        features=pick(FEATURES) if draw(st.integers(0, 3)) == 0 else (),
        models=pick(tuple(m for m, _ in MODELS)) if draw(st.integers(0, 3)) == 0 else (),
        tenant_scope=draw(st.sampled_from((None, None, None, "acme"))),
    )


DIMS = st.lists(st.sampled_from(jobs.DIMENSIONS), min_size=1, max_size=2, unique=True).map(tuple)

Job = Callable[[Any], pa.Table]


def every_job(window: Window, filters: Filters, dims: tuple[str, ...], share_key: str, now: datetime) -> list[Job]:
    prices = {f"{r}_task": Decimal("0.9") for r in ROUTES}
    return [
        lambda s: jobs.cost(s, dims, window, filters),
        lambda s: jobs.cost_per_answer(s, dims, window, filters),
        lambda s: jobs.fallbacks(s, window, filters),
        lambda s: jobs.fallback_share(s, share_key, window, filters),
        lambda s: jobs.transitions(s, dims, window, filters),
        lambda s: jobs.expected_cost(s, dims, window, filters, 1, now),
        lambda s: jobs.unit_economics(s, prices, "task", window, filters),
        lambda s: jobs.unit_economics(s, prices, "feature", window, filters),
        lambda s: jobs.spend_over_time(s, "hour", dims, window, filters),
        lambda s: jobs.spend_over_time(s, "day", (), window, filters),
        lambda s: jobs.budget_spend(s, "tenant", filters, now),
        lambda s: jobs.budget_spend(s, "route", filters, now),
        lambda s: jobs.budget_spend(s, "key", filters, now),
        lambda s: jobs.double_charges(s, window, filters, 7),
        lambda s: interim.overview(s, window, filters).drop_columns(["p50_ms", "p95_ms", "p99_ms"]),
        lambda s: interim.fallback_over_time(s, "route", window, filters),
        lambda s: interim.fallback_over_time(s, "model", window, filters),
        lambda s: interim.chain_flow(s, window, filters),
        lambda s: interim.failure_reasons(s, window, filters),
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    window=windows(),
    filters=filter_sets(),
    dims=DIMS,
    share_key=st.sampled_from(jobs.SHARE_KEYS),
    now=st.builds(lambda h, us: START + timedelta(hours=h, microseconds=us), st.integers(0, 80), st.integers(0, 10**9)),
)
def test_every_job_reading_the_rollups_equals_the_raw_scan(
    ledger: ChdbAttemptStore, window: Window, filters: Filters, dims: tuple[str, ...], share_key: str, now: datetime
) -> None:
    raw = RawAttemptStore(ledger)
    for job in every_job(window, filters, dims, share_key, now):
        assert job(ledger).to_pylist() == job(raw).to_pylist()


def test_the_rollups_are_read_and_agree_over_whole_periods(ledger: ChdbAttemptStore) -> None:
    """The bench's shapes: all time, whole days, an hour-aligned week; the plan does use a rollup."""
    raw = RawAttemptStore(ledger)
    for window, filters, dims in (
        (Window.all_time(), Filters(), ("route",)),
        (Window(START.replace(hour=0), START.replace(hour=0) + timedelta(days=3)), Filters(), ("model",)),
        (Window(START, START + timedelta(hours=50)), Filters(tenants=("acme",)), ("tenant", "model")),
        (Window(START + timedelta(minutes=30), START + timedelta(hours=49, seconds=1)), Filters(), ("provider",)),
    ):
        assert plan(ledger, window, filters, dims).uses_rollup
        assert not plan(raw, window, filters, dims).uses_rollup
        for job in every_job(window, filters, dims, "hour", START + timedelta(days=2, hours=5)):
            table = job(ledger)
            assert table.to_pylist() == job(raw).to_pylist()
        assert jobs.cost(ledger, dims, window, filters).num_rows > 0


def test_a_late_attempt_is_counted_in_its_hour(ledger: ChdbAttemptStore) -> None:
    """An attempt written after its hour was rolled up (a spool replayed a day later) is added to
    that hour's sums by the view: the job reading the rollup sees it, exactly as a raw scan does."""
    window = Window(START.replace(hour=0), START.replace(hour=0) + timedelta(days=4))
    raw = RawAttemptStore(ledger)
    before = {r["route"]: r for r in jobs.cost(ledger, ("route",), window).to_pylist()}
    late_at = START + timedelta(hours=5, minutes=17)
    late = [
        row(
            0,
            start_ns=ns(late_at),
            request_id="late-1",
            attempt=1,
            decision="first",
            route="support",
            task="support_task",
            cost_usd=Decimal("123.000000007"),
            input_tokens=11,
            output_tokens=13,
        )
    ]
    write(ledger, late, "late")
    after = {r["route"]: r for r in jobs.cost(ledger, ("route",), window).to_pylist()}
    assert plan(ledger, window, None, ("route",)).uses_rollup
    assert after["support"]["cost_usd"] - before["support"]["cost_usd"] == Decimal("123.000000007")
    assert after["support"]["requests"] - before["support"]["requests"] == 1
    assert after["support"]["input_tokens"] - before["support"]["input_tokens"] == 11
    assert after["extract"] == before["extract"]
    assert jobs.cost(ledger, ("route",), window).to_pylist() == jobs.cost(raw, ("route",), window).to_pylist()
    hour = Window(late_at.replace(minute=0), late_at.replace(minute=0) + timedelta(hours=1))
    spend = jobs.spend_over_time(ledger, "hour", ("route",), hour, Filters(routes=("support",))).to_pylist()
    assert spend == jobs.spend_over_time(raw, "hour", ("route",), hour, Filters(routes=("support",))).to_pylist()
    write(ledger, late, "late")  # the same batch retried: deduplicated in the rollups too
    assert jobs.cost(ledger, ("route",), window).to_pylist() == jobs.cost(raw, ("route",), window).to_pylist()
