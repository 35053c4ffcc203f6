"""The router's HTTP surface: OpenAI-compatible endpoints over the engine.

    POST /v1/chat/completions     route by `model: "<route name>"`; tenant and feature from headers;
                                  JSON or (stream: true) server-sent events
    GET  /v1/models               the routes, in OpenAI's list shape
    GET  /v1/routeledger/breakers breaker, retry-budget and bulkhead state
    GET  /healthz                 liveness
    GET  /metrics                 span-export counters (Prometheus text)

The chat endpoint is a plain ASGI handler in front of FastAPI: it is the hot path, and FastAPI's
routing, dependency resolution and middleware stack cost about a fifth of the router's CPU per
request while adding nothing a proxy endpoint uses. Everything else is ordinary FastAPI.
`create_app(config)` receives everything; the lifespan owns the upstream client and the tracer
provider (flushed on shutdown, so a SIGTERM does not drop finished spans).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry.sdk.trace import TracerProvider
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from routeledger.attempt import Decision
from routeledger.config import RouteledgerConfig
from routeledger.guardrails import OnExhausted, TrafficClass
from routeledger.router.api.chat import ChatRequest, parse_chat_request
from routeledger.router.api.context import RequestContext
from routeledger.router.api.errors import SHOULD_RETRY, GatewayError, invalid_request, route_not_found
from routeledger.router.api.principal import Principal
from routeledger.router.ingress.auth import Authenticator
from routeledger.router.ingress.keeper import StateKeeper
from routeledger.router.policy.chain import Skip
from routeledger.router.policy.engine import Engine
from routeledger.router.policy.guard import Guardrails, RequestGuard
from routeledger.router.policy.state import StateUnavailable, open_state
from routeledger.router.telemetry.spans import SpanRecorder, build_tracer_provider, export_metrics
from routeledger.router.upstream.client import Upstream
from routeledger.router.upstream.outcome import AttemptOutcome, guardrail_stop
from routeledger.store import AttemptStore

log = logging.getLogger("routeledger.router")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TENANT_HEADER = "x-routeledger-tenant"
FEATURE_HEADER = "x-routeledger-feature"
REQUEST_ID_HEADER = "x-routeledger-request-id"
CLASS_HEADER = "x-routeledger-traffic-class"
DEGRADED = b"x-routeledger-degraded"
SDK_RETRY_HEADER = "x-stainless-retry-count"
CHAT_PATH = "/v1/chat/completions"
#: Attribution values end up as LowCardinality columns: short, printable, no surprises.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,63}$")
_JSON = [(b"content-type", b"application/json")]
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]


class RouterApp:
    """ASGI entry: the chat endpoint handled directly, everything else by FastAPI."""

    def __init__(self, config: RouteledgerConfig, api: FastAPI) -> None:
        self.config = config
        self.api = api
        self.state = api.state
        self.auth = Authenticator(config)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == CHAT_PATH and scope["method"] == "POST":
            await self.chat(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = os.urandom(16).hex()  # uuid4().hex costs 5x more for the same 128 random bits
        try:
            headers = _headers(scope)
            guardrails: Guardrails = self.state.guardrails
            try:
                principal = self.auth.authenticate(headers.get("authorization"))
            except GatewayError:
                guardrails.decisions["unauthorized"] += 1
                raise
            body = await _read_body(receive, self.config.router.max_body_bytes)
            await self._chat(scope, receive, send, body, request_id, headers, principal)
        except GatewayError as err:
            await _send_error(send, err, request_id)

    async def _chat(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        request_id: str,
        headers: dict[str, str],
        principal: Principal,
    ) -> None:
        start_ns, arrived = time.time_ns(), time.monotonic()
        chat, raw = parse_chat_request(body)
        ctx = self._context(chat, raw, headers, principal, request_id, start_ns, arrived)
        route = ctx.route
        engine: Engine = self.state.engine
        recorder: SpanRecorder = self.state.recorder
        guardrails: Guardrails = self.state.guardrails
        span = recorder.start_request(ctx)
        guard = await guardrails.open_request(ctx, principal)
        if guard.blocked is not None:
            blocked = guard.blocked
            self._record_decisions(span, guard, blocked)
            primary = engine.targets[route.chain[0]]
            recorder.record_attempt(ctx, span, guardrail_stop(1, Decision.FIRST, primary, blocked))
            recorder.end_request(span, blocked.status, 0, blocked.code or blocked.type)
            raise blocked

        def on_attempt(outcome: AttemptOutcome) -> None:
            recorder.record_attempt(ctx, span, outcome)

        def on_skip(skip: Skip) -> None:
            recorder.record_skip(span, skip.model, skip.reason)

        def on_begin(outcome: AttemptOutcome) -> None:
            recorder.begin_attempt(ctx, span, outcome)

        begin = on_begin if recorder.journaling else None
        if chat.stream:
            await self._stream(ctx, chat, raw, receive, send, span, on_attempt, on_skip, guard, begin)
            return
        result = await engine.run(ctx, chat, raw, on_attempt, on_skip, guard, begin)
        attempts = len(result.attempts)
        self._record_decisions(span, guard, result.error)
        if result.answer is None or result.answer.completion is None:
            error = result.error or GatewayError(502, "No answer.", "upstream_error")
            fallback = exhausted_answer(ctx, guard, error, request_id)
            if fallback is not None:
                recorder.end_request(span, 200, attempts, "default_response")
                await _send(
                    send, 200, [*_JSON, *_id_headers(request_id, attempts), (DEGRADED, b"default_response")], fallback
                )
                return
            error = retry_later(guard, error)
            recorder.end_request(span, error.status, attempts, error.code or error.type)
            await _send_error(send, error, request_id, attempts)
            return
        answer = result.answer
        payload = answer.completion.body if answer.completion else {}
        if route.policy.notify_fallback and answer.decision.value == "fallback":
            payload = {**payload, "routeledger": {"fallback": True, "reason": answer.reason, "model": answer.model}}
        recorder.end_request(span, 200, attempts, None)
        response_headers = _answer_headers(request_id, attempts, answer, guard)
        await _send(send, 200, response_headers, orjson.dumps(payload))

    def _context(
        self,
        chat: ChatRequest,
        raw: dict[str, Any],
        headers: dict[str, str],
        principal: Principal,
        request_id: str,
        start_ns: int,
        arrived: float,
    ) -> RequestContext:
        """Route, tenant and traffic class of the request, as the key allows them."""
        config = self.config
        route = config.routes.get(chat.model)
        if route is None or not principal.may_call(chat.model):
            if route is not None:
                raise GatewayError(
                    403,
                    f"This API key may not call route {chat.model!r}.",
                    "permission_error",
                    "route_not_allowed",
                    "model",
                )
            raise route_not_found(chat.model, [r for r in config.routes if principal.may_call(r)])
        asked_tenant = headers.get(TENANT_HEADER)
        if principal.tenant is not None:
            if asked_tenant and asked_tenant != principal.tenant:
                raise GatewayError(
                    403, "This API key belongs to another tenant.", "permission_error", "tenant_mismatch"
                )
            tenant = principal.tenant
        else:
            tenant = _label(asked_tenant, config.router.default_tenant, TENANT_HEADER)
            if config.tenants and tenant not in config.tenants:
                raise invalid_request(f"Unknown tenant {tenant!r}.", TENANT_HEADER, "unknown_tenant")
        traffic_class = route.traffic_class
        asked_class = headers.get(CLASS_HEADER)
        if asked_class:
            try:
                traffic_class = TrafficClass(asked_class)
            except ValueError:
                raise invalid_request(
                    f"Unknown traffic class {asked_class!r}.", CLASS_HEADER, "unknown_traffic_class"
                ) from None
            if traffic_class not in principal.classes:
                raise GatewayError(
                    403, f"This API key may not send {asked_class} traffic.", "permission_error", "class_not_allowed"
                )
        options = raw.get("stream_options")
        return RequestContext(
            request_id=request_id,
            route_name=chat.model,
            route=route,
            tenant=tenant,
            feature=_label(headers.get(FEATURE_HEADER), "", FEATURE_HEADER),
            traffic_class=traffic_class.value,
            stream=chat.stream,
            start_ns=start_ns,
            deadline=arrived + route.timeouts.total_s,
            include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            client_retries=_client_retries(headers.get(SDK_RETRY_HEADER)),
            key=principal.key,
        )

    def _record_decisions(self, span: Any, guard: RequestGuard | None, error: GatewayError | None) -> None:
        recorder: SpanRecorder = self.state.recorder
        for decision in guard.decisions if guard else ():
            recorder.record_guardrail(span, decision.kind, decision.reason)
        if guard is None and error is not None and error.code:
            recorder.record_guardrail(span, error.code, error.message)

    async def _stream(
        self,
        ctx: RequestContext,
        chat: ChatRequest,
        raw: dict[str, Any],
        receive: Receive,
        send: Send,
        span: Any,
        on_attempt: Callable[[AttemptOutcome], None],
        on_skip: Callable[[Skip], None],
        guard: RequestGuard,
        on_begin: Callable[[AttemptOutcome], None] | None,
    ) -> None:
        engine: Engine = self.state.engine
        recorder: SpanRecorder = self.state.recorder
        start = await engine.run_stream(ctx, chat, raw, on_attempt, on_skip, guard, on_begin)
        self._record_decisions(span, guard, start.error)
        if start.live is None or start.plan is None:
            error = retry_later(guard, start.error or GatewayError(502, "No answer.", "upstream_error"))
            recorder.end_request(span, error.status, len(start.attempts), error.code or error.type)
            await _send_error(send, error, ctx.request_id, len(start.attempts))
            return
        live, plan = start.live, start.plan
        attempts = len(start.attempts) + 1
        headers = [
            *_SSE,
            (REQUEST_ID_HEADER.encode(), ctx.request_id.encode()),
            (b"x-routeledger-attempts", str(attempts).encode()),
            (b"x-routeledger-model", live.target.name.encode()),
            (b"x-routeledger-provider", live.target.provider_name.encode()),
        ]
        if plan.reason:
            headers.append((b"x-routeledger-fallback-reason", plan.reason.encode()))
        degraded = _degraded(plan.degraded, guard)
        if degraded:
            headers.append((DEGRADED, degraded))
        await send({"type": "http.response.start", "status": 200, "headers": headers})

        async def send_chunk(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        relay = asyncio.ensure_future(live.relay(send_chunk, on_attempt))
        watcher = asyncio.ensure_future(_wait_disconnect(receive))
        await asyncio.wait({relay, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if not relay.done():
            relay.cancel()
        watcher.cancel()
        try:
            outcome = await relay
        except asyncio.CancelledError:
            recorder.end_request(span, 499, attempts, "client_disconnected")
            return
        recorder.end_request(span, 200, attempts, outcome.failure.value if outcome.failure else None)
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def create_app(
    config: RouteledgerConfig,
    *,
    tracer_provider: TracerProvider | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    strict_telemetry: bool = False,
    seed: int | None = None,
    ledger: Callable[[], AttemptStore] | None = None,
) -> RouterApp:
    """The router app. Pass a tracer provider or transport to observe or redirect it in tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provider = tracer_provider or build_tracer_provider(config.telemetry)
        allowed = frozenset(
            (urlsplit(p.base_url).hostname or "").lower() for p in config.providers.values() if p.allow_private_network
        )
        upstream = Upstream(transport, allowed, config.router.upstream_client)
        engine = Engine(config, upstream, seed=seed)
        state = open_state(config.guardrails.state)
        app.state.engine = engine
        app.state.recorder = SpanRecorder(provider, strict=strict_telemetry)
        app.state.guardrails = Guardrails(config, state)
        keeper = StateKeeper(config, engine, state, ledger)
        await keeper.start()
        try:
            yield
        finally:
            await keeper.stop()
            await upstream.aclose()
            await state.close()
            if tracer_provider is None:
                provider.shutdown()

    api = FastAPI(title="routeledger router", lifespan=lifespan, docs_url=None, redoc_url=None)
    _install_error_handlers(api)
    routes_payload = orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "routeledger", "task": route.task}
                for name, route in config.routes.items()
            ],
        }
    )

    @api.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @api.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(export_metrics(request.app.state.recorder), media_type="text/plain; version=0.0.4")

    @api.get("/v1/models")
    async def models() -> Response:
        return Response(routes_payload, media_type="application/json")

    @api.get("/v1/routeledger/breakers")
    async def breakers(request: Request) -> Response:
        engine: Engine = request.app.state.engine
        return Response(orjson.dumps(engine.breaker_state()), media_type="application/json")

    @api.get("/v1/routeledger/guardrails")
    async def guardrail_counts(request: Request) -> Response:
        guardrails: Guardrails = request.app.state.guardrails
        try:
            budgets: object = await guardrails.budgets()
        except StateUnavailable as exc:
            budgets = {"error": str(exc)}
        payload = {"decisions": dict(guardrails.decisions), "budgets": budgets}
        return Response(orjson.dumps(payload), media_type="application/json")

    return RouterApp(config, api)


