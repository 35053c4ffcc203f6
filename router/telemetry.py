"""Attempt spans: one SERVER span per user request, one CLIENT span per upstream attempt.

Names and attributes follow the OpenTelemetry GenAI semantic conventions (`chat {model}`,
`gen_ai.*`) plus our `routeledger.*` attributes (names in `routeledger.semconv`). Prompts and
completions are never recorded. Spans are built after the fact from an attempt's outcome with its
real start and end times, so the hot path does no context juggling and every outcome becomes exactly
one span. Telemetry failures never fail a user request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode

from routeledger import semconv as sc
from routeledger.config import TelemetryConfig
from router.context import RequestContext
from router.outcome import AttemptOutcome

log = logging.getLogger("routeledger.router.telemetry")

TRACER_NAME = "routeledger.router"


def build_tracer_provider(config: TelemetryConfig, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider exporting over OTLP/HTTP in batches (a bounded queue, never blocking).

    With telemetry disabled the SDK is told so (no span objects are built at all)."""
    provider = TracerProvider(resource=Resource.create({sc.SERVICE_NAME: config.service_name}), shutdown_on_exit=False)
    if not config.enabled:
        provider = TracerProvider(sampler=ALWAYS_OFF, shutdown_on_exit=False)
    if config.enabled:
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter(endpoint=config.otlp_endpoint)
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=config.max_queue_size,
                max_export_batch_size=config.max_export_batch_size,
                schedule_delay_millis=config.schedule_delay_ms,
            )
        )
    return provider


class SpanRecorder:
    """Turns request contexts and attempt outcomes into spans."""

    def __init__(self, provider: trace.TracerProvider, *, strict: bool = False) -> None:
        self._tracer = provider.get_tracer(TRACER_NAME)
        self._strict = strict

    def start_request(self, ctx: RequestContext) -> trace.Span:
        span = self._tracer.start_span(
            "POST /v1/chat/completions",
            kind=SpanKind.SERVER,
            start_time=ctx.start_ns,
            attributes={
                sc.HTTP_REQUEST_METHOD: "POST",
                sc.HTTP_ROUTE: "/v1/chat/completions",
                sc.REQUEST_ID: ctx.request_id,
                sc.ROUTE: ctx.route_name,
                sc.TASK: ctx.route.task,
                sc.TENANT: ctx.tenant,
                sc.FEATURE: ctx.feature,
                sc.TRAFFIC_CLASS: ctx.traffic_class,
            },
        )
        if ctx.client_retries:
            span.set_attribute(sc.CLIENT_RETRY_COUNT, ctx.client_retries)
        if ctx.key:
            span.set_attribute(sc.API_KEY, ctx.key)
        return span

    def record_guardrail(self, span: trace.Span, kind: str, reason: str) -> None:
        try:
            span.add_event(sc.GUARDRAIL_EVENT, {sc.GUARDRAIL: kind, sc.GUARDRAIL_REASON: reason})
        except Exception:
            self._failed("guardrail event")

    def record_skip(self, span: trace.Span, model: str, reason: str) -> None:
        try:
            span.add_event(sc.SKIP_EVENT, {sc.SKIPPED_MODEL: model, sc.SKIP_REASON: reason})
        except Exception:
            self._failed("skip event")

    def end_request(self, span: trace.Span, status: int, attempts: int, error_type: str | None) -> None:
        try:
            span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status)
            span.set_attribute(sc.ATTEMPTS, attempts)
            if error_type:
                span.set_attribute(sc.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        except Exception:
            self._failed("request span")

    def record_attempt(self, ctx: RequestContext, parent: trace.Span, outcome: AttemptOutcome) -> None:
        try:
            span = self._tracer.start_span(
                f"{sc.OPERATION_CHAT} {outcome.request_model}",
                context=trace.set_span_in_context(parent),
                kind=SpanKind.CLIENT,
                start_time=outcome.start_ns,
                attributes=attempt_attributes(ctx, outcome),
            )
            if outcome.failure is not None:
                span.set_status(Status(StatusCode.ERROR))
            span.end(end_time=outcome.end_ns)
        except Exception:
            self._failed("attempt span")

    def _failed(self, what: str) -> None:
        if self._strict:
            raise
        log.exception("could not record the %s; the request is unaffected", what)


def attempt_attributes(ctx: RequestContext, outcome: AttemptOutcome) -> Mapping[str, Any]:
    """The full attribute set of one attempt span (the contract the collector reads)."""
    usage = outcome.usage
    attributes: dict[str, Any] = {
        sc.GEN_AI_OPERATION_NAME: sc.OPERATION_CHAT,
        sc.GEN_AI_PROVIDER_NAME: outcome.provider_system,
        sc.GEN_AI_REQUEST_MODEL: outcome.request_model,
        sc.SERVER_ADDRESS: outcome.server_address,
        sc.REQUEST_ID: ctx.request_id,
        sc.ATTEMPT: outcome.index,
        sc.DECISION: outcome.decision.value,
        sc.ROUTE: ctx.route_name,
        sc.TASK: ctx.route.task,
        sc.TENANT: ctx.tenant,
        sc.FEATURE: ctx.feature,
        sc.TRAFFIC_CLASS: ctx.traffic_class,
        sc.MODEL: outcome.model,
        sc.PROVIDER: outcome.provider,
        sc.COST_USD: str(outcome.cost),
        sc.PRICE_SOURCE: outcome.price_source,
        sc.BILLABLE: outcome.billable,
        sc.OUTCOME: outcome.outcome.value,
        sc.STREAM: outcome.stream,
        sc.FAILURE_CLASS: outcome.failure.value if outcome.failure else "",
        sc.GEN_AI_USAGE_INPUT_TOKENS: usage.input_tokens if usage else 0,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: usage.output_tokens if usage else 0,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: usage.cache_read_tokens if usage else 0,
    }
    if outcome.response_model:
        attributes[sc.GEN_AI_RESPONSE_MODEL] = outcome.response_model
    if outcome.finish_reason:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = (outcome.finish_reason,)
    if outcome.http_status:
        attributes[sc.HTTP_RESPONSE_STATUS_CODE] = outcome.http_status
    if outcome.failure is not None:
        attributes[sc.ERROR_TYPE] = outcome.error_type or outcome.failure.value
    if outcome.reason:
        attributes[sc.REASON] = outcome.reason
    if outcome.ttft_ms is not None:
        attributes[sc.TTFT_MS] = outcome.ttft_ms
    if outcome.usage_estimated:
        attributes[sc.USAGE_ESTIMATED] = True
    if outcome.probe:
        attributes[sc.BREAKER_PROBE] = True
    if outcome.degraded:
        attributes[sc.DEGRADED] = True
    if ctx.key:
        attributes[sc.API_KEY] = ctx.key
    return attributes
