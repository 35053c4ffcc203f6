"""The failure taxonomy: every way an upstream attempt can fail, as one closed set.

Each class carries a `billable` verdict — did the provider start processing (and so probably
charge for the prompt)? Seed 001: a timeout after the request was accepted is billable; a refused
connection or a 429 is not. The decision a class leads to (retry, fall back, stop) lives in
`policy.py`; here a foreign failure (an httpx exception, an HTTP status with the provider's error
code) becomes exactly one class, in exactly one function each.
"""

from __future__ import annotations

import asyncio
from enum import StrEnum

import httpx

from router.providers.base import UpstreamError


class FailureClass(StrEnum):
    TRANSIENT_NETWORK = "transient_network"  # connect error or reset before the body was sent
    RATE_LIMITED = "rate_limited"  # 429, Retry-After honoured
    PROVIDER_ERROR = "provider_error"  # 500/502/503/504/529, overloaded
    TIMEOUT_BEFORE_FIRST_BYTE = "timeout_before_first_byte"  # the provider stayed silent
    STALL = "stall"  # a stream went silent past the idle limit
    STREAM_CUT = "stream_cut"  # a stream ended before its finish_reason
    EMPTY_RESPONSE = "empty_response"  # an answer with no content
    TRUNCATED = "truncated"  # finish_reason "length" the client did not ask for
    INVALID_OUTPUT = "invalid_output"  # JSON or a schema was asked and not met
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    CONTENT_POLICY = "content_policy"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    QUOTA_EXHAUSTED = "quota_exhausted"
    UNKNOWN = "unknown"  # anything unforeseen: handled by the safe default


#: Did the provider (probably) start processing? Then the attempt is billed, answer or not.
BILLABLE: dict[FailureClass, bool] = {
    FailureClass.TRANSIENT_NETWORK: False,
    FailureClass.RATE_LIMITED: False,
    FailureClass.PROVIDER_ERROR: False,
    FailureClass.TIMEOUT_BEFORE_FIRST_BYTE: True,
    FailureClass.STALL: True,
    FailureClass.STREAM_CUT: True,
    FailureClass.EMPTY_RESPONSE: True,
    FailureClass.TRUNCATED: True,
    FailureClass.INVALID_OUTPUT: True,
    FailureClass.CONTEXT_LENGTH_EXCEEDED: False,
    FailureClass.CONTENT_POLICY: False,
    FailureClass.BAD_REQUEST: False,
    FailureClass.AUTH: False,
    FailureClass.QUOTA_EXHAUSTED: False,
    FailureClass.UNKNOWN: True,  # safe default: assume we may have been charged
}

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

    The aiohttp transport re-raises aiohttp errors as httpx ones but not always faithfully (a
    dropped connection surfaces as `ConnectTimeout`), so the original cause is consulted first.
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
    if isinstance(exc, httpx.ProxyError | httpx.UnsupportedProtocol | httpx.InvalidURL):
        return FailureClass.BAD_REQUEST
    return FailureClass.UNKNOWN


def _aiohttp_cause(exc: BaseException) -> FailureClass | None:
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - a dependency
        return None
    cause = exc.__cause__
    if not isinstance(cause, aiohttp.ClientError | asyncio.TimeoutError):
        return None
    if isinstance(cause, aiohttp.ConnectionTimeoutError | aiohttp.ClientConnectorError):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(cause, aiohttp.ServerTimeoutError | asyncio.TimeoutError):
        return FailureClass.TIMEOUT_BEFORE_FIRST_BYTE
    if isinstance(cause, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | aiohttp.ClientPayloadError):
        return FailureClass.TRANSIENT_NETWORK
    if isinstance(cause, aiohttp.ClientConnectionError):
        return FailureClass.TRANSIENT_NETWORK
    return None
