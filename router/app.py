"""The router's HTTP surface: OpenAI-compatible endpoints over the engine.

    POST /v1/chat/completions     route by `model: "<route name>"`; tenant and feature from headers;
                                  JSON or (stream: true) server-sent events
    GET  /v1/models               the routes, in OpenAI's list shape
    GET  /v1/routeledger/breakers breaker, retry-budget and bulkhead state
    GET  /healthz                 liveness

The chat endpoint is a plain ASGI handler in front of FastAPI: it is the hot path, and FastAPI's
routing, dependency resolution and middleware stack cost about a fifth of the router's CPU per
request while adding nothing a proxy endpoint uses. Everything else is ordinary FastAPI.
`create_app(config)` receives everything; the lifespan owns the upstream client and the tracer
provider (flushed on shutdown, so a SIGTERM does not drop finished spans).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry.sdk.trace import TracerProvider
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from routeledger.config import RouteledgerConfig
from router.chain import Skip
from router.chat import ChatRequest, parse_chat_request
from router.context import RequestContext
from router.engine import Engine
from router.errors import SHOULD_RETRY, GatewayError, invalid_request, route_not_found
from router.outcome import AttemptOutcome
from router.telemetry import SpanRecorder, build_tracer_provider
from router.upstream import Upstream

log = logging.getLogger("routeledger.router")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

TENANT_HEADER = "x-routeledger-tenant"
FEATURE_HEADER = "x-routeledger-feature"
REQUEST_ID_HEADER = "x-routeledger-request-id"
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == CHAT_PATH and scope["method"] == "POST":
            await self.chat(scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def chat(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = uuid.uuid4().hex
        try:
            body = await _read_body(receive, self.config.router.max_body_bytes)
            await self._chat(scope, receive, send, body, request_id)
        except GatewayError as err:
            await _send_error(send, err, request_id)

    async def _chat(self, scope: Scope, receive: Receive, send: Send, body: bytes, request_id: str) -> None:
        config = self.config
        start_ns, arrived = time.time_ns(), time.monotonic()
        chat, raw = parse_chat_request(body)
        route = config.routes.get(chat.model)
        if route is None:
            raise route_not_found(chat.model, list(config.routes))
        headers = _headers(scope)
        tenant = _label(headers.get(TENANT_HEADER), config.router.default_tenant, TENANT_HEADER)
        if config.tenants and tenant not in config.tenants:
            raise invalid_request(f"Unknown tenant {tenant!r}.", TENANT_HEADER, "unknown_tenant")
        options = raw.get("stream_options")
        ctx = RequestContext(
            request_id=request_id,
            route_name=chat.model,
            route=route,
            tenant=tenant,
            feature=_label(headers.get(FEATURE_HEADER), "", FEATURE_HEADER),
            traffic_class=route.traffic_class.value,
            stream=chat.stream,
            start_ns=start_ns,
            deadline=arrived + route.timeouts.total_s,
            include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            client_retries=_client_retries(headers.get(SDK_RETRY_HEADER)),
        )
        engine: Engine = self.state.engine
        recorder: SpanRecorder = self.state.recorder
        span = recorder.start_request(ctx)

        def on_attempt(outcome: AttemptOutcome) -> None:
            recorder.record_attempt(ctx, span, outcome)

        def on_skip(skip: Skip) -> None:
            recorder.record_skip(span, skip.model, skip.reason)

        if chat.stream:
            await self._stream(ctx, chat, raw, receive, send, span, on_attempt, on_skip)
            return
        result = await engine.run(ctx, chat, raw, on_attempt, on_skip)
        attempts = len(result.attempts)
        if result.answer is None or result.answer.completion is None:
            error = result.error or GatewayError(502, "No answer.", "upstream_error")
            recorder.end_request(span, error.status, attempts, error.code or error.type)
            await _send_error(send, error, request_id, attempts)
            return
        answer = result.answer
        payload = answer.completion.body if answer.completion else {}
        if route.policy.notify_fallback and answer.decision.value == "fallback":
            payload = {**payload, "routeledger": {"fallback": True, "reason": answer.reason, "model": answer.model}}
        recorder.end_request(span, 200, attempts, None)
        await _send(send, 200, _answer_headers(request_id, attempts, answer), orjson.dumps(payload))

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
    ) -> None:
        engine: Engine = self.state.engine
        recorder: SpanRecorder = self.state.recorder
        start = await engine.run_stream(ctx, chat, raw, on_attempt, on_skip)
        if start.live is None:
            error = start.error or GatewayError(502, "No answer.", "upstream_error")
            recorder.end_request(span, error.status, len(start.attempts), error.code or error.type)
            await _send_error(send, error, ctx.request_id, len(start.attempts))
            return
        live = start.live
        attempts = len(start.attempts) + 1
        headers = [
            *_SSE,
            (REQUEST_ID_HEADER.encode(), ctx.request_id.encode()),
            (b"x-routeledger-attempts", str(attempts).encode()),
            (b"x-routeledger-model", live.target.name.encode()),
            (b"x-routeledger-provider", live.target.provider_name.encode()),
        ]
        if live.plan.reason:
            headers.append((b"x-routeledger-fallback-reason", live.plan.reason.encode()))
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
) -> RouterApp:
    """The router app. Pass a tracer provider or transport to observe or redirect it in tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provider = tracer_provider or build_tracer_provider(config.telemetry)
        upstream = Upstream(transport)
        app.state.engine = Engine(config, upstream, seed=seed)
        app.state.recorder = SpanRecorder(provider, strict=strict_telemetry)
        try:
            yield
        finally:
            await upstream.aclose()
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

    @api.get("/v1/models")
    async def models() -> Response:
        return Response(routes_payload, media_type="application/json")

    @api.get("/v1/routeledger/breakers")
    async def breakers(request: Request) -> Response:
        engine: Engine = request.app.state.engine
        return Response(orjson.dumps(engine.breaker_state()), media_type="application/json")

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


def _answer_headers(request_id: str, attempts: int, answer: AttemptOutcome) -> list[tuple[bytes, bytes]]:
    headers = [
        *_JSON,
        (REQUEST_ID_HEADER.encode(), request_id.encode()),
        (b"x-routeledger-attempts", str(attempts).encode()),
        (b"x-routeledger-model", answer.model.encode()),
        (b"x-routeledger-provider", answer.provider.encode()),
    ]
    if answer.reason:
        headers.append((b"x-routeledger-fallback-reason", answer.reason.encode()))
    return headers


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
