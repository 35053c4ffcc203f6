"""Circuit breaker: exact trip point, quarantine growth and decay, probes that never stick, and a
model-based test comparing it with a reference model under an injected clock."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from routeledger.config import BreakerConfig
from routeledger.router.policy.breaker import Admission, BreakerState, CircuitBreaker


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


def breaker(clock: Clock, **settings_: object) -> CircuitBreaker:
    config = BreakerConfig(
        **{"window_s": 60, "min_calls": 10, "failure_rate": 0.5, "open_s": 600, "jitter": 0, **settings_}
    )  # type: ignore[arg-type]
    return CircuitBreaker(config, clock, random.Random(3))


def call(b: CircuitBreaker, failed: bool, slow: bool = False) -> Admission | None:
    admission = b.admit()
    if admission is not None:
        b.record(admission, failed=failed, slow=slow)
    return admission


def test_exact_trip_point() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(9):
        call(b, failed=True)
        clock.now += 1
    assert b.current_state() is BreakerState.CLOSED  # 9 of 9 failed, but fewer than min_calls
    call(b, failed=True)
    assert b.current_state() is BreakerState.OPEN  # the 10th call trips it, on that call
    assert b.admit() is None and b.not_permitted == 1


def test_the_window_slides() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(9):
        call(b, failed=True)
    clock.now += 61  # those failures left the window
    call(b, failed=True)
    assert b.current_state() is BreakerState.CLOSED


def test_slow_calls_alone_trip_it() -> None:
    clock = Clock()
    b = breaker(clock, slow_call_s=2.0, slow_call_rate=0.5)
    assert b.is_slow(2.5) and not b.is_slow(1.5)
    for _ in range(10):
        call(b, failed=False, slow=True)
    assert b.current_state() is BreakerState.OPEN


def test_quarantine_grows_caps_and_decays() -> None:
    clock = Clock()
    b = breaker(clock, open_s=10, multiplier=2, max_open_s=35, decay_windows=2)
    intervals = []
    for _ in range(4):
        for _ in range(10):
            call(b, failed=True)
        intervals.append(b.last_interval)
        clock.now = b.open_until
        probe = b.admit()
        assert probe is not None and probe.probe
        b.record(probe, failed=True)  # the probe fails: open again, longer
        intervals.append(b.last_interval)
        clock.now = b.open_until
        probe = b.admit()
        assert probe is not None
        b.record(probe, failed=False)  # healthy again
        assert b.current_state() is BreakerState.CLOSED
    assert intervals[:4] == [10, 20, 35, 35]  # base, 2x, capped
    trips = b.trips
    clock.now += 2 * 60  # two healthy windows
    assert b.current_state() is BreakerState.CLOSED and b.trips == trips - 1


def test_jitter_stays_within_its_band() -> None:
    clock = Clock()
    b = breaker(clock, jitter=0.1, open_s=100)
    seen = []
    for _ in range(200):
        b._trip(clock.now)
        seen.append(b.last_interval / (100 * 2 ** (b.trips - 1)) if b.trips < 6 else None)
        b.trips = 0
    values = [v for v in seen if v is not None]
    assert min(values) >= 0.9 - 1e-9 and max(values) <= 1.1 + 1e-9
    assert max(values) - min(values) > 0.1  # it does jitter


def test_a_hung_probe_is_cut_at_the_probe_timeout() -> None:
    clock = Clock()
    b = breaker(clock, probe_timeout_s=5)
    for _ in range(10):
        call(b, failed=True)
    clock.now = b.open_until
    probe = b.admit()
    assert probe is not None and probe.probe and probe.deadline == clock.now + 5
    assert b.admit() is None  # one probe at a time
    clock.now += 5.05  # the probe never reported
    assert b.current_state() is BreakerState.OPEN
    b.record(probe, failed=False)  # a late answer changes nothing
    assert b.current_state() is BreakerState.OPEN


def test_client_errors_never_trip_it() -> None:
    clock = Clock()
    b = breaker(clock)
    for _ in range(1000):
        call(b, failed=False)  # 400s and policy refusals are recorded as not failed
    assert b.current_state() is BreakerState.CLOSED


def test_disabled_breaker_admits_everything() -> None:
    b = breaker(Clock(), enabled=False)
    for _ in range(50):
        call(b, failed=True)
    assert b.current_state() is BreakerState.CLOSED


# --- model-based test ------------------------------------------------------------------------------


@dataclass
class Reference:
    """The breaker as a specification, written the obvious way (multiplier 1, no jitter)."""

    min_calls: int
    rate: float
    window: float
    open_s: float
    probes: int
    probe_timeout: float
    state: str = "closed"
    epoch: int = 0
    calls: list[tuple[float, bool]] = field(default_factory=list)
    open_until: float = 0.0
    probe_deadlines: dict[int, float] = field(default_factory=dict)
    next_probe: int = 0

    def _enter(self, state: str, now: float) -> None:
        self.state, self.epoch, self.calls = state, self.epoch + 1, []
        if state == "open":
            self.open_until, self.probe_deadlines = now + self.open_s, {}

    def advance(self, now: float) -> None:
        if self.state == "open" and now >= self.open_until:
            self._enter("half_open", now)
        if self.state == "half_open" and any(d <= now for d in self.probe_deadlines.values()):
            self._enter("open", now)

    def admit(self, now: float) -> tuple[str, int] | None:
        self.advance(now)
        if self.state == "open":
            return None
        if self.state == "half_open":
            if len(self.probe_deadlines) >= self.probes:
                return None
            self.next_probe += 1
            self.probe_deadlines[self.next_probe] = now + self.probe_timeout
            return ("probe", self.next_probe)
        return ("call", self.epoch)

    def record(self, token: tuple[str, int], failed: bool, now: float) -> None:
        self.advance(now)
        kind, ident = token
        if kind == "probe":
            if self.probe_deadlines.pop(ident, None) is None or self.state != "half_open":
                return
            self._enter("open" if failed else "closed", now)
            return
        if self.state != "closed" or ident != self.epoch:
            return
        self.calls = [c for c in self.calls if c[0] >= now - self.window] + [(now, failed)]
        if len(self.calls) >= self.min_calls and sum(f for _, f in self.calls) / len(self.calls) >= self.rate:
            self._enter("open", now)


class BreakerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.config = BreakerConfig(
            window_s=60,
            min_calls=5,
            failure_rate=0.5,
            open_s=30,
            jitter=0,
            multiplier=1,
            half_open_probes=2,
            probe_timeout_s=10,
        )
        self.b = CircuitBreaker(self.config, self.clock, random.Random(1))
        self.ref = Reference(5, 0.5, 60, 30, 2, 10)
        self.pending: list[tuple[Admission, tuple[str, int]]] = []
        self.transitions: list[tuple[str, str]] = []
        self.last = BreakerState.CLOSED

    def _observe(self) -> None:
        state = self.b.current_state()
        self.ref.advance(self.clock.now)
        assert state.value == self.ref.state
        if state is not self.last:
            self.transitions.append((self.last.value, state.value))
            self.last = state

    @rule(seconds=st.floats(0, 40))
    def tick(self, seconds: float) -> None:
        self.clock.now += seconds
        self._observe()

    @rule()
    def admit(self) -> None:
        open_before = self.b.current_state() is BreakerState.OPEN
        admission = self.b.admit()
        expected = self.ref.admit(self.clock.now)
        assert (admission is None) == (expected is None)
        if open_before:
            assert admission is None  # OPEN admits nothing before its interval
        if admission is not None and expected is not None:
            assert admission.probe == (expected[0] == "probe")
            self.pending.append((admission, expected))
        self._observe()

    @precondition(lambda self: self.pending)
    @rule(index=st.integers(0, 100), failed=st.booleans())
    def report(self, index: int, failed: bool) -> None:
        admission, token = self.pending.pop(index % len(self.pending))
        self.b.record(admission, failed=failed)
        self.ref.record(token, failed, self.clock.now)
        self._observe()

    @invariant()
    def half_open_probes_bounded(self) -> None:
        assert len(self.b._probes) <= self.config.half_open_probes

    @invariant()
    def only_legal_transitions(self) -> None:
        # Observed between steps, so OPEN → HALF_OPEN → CLOSED/OPEN may look like OPEN → CLOSED/OPEN.
        legal = {("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")}
        legal |= {("open", "closed")}
        assert set(self.transitions) <= legal

    @invariant()
    def window_resets_on_transition(self) -> None:
        if self.b.state is not BreakerState.CLOSED:
            assert len(self.b._calls) == 0


BreakerMachine.TestCase.settings = settings(max_examples=500, stateful_step_count=50, deadline=None)
TestBreakerModel = BreakerMachine.TestCase


@pytest.mark.parametrize("failures", [0, 4])
def test_below_min_calls_never_trips(failures: int) -> None:
    clock = Clock()
    b = breaker(clock, min_calls=5)
    for i in range(4):
        call(b, failed=i < failures)
    assert b.current_state() is BreakerState.CLOSED
