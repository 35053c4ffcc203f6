"""A minimal HTTP/1.1 client for the upstream path: asyncio protocols, httptools, keep-alive pools.

Why not a general client: the router sends one kind of request (a POST with a JSON body to a handful
of provider endpoints) and must not do what general clients do (follow redirects, keep cookies,
decompress, read proxy settings from the environment). aiohttp behind httpx spent about a third of
the router's CPU per request on exactly those layers; this does the wire work and nothing else, and
reports failures as the httpx exceptions the failure taxonomy (`router.classify`) already maps:

    refused / unreachable / DNS          httpx.ConnectError (no cause: nothing was sent)
    connect slower than the phase limit  httpx.ConnectTimeout
    egress policy                        httpx.ConnectError caused by EgressRefused (never retried)
    closed before the response head      httpx.RemoteProtocolError
    closed in the middle of the body     httpx.ReadError
    a malformed response                 httpx.RemoteProtocolError

TLS uses the system trust store (`ssl.create_default_context`). Every DNS answer is judged by the
egress policy before connecting (reliability plan G37), as the aiohttp resolver did.
"""

from __future__ import annotations

import asyncio
import collections
import socket
import ssl
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httptools
import httpx

from routeledger.egress import EgressRefused, address_reason

#: Idle keep-alive connections are closed after this many seconds.
KEEPALIVE_EXPIRY_S = 30.0
#: DNS answers are reused for this long (as aiohttp's default cache did).
DNS_TTL_S = 10.0


@dataclass(frozen=True, slots=True)
class RawRequest:
    """A request ready for the wire: the pool it goes to and its bytes."""

    host: str
    port: int
    tls: bool
    head: bytes  # request line and headers, with the blank line
    body: bytes
    connect_s: float


class RawResponse:
    """The response as the relay reads it: status, headers, raw body chunks, close."""

    __slots__ = ("_chunks", "_conn", "_error", "_waiter", "complete", "head", "headers", "status_code")

    def __init__(self, conn: _Connection) -> None:
        self._conn: _Connection | None = conn
        self.status_code = 0
        self.headers: dict[str, str] = {}
        self.head: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: BaseException | None = None
        self.complete = False

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        while True:
            while self._chunks:
                yield self._chunks.popleft()
            if self._error is not None:
                raise self._error
            if self.complete:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter

    async def aclose(self) -> None:
        """A response closed before its end leaves the connection unusable: close it."""
        conn, self._conn = self._conn, None
        if conn is not None and not self.complete:
            conn.abort()

    # --- fed by the connection ------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _push(self, chunk: bytes) -> None:
        self._chunks.append(chunk)
        self._wake()

    def _finish(self) -> None:
        self.complete = True
        self._conn = None
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self.head.done():
            self.head.set_exception(error)
            self.head.exception()  # retrieved here: a caller that timed out must not leave it unread
        elif not self.complete:
            self._error = error
            self._wake()


class _Connection(asyncio.Protocol):
    def __init__(self, pool: Pool, key: tuple[str, int, bool]) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.response: RawResponse | None = None
        self.closed = False
        self.idle_since = 0.0

    def send(self, request: RawRequest) -> RawResponse:
        assert self.transport is not None
        self.response = response = RawResponse(self)
        self.transport.write(request.head + request.body)
        return response

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._failed(httpx.RemoteProtocolError("the provider tried to upgrade the connection"))
        except httptools.HttpParserError as exc:
            self._failed(httpx.RemoteProtocolError(f"malformed HTTP response: {exc}"))

    def eof_received(self) -> bool | None:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.slots.release()
        response = self.response
        if response is None or response.complete:
            return
        if not response.head.done():
            response._fail(httpx.RemoteProtocolError("the provider closed the connection without a response"))
        else:
            response._fail(httpx.ReadError("the provider closed the connection in the middle of the response"))

    def _failed(self, error: BaseException) -> None:
        if self.response is not None:
            self.response._fail(error)
        self.abort()

    # --- httptools callbacks --------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.response is not None
        self.response.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        response = self.response
        assert response is not None
        response.status_code = self.parser.get_status_code()
        if not response.head.done():
            response.head.set_result(None)

    def on_body(self, body: bytes) -> None:
        assert self.response is not None
        self.response._push(body)

    def on_message_complete(self) -> None:
        response, self.response = self.response, None
        keep = self.parser.should_keep_alive() and not self.closed
        if response is not None:
            response._finish()
        if keep:
            self.pool.release(self)
        else:
            self.abort()


