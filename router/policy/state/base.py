"""The state interface: reserve before an attempt, settle after it, read usage, count requests.

Money is integer nano-dollars here (the ledger's resolution), so both backends add exactly: Redis
and SQLite have no decimal type, and a float would drift.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

NANO = Decimal("1e9")


def to_nanos(usd: Decimal) -> int:
    return int((usd * NANO).to_integral_value())


def to_usd(nanos: int) -> Decimal:
    return (Decimal(nanos) / NANO).quantize(Decimal("1e-9"))


class StateUnavailable(RuntimeError):
    """Spend cannot be read or written; the route's failure mode decides (fail closed by default)."""


@dataclass(frozen=True, slots=True)
class Scope:
    """One budget: a key like `tenant:acme:day:2026-11-22` and its limit in nano-dollars."""

    key: str
    limit: int


@dataclass(frozen=True, slots=True)
class Reservation:
    id: str
    scopes: tuple[str, ...]
    amount: int


@dataclass(frozen=True, slots=True)
class Denied:
    """The first scope that is exhausted: spent + reserved already at its limit."""

    scope: str
    spent: int
    reserved: int
    limit: int


class StateStore(Protocol):
    async def usage(self, scopes: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(spent, reserved) per scope, nano-dollars."""
        ...

    async def reserve(
        self, scopes: Sequence[Scope], amount: int, request_id: str, attempt: int
    ) -> Reservation | Denied:
        """Hold `amount` on every scope unless one is already exhausted (spent + reserved ≥ limit)."""
        ...

    async def settle(self, reservation: Reservation, actual: int) -> None:
        """Release the hold and add what the attempt really cost."""
        ...

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        """Count one request against a rolling window; 0 when admitted, else seconds to wait."""
        ...

    async def first_crossing(self, scope: str, threshold: float) -> bool:
        """True exactly once per scope and threshold: the soft-limit event is due."""
        ...

    async def save_breaker(self, key: str, state: dict[str, Any]) -> None: ...

    async def load_breakers(self) -> dict[str, dict[str, Any]]: ...

    async def open_reservations(self) -> list[tuple[Reservation, str, int, float]]:
        """(reservation, request id, attempt, created at) of every reservation not settled."""
        ...

    async def close(self) -> None: ...
