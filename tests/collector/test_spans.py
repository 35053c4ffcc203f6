"""The columnar extraction (`collector.spans`) agrees with the reference Python extractor on valid
spans, rejects the same invalid ones with the same message, and skips foreign spans; bodies are
encoded by the official OTLP messages, so the decoder's subset schema is held to the real wire format."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans

from routeledger import semconv as sc
from routeledger.attempt import ATTEMPT_SCHEMA, rows_to_arrow
from routeledger.collector.otlp import OtlpDecodeError
from routeledger.collector.spans import RULES, extract
from tests.collector.reference import extract_attempts
from tests.collector.test_traces import attempt_attrs, request, span, value

CASES: list[Any] = [
    pytest.param({}, id="full"),
    pytest.param({sc.TTFT_MS: 3}, id="ttft-int"),
    pytest.param({sc.TTFT_MS: -1.0}, id="ttft-negative"),
    pytest.param({sc.COST_USD: 0}, id="cost-int-zero"),
    pytest.param({sc.COST_USD: 1.25}, id="cost-float"),
    pytest.param({sc.COST_USD: "0.000000001"}, id="cost-nano"),
    pytest.param({sc.COST_USD: "1e-5"}, id="cost-exponent"),
    pytest.param({sc.COST_USD: "0.0000000015"}, id="cost-ten-places-rounded"),
    pytest.param({sc.COST_USD: "100000"}, id="cost-at-the-limit"),
    pytest.param({sc.GEN_AI_RESPONSE_FINISH_REASONS: []}, id="no-finish"),
    pytest.param({sc.GEN_AI_RESPONSE_FINISH_REASONS: ["length", "stop"]}, id="two-finishes"),
    pytest.param({sc.GEN_AI_RESPONSE_FINISH_REASONS: ["x" * 300]}, id="long-finish"),
    pytest.param({sc.GEN_AI_RESPONSE_FINISH_REASONS: [7]}, id="finish-int"),
    pytest.param({sc.BILLABLE: "yes"}, id="billable-text"),
    pytest.param({sc.BILLABLE: 0}, id="billable-zero"),
    pytest.param({sc.STREAM: True, sc.REASON: "r" * 1024}, id="stream-long-reason"),
    pytest.param({sc.HTTP_RESPONSE_STATUS_CODE: 503, sc.ERROR_TYPE: "503"}, id="failure"),
    pytest.param({sc.ROUTE: "é" * 256}, id="label-256-characters"),
    pytest.param({sc.API_KEY: "team-a"}, id="api-key"),
    pytest.param({sc.COST_USD: "lots"}, id="bad-cost"),
    pytest.param({sc.COST_USD: "100001"}, id="cost-too-large"),
    pytest.param({sc.COST_USD: "-1"}, id="cost-negative"),
    pytest.param({sc.COST_USD: True}, id="cost-bool"),
    pytest.param({sc.GEN_AI_USAGE_INPUT_TOKENS: -5}, id="bad-tokens"),
    pytest.param({sc.GEN_AI_USAGE_OUTPUT_TOKENS: 2**32}, id="tokens-too-large"),
    pytest.param({sc.ATTEMPT: "one"}, id="bad-attempt"),
    pytest.param({sc.ATTEMPT: 0}, id="attempt-zero"),
    pytest.param({sc.HTTP_RESPONSE_STATUS_CODE: 1.5}, id="status-double"),
    pytest.param({sc.REQUEST_ID: ""}, id="no-request-id"),
    pytest.param({sc.REQUEST_ID: 7}, id="request-id-int"),
    pytest.param({sc.ROUTE: "r" * 300}, id="long-label"),
    pytest.param({sc.ROUTE: "é" * 257}, id="long-label-characters"),
    pytest.param({sc.REASON: 7}, id="reason-not-text"),
    pytest.param({sc.MODEL: ["a"]}, id="model-array"),
    pytest.param({sc.ROUTE: 5, sc.COST_USD: "lots"}, id="two-faults-first-column-named"),
]


@pytest.mark.parametrize("changes", CASES)
def test_columnar_and_reference_extractors_agree(changes: dict[str, Any]) -> None:
    body = request(span(0, attempt_attrs(0, **changes)), span(1, {"http.route": "/v1/chat/completions", sc.ROUTE: 5}))
    reference = extract_attempts(body)
    got = extract(body.SerializeToString())
    assert (got.skipped, got.rejected, got.first_rejection) == (
        reference.skipped,
        reference.rejected,
        reference.first_rejection,
    )
    assert got.rows.schema == ATTEMPT_SCHEMA
    assert got.rows.to_pylist() == rows_to_arrow(reference.rows).to_pylist()
    assert got.keys == b"".join(bytes.fromhex(r.trace_id + r.span_id) for r in reference.rows)


def test_many_spans_with_mixed_faults_match_the_reference() -> None:
    faults: list[dict[str, Any]] = [
        {},
        {sc.COST_USD: "lots"},
        {sc.TTFT_MS: 2},
        {sc.ATTEMPT: 0},
        {sc.FAILURE_CLASS: "x"},
    ]
    spans = [span(i, attempt_attrs(i, **faults[i % len(faults)])) for i in range(200)]
    body = request(*spans)
    reference = extract_attempts(body)
    got = extract(body.SerializeToString())
    assert (got.rejected, got.rows.num_rows) == (reference.rejected, len(reference.rows)) == (80, 120)
    assert got.first_rejection == reference.first_rejection
    assert got.rows.to_pylist() == rows_to_arrow(reference.rows).to_pylist()


def test_span_level_checks_and_counts() -> None:
    bad_ids = span(1, attempt_attrs(1))
    bad_ids.trace_id = b"\x01" * 15
    bad_times = span(2, attempt_attrs(2))
    bad_times.end_time_unix_nano = bad_times.start_time_unix_nano - 1
    body = request(span(0, attempt_attrs(0)), bad_ids, bad_times, span(3, {"http.route": "/x"}))
    reference = extract_attempts(body)
    got = extract(body.SerializeToString())
    assert (got.skipped, got.rejected, got.rows.num_rows) == (1, 2, 1)
    assert got.first_rejection == reference.first_rejection == "trace_id must be 16 bytes and span_id 8 bytes"


def test_an_empty_value_counts_as_absent() -> None:
    attrs = attempt_attrs(0)
    del attrs[sc.ROUTE]
    one = span(0, attrs)
    one.attributes.append(KeyValue(key=sc.ROUTE, value=AnyValue()))
    got = extract(request(one).SerializeToString())
    assert (got.rejected, got.rows.column("route").to_pylist()) == (0, [""])


def test_a_foreign_span_with_odd_attributes_is_skipped_not_rejected() -> None:
    got = extract(request(span(0, {sc.ROUTE: 5, sc.COST_USD: "lots"})).SerializeToString())
    assert (got.skipped, got.rejected, got.rows.num_rows, got.keys) == (1, 0, 0, b"")


def test_an_empty_request_has_no_rows() -> None:
    got = extract(request().SerializeToString())
    assert (got.skipped, got.rejected, got.rows.num_rows) == (0, 0, 0)
    assert got.rows.schema == ATTEMPT_SCHEMA


def test_several_resources_keep_their_service_names() -> None:
    body = request(span(0, attempt_attrs(0)))
    body.resource_spans.append(
        ResourceSpans(
            resource={"attributes": [KeyValue(key=sc.SERVICE_NAME, value=value("router-2"))]},
            scope_spans=[ScopeSpans(spans=[span(1, attempt_attrs(1))]), ScopeSpans(spans=[span(2, attempt_attrs(2))])],
        )
    )
    body.resource_spans.append(ResourceSpans(scope_spans=[ScopeSpans(spans=[span(3, attempt_attrs(3))])]))
    got = extract(body.SerializeToString())
    assert got.rows.column("service").to_pylist() == ["router-test", "router-2", "router-2", ""]
    assert got.rows.column("request_id").to_pylist() == ["req-0", "req-1", "req-2", "req-3"]


def test_nested_values_the_schema_does_not_model_are_read_or_judged() -> None:
    attrs = attempt_attrs(0)
    nested = span(0, attrs)
    # An array of arrays and a key-value list: valid OTLP the subset schema keeps as raw bytes.
    inner = AnyValue(array_value=ArrayValue(values=[AnyValue(string_value="deep")]))
    nested.attributes.append(KeyValue(key="custom.nested", value=AnyValue(array_value=ArrayValue(values=[inner]))))
    got = extract(request(nested).SerializeToString())
    assert (got.rejected, got.rows.num_rows) == (0, 1)
    with_kvlist = span(1, attempt_attrs(1))
    for kv in with_kvlist.attributes:
        if kv.key == sc.TENANT:
            kv.value.Clear()
            kv.value.kvlist_value.values.add(key="a", value=AnyValue(string_value="b"))
    got = extract(request(with_kvlist).SerializeToString())
    assert (got.rejected, got.first_rejection) == (1, f"{sc.TENANT} must be a string")


def test_a_body_that_is_not_protobuf_is_refused() -> None:
    with pytest.raises(OtlpDecodeError, match="not a protobuf OTLP trace request"):
        extract(b"\x0a\xff\xff\xff\xff\x0f garbage")


def test_every_attempt_column_has_a_rule_or_comes_from_the_span() -> None:
    from_span = {"ts", "trace_id", "span_id", "duration_ms", "service"}
    assert {rule.column for rule in RULES} | from_span == set(ATTEMPT_SCHEMA.names)
    assert len({rule.key for rule in RULES}) == len(RULES)


def test_cost_keeps_nine_places() -> None:
    got = extract(request(span(0, attempt_attrs(0, **{sc.COST_USD: "12.345678912"}))).SerializeToString())
    assert isinstance(got.rows.column("cost_usd").type, pa.Decimal128Type)
    assert str(got.rows.column("cost_usd")[0].as_py()) == "12.345678912"
