"""Circuit breakers: quarantine a failing (provider, model) instead of paying for its failures.

    CLOSED ──(failure or slow share ≥ threshold over the window, ≥ min_calls)──▶ OPEN
    OPEN ──(quarantine over)──▶ HALF_OPEN ──(probe succeeds)──▶ CLOSED
                                         └─(probe fails, is slow, or outlives probe_timeout)──▶ OPEN

The quarantine starts at `open_s` (10 minutes by default, seed 000) and grows by `multiplier` with
each consecutive trip, capped at `max_open_s`, with ± `jitter`; after `decay_windows` healthy
windows the trip count steps down again. While OPEN a model is skipped without an attempt (counted
as `not_permitted`); HALF_OPEN admits `half_open_probes` probes, each cut at `probe_timeout_s` so a
hung probe cannot freeze the breaker (resilience4j #903). Only failures that say something about the
provider count (`routeledger.failures.RULES[...].trips_breaker`): a client's bad request never does.

Time comes from an injected clock, so tests drive it and a state-machine test checks it.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from routeledger.config import BreakerConfig


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class Admission:
    """A permitted call; `probe` calls carry the deadline by which they must report."""

    probe: bool
    generation: int
    deadline: float = float("inf")


class CircuitBreaker:
    def __init__(
        self,
        config: BreakerConfig,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.rng = rng or random.Random()
        self.state = BreakerState.CLOSED
        self.trips = 0  # consecutive trips, drives the quarantine length
        self.open_until = 0.0
        self.last_interval = 0.0
        self.not_permitted = 0
        self.transitions = 0
        self._calls: deque[tuple[float, bool, bool]] = deque()  # (time, failed, slow)
        self._failures = 0  # running counts over `_calls`: judging a call must not scan the window
        self._slows = 0
        self._probes: dict[int, float] = {}  # generation → deadline of each probe in flight
        self._generation = 0
        self._healthy_since = clock()
        #: Called after every transition (persistence, sharing with other replicas).
        self.on_change: Callable[[CircuitBreaker], None] | None = None
        self.changed_at = 0.0  # wall clock of the last transition

    # --- admission ---------------------------------------------------------------------------------

    def admit(self) -> Admission | None:
        """Permission for one call, or None when the model must be skipped."""
        if not self.config.enabled:
            return Admission(probe=False, generation=self._generation)
        now = self.clock()
        self._advance(now)
        if self.state is BreakerState.OPEN:
            self.not_permitted += 1
            return None
        if self.state is BreakerState.HALF_OPEN:
            if len(self._probes) >= self.config.half_open_probes:
                self.not_permitted += 1
                return None
            self._generation += 1
            deadline = now + self.config.probe_timeout_s
            self._probes[self._generation] = deadline
            return Admission(probe=True, generation=self._generation, deadline=deadline)
        return Admission(probe=False, generation=self._generation)

    # --- outcomes ----------------------------------------------------------------------------------

    def record(self, admission: Admission, *, failed: bool, slow: bool = False) -> None:
        """The result of an admitted call; failures that do not trip breakers pass failed=False."""
        if not self.config.enabled:
            return
        now = self.clock()
        self._advance(now)
        if admission.probe:
            if self._probes.pop(admission.generation, None) is None:
                return  # expired probe: already judged a failure
            if self.state is not BreakerState.HALF_OPEN:
                return
            if failed or slow:
                self._trip(now)
            else:
                self._close(now)
            return
        if self.state is not BreakerState.CLOSED or admission.generation != self._generation:
            return  # admitted before a transition: its window no longer exists
        self._calls.append((now, failed, slow))
        self._failures += failed
        self._slows += slow
        self._evict(now)
        if failed or slow:
            self._healthy_since = now
        calls = len(self._calls)
        if calls >= self.config.min_calls and (
            self._failures / calls >= self.config.failure_rate
            or (self.config.slow_call_s is not None and self._slows / calls >= self.config.slow_call_rate)
        ):
            self._trip(now)

    def cancel(self, admission: Admission) -> None:
        """An admitted call that was never made: a probe gives its slot back, nothing is judged."""
        if admission.probe:
            self._probes.pop(admission.generation, None)

    def is_slow(self, seconds: float) -> bool:
        return self.config.slow_call_s is not None and seconds > self.config.slow_call_s

    # --- state machine -----------------------------------------------------------------------------

    def current_state(self) -> BreakerState:
        self._advance(self.clock())
        return self.state

    def _advance(self, now: float) -> None:
        """Time-driven transitions: quarantine over, probes expired, healthy windows decayed."""
        if self.state is BreakerState.OPEN and now >= self.open_until:
            self._set(BreakerState.HALF_OPEN)
        if self.state is BreakerState.HALF_OPEN and any(deadline <= now for deadline in self._probes.values()):
            self._probes.clear()
            self._trip(now)
        if self.state is BreakerState.CLOSED and self.trips:
            healthy_for = now - self._healthy_since
            step = self.config.window_s * self.config.decay_windows
            while self.trips and healthy_for >= step:
                self.trips -= 1
                healthy_for -= step
                self._healthy_since += step

    def _trip(self, now: float) -> None:
        self.trips += 1
        base = self.config.open_s * self.config.multiplier ** (self.trips - 1)
        interval = min(self.config.max_open_s, base)
        if self.config.jitter:
            interval *= 1 + self.config.jitter * (2 * self.rng.random() - 1)
        self.last_interval = interval
        self.open_until = now + interval
        self._probes.clear()
        self._set(BreakerState.OPEN)

    def _close(self, now: float) -> None:
        self._healthy_since = now
        self._set(BreakerState.CLOSED)

    def _set(self, state: BreakerState) -> None:
        self.state = state
        self.transitions += 1
        self._generation += 1
        self._calls.clear()  # window metrics reset on every transition
        self._failures = self._slows = 0
        self.changed_at = time.time()
        if self.on_change is not None:
            self.on_change(self)

    # --- persistence and sharing -------------------------------------------------------------------

    def export(self) -> dict[str, Any]:
        """The state worth keeping across restarts and replicas, with wall-clock times."""
        now = self.clock()
        return {
            "state": self.state.value,
            "trips": self.trips,
            "open_until": time.time() + (self.open_until - now) if self.state is BreakerState.OPEN else 0.0,
            "changed_at": self.changed_at,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Adopt a saved or shared state when it is newer than ours: an open quarantine that is not
        over yet, or a close that happened after our last transition."""
        if float(saved.get("changed_at", 0.0)) <= self.changed_at:
            return
        self.trips = max(self.trips, int(saved.get("trips", 0)))
        remaining = float(saved.get("open_until", 0.0)) - time.time()
        if saved.get("state") == BreakerState.OPEN.value and remaining > 0:
            self.open_until = self.clock() + remaining
            self._adopt(BreakerState.OPEN, float(saved["changed_at"]))
        elif saved.get("state") == BreakerState.CLOSED.value and self.state is not BreakerState.CLOSED:
            self._adopt(BreakerState.CLOSED, float(saved["changed_at"]))

    def _adopt(self, state: BreakerState, changed_at: float) -> None:
        self.state = state
        self.transitions += 1
        self._generation += 1
        self._calls.clear()
        self._failures = self._slows = 0
        self._probes.clear()
        self.changed_at = changed_at

    def _evict(self, now: float) -> None:
        horizon = now - self.config.window_s
        calls = self._calls
        while calls and calls[0][0] < horizon:
            _, failed, slow = calls.popleft()
            self._failures -= failed
            self._slows -= slow

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        self._advance(now)
        self._evict(now)
        failures = self._failures
        return {
            "state": self.state.value,
            "trips": self.trips,
            "open_for_s": round(max(self.open_until - now, 0.0), 3) if self.state is BreakerState.OPEN else 0.0,
            "window_calls": len(self._calls),
            "window_failures": failures,
            "not_permitted": self.not_permitted,
            "transitions": self.transitions,
        }


