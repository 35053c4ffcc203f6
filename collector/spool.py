"""The collector's durable spool: accepted attempt rows live here until they are in the store.

An OTLP request is acknowledged only after its rows are committed to this SQLite database in WAL
mode with `synchronous=FULL` (the commit is fsync'd), so a collector killed at any moment loses
nothing it has answered 200 for. One spool row holds one request's validated attempt rows as an
Arrow IPC stream beside their span keys: one write and one fsync per request, not per span.

    append (request thread)  →  requests table, one row per OTLP request
    next_batch (writer)      →  the oldest undrained requests; the batch is *recorded* before the insert
    commit (writer)          →  requests marked drained (payload dropped, keys kept) once the store has them

Exactly once, end to end:
- A span delivered twice (an exporter retrying after a lost answer, a router re-sending its spool)
  has the same key (trace id + span id). The keys of the last `dedup_keys` spooled spans are held
  in memory (rebuilt from the spool's key columns at start); a repeat is dropped from its request
  before the request is stored. Drained requests keep their keys until they leave that window.
- The batch being written is recorded (first and last request sequence number) before the insert.
  A collector restarted after a crash replays exactly that batch, with exactly the same
  deduplication token (a hash of its span keys), so the store drops the repeat.

Disk budget: `budget_bytes` bounds the payload bytes not yet drained. Past it `append` raises
`SpoolFull` and the HTTP layer answers 503 with Retry-After: the exporter retries, nothing is dropped
silently.

A spool written by the previous layout (one row per span, JSON payloads) is converted in place, in
one transaction, when it is opened: its undrained rows, its in-flight batch (same rows, same
token) and its recent keys carry over.
"""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.ipc

from routeledger.attempt import ATTEMPT_SCHEMA
from routeledger.collector.spans import KEY_BYTES

