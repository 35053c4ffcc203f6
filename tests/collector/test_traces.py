"""The collector's OTLP endpoint over real HTTP: protobuf, JSON and gzip in; rows out; bad input
answered clearly and never half-written."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from routeledger import semconv as sc
from routeledger.collector.app import create_app
from routeledger.serving import ServerThread
from routeledger.store.embedded import ChdbAttemptStore
from tests.conftest import make_config

START = 1_790_000_000_000_000_000


@pytest.fixture
def collector(store: ChdbAttemptStore) -> Iterator[tuple[str, Any]]:
    app = create_app(make_config("http://127.0.0.1:9", collector={"max_body_bytes": 200_000}), store)
    with ServerThread(app) as server:
        yield server.url, app


def value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    return AnyValue(string_value=str(v))


def attempt_attrs(i: int, **changes: Any) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        sc.REQUEST_ID: f"req-{i}",
        sc.ATTEMPT: 1,
        sc.DECISION: "first",
        sc.ROUTE: "support",
        sc.TASK: "support_chat",
        sc.TENANT: "acme",
        sc.MODEL: "beta-sonnet",
        sc.PROVIDER: "beta",
        sc.GEN_AI_PROVIDER_NAME: "anthropic",
        sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ["stop"],
        sc.GEN_AI_USAGE_INPUT_TOKENS: 2000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        sc.COST_USD: "0.0135",
        sc.BILLABLE: True,
        sc.OUTCOME: "success",
        sc.TTFT_MS: 12.5,
    }
    attrs.update(changes)
    return attrs


def span(i: int, attrs: dict[str, Any]) -> Span:
    return Span(
        trace_id=(i + 1).to_bytes(16, "big"),
        span_id=(i + 1).to_bytes(8, "big"),
        name="chat claude-sonnet-4-5",
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=START + i,
        end_time_unix_nano=START + i + 25_000_000,
        attributes=[KeyValue(key=k, value=value(v)) for k, v in attrs.items()],
    )


def request(*spans: Span) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[
            ResourceSpans(
                resource={"attributes": [KeyValue(key="service.name", value=value("router-test"))]},
                scope_spans=[ScopeSpans(spans=list(spans))],
            )
        ]
    )


def post(url: str, body: bytes, content_type: str = "application/x-protobuf", **headers: str) -> httpx.Response:
    return httpx.post(url + "/v1/traces", content=body, headers={"content-type": content_type, **headers}, timeout=10)


def stored(store: ChdbAttemptStore, app: Any) -> list[dict[str, Any]]:
    assert app.state.writer.flush(10)
    return store.query("SELECT * FROM llm_attempts ORDER BY request_id").to_pylist()


def test_protobuf_attempt_spans_become_rows(collector: tuple[str, Any], store: ChdbAttemptStore) -> None:
    url, app = collector
    request_span = span(99, {"http.route": "/v1/chat/completions"})  # not an attempt: skipped
    response = post(
        url, request(span(0, attempt_attrs(0)), span(1, attempt_attrs(1)), request_span).SerializeToString()
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-protobuf"
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    rows = stored(store, app)
    assert [r["request_id"] for r in rows] == ["req-0", "req-1"]
    first = rows[0]
    assert first["trace_id"] == f"{1:032x}" and first["span_id"] == f"{1:016x}"
    assert (first["cost_usd"], first["input_tokens"], first["finish_reason"]) == (Decimal("0.0135"), 2000, "stop")
    assert (first["duration_ms"], first["ttft_ms"], first["service"]) == (25.0, 12.5, "router-test")
    assert app.state.stats.skipped_spans == 1


def test_otlp_json_with_hex_ids_and_gzip(collector: tuple[str, Any], store: ChdbAttemptStore) -> None:
    url, app = collector
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-router"}}]},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "name": "chat gpt-4o",
                                "kind": 3,
                                "startTimeUnixNano": str(START),
                                "endTimeUnixNano": str(START + 5_000_000),
                                "attributes": [
                                    {"key": sc.REQUEST_ID, "value": {"stringValue": "json-1"}},
                                    {"key": sc.ATTEMPT, "value": {"intValue": "2"}},
                                    {"key": sc.COST_USD, "value": {"stringValue": "0.5"}},
                                    {"key": sc.BILLABLE, "value": {"boolValue": True}},
                                ],
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = post(url, gzip.compress(orjson.dumps(body)), "application/json", **{"content-encoding": "gzip"})
    assert response.status_code == 200, response.text
    assert response.json() == {}
    [row] = stored(store, app)
    assert (row["trace_id"], row["span_id"], row["attempt"]) == (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        2,
    )
    assert (row["cost_usd"], row["service"]) == (Decimal("0.5"), "json-router")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        pytest.param({sc.COST_USD: "lots"}, "routeledger.cost_usd must be a decimal", id="cost-text"),
        pytest.param({sc.COST_USD: "-1"}, "routeledger.cost_usd must be a decimal", id="cost-negative"),
        pytest.param({sc.GEN_AI_USAGE_INPUT_TOKENS: -5}, "gen_ai.usage.input_tokens must be between", id="tokens"),
        pytest.param({sc.ATTEMPT: "one"}, "routeledger.attempt must be an integer", id="attempt-type"),
        pytest.param({sc.REQUEST_ID: ""}, "routeledger.request_id is required", id="no-request-id"),
        pytest.param({sc.ROUTE: "r" * 300}, "routeledger.route is longer than 256", id="long-label"),
    ],
)
def test_invalid_attempt_spans_are_rejected_alone(
    collector: tuple[str, Any], store: ChdbAttemptStore, changes: dict[str, Any], reason: str
) -> None:
    url, app = collector
    body = request(span(0, attempt_attrs(0)), span(1, attempt_attrs(1, **changes))).SerializeToString()
    response = post(url, body)
    assert response.status_code == 200
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 1
    assert answer.partial_success.error_message.startswith(reason)
    assert [r["request_id"] for r in stored(store, app)] == ["req-0"]


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "message"),
    [
        pytest.param(
            b"\x0a\xff\xff\xff", "application/x-protobuf", {}, 400, "not a protobuf OTLP trace request", id="protobuf"
        ),
        pytest.param(b"{nope", "application/json", {}, 400, "not valid JSON", id="json"),
        pytest.param(
            b'{"resourceSpans": 5}', "application/json", {}, 400, "not an OTLP trace request", id="json-shape"
        ),
        pytest.param(b"x", "text/plain", {}, 400, "unsupported Content-Type", id="content-type"),
        pytest.param(
            b"not gzip", "application/x-protobuf", {"content-encoding": "gzip"}, 400, "not valid gzip", id="gzip"
        ),
        pytest.param(
            b"x", "application/x-protobuf", {"content-encoding": "br"}, 400, "unsupported Content-Encoding", id="brotli"
        ),
        pytest.param(b"x" * 300_000, "application/x-protobuf", {}, 413, "exceeds 200000 bytes", id="too-large"),
        pytest.param(
            gzip.compress(b"\0" * 5_000_000),
            "application/x-protobuf",
            {"content-encoding": "gzip"},
            413,
            "exceeds",
            id="gzip-bomb",
        ),
    ],
)
def test_malformed_bodies_get_a_reason_and_write_nothing(
    collector: tuple[str, Any],
    store: ChdbAttemptStore,
    body: bytes,
    content_type: str,
    headers: dict[str, str],
    status: int,
    message: str,
) -> None:
    url, app = collector
    response = post(url, body, content_type, **headers)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert stored(store, app) == []


def test_metrics_count_what_happened(collector: tuple[str, Any]) -> None:
    url, app = collector
    post(url, request(span(0, attempt_attrs(0))).SerializeToString())
    post(url, b"{", "application/json")
    assert app.state.writer.flush(10)
    text = httpx.get(url + "/metrics", timeout=5).text
    assert "routeledger_collector_attempt_spans_total 1\n" in text
    assert "routeledger_collector_bad_requests_total 1\n" in text
    assert "routeledger_collector_written_rows_total 1\n" in text


def test_the_query_endpoint_is_read_only(collector: tuple[str, Any]) -> None:
    url, _ = collector
    ok = httpx.post(url + "/v1/query", json={"sql": "SELECT 1 AS one"}, timeout=5)
    assert ok.status_code == 200 and ok.headers["content-type"] == "application/vnd.apache.arrow.stream"
    write = httpx.post(url + "/v1/query", json={"sql": "DROP TABLE llm_attempts"}, timeout=5)
    assert write.status_code == 400 and "readonly" in write.json()["error"]["message"].lower()
    bad = httpx.post(url + "/v1/query", content=b"[]", timeout=5)
    assert bad.status_code == 400
