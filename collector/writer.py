"""Batched, idempotent writes of attempt rows to the store, on a thread of their own.

ClickHouse wants few large inserts, so rows wait until `max_rows` are pending or the oldest has
waited `max_delay_s`. Each batch gets a deterministic deduplication token (a hash of its span ids):
when an insert fails ambiguously and is retried, the store drops the repeat instead of counting the
attempts twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from routeledger.attempt import AttemptRow, rows_to_arrow
from routeledger.errors import StoreError
from routeledger.store import AttemptStore

log = logging.getLogger("routeledger.collector.writer")

#: Longest wait between two tries of a failing insert, in seconds.
MAX_RETRY_DELAY_S = 5.0


def batch_token(rows: Sequence[AttemptRow]) -> str:
    """Same rows → same token, so a retried batch is recognised by the store."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(row.trace_id.encode())
        digest.update(row.span_id.encode())
    return digest.hexdigest()


@dataclass(slots=True)
class WriterStats:
    received_rows: int = 0
    written_rows: int = 0
    batches: int = 0
    store_errors: int = 0


class BatchWriter:
    def __init__(
        self,
        store: AttemptStore,
        *,
        max_rows: int,
        max_delay_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.max_rows = max_rows
        self.max_delay_s = max_delay_s
        self.clock = clock
        self.stats = WriterStats()
        self._pending: list[AttemptRow] = []
        self._oldest = 0.0
        self._cond = threading.Condition()
        self._stopping = False
        self._flushing = False
        self._thread = threading.Thread(target=self._run, name="attempt-writer", daemon=True)

    def start(self) -> BatchWriter:
        self._thread.start()
        return self

    def submit(self, rows: Sequence[AttemptRow]) -> None:
        if not rows:
            return
        with self._cond:
            was_empty = not self._pending
            if was_empty:
                self._oldest = self.clock()
            self._pending.extend(rows)
            self.stats.received_rows += len(rows)
            if was_empty or len(self._pending) >= self.max_rows:
                self._cond.notify()  # start the delay clock, or flush a full batch now

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._pending)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Write everything submitted so far now; True once it is in the store."""
        deadline = self.clock() + timeout_s
        with self._cond:
            target = self.stats.received_rows
            self._flushing = True
            self._cond.notify_all()
            while self.stats.written_rows < target:
                remaining = deadline - self.clock()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self, timeout_s: float = 30.0) -> None:
        """Flush what is pending, then stop."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._write(batch)

    def _next_batch(self) -> list[AttemptRow] | None:
        with self._cond:
            while True:
                if self._pending:
                    waited = self.clock() - self._oldest
                    now = self._stopping or self._flushing
                    if now or len(self._pending) >= self.max_rows or waited >= self.max_delay_s:
                        batch = self._pending[: self.max_rows]
                        del self._pending[: self.max_rows]
                        self._oldest = self.clock()
                        return batch
                    self._cond.wait(self.max_delay_s - waited)
                elif self._stopping:
                    return None
                else:
                    self._flushing = False
                    self._cond.wait()

    def _write(self, batch: list[AttemptRow]) -> None:
        table = rows_to_arrow(batch)
        token = batch_token(batch)
        delay = 0.05
        while True:
            try:
                self.store.insert_attempts(table, token)
            except StoreError as exc:
                self.stats.store_errors += 1
                log.warning("insert of %d rows failed, retrying in %.2fs: %s", len(batch), delay, exc)
                with self._cond:
                    if self._stopping and delay >= MAX_RETRY_DELAY_S:
                        log.error("giving up on %d rows at shutdown", len(batch))
                        return
                    self._cond.wait(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
                continue
            with self._cond:
                self.stats.written_rows += len(batch)
                self.stats.batches += 1
                self._cond.notify_all()
            return
