"""What the router knows about one user request while it runs its chain."""

from __future__ import annotations

from dataclasses import dataclass

from routeledger.config import RouteConfig


@dataclass(frozen=True, slots=True)
class RequestContext:
    request_id: str
    route_name: str
    route: RouteConfig
    tenant: str
    feature: str
    traffic_class: str
    stream: bool
    #: Wall clock at arrival (ns since the epoch) and the monotonic deadline (s) of the whole request.
    start_ns: int
    deadline: float
    #: The client asked for usage in the stream (stream_options.include_usage).
    include_usage: bool = False
    #: Retries the client's SDK already made of this call (x-stainless-retry-count).
    client_retries: int = 0
    #: The API key's configured name ("" without authentication); never the key itself.
    key: str = ""
