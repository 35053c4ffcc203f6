"""One router's state in memory, journaled to a local SQLite file (WAL) so it survives a restart.

Memory answers every read and decides every admission. Changes are journaled with group commit:
every change made during one turn of the event loop goes into one SQLite transaction at the end of
that turn (WAL, synchronous=NORMAL), before any upstream answer can arrive, so a reservation is on
disk before the attempt it pays for can finish. Under load one transaction carries the changes of
many requests instead of one each (measured with bench/router_overhead.py). It survives a crash of
the process, the failure that matters for a router; a power cut may lose the last few milliseconds.
A failed write keeps its changes queued for the next commit and is logged. Rate-limit windows are
memory only.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from routeledger.router.policy.state.base import Denied, Reservation, Scope, StateUnavailable

log = logging.getLogger("routeledger.router.state")

SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (scope TEXT PRIMARY KEY, nanos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS reservations (
    id TEXT PRIMARY KEY, scopes TEXT NOT NULL, nanos INTEGER NOT NULL,
    request_id TEXT NOT NULL, attempt INTEGER NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS events (scope TEXT NOT NULL, threshold REAL NOT NULL, PRIMARY KEY (scope, threshold));
CREATE TABLE IF NOT EXISTS breakers (key TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


class LocalState:
    def __init__(self, path: str | Path, reservation_ttl_s: float) -> None:
        self.path = Path(path)
        self.ttl = reservation_ttl_s
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise StateUnavailable(f"cannot open the router state file {self.path}: {exc}") from exc
        self.spent: dict[str, int] = dict(self.db.execute("SELECT scope, nanos FROM spend").fetchall())
        self.reserved: dict[str, int] = {}
        self.open: dict[str, tuple[Reservation, str, int, float]] = {}
        for rid, scopes, nanos, request_id, attempt, created in self.db.execute("SELECT * FROM reservations"):
            reservation = Reservation(rid, tuple(json.loads(scopes)), int(nanos))
            self.open[rid] = (reservation, request_id, int(attempt), float(created))
            for scope in reservation.scopes:
                self.reserved[scope] = self.reserved.get(scope, 0) + reservation.amount
        self.windows: dict[str, deque[float]] = {}
        self.pending: list[tuple[str, tuple[Any, ...]]] = []
        self.flush_handle: asyncio.Handle | None = None

    def _write(self, *statements: tuple[str, tuple[Any, ...]]) -> None:
        """Queue changes for the group commit at the end of this turn of the event loop."""
        self.pending.extend(statements)
        if self.flush_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self.flush_handle = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Commit every queued change in one transaction."""
        self.flush_handle = None
        if not self.pending:
            return
        statements, self.pending = self.pending, []
        try:
            self.db.execute("BEGIN IMMEDIATE")
            for sql, args in statements:
                self.db.execute(sql, args)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.pending[:0] = statements
            log.error("cannot write the router state file %s (%d changes wait): %s", self.path, len(statements), exc)

    async def usage(self, scopes: Sequence[str]) -> dict[str, tuple[int, int]]:
        return {s: (self.spent.get(s, 0), self.reserved.get(s, 0)) for s in scopes}

    async def reserve(
        self, scopes: Sequence[Scope], amount: int, request_id: str, attempt: int
    ) -> Reservation | Denied:
        for scope in scopes:
            spent, held = self.spent.get(scope.key, 0), self.reserved.get(scope.key, 0)
            if spent + held >= scope.limit:
                return Denied(scope.key, spent, held, scope.limit)
        reservation = Reservation(uuid.uuid4().hex, tuple(s.key for s in scopes), amount)
        created = time.time()
        self._write(
            (
                "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?)",
                (reservation.id, json.dumps(reservation.scopes), amount, request_id, attempt, created),
            )
        )
        for key in reservation.scopes:
            self.reserved[key] = self.reserved.get(key, 0) + amount
        self.open[reservation.id] = (reservation, request_id, attempt, created)
        return reservation

    async def settle(self, reservation: Reservation, actual: int) -> None:
        if reservation.id not in self.open:
            return  # already settled or expired
        statements: list[tuple[str, tuple[Any, ...]]] = [("DELETE FROM reservations WHERE id = ?", (reservation.id,))]
        for key in reservation.scopes:
            statements.append(
                (
                    "INSERT INTO spend VALUES (?, ?) ON CONFLICT(scope) DO UPDATE SET nanos = nanos + excluded.nanos",
                    (key, actual),
                )
            )
        self._write(*statements)
        del self.open[reservation.id]
        for key in reservation.scopes:
            self.reserved[key] -= reservation.amount
            self.spent[key] = self.spent.get(key, 0) + actual

    async def hit(self, key: str, limit: int, window_s: float) -> float:
        now = time.monotonic()
        window = self.windows.setdefault(key, deque())
        while window and window[0] <= now - window_s:
            window.popleft()
        if len(window) >= limit:
            return max(window[0] + window_s - now, 0.001)
        window.append(now)
        return 0.0

    async def first_crossing(self, scope: str, threshold: float) -> bool:
        try:
            cursor = self.db.execute("INSERT OR IGNORE INTO events VALUES (?, ?)", (scope, threshold))
        except sqlite3.Error as exc:
            raise StateUnavailable(str(exc)) from exc
        return cursor.rowcount == 1

    async def save_breaker(self, key: str, state: dict[str, Any]) -> None:
        self._write(("INSERT OR REPLACE INTO breakers VALUES (?, ?)", (key, json.dumps(state))))

    async def load_breakers(self) -> dict[str, dict[str, Any]]:
        return {key: json.loads(state) for key, state in self.db.execute("SELECT key, state FROM breakers")}

    async def open_reservations(self) -> list[tuple[Reservation, str, int, float]]:
        return list(self.open.values())

    async def close(self) -> None:
        if self.flush_handle is not None:
            self.flush_handle.cancel()
        self.flush()
        self.db.close()
