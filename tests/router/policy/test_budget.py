"""Retry budgets and backoff: Envoy's budget, gRPC's throttle, full-jitter delays."""

from __future__ import annotations

import math
import random

import pytest

from routeledger.config import RetryBudgetConfig, RetryThrottleConfig
from routeledger.router.policy.backoff import backoff_delay
from routeledger.router.policy.retry_budget import RetryBudget, RetryThrottle


def ks_uniform(samples: list[float], upper: float) -> float:
    """Kolmogorov-Smirnov distance of the samples from U[0, upper)."""
    ordered = sorted(samples)
    n = len(ordered)
    return max(max((i + 1) / n - x / upper, x / upper - i / n) for i, x in enumerate(ordered))


@pytest.mark.parametrize("retry", [0, 1, 2, 5])
def test_jitter_is_uniform_below_the_capped_ceiling(retry: int) -> None:
    rng = random.Random(retry)
    base, cap = 0.2, 2.0
    ceiling = min(cap, base * 2**retry)
    samples = [backoff_delay(retry, base, cap, rng) for _ in range(10_000)]
    assert all(0 <= s < ceiling for s in samples)
    critical = 1.628 / math.sqrt(len(samples))  # KS critical value at p = 0.01
    distance = ks_uniform(samples, ceiling)
    print(f"RESULT name=jitter_ks retry={retry} d={distance:.4f} critical={critical:.4f}")
    assert distance < critical


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(0)
    delays = [backoff_delay(0, 0.2, 2.0, rng, retry_after_s=2.0) for _ in range(1000)]
    assert min(delays) >= 2.0


def test_throttle_table_grpc_semantics() -> None:
    throttle = RetryThrottle(RetryThrottleConfig(max_tokens=10, token_ratio=0.1))
    assert throttle.allows("p")  # non-retryable failures (400s) never reach the throttle at all
    for _ in range(4):
        throttle.on_retryable_failure("p")
    assert throttle.allows("p")  # 6 > 5
    throttle.on_retryable_failure("p")
    assert not throttle.allows("p")  # 5 consecutive failures: 5 tokens, not above half
    assert throttle.overflow == 1
    throttle.on_success("p")
    assert throttle.allows("p")  # 5.1 > 5
    assert throttle.allows("other")  # per provider


def test_retry_budget_percent_with_a_floor() -> None:
    budget = RetryBudget(RetryBudgetConfig(percent=20, min_concurrency=3))
    for _ in range(10):
        budget.request_started()
    granted = sum(budget.try_acquire() for _ in range(10))
    assert granted == 3  # max(3, 20% of 10)
    assert budget.overflow == 7
    for _ in range(40):
        budget.request_started()
    assert sum(budget.try_acquire() for _ in range(10)) == 7  # 20% of 50 = 10 in flight at most
    for _ in range(10):
        budget.release()
    assert budget.active_retries == 0
