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
from router.chat import ChatRequest, requested_max_tokens
from router.providers.base import Completion, UpstreamError

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


def classify_exception(exc: BaseException) -> FailureClass:
    """A transport exception → its class.

    The aiohttp transport re-raises aiohttp errors as httpx ones but not always faithfully (a dropped
    connection surfaces as `ConnectTimeout`), so the original cause is consulted first.
    """
    cause = _aiohttp_cause(exc)
    if cause is not None:
        return cause
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | httpx.PoolTimeout):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(exc, httpx.TimeoutException | asyncio.TimeoutError | TimeoutError):
        return FailureClass.TIMEOUT_BEFORE_FIRST_BYTE
    if isinstance(exc, httpx.RemoteProtocolError | httpx.NetworkError | ConnectionError):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(exc, httpx.DecodingError | httpx.TooManyRedirects):
        return FailureClass.INVALID_OUTPUT
    if isinstance(exc, httpx.ProxyError | httpx.UnsupportedProtocol | httpx.InvalidURL | httpx.LocalProtocolError):
        return FailureClass.BAD_REQUEST
    return FailureClass.UNKNOWN


def _aiohttp_cause(exc: BaseException) -> FailureClass | None:
    import aiohttp

    cause = exc.__cause__
    if not isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return None
    if isinstance(cause, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return FailureClass.TIMEOUT_BEFORE_FIRST_BYTE
    if isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(cause, aiohttp.ClientResponseError):
        return FailureClass.INVALID_OUTPUT  # a malformed HTTP answer
    return None


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
