"""The reference point for the simulator bench: the least an asyncio HTTP server can do per request
(parse with httptools, answer a fixed body). Usage: python bench/raw_responder.py READY_FILE"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httptools
import uvloop

BODY = b'{"ok":true}'
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%b" % (len(BODY), BODY)


class Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.parser = httptools.HttpRequestParser(self)

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.transport.write(RESPONSE)  # type: ignore[attr-defined]


async def main(ready: str) -> None:
    server = await asyncio.get_running_loop().create_server(Responder, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    Path(ready).write_text(json.dumps({"url": f"http://127.0.0.1:{port}"}))  # noqa: ASYNC240
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
