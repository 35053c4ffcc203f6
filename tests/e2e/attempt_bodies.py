"""OTLP/protobuf request bodies of N attempt spans each, every copy with span keys of its own.

A drill that sends hundreds of thousands of spans must not spend its time encoding them: one body
is encoded once (the router's own `otlpwire` encoder and attempt attribute set, so the collector sees
exactly what a router sends) and each copy only patches the trace ids and the request ids in place.
Copy `k` carries trace ids `ee…ee ‖ k ‖ i` and request ids `req-<i>-<k as 8 hex digits>`, so the
rows of one body are found again in the store by the last 8 characters of their request id.
(`bench/ingest.py` uses the same bodies: what the drills and the benchmark send is one thing.)
"""

from __future__ import annotations

import time
from decimal import Decimal

from routeledger.attempt import Decision, Outcome
from routeledger.config import parse_config
from routeledger.pricing import Usage
from routeledger.router.api.context import RequestContext
from routeledger.router.telemetry.otlpwire import SPAN_KIND_CLIENT, encode_request, encode_span, request_prefix
from routeledger.router.telemetry.spans import attempt_attributes
from routeledger.router.upstream.outcome import AttemptOutcome

_TRACE_MARK, _SPAN_MARK, _BODY_MARK = b"\xee" * 12, b"\xdd" * 4, b"XXXXXXXX"


def sample_attempt() -> tuple[RequestContext, AttemptOutcome]:
    """A realistic attempt: a fallback that succeeded, with usage, cost, finish reason and TTFT."""
    config = parse_config(
        {
            "providers": {"alpha": {"kind": "openai", "base_url": "https://api.openai.com/v1"}},
            "models": {
                "alpha-4o": {
                    "provider": "alpha",
                    "upstream": "gpt-4o",
                    "price": {"input_per_mtok": 2.5, "output_per_mtok": 10},
                    "context_window": 128000,
                }
            },
            "routes": {"support": {"task": "support_chat", "chain": ["alpha-4o"]}},
        },
        "drill",
    )
    now = time.time_ns()
    ctx = RequestContext(
        request_id="req",
        route_name="support",
        route=config.routes["support"],
        tenant="acme",
        feature="chat",
        traffic_class="critical",
        stream=False,
        start_ns=now,
        deadline=time.monotonic() + 30,
    )
    outcome = AttemptOutcome(
        index=2,
        decision=Decision.FALLBACK,
        model="alpha-4o",
        provider="alpha",
        provider_system="openai",
        request_model="gpt-4o",
        server_address="api.openai.com",
        start_ns=now,
        end_ns=now + 25_000_000,
        outcome=Outcome.SUCCESS,
        failure=None,
        http_status=200,
        error_type="",
        completion=None,
        upstream_error=None,
        usage=Usage(13, 32),
        cost=Decimal("0.000352500"),
        price_source="genai-prices",
        billable=True,
        reason="rate_limited",
        ttft_ms=12.5,
        response_model_name="gpt-4o-2024-08-06",
        finish="stop",
    )
    return ctx, outcome


class AttemptBodies:
    """`copy(k)` is body number `k`: `n` attempt spans whose keys no other copy shares."""

    def __init__(self, n: int) -> None:
        ctx, outcome = sample_attempt()
        attributes = dict(attempt_attributes(ctx, outcome))
        start = time.time_ns()
        spans = []
        for i in range(n):
            attributes["routeledger.request_id"] = f"req-{i:08d}-{_BODY_MARK.decode()}"
            spans.append(
                encode_span(
                    _TRACE_MARK + i.to_bytes(4, "big"),
                    _SPAN_MARK + i.to_bytes(4, "big"),
                    b"\x01" * 8,
                    "chat gpt-4o",
                    SPAN_KIND_CLIENT,
                    start,
                    start + 25_000_000,
                    attributes,
                )
            )
        self.n = n
        self._body = bytearray(encode_request(request_prefix({"service.name": "drill"}, "drill"), spans))
        self._trace_at = _find_all(self._body, _TRACE_MARK)
        self._request_at = _find_all(self._body, _BODY_MARK)
        assert len(self._trace_at) == len(self._request_at) == n

    def copy(self, k: int) -> bytes:
        tag = k.to_bytes(4, "big")
        text = body_tag(k).encode()
        for at in self._trace_at:
            self._body[at + 8 : at + 12] = tag
        for at in self._request_at:
            self._body[at : at + 8] = text
        return bytes(self._body)


def body_tag(k: int) -> str:
    """The last 8 characters of the request id of every span in body `k`."""
    return f"{k:08x}"


def _find_all(data: bytearray, needle: bytes) -> list[int]:
    out, at = [], data.find(needle)
    while at >= 0:
        out.append(at)
        at = data.find(needle, at + len(needle))
    return out
