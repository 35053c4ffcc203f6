"""Attempt spans: one SERVER span per user request, one CLIENT span per upstream attempt.

Names and attributes follow the OpenTelemetry GenAI semantic conventions (`chat {model}`,
`gen_ai.*`) plus our `routeledger.*` attributes (names in `routeledger.semconv`). Prompts and
completions are never recorded. Spans are built after the fact from an attempt's outcome with its
real start and end times, so the hot path does no context juggling and every outcome becomes exactly
one span. Telemetry failures never fail a user request.

Two export paths, the same spans on the wire:
- lean (default): `build_tracer_provider` returns a `LeanTracerProvider`; the recorder encodes each
  span straight to OTLP protobuf (`router.otlpwire`) and hands the bytes to `router.export`, which
  batches, posts, spools to disk while the collector is down and counts every drop.
- otel-sdk: any other `TracerProvider` (the SDK's BatchSpanProcessor + OTLP exporter, or the
  in-memory exporter in tests) gets ordinary SDK spans.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping
from typing import Any

import orjson
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import SpanKind, Status, StatusCode

from routeledger import semconv as sc
from routeledger.config import TelemetryConfig
from routeledger.router.api.context import RequestContext
from routeledger.router.telemetry import otlpwire
from routeledger.router.telemetry.export import LeanExporter
from routeledger.router.telemetry.journal import AttemptJournal
from routeledger.router.telemetry.spool import ExportSpool
from routeledger.router.upstream.outcome import AttemptOutcome

log = logging.getLogger("routeledger.router.telemetry")

TRACER_NAME = "routeledger.router"


class LeanTracerProvider(TracerProvider):
    """Marks the lean path: SDK spans are off (sampler ALWAYS_OFF), the recorder writes OTLP bytes to
    `exporter` instead. Flush and shutdown reach the exporter, so the app's lifespan needs no change."""

    def __init__(self, exporter: LeanExporter, resource: Resource) -> None:
        super().__init__(sampler=ALWAYS_OFF, resource=resource, shutdown_on_exit=False)
        self.exporter = exporter

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis / 1000)

    def shutdown(self) -> None:
        self.exporter.shutdown()
        super().shutdown()


def build_lean_provider(
    config: TelemetryConfig, environ: Mapping[str, str] | None = None, transport: Any = None
) -> LeanTracerProvider:
    env = os.environ if environ is None else environ
    token = env.get(config.token_env, "")
    spool = ExportSpool(config.spool_dir, config.spool_budget_bytes) if config.spool_budget_bytes else None
    journal = AttemptJournal(spool.directory) if spool is not None and config.attempt_journal else None
    exporter = LeanExporter(
        config.otlp_endpoint,
        otlpwire.request_prefix({sc.SERVICE_NAME: config.service_name}, TRACER_NAME),
        spool,
        max_queue=config.max_queue_size,
        batch_size=config.max_export_batch_size,
        delay_s=config.schedule_delay_ms / 1000,
        timeout_s=config.export_timeout_s,
        headers={"authorization": f"Bearer {token}"} if token else None,
        transport=transport,
        journal=journal,
    )
    if journal is not None:
        recover_attempts(journal, exporter)
    return LeanTracerProvider(exporter, Resource.create({sc.SERVICE_NAME: config.service_name}))


def recover_attempts(journal: AttemptJournal, exporter: LeanExporter) -> None:
    """Re-queue what a killed router left in its journal: ended attempts with their real spans,
    attempts that never ended as `incomplete` ones (cost unknown), under their original ids."""
    incomplete = 0
    for entry in journal.recovered:
        span = entry.span
        if span is None:
            span = _incomplete_span(entry.key, entry.begin)
            incomplete += 1
        exporter.record(span, True, entry.key)
    exporter.stats.recovered += len(journal.recovered)
    exporter.stats.recovered_incomplete += incomplete
    if journal.recovered:
        log.warning(
            "re-sending %d attempt spans a previous router process left unexported (%d never finished: incomplete)",
            len(journal.recovered),
            incomplete,
        )


def _incomplete_span(key: bytes, begin: bytes) -> bytes:
    parent_hex, start_ns, name, attributes = orjson.loads(begin)
    return otlpwire.encode_span(
        key[:16],
        key[16:],
        bytes.fromhex(parent_hex),
        name,
        otlpwire.SPAN_KIND_CLIENT,
        start_ns,
        start_ns,
        attributes,
        (),
        True,
    )