class BreakerBoard:
    """One breaker per (provider, model), created on first use with the provider's settings."""

    def __init__(
        self, configs: dict[str, BreakerConfig], clock: Callable[[], float] = time.monotonic, seed: int | None = None
    ) -> None:
        self.configs = configs
        self.clock = clock
        self.rng = random.Random(seed)
        self.breakers: dict[tuple[str, str], CircuitBreaker] = {}
        #: Called with "provider/model" and the exported state after every transition.
        self.on_change: Callable[[str, dict[str, Any]], None] | None = None

    def get(self, provider: str, model: str) -> CircuitBreaker:
        key = (provider, model)
        breaker = self.breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(self.configs[provider], self.clock, self.rng)
            breaker.on_change = self._changed(f"{provider}/{model}")
            self.breakers[key] = breaker
        return breaker

    def _changed(self, name: str) -> Callable[[CircuitBreaker], None]:
        def changed(breaker: CircuitBreaker) -> None:
            if self.on_change is not None:
                self.on_change(name, breaker.export())

        return changed

    def restore(self, saved: dict[str, dict[str, Any]]) -> None:
        for name, state in saved.items():
            provider, _, model = name.partition("/")
            if provider in self.configs:
                self.get(provider, model).restore(state)

    def snapshot(self) -> list[dict[str, Any]]:
        return [{"provider": p, "model": m, **b.snapshot()} for (p, m), b in sorted(self.breakers.items())]
