"""Errors the router returns, all in OpenAI's shape so the official SDKs read them.

    GatewayError                    one HTTP error answer: status, type, code, message, param
    ├── invalid_request_error       400 the request is malformed (bad JSON, missing messages)
    ├── model_not_found             404 the `model` names no route
    ├── upstream errors             the chain ended without an answer (4xx passed through, 502/503/504)
    └── internal_error              500 a bug; never leaks a traceback

Every error answer carries `x-should-retry: false`: the gateway already applied the retry policy,
and an SDK retrying on top would multiply attempts (and bills). A genuinely transient gateway state
(e.g. overload) sets it true explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from starlette.responses import Response

SHOULD_RETRY = "x-should-retry"


@dataclass(slots=True)
class GatewayError(Exception):
    status: int
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    should_retry: bool = False

    def body(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def response(self, extra_headers: dict[str, str] | None = None) -> Response:
        headers = {SHOULD_RETRY: "true" if self.should_retry else "false", **self.headers, **(extra_headers or {})}
        return Response(
            orjson.dumps(self.body()), status_code=self.status, headers=headers, media_type="application/json"
        )


def invalid_request(message: str, param: str | None = None, code: str | None = None) -> GatewayError:
    return GatewayError(400, message, "invalid_request_error", code, param)


def route_not_found(name: str, known: list[str]) -> GatewayError:
    hint = ", ".join(known[:20]) or "none configured"
    return GatewayError(
        404,
        f"The model {name!r} does not exist: routeledger routes are addressed by route name ({hint}).",
        "invalid_request_error",
        "model_not_found",
        "model",
    )