# --- ASGI plumbing -------------------------------------------------------------------------------


async def _read_body(receive: Receive, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GatewayError(499, "The client closed the request.", "cancelled", "client_closed_request")
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise GatewayError(
                413, f"The request body exceeds {limit} bytes.", "invalid_request_error", "request_too_large"
            )
        parts.append(part)
        if not message.get("more_body"):
            return b"".join(parts)


async def _wait_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


def _id_headers(request_id: str, attempts: int) -> list[tuple[bytes, bytes]]:
    return [(REQUEST_ID_HEADER.encode(), request_id.encode()), (b"x-routeledger-attempts", str(attempts).encode())]


def _degraded(weaker_model: bool, guard: RequestGuard | None) -> bytes | None:
    """Why the answer is degraded, if it is: a budget downgrade, or a weaker model than the primary."""
    if guard is not None and guard.downgrade:
        return b"budget"
    return b"weaker_model" if weaker_model else None


def _answer_headers(
    request_id: str, attempts: int, answer: AttemptOutcome, guard: RequestGuard | None = None
) -> list[tuple[bytes, bytes]]:
    headers = [
        *_JSON,
        *_id_headers(request_id, attempts),
        (b"x-routeledger-model", answer.model.encode()),
        (b"x-routeledger-provider", answer.provider.encode()),
    ]
    if answer.reason:
        headers.append((b"x-routeledger-fallback-reason", answer.reason.encode()))
    degraded = _degraded(answer.degraded, guard)
    if degraded:
        headers.append((DEGRADED, degraded))
    return headers


#: Codes of errors that mean "no model could answer" (as opposed to "this request is refused").
_EXHAUSTED_CODES = frozenset({"upstream_unavailable", "no_equivalent_model"})


def exhausted_answer(
    ctx: RequestContext, guard: RequestGuard | None, error: GatewayError, request_id: str
) -> bytes | None:
    """The route's default answer, for classes that prefer a degraded answer to an error."""
    if guard is None or guard.class_policy.on_exhausted is not OnExhausted.DEFAULT_RESPONSE:
        return None
    if error.code not in _EXHAUSTED_CODES or ctx.route.default_response is None:
        return None
    body = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "routeledger-default-response",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ctx.route.default_response},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    return orjson.dumps(body)


