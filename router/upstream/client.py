"""The upstream HTTP path: one pooled connection set for every provider, explicit per-phase deadlines.

Two clients behind one interface (`router.upstream_client`):
- `raw` (default): `router.rawhttp`, asyncio protocols + httptools with keep-alive pools. The router
  sends one kind of request and must skip what general clients do (redirects, cookies, proxies from
  the environment, decompression); doing only the wire work saves about a third of the router's CPU
  per request against aiohttp behind httpx.
- `aiohttp`: the aiohttp transport for httpx (`httpx-aiohttp`), called directly (no client layers),
  without a cookie jar and with the same guarded resolver. Also the path for a caller-supplied httpx
  transport (tests that observe or redirect traffic).

Both report failures as httpx exceptions, which `router.classify` maps to failure classes. Upstream
redirects are never followed, so an upstream 302 to a metadata address cannot become a request.

Deadlines are absolute `time.monotonic()` values enforced with `asyncio.timeout`, so a silent
provider, a slow body and a stalled stream all end exactly when the route's budget says.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from routeledger.router.upstream.rawhttp import KEEPALIVE_EXPIRY_S, Pool, RawRequest, build_request

#: Open connections to all upstreams together; beyond it requests queue for a free connection.
MAX_CONNECTIONS = 1024
#: Error bodies are read up to this size; a provider's error page is not worth more.
MAX_ERROR_BODY = 64 * 1024

#: A request ready to send, in the form of the client in use.
UpstreamRequest = httpx.Request | RawRequest


class UpstreamResponse(Protocol):
    """What the relay reads of a response, whichever client produced it."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def aiter_raw(self) -> AsyncIterator[bytes]: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class UpstreamAnswer:
    status: int
    retry_after: str | None
    body: bytes


class Upstream:
    def __init__(
        self,
        transport: httpx.AsyncBaseTransport | None = None,
        allowed_private_hosts: frozenset[str] = frozenset(),
        client: str = "raw",
    ) -> None:
        self.raw: Pool | None = None
        if transport is None and client == "raw":
            self.raw = Pool(allowed_private_hosts, MAX_CONNECTIONS)
            return
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

    def request(self, url: httpx.URL, headers: dict[str, str], body: bytes, connect_s: float) -> UpstreamRequest:
        if self.raw is not None:
            return build_request(url, headers, body, connect_s)
        timeouts = {"connect": connect_s, "pool": connect_s, "read": None, "write": None}
        return httpx.Request("POST", url, headers=headers, content=body, extensions={"timeout": timeouts})

    async def post(self, request: UpstreamRequest, first_byte_deadline: float, deadline: float) -> UpstreamAnswer:
        """Send and read the whole answer; raises TimeoutError past either deadline."""
        response = await self.open(request, first_byte_deadline)
        try:
            async with asyncio.timeout_at(_loop_time(deadline)):
                body = await _read(response, None if response.status_code == 200 else MAX_ERROR_BODY)
        finally:
            await response.aclose()
        return UpstreamAnswer(response.status_code, response.headers.get("retry-after"), body)

    async def open(self, request: UpstreamRequest, first_byte_deadline: float) -> UpstreamResponse:
        """Send and wait for the response head; the caller reads and closes the response."""
        if isinstance(request, RawRequest):
            assert self.raw is not None
            async with asyncio.timeout_at(_loop_time(first_byte_deadline)):
                response = await self.raw.send(request)
                try:
                    await response.head
                except BaseException:
                    await response.aclose()
                    raise
                return response
        async with asyncio.timeout_at(_loop_time(first_byte_deadline)):
            return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        if self.raw is not None:
            self.raw.close()
            return
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


async def _read(response: UpstreamResponse, limit: int | None) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for part in response.aiter_raw():
        parts.append(part)
        size += len(part)
        if limit is not None and size >= limit:
            break
    return b"".join(parts)


def chunks(response: UpstreamResponse) -> AsyncIterator[bytes]:
    return response.aiter_raw()


def _loop_time(deadline: float) -> float:
    """asyncio deadlines are in the loop's clock; ours are time.monotonic() (the same on CPython)."""
    loop = asyncio.get_running_loop()
    return loop.time() + (deadline - time.monotonic())


async def read_error_body(response: UpstreamResponse, deadline: float) -> bytes:
    try:
        async with asyncio.timeout_at(_loop_time(deadline)):
            return await _read(response, MAX_ERROR_BODY)
    finally:
        await response.aclose()