def build_tracer_provider(config: TelemetryConfig, exporter: SpanExporter | None = None) -> TracerProvider:
    """A tracer provider exporting over OTLP/HTTP in batches (a bounded queue, never blocking).

    Without an explicit SDK exporter and with `exporter: lean` (the default) this is the lean path.
    With telemetry disabled the SDK is told so (no span objects are built at all)."""
    if config.enabled and exporter is None and config.exporter == "lean":
        return build_lean_provider(config)
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


class LeanRequestSpan:
    """The request span on the lean path: ids, start, attributes and events until it ends."""

    __slots__ = ("attributes", "events", "span_id", "start_ns", "trace_id")

    def __init__(self, trace_id: bytes, span_id: bytes, start_ns: int, attributes: dict[str, Any]) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.start_ns = start_ns
        self.attributes = attributes
        self.events: list[tuple[int, str, Mapping[str, Any]]] = []


class SpanRecorder:
    """Turns request contexts and attempt outcomes into spans."""

    def __init__(self, provider: trace.TracerProvider, *, strict: bool = False) -> None:
        self._tracer = provider.get_tracer(TRACER_NAME)
        self._strict = strict
        self._lean = provider.exporter if isinstance(provider, LeanTracerProvider) else None
        self._journal = self._lean.journal if self._lean is not None else None
        self._ids = random.Random(os.urandom(16))

    @property
    def journaling(self) -> bool:
        """Attempts are journaled before they are sent (`begin_attempt` wants to be called)."""
        return self._journal is not None

    def begin_attempt(self, ctx: RequestContext, parent: Any, started: AttemptOutcome) -> None:
        """Journal an attempt about to be sent, as the `incomplete` attempt it would be if the router
        died before it ended (`started` has outcome incomplete)."""
        if self._journal is None or not isinstance(parent, LeanRequestSpan):
            return
        try:
            name = f"{sc.OPERATION_CHAT} {started.request_model}"
            payload = orjson.dumps([parent.span_id.hex(), started.start_ns, name, attempt_attributes(ctx, started)])
            self._journal.begin(parent.trace_id + attempt_span_id(parent.span_id, started.index), payload)
        except Exception:
            self._failed("attempt journal")

    def start_request(self, ctx: RequestContext) -> Any:
        if self._lean is not None:
            return self._start_lean(ctx)
        return self._tracer.start_span(
            "POST /v1/chat/completions",
            kind=SpanKind.SERVER,
            start_time=ctx.start_ns,
            attributes=request_attributes(ctx),
        )

    def export_stats(self) -> dict[str, int]:
        """Counters of the lean exporter: recorded, exported, spooled, resent, rejected, dropped..."""
        if self._lean is None:
            return {}
        stats = self._lean.stats.as_dict()
        stats["queued"] = self._lean.queued
        spool = self._lean.spool
        stats["spooled_now"] = spool.spans if spool is not None else 0
        stats["spool_bytes"] = spool.size if spool is not None else 0
        return stats

    def _start_lean(self, ctx: RequestContext) -> LeanRequestSpan:
        attributes = request_attributes(ctx)
        bits = self._ids.getrandbits
        return LeanRequestSpan(
            (bits(128) | 1).to_bytes(16, "big"), (bits(64) | 1).to_bytes(8, "big"), ctx.start_ns, attributes
        )

    def record_guardrail(self, span: Any, kind: str, reason: str) -> None:
        if isinstance(span, LeanRequestSpan):
            span.events.append((time.time_ns(), sc.GUARDRAIL_EVENT, {sc.GUARDRAIL: kind, sc.GUARDRAIL_REASON: reason}))
            return
        try:
            span.add_event(sc.GUARDRAIL_EVENT, {sc.GUARDRAIL: kind, sc.GUARDRAIL_REASON: reason})
        except Exception:
            self._failed("guardrail event")

    def record_skip(self, span: Any, model: str, reason: str) -> None:
        if isinstance(span, LeanRequestSpan):
            span.events.append((time.time_ns(), sc.SKIP_EVENT, {sc.SKIPPED_MODEL: model, sc.SKIP_REASON: reason}))
            return
        try:
            span.add_event(sc.SKIP_EVENT, {sc.SKIPPED_MODEL: model, sc.SKIP_REASON: reason})
        except Exception:
            self._failed("skip event")

    def end_request(self, span: Any, status: int, attempts: int, error_type: str | None) -> None:
        if isinstance(span, LeanRequestSpan):
            try:
                self._end_lean(span, status, attempts, error_type)
            except Exception:
                self._failed("request span")
            return
        try:
            span.set_attribute(sc.HTTP_RESPONSE_STATUS_CODE, status)
            span.set_attribute(sc.ATTEMPTS, attempts)
            if error_type:
                span.set_attribute(sc.ERROR_TYPE, error_type)
                span.set_status(Status(StatusCode.ERROR))
            span.end()
        except Exception:
            self._failed("request span")

    def _end_lean(self, span: LeanRequestSpan, status: int, attempts: int, error_type: str | None) -> None:
        attributes = span.attributes
        attributes[sc.HTTP_RESPONSE_STATUS_CODE] = status
        attributes[sc.ATTEMPTS] = attempts
        if error_type:
            attributes[sc.ERROR_TYPE] = error_type
        assert self._lean is not None
        self._lean.record(
            otlpwire.encode_span(
                span.trace_id,
                span.span_id,
                None,
                "POST /v1/chat/completions",
                otlpwire.SPAN_KIND_SERVER,
                span.start_ns,
                time.time_ns(),
                attributes,
                span.events,
                bool(error_type),
            ),
            attempt=False,
        )

    def record_attempt(self, ctx: RequestContext, parent: Any, outcome: AttemptOutcome) -> None:
        if isinstance(parent, LeanRequestSpan):
            try:
                assert self._lean is not None
                span_id = attempt_span_id(parent.span_id, outcome.index)
                encoded = otlpwire.encode_span(
                    parent.trace_id,
                    span_id,
                    parent.span_id,
                    f"{sc.OPERATION_CHAT} {outcome.request_model}",
                    otlpwire.SPAN_KIND_CLIENT,
                    outcome.start_ns,
                    outcome.end_ns,
                    attempt_attributes(ctx, outcome),
                    (),
                    outcome.failure is not None,
                )
                key = b""
                if self._journal is not None:
                    key = parent.trace_id + span_id
                    self._journal.end(key, encoded)
                self._lean.record(encoded, True, key)
            except Exception:
                self._failed("attempt span")
            return
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


