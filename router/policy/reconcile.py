"""Settling reservations a dead router left open, from the ledger (reliability plan D17).

A router killed mid-request leaves reservations behind. Each is settled with what the ledger stored
for its attempt (the attempt ran and its span arrived), or released once it is older than the
reservation TTL (the attempt never ran or its span never will). Budget spend then equals the sum of
the stored attempts, to the cent, and nothing is charged twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

from routeledger.errors import RouteledgerError
from routeledger.router.policy.state import StateStore, StateUnavailable
from routeledger.router.policy.state.base import to_nanos
from routeledger.store import AttemptStore

log = logging.getLogger("routeledger.router.reconcile")


@cache
def _sql() -> str:
    return resources.files(__package__ or "").joinpath("reconcile.sql").read_text(encoding="utf-8")


@dataclass(slots=True)
class Reconciled:
    settled: int = 0
    released: int = 0
    kept: int = 0


async def reconcile(
    state: StateStore,
    open_ledger: Callable[[], AttemptStore] | None,
    ttl_s: float,
    older_than: float,
) -> Reconciled:
    """Settle or release every reservation created before `older_than` (wall clock)."""
    result = Reconciled()
    try:
        orphans = [o for o in await state.open_reservations() if o[3] < older_than]
    except StateUnavailable as exc:
        log.warning("cannot read open reservations: %s", exc)
        return result
    if not orphans:
        return result
    costs: dict[tuple[str, int], Decimal] = {}
    if open_ledger is not None:
        try:
            ledger = open_ledger()
            try:
                table = ledger.query(_sql(), {"request_ids": sorted({o[1] for o in orphans})})
            finally:
                ledger.close()
            for row in table.to_pylist():
                costs[(row["request_id"], int(row["attempt"]))] = Decimal(row["cost_usd"])
        except RouteledgerError as exc:
            log.warning("the ledger is not readable, reservations wait: %s", exc)
    now = time.time()
    for reservation, request_id, attempt, created in orphans:
        cost = costs.get((request_id, attempt))
        if cost is not None:
            await state.settle(reservation, to_nanos(cost))
            result.settled += 1
        elif now - created > ttl_s:
            await state.settle(reservation, 0)
            result.released += 1
        else:
            result.kept += 1
    return result
