"""The incoming chat request: validated where it enters, passed on as the client wrote it.

Only the fields the router needs are typed (model, messages, max_tokens, stream, response_format,
tools); everything else is kept and forwarded to OpenAI-kind providers untouched, so new OpenAI
parameters work without a router release. Fields that would let a client choose where the router
connects (`api_base`, `base_url`, `extra_headers`, ...) are refused outright.
"""

from __future__ import annotations

from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routeledger.router.api.errors import GatewayError, invalid_request

#: Body keys some SDKs and proxies accept to redirect a call; a gateway must never honour them.
FORBIDDEN_KEYS = frozenset({"api_base", "base_url", "api_key", "extra_headers", "custom_llm_provider", "url"})


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=200)
    messages: list[Message] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1)
    max_completion_tokens: int | None = Field(default=None, ge=1)
    stream: bool = False
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    n: int = Field(default=1, ge=1, le=1)


def parse_chat_request(raw: bytes) -> tuple[ChatRequest, dict[str, Any]]:
    """The typed view and the raw dict (forwarded as-is to OpenAI-kind upstreams)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"The body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise invalid_request("The body must be a JSON object.")
    forbidden = FORBIDDEN_KEYS.intersection(data)
    if forbidden:
        key = sorted(forbidden)[0]
        raise invalid_request(f"The field {key!r} is not accepted: upstreams come only from the gateway config.", key)
    try:
        request = ChatRequest.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from None
    return request, data


def _validation_error(exc: ValidationError) -> GatewayError:
    err = exc.errors(include_url=False)[0]
    param = ".".join(str(p) for p in err["loc"]) or None
    message = "required field is missing" if err["type"] == "missing" else err["msg"]
    return invalid_request(f"Invalid request: {param}: {message}" if param else message, param)


def requested_max_tokens(request: ChatRequest) -> int | None:
    return request.max_completion_tokens or request.max_tokens