log = logging.getLogger("routeledger.collector.spool")

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq     INTEGER PRIMARY KEY,
    rows    INTEGER NOT NULL,
    keys    BLOB NOT NULL,
    payload BLOB
);
CREATE TABLE IF NOT EXISTS meta (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

#: Per-span overhead counted against the budget besides the payload (its key, page slack), bytes.
ROW_OVERHEAD_BYTES = 32
#: Rows per request when a previous-layout spool is converted.
LEGACY_CHUNK_ROWS = 10_000


class SpoolFull(Exception):
    """The undrained bytes would exceed the disk budget; the caller answers 503 + Retry-After."""


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    first_seq: int
    last_seq: int
    payloads: list[bytes]  # Arrow IPC streams, one per request
    rows: int
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
    converted_rows: int = 0


class _RecentKeys:
    """The span keys of the newest spooled requests, oldest first, at least `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.keys: set[bytes] = set()
        self._requests: deque[tuple[int, list[bytes]]] = deque()

    def fresh(self, keys: bytes) -> list[int] | None:
        """Indexes of the keys seen neither before nor earlier in this request; None when all are new."""
        split = _split(keys)
        seen = self.keys
        if len(set(split)) == len(split) and seen.isdisjoint(split):
            return None
        keep, taken = [], set()
        for index, key in enumerate(split):
            if key not in seen and key not in taken:
                taken.add(key)
                keep.append(index)
        return keep

    def add(self, seq: int, keys: bytes) -> None:
        split = _split(keys)
        self.keys.update(split)
        self._requests.append((seq, split))
        while self._requests and len(self.keys) - len(self._requests[0][1]) >= self.limit:
            _, old = self._requests.popleft()
            self.keys.difference_update(old)

    @property
    def oldest_seq(self) -> int:
        return self._requests[0][0] if self._requests else 0


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
        self.stats.converted_rows = _convert_legacy(self._conn)
        self._drained_upto = self._meta("drained_upto", 0)
        row = self._conn.execute(
            "SELECT coalesce(sum(rows), 0), coalesce(sum(length(payload)), 0), coalesce(max(seq), 0) "
            "FROM requests WHERE seq > ?",
            (self._drained_upto,),
        ).fetchone()
        self._depth = int(row[0])
        self._pending_bytes = int(row[1]) + self._depth * ROW_OVERHEAD_BYTES
        self._last_seq = max(int(row[2]), self._drained_upto)
        self._recent = self._load_recent()

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

    def _load_recent(self) -> _RecentKeys:
        """The dedup window as the last run left it: keys of the newest requests, drained or not."""
        recent = _RecentKeys(self.dedup_keys)
        chosen: list[tuple[int, bytes]] = []
        total = 0
        for seq, keys in self._conn.execute("SELECT seq, keys FROM requests ORDER BY seq DESC"):
            if total >= self.dedup_keys:
                break
            chosen.append((int(seq), bytes(keys)))
            total += len(keys) // KEY_BYTES
        for seq, keys in reversed(chosen):
            recent.add(seq, keys)
        return recent

    # --- the request side -------------------------------------------------------------------

    def append(self, rows: pa.Table, keys: bytes) -> int:
        """Store one request's rows durably (`keys`: their span keys, KEY_BYTES each, in row order);
        returns how many were new (spans already spooled or drained are dropped from the request).

        Raises `SpoolFull` without storing anything when the request would pass the budget."""
        count = rows.num_rows
        if not count:
            return 0
        with self._lock:
            keep = self._recent.fresh(keys)
            if keep is not None:  # repeats: keep only the rows whose key is new
                rows = rows.take(pa.array(keep, pa.int64()))
                keys = b"".join(keys[i * KEY_BYTES : (i + 1) * KEY_BYTES] for i in keep)
            added = rows.num_rows
            self.stats.duplicate_rows += count - added
            if not added:
                return 0
            payload = _ipc(rows)
            size = len(payload) + ROW_OVERHEAD_BYTES * added
            if self._pending_bytes + size > self.budget_bytes:
                self.stats.full_rejections += 1
                raise SpoolFull(f"the spool holds {self._pending_bytes} bytes; budget {self.budget_bytes}")
            seq = self._last_seq + 1
            with _transaction(self._conn) as conn:
                conn.execute(
                    "INSERT INTO requests (seq, rows, keys, payload) VALUES (?, ?, ?, ?)", (seq, added, keys, payload)
                )
            self._recent.add(seq, keys)
            self._last_seq = seq
            self._depth += added
            self._pending_bytes += size
            self.stats.appended_rows += added
            return int(added)

    # --- the writer side --------------------------------------------------------------------

    def next_batch(self, max_rows: int) -> SpoolBatch | None:
        """The oldest undrained requests (whole requests, at least one, up to `max_rows` rows when
        there are several), recorded as in flight before returning.

        If a previous run recorded a batch and died before confirming it, that same batch comes first."""
        with self._lock:
            first, last = self._meta("inflight_first", 0), self._meta("inflight_last", 0)
            replayed = bool(last)
            if replayed:
                found = self._conn.execute(
                    "SELECT seq, rows, keys, payload FROM requests WHERE seq BETWEEN ? AND ? ORDER BY seq",
                    (first, last),
                ).fetchall()
            else:
                found = []
                total = 0
                for row in self._conn.execute(
                    "SELECT seq, rows, keys, payload FROM requests WHERE seq > ? ORDER BY seq", (self._drained_upto,)
                ):
                    if found and total + int(row[1]) > max_rows:
                        break
                    found.append(row)
                    total += int(row[1])
                if not found:
                    return None
                first, last = int(found[0][0]), int(found[-1][0])
                with _transaction(self._conn) as conn:
                    conn.executemany(
                        "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                        [("inflight_first", first), ("inflight_last", last)],
                    )
            if replayed:
                self.stats.replayed_batches += 1
        return SpoolBatch(
            first,
            last,
            [bytes(r[3]) for r in found],
            sum(int(r[1]) for r in found),
            batch_token([bytes(r[2]) for r in found]),
            replayed,
        )

    def commit(self, batch: SpoolBatch) -> None:
        """The store has the batch: mark it drained, drop its payloads, forget keys past the window."""
        with self._lock:
            drained = max(self._drained_upto, batch.last_seq)
            with _transaction(self._conn) as conn:
                conn.execute(
                    "UPDATE requests SET payload = NULL WHERE seq BETWEEN ? AND ?", (batch.first_seq, batch.last_seq)
                )
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
                    [("drained_upto", drained), ("inflight_first", 0), ("inflight_last", 0)],
                )
                conn.execute("DELETE FROM requests WHERE seq < ? AND seq <= ?", (self._recent.oldest_seq, drained))
            self._drained_upto = drained
            self._depth = max(0, self._depth - batch.rows)
            self._pending_bytes = max(
                0, self._pending_bytes - sum(map(len, batch.payloads)) - ROW_OVERHEAD_BYTES * batch.rows
            )
            self.stats.drained_rows += batch.rows

    # --- state ------------------------------------------------------------------------------

    @property
    def depth(self) -> int:
        """Rows (attempt spans) accepted and not yet in the store."""
        return self._depth

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest spooled request."""
        return self._last_seq

    @property
    def drained_upto(self) -> int:
        return self._drained_upto

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def batch_token(keys: Sequence[bytes]) -> str:
    """Same rows → same token, whatever process or restart computes it (sha256 of the span keys,
    in order: the same for any split of the keys into requests)."""
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key)
    return digest.hexdigest()


