"""Drains the durable spool into the store in batches, on a thread of its own.

ClickHouse wants few large inserts, so the writer waits until `max_rows` rows are spooled or the
oldest has waited `max_delay_s`, then inserts whole spooled requests as one Arrow table (the rows
were parsed and validated when they were accepted: no per-row work happens here).
Each batch carries a deterministic deduplication token (a hash of
its span keys, see `collector.spool`): an insert that failed ambiguously and is tried again — in
this run or after a restart — is dropped by the store instead of counted twice. A store that is down
only delays the drain: rows stay in the spool and the writer retries with capped backoff.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from routeledger.collector.spool import SpanSpool, SpoolBatch, read_rows
from routeledger.errors import StoreError
from routeledger.store import AttemptStore

log = logging.getLogger("routeledger.collector.writer")

#: Longest wait between two tries of a failing insert, in seconds (a store back up is seen within it).
MAX_RETRY_DELAY_S = 2.0


class WriterStats:
    __slots__ = ("batches", "store_errors", "store_up", "written_rows")

    def __init__(self) -> None:
        self.written_rows = 0
        self.batches = 0
        self.store_errors = 0
        self.store_up = True


class BatchWriter:
    def __init__(
        self,
        store: AttemptStore,
        spool: SpanSpool,
        *,
        max_rows: int,
        max_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spool = spool
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.stats = WriterStats()
        self._cond = threading.Condition()
        self._oldest: float | None = None
        self._stopping = False
        self._flush_requests = 0
        self._thread = threading.Thread(target=self._run, name="attempt-writer", daemon=True)

    def start(self) -> BatchWriter:
        self._thread.start()
        return self

    def notify(self) -> None:
        """Rows were appended to the spool."""
        with self._cond:
            if self._oldest is None:
                self._oldest = self.clock()
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        return self.spool.depth

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Drain everything spooled so far now; True once it is in the store."""
        if not self._thread.is_alive():
            return self.spool.drained_upto >= self.spool.last_seq  # stopped: nothing will drain
        deadline = self.clock() + timeout_s
        target = self.spool.last_seq
        with self._cond:
            self._flush_requests += 1
            self._cond.notify_all()
            try:
                while self.spool.drained_upto < target:
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        return False
                    self._cond.wait(min(remaining, 0.1))
            finally:
                self._flush_requests -= 1
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Drain what is spooled if the store takes it within the timeout, then stop.
        Whatever is left stays in the spool for the next start."""
        if self.stats.store_up:
            self.flush(timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while self._wait_for_work():
            batch = self.spool.next_batch(self.max_rows)
            if batch is None:
                with self._cond:
                    self._oldest = None
                continue
            if not self._write(batch):
                return
            with self._cond:
                self._oldest = self.clock() if self.spool.depth else None
                self._cond.notify_all()

    def _wait_for_work(self) -> bool:
        """True when a batch should be taken now; False when stopping."""
        with self._cond:
            while not self._stopping:
                depth = self.spool.depth
                if depth:
                    if self._oldest is None:
                        self._oldest = self.clock()
                    waited = self.clock() - self._oldest
                    if self._flush_requests or depth >= self.max_rows or waited >= self.max_delay_s:
                        return True
                    self._cond.wait(self.max_delay_s - waited)
                else:
                    self._cond.wait(1.0)
            return False

    def _write(self, batch: SpoolBatch) -> bool:
        """Insert one batch until the store takes it; False if asked to stop meanwhile."""
        rows = read_rows(batch.payloads)
        delay = 0.05
        while True:
            try:
                self.store.insert_attempts(rows, batch.token)
            except StoreError as exc:
                self.stats.store_errors += 1
                if self.stats.store_up:
                    log.warning("store insert of %d rows failed; keeping them spooled: %s", batch.rows, exc)
                self.stats.store_up = False
                with self._cond:
                    if self._stopping:
                        return False
                    self._cond.wait(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
                continue
            if not self.stats.store_up:
                log.warning("store is back; draining %d spooled rows", self.spool.depth)
            self.stats.store_up = True
            self.spool.commit(batch)
            self.stats.written_rows += batch.rows
            self.stats.batches += 1
            return True
