"""Router-wide limits on retries, so an outage cannot turn into a retry storm.

    RetryBudget    Envoy's budget: retries in flight ≤ max(min_concurrency, percent% of requests in flight)
    RetryThrottle  gRPC's throttle per provider: tokens drop by 1 per retryable failure and rise by
                   `token_ratio` per success; retries are allowed only while tokens > max_tokens / 2

Both count what they deny (`overflow`), so a drill can check denied retries against its own count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from routeledger.config import RetryBudgetConfig, RetryThrottleConfig


@dataclass(slots=True)
class RetryBudget:
    config: RetryBudgetConfig
    active_requests: int = 0
    active_retries: int = 0
    overflow: int = 0

    def request_started(self) -> None:
        self.active_requests += 1

    def request_finished(self) -> None:
        self.active_requests -= 1

    def try_acquire(self) -> bool:
        """Admit one retry now (call `release` when it ends) or count it as overflow."""
        allowed = max(self.config.min_concurrency, self.config.percent / 100 * self.active_requests)
        if self.active_retries + 1 > allowed:
            self.overflow += 1
            return False
        self.active_retries += 1
        return True

    def release(self) -> None:
        self.active_retries -= 1


@dataclass(slots=True)
class RetryThrottle:
    config: RetryThrottleConfig
    tokens: dict[str, float] = field(default_factory=dict)
    overflow: int = 0

    def _tokens(self, key: str) -> float:
        return self.tokens.get(key, self.config.max_tokens)

    def on_success(self, key: str) -> None:
        self.tokens[key] = min(self.config.max_tokens, self._tokens(key) + self.config.token_ratio)

    def on_retryable_failure(self, key: str) -> None:
        self.tokens[key] = max(0.0, self._tokens(key) - 1)

    def allows(self, key: str) -> bool:
        if self._tokens(key) > self.config.max_tokens / 2:
            return True
        self.overflow += 1
        return False
