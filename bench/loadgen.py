"""A small HTTP/1.1 load generator for the benches: raw asyncio protocols on uvloop, keep-alive.

A Python HTTP client (httpx, aiohttp) spends more CPU per request than the servers measured here,
so it would measure itself. This one writes a pre-encoded request and counts complete responses by
Content-Length, which is all a throughput bench needs; it runs in its own process (its own core).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class _Conn(asyncio.Protocol):
    def __init__(self, request: bytes, deadline: float, latencies: list[float], sample_every: int) -> None:
        self.request = request
        self.deadline = deadline
        self.latencies = latencies
        self.sample_every = sample_every
        self.buffer = b""
        self.count = 0
        self.errors = 0
        self.sent_at = 0.0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = self.buffer[:head_end].lower()
            start = head.find(b"content-length: ")
            if start < 0:
                self.errors += 1
                self._finish()
                return
            length = int(
                head[start + 16 : head.find(b"\r\n", start)] if head.find(b"\r\n", start) > 0 else head[start + 16 :]
            )
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            if not head.startswith(b"http/1.1 200"):
                self.errors += 1
            self.buffer = self.buffer[total:]
            self.count += 1
            if self.count % self.sample_every == 0:
                self.latencies.append((time.perf_counter() - self.sent_at) * 1000)
            if time.perf_counter() >= self.deadline:
                self._finish()
                return
            self._send()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _run(
    host: str, port: int, path: str, body: bytes, connections: int, seconds: float, headers: dict[str, str]
) -> Result:
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {path} HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"{extra}content-length: {len(body)}\r\n\r\n"
    ).encode() + body
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    conns = []
    for _ in range(connections):
        _, proto = await loop.create_connection(lambda: _Conn(request, deadline, latencies, 1), host, port)
        conns.append(proto)
    await asyncio.gather(*(c.done for c in conns))
    elapsed = time.perf_counter() - start
    return Result(sum(c.count for c in conns), sum(c.errors for c in conns), elapsed, latencies)


def run(
    host: str,
    port: int,
    path: str,
    body: bytes,
    connections: int,
    seconds: float,
    headers: dict[str, str] | None = None,
) -> Result:
    try:
        import uvloop

        return uvloop.run(_run(host, port, path, body, connections, seconds, headers or {}))
    except ImportError:  # pragma: no cover
        return asyncio.run(_run(host, port, path, body, connections, seconds, headers or {}))


if __name__ == "__main__":
    # python bench/loadgen.py HOST PORT PATH CONNECTIONS SECONDS BODY_JSON [HEADERS_JSON [OUT_FILE]] → JSON result
    h, p, pa, c, s, b = sys.argv[1:7]
    hdrs = json.loads(sys.argv[7]) if len(sys.argv) > 7 else {}
    r = run(h, int(p), pa, b.encode(), int(c), float(s), hdrs)
    result = json.dumps(
        {"requests": r.requests, "errors": r.errors, "seconds": r.seconds, "latencies_ms": r.latencies_ms}
    )
    if len(sys.argv) > 8:
        with open(sys.argv[8], "w", encoding="utf-8") as out:
            out.write(result)
    else:
        print(result)
