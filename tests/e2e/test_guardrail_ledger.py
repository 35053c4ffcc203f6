"""Guardrail refusals in the ledger, end to end: router → OTLP → collector → chDB → analytics.

Each refusal is one free, non-billable `skipped` attempt row whose error type is the guardrail's
code, so the block rate by reason is one query (and one analytics job)."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from routeledger.simulator import SimulatorThread
from routeledger.store.embedded import ChdbAttemptStore
from tests.conftest import sim_log, start_pipeline
from tests.router.policy.test_guardrails import PROMPT, month, prespend


def test_guardrail_stops_are_skipped_rows_countable_by_reason(
    simulator: SimulatorThread, store: ChdbAttemptStore, tmp_path: Path
) -> None:
    """Each refused request leaves one free, non-billable `skipped` row whose error type is the
    guardrail's code, so the block rate by reason is one query over the ledger."""
    state = tmp_path / "state.db"
    prespend(state, {f"tenant:broke:month:{month()}": Decimal("1.00")})
    routes = {"capped": {"task": "t", "chain": ["alpha-4o"], "ceilings": {"max_cost_usd": "0.01"}}}
    tenants = {"broke": {"budget": {"monthly_usd": "1.00"}}, "fine": {}}
    pipeline = start_pipeline(
        simulator, store, routes=routes, tenants=tenants, guardrails={"state": {"path": str(state)}}
    )
    try:
        url = pipeline.router.url + "/v1/chat/completions"

        def post(tenant: str, max_tokens: int) -> int:
            body = {"model": "capped", "messages": PROMPT, "max_tokens": max_tokens}
            return httpx.post(url, json=body, headers={"x-routeledger-tenant": tenant}, timeout=30).status_code

        assert [post("fine", 100) for _ in range(3)] == [200] * 3
        assert [post("fine", 5000) for _ in range(2)] == [400] * 2
        assert post("broke", 100) == 429
        pipeline.flush()
        blocks = store.query(
            "SELECT error_type, count() AS n, sum(cost_usd) AS cost, countIf(billable) AS billable "
            "FROM llm_attempts WHERE outcome = 'skipped' GROUP BY error_type ORDER BY error_type"
        ).to_pylist()
        assert blocks == [
            {"error_type": "budget_exhausted", "n": 1, "cost": Decimal(0), "billable": 0},
            {"error_type": "ceiling_exceeded", "n": 2, "cost": Decimal(0), "billable": 0},
        ]
        rate = store.query(
            "SELECT countIf(outcome = 'skipped') / uniqExact(request_id) AS block_rate FROM llm_attempts"
        ).to_pylist()[0]["block_rate"]
        assert rate == pytest.approx(3 / 6)
        skipped = store.query("SELECT model, reason FROM llm_attempts WHERE error_type = 'ceiling_exceeded'")
        assert {r["model"] for r in skipped.to_pylist()} == {"alpha-4o"}
        assert all("cost ceiling" in r["reason"] for r in skipped.to_pylist())
        assert len(sim_log(simulator)) == 3
    finally:
        pipeline.router.stop()
        pipeline.tracer_provider.shutdown()
        pipeline.collector.stop()


def test_the_blocks_job_counts_refusals_by_reason(
    simulator: SimulatorThread, store: ChdbAttemptStore, tmp_path: Path
) -> None:
    """The analytics job over the same kind of ledger: block rate by reason per tenant."""
    from routeledger.analytics import Window, guardrail_blocks

    state = tmp_path / "state.db"
    prespend(state, {f"tenant:broke:month:{month()}": Decimal("1.00")})
    routes = {"capped": {"task": "t", "chain": ["alpha-4o"], "ceilings": {"max_cost_usd": "0.01"}}}
    tenants = {"broke": {"budget": {"monthly_usd": "1.00"}}, "fine": {}}
    pipeline = start_pipeline(
        simulator, store, routes=routes, tenants=tenants, guardrails={"state": {"path": str(state)}}
    )
    try:
        url = pipeline.router.url + "/v1/chat/completions"
        for tenant, max_tokens in [("fine", 100), ("fine", 100), ("fine", 5000), ("broke", 100), ("broke", 100)]:
            body = {"model": "capped", "messages": PROMPT, "max_tokens": max_tokens}
            httpx.post(url, json=body, headers={"x-routeledger-tenant": tenant}, timeout=30)
        pipeline.flush()
    finally:
        pipeline.router.stop()
        pipeline.tracer_provider.shutdown()
        pipeline.collector.stop()
    rows = guardrail_blocks(store, "tenant", Window.all_time()).to_pylist()
    assert rows == [
        {"tenant": "broke", "reason": "budget_exhausted", "blocked": 2, "requests": 2, "block_rate": 1.0},
        {
            "tenant": "fine",
            "reason": "ceiling_exceeded",
            "blocked": 1,
            "requests": 3,
            "block_rate": pytest.approx(1 / 3, abs=1e-6),
        },
    ]
    from routeledger.analytics import cost

    by_tenant = {r["tenant"]: r for r in cost(store, "tenant", Window.all_time()).to_pylist()}
    assert (by_tenant["fine"]["requests"], by_tenant["fine"]["attempts"]) == (3, 2)  # refusals are not attempts


def test_each_attempt_carries_the_name_of_the_key_that_paid_for_it(
    simulator: SimulatorThread, store: ChdbAttemptStore, tmp_path: Path
) -> None:
    """Spend per API key (the Budgets page, the budget job by key) reads `api_key` from the ledger:
    the key's configured name, never the key itself."""
    secret = "rl-e2e-key-7f3a"
    keys = {"checkout": {"hash": f"sha256:{hashlib.sha256(secret.encode()).hexdigest()}", "tenant": "acme"}}
    routes = {"chat": {"task": "t", "chain": ["alpha-4o"]}}
    pipeline = start_pipeline(
        simulator, store, routes=routes, keys=keys, guardrails={"state": {"path": str(tmp_path / "state.db")}}
    )
    try:
        body = {"model": "chat", "messages": PROMPT, "max_tokens": 50}
        headers = {"authorization": f"Bearer {secret}"}
        answer = httpx.post(pipeline.router.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert answer.status_code == 200
        pipeline.flush()
        rows = store.query("SELECT api_key, tenant, count() AS n FROM llm_attempts GROUP BY api_key, tenant")
        assert rows.to_pylist() == [{"api_key": "checkout", "tenant": "acme", "n": 1}]
        leaked = store.query(f"SELECT count() AS n FROM llm_attempts WHERE position(api_key, '{secret}') > 0")  # noqa: S608 - test-owned text
        assert leaked.to_pylist() == [{"n": 0}]
    finally:
        pipeline.router.stop()
        pipeline.tracer_provider.shutdown()
        pipeline.collector.stop()
