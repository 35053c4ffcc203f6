"""The reference extractor: attempt spans → `AttemptRow`s in plain Python, one attribute at a time.

It was the collector's first implementation; the collector now decodes and checks whole requests as
arrays (`collector.spans`), and tests hold the two to the same answers. Kept readable, not fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from routeledger import semconv as sc
from routeledger.attempt import AttemptRow
from routeledger.collector.spans import MAX_ATTEMPT_COST, MAX_LABEL, MAX_REASON, MAX_TOKENS


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
