"""The upstream HTTP path: one pooled connection set for every provider, explicit per-phase deadlines.

httpx's own transport tops out around 250 requests/s through a proxy on this class of machine; the
aiohttp transport (`httpx-aiohttp`) keeps httpx's request, response and exception types at about
1,800/s, so it is the default. The router calls the transport directly: the client's layers (cookie
jar, auth flows, redirect following) are exactly what a proxy must not do — upstream redirects are
never followed, so an upstream 302 to a metadata address cannot become a request the router makes —
and skipping them saves about a tenth of the router's CPU per request. The client still owns the
transport's lifetime.

Deadlines are absolute `time.monotonic()` values enforced with `asyncio.timeout`, so a silent
provider, a slow body and a stalled stream all end exactly when the route's budget says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

#: Open connections to all upstreams together; beyond it requests queue for a free connection.
MAX_CONNECTIONS = 1024
#: Idle keep-alive connections are closed after this many seconds.
KEEPALIVE_EXPIRY_S = 30.0
#: Error bodies are read up to this size; a provider's error page is not worth more.
MAX_ERROR_BODY = 64 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    status: int
    retry_after: str | None
    body: bytes


class Upstream:
    def __init__(
        self, transport: httpx.AsyncBaseTransport | None = None, allowed_private_hosts: frozenset[str] = frozenset()
    ) -> None:
        limits = httpx.Limits(
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_CONNECTIONS,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        if transport is None:
            from httpx_aiohttp import AiohttpTransport

            transport = AiohttpTransport(limits=limits, trust_env=False, client=lambda: _session(allowed_private_hosts))
        self.transport = transport
        self.client = httpx.AsyncClient(transport=transport, limits=limits, follow_redirects=False, trust_env=False)

    def request(self, url: httpx.URL, headers: dict[str, str], body: bytes, connect_s: float) -> httpx.Request:
        timeouts = {"connect": connect_s, "pool": connect_s, "read": None, "write": None}
        return httpx.Request("POST", url, headers=headers, content=body, extensions={"timeout": timeouts})

    async def post(self, request: httpx.Request, first_byte_deadline: float, deadline: float) -> UpstreamAnswer:
        """Send and read the whole answer; raises TimeoutError past either deadline."""
        async with asyncio.timeout_at(_loop_time(first_byte_deadline)):
            response = await self.transport.handle_async_request(request)
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                body = await _read(response, None if response.status_code == 200 else MAX_ERROR_BODY)
        finally:
            await response.aclose()
        return UpstreamAnswer(response.status_code, response.headers.get("retry-after"), body)

    async def open(self, request: httpx.Request, first_byte_deadline: float) -> httpx.Response:
        """Send and wait for the response head of a stream; the caller reads and closes it."""
        async with asyncio.timeout_at(_loop_time(first_byte_deadline)):
            return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.client.aclose()


def _session(allowed_private_hosts: frozenset[str]) -> Any:
    """The aiohttp session behind the transport: pooled, every DNS answer checked (G37)."""
    import aiohttp

    from routeledger.egress import guarded_resolver

    connector = aiohttp.TCPConnector(
        limit=MAX_CONNECTIONS, keepalive_timeout=KEEPALIVE_EXPIRY_S, resolver=guarded_resolver(allowed_private_hosts)
    )
    # No cookie jar: a cookie one upstream answer sets must never ride along on another tenant's
    # request (and filtering cookies per request is a tenth of aiohttp's own cost here).
    return aiohttp.ClientSession(
        connector=connector,
        trust_env=False,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        requote_redirect_url=False,
    )


async def _read(response: httpx.Response, limit: int | None) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_raw():
        parts.append(part)
        size += len(part)
        if limit is not None and size >= limit:
            break
    return b"".join(parts)


def chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    return response.aiter_raw()


def _loop_time(deadline: float) -> float:
    """asyncio deadlines are in the loop's clock; ours are time.monotonic() (the same on CPython)."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


async def read_error_body(response: httpx.Response, deadline: float) -> bytes:
    try:
        async with asyncio.timeout_at(_loop_time(deadline)):
            return await _read(response, MAX_ERROR_BODY)
    finally:
        await response.aclose()