class Pool:
    """Keep-alive connections per (host, port, tls); DNS answers judged by the egress policy."""

    def __init__(self, allowed_private_hosts: frozenset[str], max_connections: int) -> None:
        self.allowed = allowed_private_hosts
        self.idle: dict[tuple[str, int, bool], list[_Connection]] = {}
        #: One slot per open connection (idle or busy); past the limit a new connection waits.
        self.slots = asyncio.Semaphore(max_connections)
        self._dns: dict[tuple[str, int], tuple[float, list[str]]] = {}
        self._tls: ssl.SSLContext | None = None

    async def send(self, request: RawRequest) -> RawResponse:
        """Write the request on a pooled or new connection; the response head arrives later."""
        key = (request.host, request.port, request.tls)
        conn = self._reuse(key)
        if conn is None:
            conn = await self._connect(key, request.connect_s)
        return conn.send(request)

    def release(self, conn: _Connection) -> None:
        conn.idle_since = time.monotonic()
        self.idle.setdefault(conn.key, []).append(conn)

    def close(self) -> None:
        for conns in self.idle.values():
            for conn in conns:
                conn.abort()
        self.idle.clear()

    def _reuse(self, key: tuple[str, int, bool]) -> _Connection | None:
        conns = self.idle.get(key)
        now = time.monotonic()
        while conns:
            conn = conns.pop()
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing():
                continue
            if now - conn.idle_since > KEEPALIVE_EXPIRY_S:
                conn.abort()
                continue
            return conn
        return None

    async def _connect(self, key: tuple[str, int, bool], connect_s: float) -> _Connection:
        host, port, _ = key
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_s):
                await self.slots.acquire()
                try:
                    return await self._open(key, await self._resolve(host, port), loop)
                except BaseException:
                    self.slots.release()
                    raise
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} took longer than {connect_s}s") from None
        except EgressRefused as exc:
            raise httpx.ConnectError(str(exc)) from exc

    async def _open(
        self, key: tuple[str, int, bool], addresses: list[str], loop: asyncio.AbstractEventLoop
    ) -> _Connection:
        host, port, tls = key
        error: OSError | None = None
        for address in addresses:
            try:
                _, conn = await loop.create_connection(
                    lambda: _Connection(self, key),
                    address,
                    port,
                    ssl=self._tls_context() if tls else None,
                    server_hostname=host if tls else None,
                )
                return conn
            except OSError as exc:
                error = exc
        raise httpx.ConnectError(f"could not connect to {host}:{port}: {error}") from None

    async def _resolve(self, host: str, port: int) -> list[str]:
        now = time.monotonic()
        cached = self._dns.get((host, port))
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpx.ConnectError(f"could not resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if host.lower() not in self.allowed:
            for address in addresses:
                reason = address_reason(address)
                if reason:
                    raise EgressRefused(f"refused to connect to {host}: {reason}")
        self._dns[(host, port)] = (now + DNS_TTL_S, addresses)
        return addresses

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls


def build_request(url: httpx.URL, headers: dict[str, str], body: bytes, connect_s: float) -> RawRequest:
    """Encode a POST for the wire (Host, Content-Length; keep-alive is HTTP/1.1's default)."""
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    target = url.raw_path.decode("ascii")
    host = url.host
    lines = [f"POST {target} HTTP/1.1", f"host: {host if url.port is None else f'{host}:{port}'}"]
    for name, value in headers.items():
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name:
            raise httpx.LocalProtocolError(f"header {name!r} holds a line break")  # no header injection
        lines.append(f"{name}: {value}")
    lines.append(f"content-length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return RawRequest(host, port, tls, head, body, connect_s)
