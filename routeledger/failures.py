"""The failure taxonomy: every way an upstream attempt can fail, with what it leads to.

One closed set, shared by the router (which classifies and decides) and the ledger (the
`failure_class` column). Each class carries:

- its default next step (configurable per route): retry the same model, fall back along the chain
  (to any capable model, a stronger one, or one with a larger context window), or stop;
- a `billable` verdict — did the provider (probably) start processing and so charge for the
  prompt? Seed 001: a timeout after the request was accepted is billable, a refused connection or a
  429 is not. A new attempt after a billable one must state its reason on the span;
- whether it counts against the model's circuit breaker: provider health (429, 5xx, timeouts,
  broken streams) does; the client's own faults (bad request, policy, context length) never do.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureClass(StrEnum):
    TRANSIENT_NETWORK = "transient_network"  # connect error or reset before any response byte
    RATE_LIMITED = "rate_limited"  # 429, Retry-After honoured
    PROVIDER_ERROR = "provider_error"  # 500/502/503/504/529, overloaded
    TIMEOUT_BEFORE_FIRST_BYTE = "timeout_before_first_byte"  # the provider stayed silent
    STALL = "stall"  # a stream went silent past the idle limit
    STREAM_CUT = "stream_cut"  # a stream ended before its finish_reason
    EMPTY_RESPONSE = "empty_response"  # an answer with no content
    TRUNCATED = "truncated"  # finish_reason "length" the client did not ask for
    INVALID_OUTPUT = "invalid_output"  # JSON or a schema was asked and not met, or a garbled answer
    CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
    CONTENT_POLICY = "content_policy"
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    QUOTA_EXHAUSTED = "quota_exhausted"
    CANCELLED = "cancelled"  # the client went away mid-answer; nobody to answer
    UNKNOWN = "unknown"  # anything unforeseen: the safe default below


class Step(StrEnum):
    """What the router does after a failed attempt."""

    RETRY = "retry"  # the same model again, after a jittered backoff, within the retry budgets
    FALLBACK = "fallback"  # the next model of the chain that can serve the request
    FALLBACK_STRONGER = "fallback_stronger"  # the next capable model at least as strong as this one
    FALLBACK_LARGER_CONTEXT = "fallback_larger_context"  # only a model with a larger window
    STOP = "stop"  # no retry, no fallback: the reason goes back to the client


@dataclass(frozen=True, slots=True)
class FailureRule:
    step: Step
    billable: bool
    trips_breaker: bool


#: The defaults, from the seeds: fix the network with a retry, fix the quality with a model switch,
#: never send a broken request anywhere else. Routes may override the step (not the verdicts).
RULES: dict[FailureClass, FailureRule] = {
    FailureClass.TRANSIENT_NETWORK: FailureRule(Step.RETRY, billable=False, trips_breaker=True),
    FailureClass.RATE_LIMITED: FailureRule(Step.RETRY, billable=False, trips_breaker=True),
    FailureClass.PROVIDER_ERROR: FailureRule(Step.RETRY, billable=False, trips_breaker=True),
    # A silent provider: do not retry the silent route, fall over.
    FailureClass.TIMEOUT_BEFORE_FIRST_BYTE: FailureRule(Step.FALLBACK, billable=True, trips_breaker=True),
    FailureClass.STALL: FailureRule(Step.FALLBACK, billable=True, trips_breaker=True),
    FailureClass.STREAM_CUT: FailureRule(Step.FALLBACK, billable=True, trips_breaker=True),
    FailureClass.EMPTY_RESPONSE: FailureRule(Step.FALLBACK, billable=True, trips_breaker=False),
    # The model could not do the task: a stronger one, not the same one again.
    FailureClass.TRUNCATED: FailureRule(Step.FALLBACK_STRONGER, billable=True, trips_breaker=False),
    FailureClass.INVALID_OUTPUT: FailureRule(Step.FALLBACK_STRONGER, billable=True, trips_breaker=False),
    # Never the same model again; a smaller window would fail the same way.
    FailureClass.CONTEXT_LENGTH_EXCEEDED: FailureRule(
        Step.FALLBACK_LARGER_CONTEXT, billable=False, trips_breaker=False
    ),
    FailureClass.CONTENT_POLICY: FailureRule(Step.STOP, billable=False, trips_breaker=False),
    FailureClass.BAD_REQUEST: FailureRule(Step.STOP, billable=False, trips_breaker=False),
    FailureClass.AUTH: FailureRule(Step.STOP, billable=False, trips_breaker=False),
    FailureClass.QUOTA_EXHAUSTED: FailureRule(Step.STOP, billable=False, trips_breaker=False),
    FailureClass.CANCELLED: FailureRule(Step.STOP, billable=True, trips_breaker=False),
    # Unforeseen: assume we may have been charged, do not repeat it, let another model try.
    FailureClass.UNKNOWN: FailureRule(Step.FALLBACK, billable=True, trips_breaker=True),
}


def rule_for(failure: FailureClass) -> FailureRule:
    return RULES[failure]