def attempt_span_id(request_span_id: bytes, index: int) -> bytes:
    """An attempt's span id follows from its request span's id and its index, so the journal can
    name it before it runs and a recovered span carries the same id as the one it stands for."""
    value = (int.from_bytes(request_span_id, "big") + index * 0x9E3779B97F4A7C15) & 0xFFFF_FFFF_FFFF_FFFF
    return (value or 1).to_bytes(8, "big")


def request_attributes(ctx: RequestContext) -> dict[str, Any]:
    """The attribute set of a request (SERVER) span, on either export path."""
    attributes: dict[str, Any] = {
        sc.HTTP_REQUEST_METHOD: "POST",
        sc.HTTP_ROUTE: "/v1/chat/completions",
        sc.REQUEST_ID: ctx.request_id,
        sc.ROUTE: ctx.route_name,
        sc.TASK: ctx.route.task,
        sc.TENANT: ctx.tenant,
        sc.FEATURE: ctx.feature,
        sc.TRAFFIC_CLASS: ctx.traffic_class,
    }
    if ctx.client_retries:
        attributes[sc.CLIENT_RETRY_COUNT] = ctx.client_retries
    if ctx.key:
        attributes[sc.API_KEY] = ctx.key
    return attributes


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
    elif outcome.error_type:
        attributes[sc.ERROR_TYPE] = outcome.error_type  # a guardrail stop: its code
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


def export_metrics(recorder: SpanRecorder) -> bytes:
    """The span-export counters in Prometheus text format (lean path; empty for the SDK path)."""
    stats = recorder.export_stats()
    lines = []
    for name, value in stats.items():
        metric = f"routeledger_router_spans_{name}" + ("" if name in GAUGES else "_total")
        lines.append(f"# TYPE {metric} {'gauge' if name in GAUGES else 'counter'}\n{metric} {value}\n")
    return "".join(lines).encode()


GAUGES = frozenset({"collector_up", "queued", "spooled_now", "spool_bytes"})
