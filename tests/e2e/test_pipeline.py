"""The whole pipeline over real HTTP: official openai client → router → simulator, spans over OTLP
→ collector → chDB, then analytics. The test keeps its own record of what it sent and compares."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import openai
import pytest

from routeledger.analytics.jobs import cost, fallbacks
from routeledger.pricing import Usage, resolve_price
from routeledger.simulator import count_input_tokens
from tests.conftest import Pipeline, set_faults, sim_log

SYSTEM = "You are a concise assistant."


def client(p: Pipeline, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=p.router.url + "/v1", api_key="unused", max_retries=0, default_headers=headers)


def price(p: Pipeline, model: str, input_tokens: int, output_tokens: int) -> Decimal:
    return resolve_price(p.config.models[model].price).cost(Usage(input_tokens, output_tokens))


def test_every_attempt_is_one_row_and_analytics_match_what_was_sent(pipeline: Pipeline) -> None:
    # beta's 1st call gets a 503 (→ one retry of the same model) and its 4th an empty answer
    # (→ a fallback to alpha-4o): support requests 1 and 3 take two attempts each.
    set_faults(
        pipeline.simulator,
        [
            {"kind": "server_error", "provider": "beta", "status": 503, "count": 1},
            {"kind": "empty", "provider": "beta", "every": 3, "count": 1},
        ],
    )
    sent: list[dict[str, object]] = []
    plan = (
        [("support", "acme", "chat")] * 4
        + [("summarize", "globex", "digest")] * 3
        + [("extract", "acme", "invoice")] * 2
    )
    for i, (route, tenant, feature) in enumerate(plan):
        messages = [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": f"question number {i} " * (i + 1)},
        ]
        with client(pipeline, **{"x-routeledger-tenant": tenant, "x-routeledger-feature": feature}) as api:
            response = api.chat.completions.with_raw_response.create(model=route, messages=messages, max_tokens=50)  # type: ignore[arg-type]
            completion = response.parse()
        sent.append(
            {
                "route": route,
                "tenant": tenant,
                "feature": feature,
                "request_id": response.headers["x-routeledger-request-id"],
                "attempts": int(response.headers["x-routeledger-attempts"]),
                "model": response.headers["x-routeledger-model"],
                "input_tokens": count_input_tokens(messages),
                "usage": completion.usage,
            }
        )

    rows = pipeline.rows()
    assert len(rows) == sum(int(s["attempts"]) for s in sent) == len(plan) + 2
    assert len({(r["trace_id"], r["span_id"]) for r in rows}) == len(rows)
    by_request: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_request.setdefault(str(row["request_id"]), []).append(row)

    expected_total = Decimal(0)
    for s in sent:
        attempts = by_request[str(s["request_id"])]
        assert [a["attempt"] for a in attempts] == list(range(1, int(s["attempts"]) + 1))
        final = attempts[-1]
        assert final["outcome"] == "success"
        assert final["model"] == s["model"]
        assert (final["route"], final["tenant"], final["feature"]) == (s["route"], s["tenant"], s["feature"])
        assert final["input_tokens"] == s["input_tokens"]
        assert final["output_tokens"] == 32  # the simulator's default answer, under max_tokens=50
        assert s["usage"] is not None and s["usage"].prompt_tokens == s["input_tokens"]
        cost_expected = price(pipeline, str(s["model"]), int(s["input_tokens"]), 32)  # type: ignore[call-overload]
        assert final["cost_usd"] == cost_expected
        expected_total += cost_expected
        if len(attempts) == 2 and final["decision"] == "retry":
            first = attempts[0]
            assert (first["decision"], first["model"], first["outcome"]) == ("first", "beta-sonnet", "failure")
            assert (first["failure_class"], first["http_status"], first["billable"]) == ("provider_error", 503, False)
            assert first["cost_usd"] == 0
            assert (final["model"], final["reason"]) == ("beta-sonnet", "provider_error")
        elif len(attempts) == 2:
            first = attempts[0]
            assert (first["decision"], first["failure_class"], first["billable"]) == ("first", "empty_response", True)
            assert first["output_tokens"] == 0
            # The provider answered (badly): its prompt tokens are billed and on the ledger.
            assert first["cost_usd"] == price(pipeline, "beta-sonnet", int(s["input_tokens"]), 0)  # type: ignore[call-overload]
            expected_total += first["cost_usd"]
            assert (final["decision"], final["model"]) == ("fallback", "alpha-4o")
            assert final["reason"] == "empty_response (previous attempt billable)"
        else:
            assert final["decision"] == "first"

    # The simulator saw exactly the attempts the ledger holds.
    truth = Counter(e["request_id"] for e in sim_log(pipeline.simulator))
    assert truth == Counter(str(r["request_id"]) for r in rows)

    by_route = {r["route"]: r for r in cost(pipeline.store, ["route"]).to_pylist()}
    assert sum((r["cost_usd"] for r in by_route.values()), Decimal(0)) == expected_total
    assert expected_total == sum((r["cost_usd"] for r in rows), Decimal(0))
    assert by_route["support"]["requests"] == 4 and by_route["support"]["attempts"] == 6
    assert by_route["summarize"]["attempts"] == 3
    assert by_route["extract"]["cost_usd"] == sum(
        price(pipeline, "alpha-mini", int(s["input_tokens"]), 32)
        for s in sent
        if s["route"] == "extract"  # type: ignore[call-overload]
    )

    shares = {(r["scope"], r["name"]): r for r in fallbacks(pipeline.store, min_requests=1).to_pylist()}
    assert (shares[("overall", "")]["fallbacks"], shares[("overall", "")]["retries"]) == (1, 1)
    assert shares[("overall", "")]["fallback_share"] == pytest.approx(1 / 9)
    assert shares[("route", "support")]["fallback_share"] == pytest.approx(0.25)
    assert shares[("route", "support")]["retry_share"] == pytest.approx(0.25)
    assert shares[("route", "support")]["flagged"] is True
    assert shares[("route", "summarize")]["flagged"] is False
    assert shares[("model", "beta-sonnet")]["fallbacks"] == 1


def test_unknown_route_is_a_404_in_openai_shape_and_makes_no_attempt(pipeline: Pipeline) -> None:
    with client(pipeline) as api, pytest.raises(openai.NotFoundError) as caught:
        api.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.code == "model_not_found"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert sim_log(pipeline.simulator) == []
    assert pipeline.rows() == []


def test_models_endpoint_lists_the_routes(pipeline: Pipeline) -> None:
    with client(pipeline) as api:
        listed = {m.id for m in api.models.list()}
    assert listed == {"support", "summarize", "extract"}
