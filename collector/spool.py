"""The collector's durable spool: accepted attempt rows live here until they are in the store.

An OTLP request is acknowledged only after its rows are committed to this SQLite database in WAL
mode with `synchronous=FULL` (the commit is fsync'd), so a collector killed at any moment loses
nothing it has answered 200 for. The writer drains the spool in batches:

    append (request thread)  →  spans table, one row per attempt, keyed by trace id + span id
    next_batch (writer)      →  the oldest undrained rows; the batch is *recorded* before the insert
    commit (writer)          →  rows marked drained once the store has them

Exactly once, end to end:
- A span delivered twice (an exporter retrying after a lost answer, a router re-sending its spool)
  has the same key; `INSERT OR IGNORE` keeps the first. Keys of drained rows are kept for
  `dedup_keys` rows so late repeats are still recognised.
- The batch being written is recorded (first and last sequence number) before the insert. A
  collector restarted after a crash replays exactly that batch, with exactly the same
  deduplication token (a hash of its keys), so the store drops the repeat.

Disk budget: `budget_bytes` bounds the payload bytes not yet drained. Past it `append` raises
`SpoolFull` and the HTTP layer answers 503 with Retry-After: the exporter retries, nothing is dropped
silently.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("routeledger.collector.spool")

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    seq     INTEGER PRIMARY KEY,
    key     BLOB NOT NULL UNIQUE,
    payload BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

#: Per-row overhead counted against the budget besides the payload (key, seq, page slack), bytes.
ROW_OVERHEAD_BYTES = 48


class SpoolFull(Exception):
    """The undrained bytes would exceed the disk budget; the caller answers 503 + Retry-After."""


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    first_seq: int
    last_seq: int
    payloads: list[bytes]
    token: str
    replayed: bool = False  # the batch a previous run recorded but did not confirm


@dataclass(slots=True)
class SpoolStats:
    appended_rows: int = 0
    duplicate_rows: int = 0
    drained_rows: int = 0
    full_rejections: int = 0
    replayed_batches: int = 0
    quarantined_files: int = 0


class SpanSpool:
    """One SQLite file; thread-safe (one connection behind a lock, as SQLite serialises writers)."""

    def __init__(self, path: str | Path, *, budget_bytes: int, dedup_keys: int = 1_000_000) -> None:
        self.path = Path(path)
        self.budget_bytes = budget_bytes
        self.dedup_keys = dedup_keys
        self.stats = SpoolStats()
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = self._open()
        self._drained_upto = self._meta("drained_upto", 0)
        row = self._conn.execute(
            "SELECT count(*), coalesce(sum(length(payload)), 0), coalesce(max(seq), 0) FROM spans WHERE seq > ?",
            (self._drained_upto,),
        ).fetchone()
        self._depth = int(row[0])
        self._pending_bytes = int(row[1]) + self._depth * ROW_OVERHEAD_BYTES
        self._last_seq = max(int(row[2]), self._drained_upto)

    def _open(self) -> sqlite3.Connection:
        try:
            conn = self._connect()
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
            return conn
        except sqlite3.DatabaseError as exc:
            # A damaged file is set aside (kept for inspection), never silently reused or deleted.
            target = self.path.with_name(f"{self.path.name}.corrupt-{time.time_ns()}")
            log.error("spool %s is damaged (%s); moved to %s, starting a new spool", self.path, exc, target)
            self.path.rename(target)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.rename(target.with_name(target.name + suffix))
            self.stats.quarantined_files += 1
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")  # every commit fsync'd: an acknowledged span is on disk
        conn.executescript(SCHEMA)
        return conn

    def _meta(self, name: str, default: int) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else default

    # --- the request side -------------------------------------------------------------------

    def append(self, rows: Sequence[tuple[bytes, bytes]]) -> int:
        """Store (key, payload) rows durably; returns how many were new (repeats are ignored).

        Raises `SpoolFull` without storing anything when the batch would pass the budget."""
        if not rows:
            return 0
        size = sum(len(p) for _, p in rows) + ROW_OVERHEAD_BYTES * len(rows)
        with self._lock:
            if self._pending_bytes + size > self.budget_bytes:
                self.stats.full_rejections += 1
                raise SpoolFull(f"the spool holds {self._pending_bytes} bytes; budget {self.budget_bytes}")
            conn = self._conn
            before = conn.total_changes
            first = self._last_seq + 1
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO spans (seq, key, payload) VALUES (?, ?, ?)",
                    [(first + i, key, payload) for i, (key, payload) in enumerate(rows)],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            added = conn.total_changes - before
            if added:
                self._last_seq = int(conn.execute("SELECT max(seq) FROM spans").fetchone()[0])
            self._depth += added
            # Duplicates take no space; the estimate is exact enough for a budget.
            self._pending_bytes += size * added // len(rows)
            self.stats.appended_rows += added
            self.stats.duplicate_rows += len(rows) - added
            return added

    # --- the writer side --------------------------------------------------------------------

    def next_batch(self, max_rows: int) -> SpoolBatch | None:
        """The oldest undrained rows (at most `max_rows`), recorded as in flight before returning.

        If a previous run recorded a batch and died before confirming it, that same batch comes first."""
        with self._lock:
            first, last = self._meta("inflight_first", 0), self._meta("inflight_last", 0)
            replayed = bool(last)
            if replayed:
                found = self._conn.execute(
                    "SELECT seq, key, payload FROM spans WHERE seq BETWEEN ? AND ? ORDER BY seq", (first, last)
                ).fetchall()
            else:
                found = self._conn.execute(
                    "SELECT seq, key, payload FROM spans WHERE seq > ? ORDER BY seq LIMIT ?",
                    (self._drained_upto, max_rows),
                ).fetchall()
                if not found:
                    return None
                first, last = int(found[0][0]), int(found[-1][0])
                self._conn.execute("BEGIN IMMEDIATE")
                self._conn.executemany(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                    [("inflight_first", first), ("inflight_last", last)],
                )
                self._conn.execute("COMMIT")
            if replayed:
                self.stats.replayed_batches += 1
        return SpoolBatch(first, last, [bytes(r[2]) for r in found], batch_token([r[1] for r in found]), replayed)

    def commit(self, batch: SpoolBatch) -> None:
        """The store has the batch: mark it drained, forget its payloads, prune old keys."""
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE spans SET payload = NULL WHERE seq BETWEEN ? AND ?", (batch.first_seq, batch.last_seq))
            drained = max(self._drained_upto, batch.last_seq)
            conn.executemany(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                [("drained_upto", drained), ("inflight_first", 0), ("inflight_last", 0)],
            )
            conn.execute("DELETE FROM spans WHERE seq <= ?", (drained - self.dedup_keys,))
            conn.execute("COMMIT")
            count = len(batch.payloads)
            self._drained_upto = drained
            self._depth = max(0, self._depth - count)
            self._pending_bytes = max(
                0, self._pending_bytes - sum(map(len, batch.payloads)) - ROW_OVERHEAD_BYTES * count
            )
            self.stats.drained_rows += count

    # --- state ------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Rows accepted and not yet in the store."""
        return self._depth

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def last_seq(self) -> int:
        return self._last_seq

    @property
    def drained_upto(self) -> int:
        return self._drained_upto

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def batch_token(keys: Sequence[bytes]) -> str:
    """Same rows → same token, whatever process or restart computes it (sha256 of the span keys)."""
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key)
    return digest.hexdigest()
