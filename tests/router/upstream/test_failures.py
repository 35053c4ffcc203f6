"""The failure taxonomy as tables: every class → step, billable, breaker; every foreign failure → class."""

from __future__ import annotations

import aiohttp
import httpx
import pytest

from routeledger.failures import RULES, FailureClass, Step
from routeledger.router.upstream.classify import HTTPX_EXCEPTIONS, classify_exception, classify_status, error_type_of
from routeledger.router.upstream.providers.base import UpstreamError

# class, step, billable, trips the breaker
TABLE = [
    (FailureClass.TRANSIENT_NETWORK, Step.RETRY, False, True),
    (FailureClass.RATE_LIMITED, Step.RETRY, False, True),
    (FailureClass.PROVIDER_ERROR, Step.RETRY, False, True),
    (FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, Step.FALLBACK, True, True),
    (FailureClass.STALL, Step.FALLBACK, True, True),
    (FailureClass.STREAM_CUT, Step.FALLBACK, True, True),
    (FailureClass.EMPTY_RESPONSE, Step.FALLBACK, True, False),
    (FailureClass.TRUNCATED, Step.FALLBACK_STRONGER, True, False),
    (FailureClass.INVALID_OUTPUT, Step.FALLBACK_STRONGER, True, False),
    (FailureClass.CONTEXT_LENGTH_EXCEEDED, Step.FALLBACK_LARGER_CONTEXT, False, False),
    (FailureClass.CONTENT_POLICY, Step.STOP, False, False),
    (FailureClass.BAD_REQUEST, Step.STOP, False, False),
    (FailureClass.AUTH, Step.STOP, False, False),
    (FailureClass.QUOTA_EXHAUSTED, Step.STOP, False, False),
    (FailureClass.CANCELLED, Step.STOP, True, False),
    (FailureClass.UNKNOWN, Step.FALLBACK, True, True),
]


@pytest.mark.parametrize(("failure", "step", "billable", "trips"), TABLE, ids=[t[0].value for t in TABLE])
def test_each_class_has_its_step_and_verdicts(failure: FailureClass, step: Step, billable: bool, trips: bool) -> None:
    rule = RULES[failure]
    assert (rule.step, rule.billable, rule.trips_breaker) == (step, billable, trips)


def test_the_table_covers_every_class() -> None:
    assert {t[0] for t in TABLE} == set(FailureClass) == set(RULES)


STATUSES = [
    (429, None, FailureClass.RATE_LIMITED),
    (429, "rate_limit_exceeded", FailureClass.RATE_LIMITED),
    (429, "insufficient_quota", FailureClass.QUOTA_EXHAUSTED),
    (500, None, FailureClass.PROVIDER_ERROR),
    (502, None, FailureClass.PROVIDER_ERROR),
    (503, None, FailureClass.PROVIDER_ERROR),
    (504, None, FailureClass.PROVIDER_ERROR),
    (529, "overloaded", FailureClass.PROVIDER_ERROR),
    (400, "context_length_exceeded", FailureClass.CONTEXT_LENGTH_EXCEEDED),
    (413, None, FailureClass.CONTEXT_LENGTH_EXCEEDED),
    (400, "content_policy_violation", FailureClass.CONTENT_POLICY),
    (400, "content_filter", FailureClass.CONTENT_POLICY),
    (400, "invalid_request_error", FailureClass.BAD_REQUEST),
    (404, "model_not_found", FailureClass.BAD_REQUEST),
    (422, None, FailureClass.BAD_REQUEST),
    (401, "invalid_api_key", FailureClass.AUTH),
    (403, None, FailureClass.AUTH),
    (402, None, FailureClass.QUOTA_EXHAUSTED),
    (408, None, FailureClass.TIMEOUT_BEFORE_FIRST_BYTE),
]


@pytest.mark.parametrize(("status", "code", "expected"), STATUSES, ids=[f"{s}-{c}" for s, c, _ in STATUSES])
def test_status_classification(status: int, code: str | None, expected: FailureClass) -> None:
    assert classify_status(UpstreamError(status, "m", None, code, None)) is expected


def httpx_exception_types() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []

    def walk(kind: type[BaseException]) -> None:
        if kind.__module__.startswith("httpx") and kind not in found:
            found.append(kind)
        for sub in kind.__subclasses__():
            walk(sub)

    for root in (httpx.HTTPError, httpx.InvalidURL, httpx.CookieConflict, httpx.StreamError):
        walk(root)
    return found


def test_every_httpx_exception_type_is_mapped_explicitly() -> None:
    kinds = httpx_exception_types()
    assert len(kinds) >= 25
    assert [k.__name__ for k in kinds if k not in HTTPX_EXCEPTIONS] == []


@pytest.mark.parametrize("kind", httpx_exception_types(), ids=lambda k: k.__name__)
def test_each_httpx_exception_classifies_as_its_table_entry(kind: type[BaseException]) -> None:
    exc = kind.__new__(kind)
    assert classify_exception(exc) is HTTPX_EXCEPTIONS[kind]


def wrapped(cause: BaseException) -> httpx.HTTPError:
    """What the aiohttp transport raises: an httpx error with the aiohttp error as its cause."""
    exc = httpx.ConnectTimeout("mapped")  # the transport maps most connection errors to this
    exc.__cause__ = cause
    return exc


AIOHTTP = [
    (
        aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError),
        FailureClass.TRANSIENT_NETWORK,
        "connect_error",
    ),
    (aiohttp.ConnectionTimeoutError(), FailureClass.TRANSIENT_NETWORK, "connect_error"),
    (aiohttp.ServerDisconnectedError(), FailureClass.TRANSIENT_NETWORK, "ServerDisconnectedError"),
    (aiohttp.ClientOSError(104, "reset"), FailureClass.TRANSIENT_NETWORK, "ClientOSError"),
    (aiohttp.SocketTimeoutError(), FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, "SocketTimeoutError"),
    (aiohttp.ClientPayloadError("cut"), FailureClass.TRANSIENT_NETWORK, "ClientPayloadError"),
    (TimeoutError(), FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, "TimeoutError"),
]


@pytest.mark.parametrize(("cause", "expected", "error_type"), AIOHTTP, ids=[type(c).__name__ for c, _, _ in AIOHTTP])
def test_the_aiohttp_cause_wins_over_the_transport_mapping(
    cause: BaseException, expected: FailureClass, error_type: str
) -> None:
    exc = wrapped(cause)
    assert classify_exception(exc) is expected
    assert error_type_of(exc) == error_type


def test_unforeseen_errors_take_the_safe_default() -> None:
    assert classify_exception(RuntimeError("boom")) is FailureClass.UNKNOWN
    assert RULES[FailureClass.UNKNOWN].billable is True
