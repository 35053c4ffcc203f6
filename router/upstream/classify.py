"""Foreign failures → the taxonomy (`routeledger.failures`), each kind in exactly one function.

classify_status     an upstream HTTP error answer (status + the provider's error code)
classify_exception  a transport exception (httpx, and aiohttp underneath the aiohttp transport)
classify_answer     a 200 answer that does not serve the request (empty, truncated, invalid JSON)
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from routeledger.failures import FailureClass
from routeledger.router.api.chat import ChatRequest, requested_max_tokens
from routeledger.router.upstream.providers.base import Completion, UpstreamError

#: Statuses that mean "the provider is unwell", never "your request is wrong".
PROVIDER_ERROR_STATUSES = frozenset({500, 502, 503, 504, 520, 522, 524, 529})

_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length", "request_too_large"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "safety", "moderation_blocked"})
_QUOTA_CODES = frozenset({"insufficient_quota", "billing_hard_limit_reached", "billing_error"})


def classify_status(error: UpstreamError) -> FailureClass:
    """An HTTP error answer → its class (status first, then the provider's error code)."""
    status, code = error.status, (error.code or "")
    if status == 429:
        return FailureClass.QUOTA_EXHAUSTED if code in _QUOTA_CODES else FailureClass.RATE_LIMITED
    if status in PROVIDER_ERROR_STATUSES or status >= 500:
        return FailureClass.PROVIDER_ERROR
    if status in (401, 403):
        return FailureClass.AUTH
    if status == 402 or code in _QUOTA_CODES:
        return FailureClass.QUOTA_EXHAUSTED
    if code in _CONTEXT_CODES or status == 413:
        return FailureClass.CONTEXT_LENGTH_EXCEEDED
    if code in _POLICY_CODES:
        return FailureClass.CONTENT_POLICY
    if status == 408:
        return FailureClass.TIMEOUT_BEFORE_FIRST_BYTE
    if 400 <= status < 500:
        return FailureClass.BAD_REQUEST
    return FailureClass.UNKNOWN


#: Every httpx exception type, mapped explicitly (a test walks httpx's hierarchy against this table).
#: A connect failure never reached the provider; a read timeout or protocol error happened after the
#: request was sent. Programming errors (stream misuse) are UNKNOWN: the safe default.
HTTPX_EXCEPTIONS: dict[type[BaseException], FailureClass] = {
    httpx.ConnectTimeout: FailureClass.TRANSIENT_NETWORK,
    httpx.ConnectError: FailureClass.TRANSIENT_NETWORK,
    httpx.PoolTimeout: FailureClass.TRANSIENT_NETWORK,
    httpx.ReadTimeout: FailureClass.TIMEOUT_BEFORE_FIRST_BYTE,
    httpx.WriteTimeout: FailureClass.TIMEOUT_BEFORE_FIRST_BYTE,
    httpx.TimeoutException: FailureClass.TIMEOUT_BEFORE_FIRST_BYTE,
    httpx.ReadError: FailureClass.TRANSIENT_NETWORK,
    httpx.WriteError: FailureClass.TRANSIENT_NETWORK,
    httpx.CloseError: FailureClass.TRANSIENT_NETWORK,
    httpx.NetworkError: FailureClass.TRANSIENT_NETWORK,
    httpx.RemoteProtocolError: FailureClass.TRANSIENT_NETWORK,
    httpx.LocalProtocolError: FailureClass.BAD_REQUEST,
    httpx.ProtocolError: FailureClass.TRANSIENT_NETWORK,
    httpx.ProxyError: FailureClass.TRANSIENT_NETWORK,
    httpx.UnsupportedProtocol: FailureClass.BAD_REQUEST,
    httpx.TransportError: FailureClass.TRANSIENT_NETWORK,
    httpx.DecodingError: FailureClass.INVALID_OUTPUT,
    httpx.TooManyRedirects: FailureClass.INVALID_OUTPUT,
    httpx.RequestError: FailureClass.UNKNOWN,
    httpx.HTTPStatusError: FailureClass.UNKNOWN,
    httpx.HTTPError: FailureClass.UNKNOWN,
    httpx.InvalidURL: FailureClass.BAD_REQUEST,
    httpx.CookieConflict: FailureClass.UNKNOWN,
    httpx.StreamConsumed: FailureClass.UNKNOWN,
    httpx.StreamClosed: FailureClass.UNKNOWN,
    httpx.ResponseNotRead: FailureClass.UNKNOWN,
    httpx.RequestNotRead: FailureClass.UNKNOWN,
    httpx.StreamError: FailureClass.UNKNOWN,
}


def classify_exception(exc: BaseException) -> FailureClass:
    """A transport exception → its class.

    The aiohttp transport re-raises aiohttp errors as httpx ones but not always faithfully (a dropped
    connection surfaces as `ConnectTimeout`), so the original cause is consulted first.
    """
    if _egress_refused(exc.__cause__):
        return FailureClass.BAD_REQUEST  # a forbidden address: no retry, no fallback
    cause = _aiohttp_cause(exc)
    if cause is not None:
        return cause
    for kind in type(exc).__mro__:
        if kind in HTTPX_EXCEPTIONS:
            return HTTPX_EXCEPTIONS[kind]
    if isinstance(exc, TimeoutError):
        return FailureClass.TIMEOUT_BEFORE_FIRST_BYTE
    if isinstance(exc, ConnectionError):
        return FailureClass.TRANSIENT_NETWORK
    return FailureClass.UNKNOWN


#: `error.type` of an attempt that never reached the provider (refused, unreachable, connect timeout).
CONNECT_ERROR = "connect_error"


#: `error.type` of a connection the egress policy refused (a forbidden address).
EGRESS_REFUSED = "egress_refused"


def _egress_refused(cause: BaseException | None) -> bool:
    """The egress policy refused the address: directly (the raw client) or inside aiohttp's error."""
    import aiohttp

    from routeledger.egress import EgressRefused

    if isinstance(cause, EgressRefused):
        return True
    if not isinstance(cause, aiohttp.ClientConnectorError):
        return False
    return isinstance(getattr(cause, "_os_error", None), EgressRefused)


def error_type_of(exc: BaseException) -> str:
    """The span's `error.type`: `connect_error` when nothing was sent, else the exception's name."""
    import aiohttp

    cause = exc.__cause__
    if _egress_refused(cause):
        return EGRESS_REFUSED
    if isinstance(cause, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return CONNECT_ERROR
    if cause is None and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return CONNECT_ERROR
    return type(cause or exc).__name__


def _aiohttp_cause(exc: BaseException) -> FailureClass | None:
    import aiohttp

    cause = exc.__cause__
    if not isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return None
    if _egress_refused(cause):
        return FailureClass.BAD_REQUEST  # a forbidden address: no retry, no fallback
    if isinstance(cause, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return FailureClass.TRANSIENT_NETWORK  # never reached the provider
    if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return FailureClass.TIMEOUT_BEFORE_FIRST_BYTE
    if isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(cause, aiohttp.ClientResponseError):
        return FailureClass.INVALID_OUTPUT  # a malformed HTTP answer
    return FailureClass.UNKNOWN


def classify_answer(request: ChatRequest, completion: Completion, length_expected: bool = False) -> FailureClass | None:
    """A 200 answer that still does not serve the request, or None when it does.

    `length` is a failure only when nobody asked for that limit: neither the client nor the route's
    handoff rule (`length_expected`); a provider default truncated the answer behind their back.
    """
    if completion.finish_reason == "length" and requested_max_tokens(request) is None and not length_expected:
        return FailureClass.TRUNCATED
    if completion.has_tool_calls:
        return None
    content = completion.content
    if not content or not content.strip():
        return FailureClass.EMPTY_RESPONSE
    if request.response_format and not _meets_format(content, request.response_format):
        return FailureClass.INVALID_OUTPUT
    return None


def _meets_format(content: str, response_format: dict[str, Any]) -> bool:
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return True
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError:
        return False
    if kind == "json_object":
        return isinstance(value, dict)
    schema = (response_format.get("json_schema") or {}).get("schema") or {}
    return _matches(value, schema)


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _is_type(value: Any, expected: str) -> bool:
    if expected in ("integer", "number") and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[expected])


def _matches(value: Any, schema: dict[str, Any]) -> bool:
    """The structural core of JSON Schema (type, required, properties, items): what a model breaks."""
    expected = schema.get("type")
    if isinstance(expected, str) and expected in _TYPES and not _is_type(value, expected):
        return False
    if isinstance(value, dict):
        if any(key not in value for key in schema.get("required", ())):
            return False
        properties = schema.get("properties") or {}
        return all(_matches(value[k], s) for k, s in properties.items() if k in value and isinstance(s, dict))
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return all(_matches(v, schema["items"]) for v in value)
    return True
