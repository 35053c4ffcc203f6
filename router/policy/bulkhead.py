"""Per-provider cap on requests in flight: past it the chain moves on at once instead of queueing
behind a provider that is already saturated (counted as `overflow`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class Bulkhead:
    limit: int | None
    in_flight: int = 0
    overflow: int = 0

    def try_acquire(self) -> bool:
        if self.limit is not None and self.in_flight >= self.limit:
            self.overflow += 1
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1
