"""Attempt spans → `llm_attempts` rows; every other span is counted and skipped.

A span is an attempt when it carries `routeledger.attempt` (the contract in `routeledger.semconv`).
An attempt span whose attributes are malformed (a cost that is not a number, a negative token
count, an id of the wrong size) is rejected as a whole and counted: it is reported back through
OTLP `partial_success`, never half-written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from routeledger import semconv as sc
from routeledger.attempt import ATTEMPT_SCHEMA, AttemptRow

#: Cost of one attempt can never plausibly exceed this (USD); larger values are corrupt data.
MAX_ATTEMPT_COST = Decimal(100_000)
MAX_TOKENS = 2**32 - 1
MAX_LABEL = 256
MAX_REASON = 1024


class InvalidSpan(ValueError):
    """An attempt span that cannot become a row; the message names the attribute."""


@dataclass(slots=True)
class Extracted:
    rows: list[AttemptRow] = field(default_factory=list)
    skipped: int = 0  # not attempt spans (request spans, foreign spans)
    rejected: int = 0
    first_rejection: str = ""


def extract_attempts(request: ExportTraceServiceRequest) -> Extracted:
    out = Extracted()
    for resource_spans in request.resource_spans:
        service = ""
        for kv in resource_spans.resource.attributes:
            if kv.key == sc.SERVICE_NAME:
                service = kv.value.string_value
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = {kv.key: _value(kv.value) for kv in span.attributes}
                if sc.ATTEMPT_MARKER not in attrs:
                    out.skipped += 1
                    continue
                try:
                    out.rows.append(attempt_row(span, attrs, service))
                except InvalidSpan as exc:
                    out.rejected += 1
                    out.first_rejection = out.first_rejection or str(exc)
    return out


def attempt_row(span: Any, attrs: dict[str, Any], service: str) -> AttemptRow:
    if len(span.trace_id) != 16 or len(span.span_id) != 8:
        raise InvalidSpan("trace_id must be 16 bytes and span_id 8 bytes")
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start <= 0 or end < start:
        raise InvalidSpan("span times are missing or end before they start")
    ttft = attrs.get(sc.TTFT_MS)
    finish = attrs.get(sc.GEN_AI_RESPONSE_FINISH_REASONS)
    return AttemptRow(
        start_ns=start,
        request_id=_text(attrs, sc.REQUEST_ID, required=True),
        attempt=_int(attrs, sc.ATTEMPT, 1, 255),
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        decision=_text(attrs, sc.DECISION),
        route=_text(attrs, sc.ROUTE),
        task=_text(attrs, sc.TASK),
        tenant=_text(attrs, sc.TENANT),
        feature=_text(attrs, sc.FEATURE),
        traffic_class=_text(attrs, sc.TRAFFIC_CLASS),
        model=_text(attrs, sc.MODEL),
        provider=_text(attrs, sc.PROVIDER),
        provider_name=_text(attrs, sc.GEN_AI_PROVIDER_NAME),
        request_model=_text(attrs, sc.GEN_AI_REQUEST_MODEL),
        response_model=_text(attrs, sc.GEN_AI_RESPONSE_MODEL),
        server_address=_text(attrs, sc.SERVER_ADDRESS),
        outcome=_text(attrs, sc.OUTCOME),
        failure_class=_text(attrs, sc.FAILURE_CLASS),
        error_type=_text(attrs, sc.ERROR_TYPE),
        http_status=_int(attrs, sc.HTTP_RESPONSE_STATUS_CODE, 0, 999),
        finish_reason=str(finish[0]) if isinstance(finish, list | tuple) and finish else "",
        billable=bool(attrs.get(sc.BILLABLE, False)),
        reason=_text(attrs, sc.REASON, limit=MAX_REASON),
        stream=bool(attrs.get(sc.STREAM, False)),
        input_tokens=_int(attrs, sc.GEN_AI_USAGE_INPUT_TOKENS, 0, MAX_TOKENS),
        output_tokens=_int(attrs, sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0, MAX_TOKENS),
        cache_read_tokens=_int(attrs, sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0, MAX_TOKENS),
        cost_usd=_cost(attrs.get(sc.COST_USD, "0")),
        price_source=_text(attrs, sc.PRICE_SOURCE),
        duration_ms=(end - start) / 1e6,
        ttft_ms=float(ttft) if isinstance(ttft, int | float) and ttft >= 0 else None,
        service=service[:MAX_LABEL],
        api_key=_text(attrs, sc.API_KEY),
    )


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _text(attrs: dict[str, Any], key: str, *, required: bool = False, limit: int = MAX_LABEL) -> str:
    value = attrs.get(key)
    if value is None or value == "":
        if required:
            raise InvalidSpan(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise InvalidSpan(f"{key} must be a string")
    if len(value) > limit:
        raise InvalidSpan(f"{key} is longer than {limit} characters")
    return value


def _int(attrs: dict[str, Any], key: str, low: int, high: int) -> int:
    value = attrs.get(key, low)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpan(f"{key} must be an integer")
    if not low <= value <= high:
        raise InvalidSpan(f"{key} must be between {low} and {high}")
    return value


def _cost(value: Any) -> Decimal:
    try:
        cost = Decimal(str(value)) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    except InvalidOperation:
        cost = None
    if cost is None or not cost.is_finite() or cost < 0 or cost > MAX_ATTEMPT_COST:
        raise InvalidSpan(f"{sc.COST_USD} must be a decimal between 0 and {MAX_ATTEMPT_COST}")
    return cost.quantize(Decimal("1e-9"))


# --- the fast path: attempt spans straight to spool records --------------------------------------
#
# The collector's CPU goes to reading protobuf attributes from Python (each access builds a wrapper
# object). `extract_records` reads each attribute once, validates it by a per-column rule found by
# key, writes it into a list in `ATTEMPT_SCHEMA` column order, and serialises that list as the
# spool payload (one JSONCompactEachRow line): no dict of attributes, no `AttemptRow`, no second
# pass. Same rules and messages as `attempt_row` (a test feeds both the same spans).

_COLUMNS = ATTEMPT_SCHEMA.names
_AT = {name: i for i, name in enumerate(_COLUMNS)}


def _text_rule(key: str, limit: int = MAX_LABEL) -> Callable[[str | None, AnyValue], object]:
    def rule(kind: str | None, value: AnyValue) -> object:
        if kind is None:
            return ""
        if kind != "string_value":
            raise InvalidSpan(f"{key} must be a string")
        text = value.string_value
        if len(text) > limit:
            raise InvalidSpan(f"{key} is longer than {limit} characters")
        return text

    return rule


def _int_rule(key: str, low: int, high: int) -> Callable[[str | None, AnyValue], object]:
    def rule(kind: str | None, value: AnyValue) -> object:
        if kind is None:
            return low
        if kind != "int_value":
            raise InvalidSpan(f"{key} must be an integer")
        number = value.int_value
        if not low <= number <= high:
            raise InvalidSpan(f"{key} must be between {low} and {high}")
        return number

    return rule


def _bool_rule(kind: str | None, value: AnyValue) -> object:
    return bool(_value(value)) if kind is not None else False


def _finish_rule(kind: str | None, value: AnyValue) -> object:
    if kind == "array_value" and value.array_value.values:
        return str(_value(value.array_value.values[0]))
    return ""


def _ttft_rule(kind: str | None, value: AnyValue) -> object:
    number = value.double_value if kind == "double_value" else value.int_value if kind == "int_value" else None
    return float(number) if number is not None and number >= 0 else None


def _cost_rule(kind: str | None, value: AnyValue) -> object:
    raw = _value(value) if kind is not None else "0"
    return format(_cost(raw), "f")


#: attribute key → (column index, rule(kind, AnyValue) → column value)
_RULES: dict[str, tuple[int, Callable[[str | None, AnyValue], object]]] = {
    sc.REQUEST_ID: (_AT["request_id"], _text_rule(sc.REQUEST_ID)),
    sc.ATTEMPT: (_AT["attempt"], _int_rule(sc.ATTEMPT, 1, 255)),
    sc.DECISION: (_AT["decision"], _text_rule(sc.DECISION)),
    sc.ROUTE: (_AT["route"], _text_rule(sc.ROUTE)),
    sc.TASK: (_AT["task"], _text_rule(sc.TASK)),
    sc.TENANT: (_AT["tenant"], _text_rule(sc.TENANT)),
    sc.FEATURE: (_AT["feature"], _text_rule(sc.FEATURE)),
    sc.TRAFFIC_CLASS: (_AT["traffic_class"], _text_rule(sc.TRAFFIC_CLASS)),
    sc.MODEL: (_AT["model"], _text_rule(sc.MODEL)),
    sc.PROVIDER: (_AT["provider"], _text_rule(sc.PROVIDER)),
    sc.GEN_AI_PROVIDER_NAME: (_AT["provider_name"], _text_rule(sc.GEN_AI_PROVIDER_NAME)),
    sc.GEN_AI_REQUEST_MODEL: (_AT["request_model"], _text_rule(sc.GEN_AI_REQUEST_MODEL)),
    sc.GEN_AI_RESPONSE_MODEL: (_AT["response_model"], _text_rule(sc.GEN_AI_RESPONSE_MODEL)),
    sc.SERVER_ADDRESS: (_AT["server_address"], _text_rule(sc.SERVER_ADDRESS)),
    sc.OUTCOME: (_AT["outcome"], _text_rule(sc.OUTCOME)),
    sc.FAILURE_CLASS: (_AT["failure_class"], _text_rule(sc.FAILURE_CLASS)),
    sc.ERROR_TYPE: (_AT["error_type"], _text_rule(sc.ERROR_TYPE)),
    sc.HTTP_RESPONSE_STATUS_CODE: (_AT["http_status"], _int_rule(sc.HTTP_RESPONSE_STATUS_CODE, 0, 999)),
    sc.GEN_AI_RESPONSE_FINISH_REASONS: (_AT["finish_reason"], _finish_rule),
    sc.BILLABLE: (_AT["billable"], _bool_rule),
    sc.REASON: (_AT["reason"], _text_rule(sc.REASON, MAX_REASON)),
    sc.STREAM: (_AT["stream"], _bool_rule),
    sc.GEN_AI_USAGE_INPUT_TOKENS: (_AT["input_tokens"], _int_rule(sc.GEN_AI_USAGE_INPUT_TOKENS, 0, MAX_TOKENS)),
    sc.GEN_AI_USAGE_OUTPUT_TOKENS: (_AT["output_tokens"], _int_rule(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0, MAX_TOKENS)),
    sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: (
        _AT["cache_read_tokens"],
        _int_rule(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, 0, MAX_TOKENS),
    ),
    sc.COST_USD: (_AT["cost_usd"], _cost_rule),
    sc.PRICE_SOURCE: (_AT["price_source"], _text_rule(sc.PRICE_SOURCE)),
    sc.TTFT_MS: (_AT["ttft_ms"], _ttft_rule),
    sc.API_KEY: (_AT["api_key"], _text_rule(sc.API_KEY)),
}
#: Column values of an attempt span that carries none of the optional attributes.
_DEFAULTS: list[object] = [None] * len(_COLUMNS)
for _key, (_index, _rule) in _RULES.items():
    _DEFAULTS[_index] = _rule(None, AnyValue())
_ATTEMPT_INDEX = _AT["attempt"]
_DURATION_INDEX = _AT["duration_ms"]
_SERVICE_INDEX = _AT["service"]


@dataclass(slots=True)
class ExtractedRecords:
    records: list[tuple[bytes, bytes]] = field(default_factory=list)
    skipped: int = 0
    rejected: int = 0
    first_rejection: str = ""


def extract_records(request: ExportTraceServiceRequest) -> ExtractedRecords:
    """Attempt spans → spool records (key = trace id + span id, payload = one JSONCompactEachRow
    line); other spans skipped, malformed attempt spans rejected alone, all counted."""
    out = ExtractedRecords()
    rules = _RULES
    marker = sc.ATTEMPT_MARKER
    dumps = orjson.dumps
    for resource_spans in request.resource_spans:
        service = ""
        for kv in resource_spans.resource.attributes:
            if kv.key == sc.SERVICE_NAME:
                service = kv.value.string_value[:MAX_LABEL]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                values = _DEFAULTS.copy()
                is_attempt = False
                try:
                    for kv in span.attributes:
                        key = kv.key
                        found = rules.get(key)
                        if found is None:
                            continue
                        if key == marker:
                            is_attempt = True
                        value = kv.value
                        values[found[0]] = found[1](value.WhichOneof("value"), value)
                    if not is_attempt:
                        out.skipped += 1
                        continue
                    out.records.append(_finish_record(span, values, service, dumps))
                except InvalidSpan as exc:
                    if not is_attempt and not any(kv.key == marker for kv in span.attributes):
                        out.skipped += 1  # a foreign span with odd attributes is not ours to judge
                        continue
                    out.rejected += 1
                    out.first_rejection = out.first_rejection or str(exc)
    return out


def _finish_record(span: Any, values: list[object], service: str, dumps: Callable[[Any], bytes]) -> tuple[bytes, bytes]:
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or len(span_id) != 8:
        raise InvalidSpan("trace_id must be 16 bytes and span_id 8 bytes")
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start <= 0 or end < start:
        raise InvalidSpan("span times are missing or end before they start")
    if not values[1]:
        raise InvalidSpan(f"{sc.REQUEST_ID} is required")
    micros = start // 1000
    values[0] = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
    values[3] = trace_id.hex()
    values[4] = span_id.hex()
    values[_DURATION_INDEX] = (end - start) / 1e6
    values[_SERVICE_INDEX] = service
    return trace_id + span_id, dumps(values)
