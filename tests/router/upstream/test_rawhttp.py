"""The raw upstream client against a real socket server: keep-alive reuse, a provider that closes,
chunked bodies, and the failures it must report as the httpx errors the taxonomy maps."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from routeledger.failures import FailureClass
from routeledger.router.upstream.classify import CONNECT_ERROR, EGRESS_REFUSED, classify_exception, error_type_of
from routeledger.router.upstream.client import Upstream
from routeledger.router.upstream.rawhttp import Pool, build_request

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    connections: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/v1/chat/completions", connections


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return head + await reader.readexactly(length)


def answering(*responses: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for response in responses:
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return
            writer.write(response)
            await writer.drain()

    return handler


OK = b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'


async def post(upstream: Upstream, url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = upstream.request(httpx.URL(url), headers or {"content-type": "application/json"}, b"{}", 2.0)
    loop = asyncio.get_running_loop()
    answer = await upstream.post(request, loop.time() + 5, loop.time() + 5)
    return answer.status, answer.body


def test_keep_alive_reuses_one_connection() -> None:
    async def run() -> list[int]:
        server, url, connections = await serve(answering(OK, OK, OK))
        upstream = Upstream(allowed_private_hosts=frozenset({"127.0.0.1"}))
        assert [await post(upstream, url) for _ in range(3)] == [(200, b'{"ok":true}')] * 3
        await upstream.aclose()
        server.close()
        return connections

    assert asyncio.run(run()) == [1]


def test_a_provider_that_closes_after_answering_costs_a_new_connection_not_a_failure() -> None:
    closing = OK.replace(b"content-length", b"connection: close\r\ncontent-length")

    async def run() -> list[int]:
        server, url, connections = await serve(answering(closing))
        upstream = Upstream(allowed_private_hosts=frozenset({"127.0.0.1"}))
        assert [await post(upstream, url) for _ in range(2)] == [(200, b'{"ok":true}')] * 2
        await upstream.aclose()
        server.close()
        return connections

    assert asyncio.run(run()) == [1, 1]


def test_a_chunked_body_is_decoded() -> None:
    chunked = b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"a"\r\n4\r\n:1}\n\r\n0\r\n\r\n'

    async def run() -> tuple[int, bytes]:
        server, url, _ = await serve(answering(chunked))
        upstream = Upstream(allowed_private_hosts=frozenset({"127.0.0.1"}))
        answer = await post(upstream, url)
        await upstream.aclose()
        server.close()
        return answer

    assert asyncio.run(run()) == (200, b'{"a":1}\n')


def test_closed_before_the_response_head_is_a_transient_network_failure() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async def run() -> BaseException:
        server, url, _ = await serve(hang_up)
        upstream = Upstream(allowed_private_hosts=frozenset({"127.0.0.1"}))
        with pytest.raises(httpx.RemoteProtocolError) as caught:
            await post(upstream, url)
        await upstream.aclose()
        server.close()
        return caught.value

    assert classify_exception(asyncio.run(run())) is FailureClass.TRANSIENT_NETWORK


def test_a_refused_connection_is_a_connect_error_with_nothing_sent() -> None:
    async def run() -> BaseException:
        upstream = Upstream(allowed_private_hosts=frozenset({"127.0.0.1"}))
        with pytest.raises(httpx.ConnectError) as caught:
            await post(upstream, "http://127.0.0.1:9/v1/chat/completions")
        return caught.value

    error = asyncio.run(run())
    assert (classify_exception(error), error_type_of(error)) == (FailureClass.TRANSIENT_NETWORK, CONNECT_ERROR)


def test_a_private_address_not_allowed_is_refused_by_the_egress_policy() -> None:
    async def run() -> BaseException:
        upstream = Upstream()  # 127.0.0.1 not allowed
        with pytest.raises(httpx.ConnectError) as caught:
            await post(upstream, "http://127.0.0.1:9/v1/chat/completions")
        return caught.value

    error = asyncio.run(run())
    assert (classify_exception(error), error_type_of(error)) == (FailureClass.BAD_REQUEST, EGRESS_REFUSED)


def test_a_header_with_a_line_break_is_never_sent() -> None:
    with pytest.raises(httpx.LocalProtocolError):
        build_request(httpx.URL("http://127.0.0.1:9/x"), {"x-routeledger-request-id": "a\r\nevil: 1"}, b"", 1.0)
    assert classify_exception(httpx.LocalProtocolError("x")) is FailureClass.BAD_REQUEST


def test_the_pool_gives_back_its_slot_when_a_connection_closes() -> None:
    closing = OK.replace(b"content-length", b"connection: close\r\ncontent-length")

    async def run() -> list[int]:
        server, url, connections = await serve(answering(closing))
        upstream = Upstream(allowed_private_hosts=frozenset({"127.0.0.1"}))
        upstream.raw = Pool(frozenset({"127.0.0.1"}), max_connections=1)
        for _ in range(3):  # one slot: each request waits for the previous connection to close
            assert await post(upstream, url) == (200, b'{"ok":true}')
        await upstream.aclose()
        server.close()
        return connections

    assert asyncio.run(run()) == [1, 1, 1]
