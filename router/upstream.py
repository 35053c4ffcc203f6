"""The one shared upstream HTTP client: pooled connections, explicit timeouts, no redirects.

httpx's own transport tops out around 250 requests/s through a proxy on this class of machine; the
aiohttp transport (`httpx-aiohttp`) keeps httpx's API and exceptions at about 1,800/s, so it is the
default. Redirects are never followed: an upstream 302 to another host (a cloud metadata address,
say) must not become a request the router makes on the client's behalf.
"""

from __future__ import annotations

import httpx

#: Open connections to all upstreams together; beyond it requests queue for a free connection.
MAX_CONNECTIONS = 512
#: Idle keep-alive connections are closed after this many seconds.
KEEPALIVE_EXPIRY_S = 30.0


def build_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS, keepalive_expiry=KEEPALIVE_EXPIRY_S
    )
    if transport is None:
        from httpx_aiohttp import AiohttpTransport

        transport = AiohttpTransport(limits=limits, trust_env=False)
    return httpx.AsyncClient(
        transport=transport, limits=limits, follow_redirects=False, trust_env=False, timeout=httpx.Timeout(30.0)
    )
