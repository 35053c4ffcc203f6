"""The router's HTTP surface: OpenAI-compatible endpoints over the engine.

    POST /v1/chat/completions   route by `model: "<route name>"`; tenant and feature from headers
    GET  /v1/models             the routes, in OpenAI's list shape
    GET  /healthz               liveness

`create_app(config)` receives everything; the lifespan owns the shared httpx client and the tracer
provider (flushed on shutdown, so a SIGTERM does not drop finished spans).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from opentelemetry.sdk.trace import TracerProvider
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from routeledger.config import RouteledgerConfig
from router.chat import parse_chat_request
from router.context import RequestContext
from router.engine import Engine
from router.errors import GatewayError, invalid_request, route_not_found
from router.telemetry import SpanRecorder, build_tracer_provider
from router.upstream import build_client

log = logging.getLogger("routeledger.router")

TENANT_HEADER = "x-routeledger-tenant"
FEATURE_HEADER = "x-routeledger-feature"
REQUEST_ID_HEADER = "x-routeledger-request-id"
#: Attribution values end up as LowCardinality columns: short, printable, no surprises.
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,63}$")


def create_app(
    config: RouteledgerConfig,
    *,
    tracer_provider: TracerProvider | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    strict_telemetry: bool = False,
) -> FastAPI:
    """The router app. Pass a tracer provider or transport to observe or redirect it in tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        provider = tracer_provider or build_tracer_provider(config.telemetry)
        client = build_client(transport)
        app.state.engine = Engine(config, client)
        app.state.recorder = SpanRecorder(provider, strict=strict_telemetry)
        try:
            yield
        finally:
            await client.aclose()
            if tracer_provider is None:
                provider.shutdown()

    app = FastAPI(title="routeledger router", lifespan=lifespan, docs_url=None, redoc_url=None)
    _install_error_handlers(app)
    routes_payload = orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "routeledger", "task": route.task}
                for name, route in config.routes.items()
            ],
        }
    )

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.get("/v1/models")
    async def models() -> Response:
        return Response(routes_payload, media_type="application/json")

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request) -> Response:
        request_id = uuid.uuid4().hex
        try:
            return await _chat(app, config, request, request_id)
        except GatewayError as err:
            return err.response({REQUEST_ID_HEADER: request_id})

    return app


async def _chat(app: FastAPI, config: RouteledgerConfig, request: Request, request_id: str) -> Response:
    start_ns = time.time_ns()
    arrived = time.monotonic()
    chat, raw = parse_chat_request(await request.body())
    route = config.routes.get(chat.model)
    if route is None:
        raise route_not_found(chat.model, list(config.routes))
    if chat.stream:
        raise invalid_request("Streaming is not supported by this router yet.", "stream", "unsupported_parameter")
    tenant = _label(request.headers.get(TENANT_HEADER), config.router.default_tenant, TENANT_HEADER)
    if config.tenants and tenant not in config.tenants:
        raise invalid_request(f"Unknown tenant {tenant!r}.", TENANT_HEADER, "unknown_tenant")
    feature = _label(request.headers.get(FEATURE_HEADER), "", FEATURE_HEADER)
    ctx = RequestContext(
        request_id=request_id,
        route_name=chat.model,
        route=route,
        tenant=tenant,
        feature=feature,
        traffic_class=route.traffic_class.value,
        stream=False,
        start_ns=start_ns,
        deadline=arrived + route.timeout_s,
    )
    engine: Engine = app.state.engine
    recorder: SpanRecorder = app.state.recorder
    span = recorder.start_request(ctx)
    result = await engine.run(ctx, chat, raw, lambda outcome: recorder.record_attempt(ctx, span, outcome))
    headers = {REQUEST_ID_HEADER: request_id, "x-routeledger-attempts": str(len(result.attempts))}
    if result.answer is None:
        error = result.error or GatewayError(502, "No answer.", "upstream_error")
        recorder.end_request(span, error.status, len(result.attempts), error.code or error.type)
        return error.response(headers)
    answer = result.answer
    headers["x-routeledger-model"] = answer.model
    headers["x-routeledger-provider"] = answer.provider
    if answer.index > 1 and answer.reason:
        headers["x-routeledger-fallback-reason"] = answer.reason
    recorder.end_request(span, 200, len(result.attempts), None)
    assert answer.completion is not None
    return Response(orjson.dumps(answer.completion.body), media_type="application/json", headers=headers)


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
