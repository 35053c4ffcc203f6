"""Which rollup a job can read, and for which part of its window (migration 0011).

A job's window [since, until) is split into the whole rollup periods inside it, read from
`llm_rollup_hour` or `llm_rollup_day`, and the partial periods at its two edges, read attempt by
attempt from `llm_attempts` (the `facts_*.sql` sources). Both parts hold the same additive columns,
so the answer is the raw scan's, to the microsecond and the nano-dollar, while a 30-day question
reads a few hundred thousand rows instead of ten million.

The attempts of requests not answered by their first attempt are read from their copy
`llm_chain_attempts` (migration 0012), grouped request by request.

A rollup is only usable when nothing the job asks falls inside one of its periods:
- the hour rollup has no tenant or feature, so a tenant or feature filter, grouping or tenant scope
  needs the day rollup;
- a time series needs buckets that are whole periods (minute buckets: attempts only; hour buckets
  or the hour of day: the hour rollup only);
- a time condition inside the window (a basis period, a "today") must fall on a period boundary,
  else the rollup part starts after it.
When nothing fits, the rollup part is empty and the job scans attempts, as before.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from routeledger.analytics.scope import GRAINS, Filters, Window, load_sql
from routeledger.store import AttemptStore

#: Dimensions only the day rollup holds.
DAY_ONLY_DIMENSIONS = frozenset({"tenant", "feature", "key"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Plan:
    """The rollup to read (`grain`) and the whole periods [roll_since, roll_until) taken from it."""

    grain: str
    roll_since: datetime
    roll_until: datetime
    #: Where the attempts of multi-attempt requests come from: `table` (llm_chain_attempts) or `raw`.
    chains: str = "table"

    def params(self) -> dict[str, Any]:
        return {"roll_since": self.roll_since, "roll_until": self.roll_until}

    @property
    def uses_rollup(self) -> bool:
        return self.roll_since < self.roll_until


def plan(
    store: AttemptStore,
    window: Window | None,
    filters: Filters | None = None,
    dims: Iterable[str] = (),
    *,
    bucket_s: int | None = None,
    hour_of_day: bool = False,
    cuts: Iterable[datetime] = (),
) -> Plan:
    """The rollup and its whole periods for a job over `window`.

    `dims`: dimensions the job groups by; `bucket_s`: width of its time buckets (epoch-aligned, as
    `toStartOfInterval` makes them); `hour_of_day`: it groups by the UTC hour; `cuts`: instants
    inside the window its conditions compare against. A store without rollups (`rollups = False`,
    like `RawAttemptStore`) gets an empty rollup part.
    """
    win = window or Window.all_time()
    f = filters or Filters()
    wide = bool(f.tenants or f.features or f.tenant_scope is not None or DAY_ONLY_DIMENSIONS & set(dims))
    grain = "day" if wide else "hour"
    size = GRAINS[grain]
    usable = has_rollups(store)
    chains = chain_source(store)
    if bucket_s is not None and bucket_s % size != 0:
        usable = False
    if hour_of_day and grain != "hour":
        usable = False
    low, high = _ceil(win.since, size), _floor(win.until, size)
    for cut in cuts:
        if low < cut < high and _floor(cut, size) != cut:
            low = _ceil(cut, size)
    if not usable or low >= high:
        return Plan(grain, win.until, win.until, chains)  # empty rollup part: every attempt from the table
    return Plan(grain, low, high, chains)


def chain_source(store: AttemptStore) -> str:
    """`table` (the `llm_chain_attempts` copy) unless the store reads attempts only (`raw`)."""
    return "table" if has_rollups(store) else "raw"


#: Stores known to hold the rollups and the chain copy (tables are never dropped, so a yes is kept;
#: a no is asked again, since a writer may migrate the ledger while a reader has it open).
_READY: weakref.WeakSet[Any] = weakref.WeakSet()


def has_rollups(store: AttemptStore) -> bool:
    """Whether jobs may read the rollups and the chain copy of this store.

    No for a `RawAttemptStore` (`rollups = False`) and for a ledger no writer has migrated to 0012
    yet (a dashboard opened read-only on an old ledger): those jobs read `llm_attempts` only.
    """
    flag = getattr(store, "rollups", None)
    if flag is not None:
        return bool(flag)
    if store in _READY:
        return True
    present = int(store.query(load_sql("rollup_tables")).column("present")[0].as_py()) == 3
    if present:
        _READY.add(store)
    return present


def _floor(at: datetime, size: int) -> datetime:
    seconds = (at - _EPOCH) // timedelta(seconds=1)
    return _EPOCH + timedelta(seconds=seconds - seconds % size)


def _ceil(at: datetime, size: int) -> datetime:
    low = _floor(at, size)
    return low if low == at else low + timedelta(seconds=size)


class RawAttemptStore:
    """A store whose analytics jobs read every attempt from `llm_attempts`: no rollup, no chain copy.

    The reference the rollups are checked against (tests compare every job on both) and the bench's
    "before": same data, same SQL, only the plan differs. Everything else goes to the wrapped store
    unchanged (the SQL it forwards is the jobs' own, from their `.sql` files).
    """

    rollups = False

    def __init__(self, store: AttemptStore) -> None:
        self._inner = store

    def migrate(self) -> list[str]:
        return self._inner.migrate()

    def insert_attempts(self, batch: pa.Table, dedup_token: str) -> None:
        self._inner.insert_attempts(batch, dedup_token)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        return self._inner.query(sql, params)

    def close(self) -> None:
        """The wrapped store belongs to the caller; closing this view of it does nothing."""