def read_rows(payloads: Sequence[bytes]) -> pa.Table:
    """The rows of spooled requests as one table (`ATTEMPT_SCHEMA`)."""
    tables = []
    for payload in payloads:
        with pa.ipc.open_stream(payload) as reader:
            tables.append(reader.read_all())
    return pa.concat_tables(tables) if tables else ATTEMPT_SCHEMA.empty_table()


#: Spooled rows are LZ4-compressed: labels repeat, so a request takes a quarter of the bytes to
#: write, fsync, read back and free (readers detect it; uncompressed payloads read the same).
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")


def _ipc(rows: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema, options=_IPC_OPTIONS) as out:
        out.write_table(rows)
    return bytes(sink.getvalue().to_pybytes())


def _split(keys: bytes) -> list[bytes]:
    return [keys[i : i + KEY_BYTES] for i in range(0, len(keys), KEY_BYTES)]


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT (fsync'd), rolled back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


# --- the previous layout: one row per span, JSONCompactEachRow payloads --------------------------


def _convert_legacy(conn: sqlite3.Connection) -> int:
    """Move a previous-layout spool's rows into `requests`, in one transaction; returns the rows
    converted. The recorded in-flight batch becomes one request (its rows, in order, hash to the
    same token), undrained rows follow in chunks, and drained keys still in the dedup window come
    first as one drained request."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'spans'").fetchone():
        return 0
    meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    drained_upto, first, last = (int(meta.get(k, 0)) for k in ("drained_upto", "inflight_first", "inflight_last"))
    rows = conn.execute("SELECT seq, key, payload FROM spans ORDER BY seq").fetchall()
    drained = [r for r in rows if r[0] <= drained_upto or r[2] is None]
    pending = [r for r in rows if r[0] > drained_upto and r[2] is not None]
    groups: list[list[tuple[int, bytes, bytes]]] = []
    if last:
        groups.append([r for r in pending if first <= r[0] <= last])
        pending = [r for r in pending if not first <= r[0] <= last]
    groups += [pending[i : i + LEGACY_CHUNK_ROWS] for i in range(0, len(pending), LEGACY_CHUNK_ROWS)]
    groups = [g for g in groups if g]
    with _transaction(conn):
        seq = 0
        if drained:
            seq += 1
            keys = b"".join(bytes(r[1]) for r in drained)
            conn.execute("INSERT INTO requests VALUES (?, ?, ?, NULL)", (seq, len(drained), keys))
        new_meta = {"drained_upto": seq, "inflight_first": 0, "inflight_last": 0}
        for index, group in enumerate(groups):
            seq += 1
            table = _legacy_rows([bytes(r[2]) for r in group])
            keys = b"".join(bytes(r[1]) for r in group)
            conn.execute("INSERT INTO requests VALUES (?, ?, ?, ?)", (seq, len(group), keys, _ipc(table)))
            if index == 0 and last:
                new_meta.update(inflight_first=seq, inflight_last=seq)
        conn.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", list(new_meta.items()))
        conn.execute("DROP TABLE spans")
    converted = sum(len(g) for g in groups)
    log.warning("converted a previous-layout spool: %d undrained rows in %d requests", converted, len(groups))
    return converted


def _legacy_rows(payloads: Sequence[bytes]) -> pa.Table:
    """JSONCompactEachRow lines (values in column order; the timestamp as decimal seconds text, the
    cost as a decimal string; columns added since missing at the end) → an `ATTEMPT_SCHEMA` table."""
    names = ATTEMPT_SCHEMA.names
    columns: list[list[object]] = [[] for _ in names]
    defaults: dict[str, object] = {"api_key": ""}
    for payload in payloads:
        values = orjson.loads(payload)
        for index, name in enumerate(names):
            columns[index].append(values[index] if index < len(values) else defaults.get(name))
    seconds, _, micros = zip(*(str(t).partition(".") for t in columns[0]), strict=True) if payloads else ((), (), ())
    columns[0] = [int(s) * 1_000_000 + int((m or "0").ljust(6, "0")[:6]) for s, m in zip(seconds, micros, strict=True)]
    cost = names.index("cost_usd")
    columns[cost] = [Decimal(str(v)) for v in columns[cost]]
    arrays = [
        pa.array(values, pa.int64()).cast(field.type) if field.name == "ts" else pa.array(values, field.type)
        for values, field in zip(columns, ATTEMPT_SCHEMA, strict=True)
    ]
    return pa.Table.from_arrays(arrays, schema=ATTEMPT_SCHEMA)