def retry_later(guard: RequestGuard | None, error: GatewayError) -> GatewayError:
    """Classes that queue (internal, batch) get a come-back-later answer instead of a final error."""
    if (
        guard is None
        or guard.class_policy.on_exhausted is not OnExhausted.RETRY_LATER
        or error.code not in _EXHAUSTED_CODES
    ):
        return error
    wait = guard.class_policy.retry_later_s
    return GatewayError(
        503,
        f"{error.message} This traffic class queues: retry in {wait} seconds.",
        "upstream_error",
        "retry_later",
        headers={"retry-after": str(wait)},
        should_retry=True,
    )


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, error: GatewayError, request_id: str, attempts: int | None = None) -> None:
    headers = [
        *_JSON,
        (SHOULD_RETRY.encode(), b"true" if error.should_retry else b"false"),
        (REQUEST_ID_HEADER.encode(), request_id.encode()),
        *((k.encode(), v.encode()) for k, v in error.headers.items()),
    ]
    if attempts is not None:
        headers.append((b"x-routeledger-attempts", str(attempts).encode()))
    await _send(send, error.status, headers, orjson.dumps(error.body()))


def _client_retries(value: str | None) -> int:
    return int(value) if value and value.isdigit() and len(value) < 4 else 0


def _label(value: str | None, default: str, header: str) -> str:
    if value is None or value == "":
        return default
    if not _LABEL.match(value):
        raise invalid_request(
            f"Header {header} must be 1-64 letters, digits or '_.:-/' characters.", header, "invalid_header"
        )
    return value


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> Response:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return invalid_request(f"Invalid request: {exc.errors()[0].get('msg', 'invalid')}").response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        kind = "not_found" if exc.status_code == 404 else "invalid_request_error"
        return GatewayError(exc.status_code, str(exc.detail), kind, None).response()

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error in the router")
        return GatewayError(500, "Internal router error.", "internal_error", "internal_error").response()
