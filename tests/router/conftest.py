"""Fixtures shared by the router tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from routeledger.serving import ServerThread


@dataclass
class Sink:
    """An OTLP receiver whose answer the test scripts (200, 503, 400...)."""

    status: int = 200
    bodies: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def spans(self) -> list[Any]:
        out = []
        for body in self.bodies:
            request = ExportTraceServiceRequest.FromString(body)
            out += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
        return out


@pytest.fixture
def sink() -> Iterator[tuple[str, Sink]]:
    state = Sink()

    async def traces(request: Request) -> Response:
        body = await request.body()
        with state.lock:
            if state.status == 200:
                state.bodies.append(body)
        headers = {"retry-after": "0"} if state.status == 503 else None
        return Response(b"", status_code=state.status, media_type="application/x-protobuf", headers=headers)

    with ServerThread(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])) as server:
        yield server.url + "/v1/traces", state
