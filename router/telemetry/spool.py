"""The router's export spool: OTLP requests the collector could not take, kept on disk until it can.

One file per request body (`<seq>-<spans>-<attempt spans>.pb`, written to a temporary name, fsync'd, renamed), so a
segment is either complete or absent, and a re-send is the same bytes (the collector drops the spans
it already has by trace id + span id). The total size is bounded by `budget_bytes`; past it the
caller drops the batch and counts every span it held — an explicit, exact number, never a silent loss.

One router process owns a spool directory at a time (an flock on `lock`); a second process on the
same machine takes the first free numbered subdirectory, and a restarted router adopts whatever a
dead one left behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

log = logging.getLogger("routeledger.router.spool")

#: How many sibling spool directories a machine's router processes may use.
MAX_SIBLINGS = 64


@dataclass(frozen=True, slots=True)
class Segment:
    path: Path
    spans: int
    attempts: int
    size: int


class ExportSpool:
    def __init__(self, directory: str | Path, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self.directory, self._lock_file = _claim(Path(directory))
        self.dead_letter = self.directory / "dead-letter"
        self._mutex = threading.Lock()
        self._segments: list[Segment] = []
        for path in sorted(self.directory.glob("*.pb")):
            counts = _counts_of(path)
            if counts is None:
                continue
            self._segments.append(Segment(path, counts[0], counts[1], path.stat().st_size))
        for stale in self.directory.glob("*.tmp"):
            stale.unlink()  # never renamed: its batch was never counted as spooled
        self._next = 1 + max((_seq_of(s.path) for s in self._segments), default=0)

    @property
    def size(self) -> int:
        return sum(s.size for s in self._segments)

    @property
    def spans(self) -> int:
        return sum(s.spans for s in self._segments)

    def __len__(self) -> int:
        return len(self._segments)

    def put(self, body: bytes, spans: int, attempts: int = 0) -> bool:
        """Durably keep one request body; False (nothing written) when it would pass the budget."""
        with self._mutex:
            if self.size + len(body) > self.budget_bytes:
                return False
            seq = self._next
            self._next += 1
        path = self.directory / f"{seq:012d}-{spans}-{attempts}.pb"
        tmp = path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        tmp.rename(path)
        _fsync_dir(self.directory)
        with self._mutex:
            self._segments.append(Segment(path, spans, attempts, len(body)))
        return True

    def oldest(self) -> tuple[Segment, bytes] | None:
        with self._mutex:
            if not self._segments:
                return None
            segment = self._segments[0]
        return segment, segment.path.read_bytes()

    def remove(self, segment: Segment) -> None:
        segment.path.unlink(missing_ok=True)
        with self._mutex:
            self._segments = [s for s in self._segments if s.path != segment.path]

    def quarantine(self, segment: Segment) -> None:
        """The collector refused the bytes as malformed: keep them aside for inspection, counted."""
        self.dead_letter.mkdir(exist_ok=True)
        segment.path.rename(self.dead_letter / segment.path.name)
        with self._mutex:
            self._segments = [s for s in self._segments if s.path != segment.path]

    def bury(self, body: bytes, spans: int, attempts: int = 0) -> None:
        """Write a refused body straight to the dead-letter directory (outside the budget)."""
        self.dead_letter.mkdir(exist_ok=True)
        with self._mutex:
            seq = self._next
            self._next += 1
        (self.dead_letter / f"{seq:012d}-{spans}-{attempts}.pb").write_bytes(body)

    def close(self) -> None:
        self._lock_file.close()


def _claim(base: Path) -> tuple[Path, IO[bytes]]:
    for n in range(MAX_SIBLINGS):
        directory = base if n == 0 else base / f"replica-{n}"
        directory.mkdir(parents=True, exist_ok=True)
        handle = (directory / "lock").open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return directory, handle
    raise OSError(f"all {MAX_SIBLINGS} spool directories under {base} are in use")


def _seq_of(path: Path) -> int:
    return int(path.stem.split("-")[0])


def _counts_of(path: Path) -> tuple[int, int] | None:
    """(spans, attempt spans) from a segment's name `<seq>-<spans>-<attempts>.pb`."""
    try:
        _, spans, attempts = path.stem.split("-")
        return int(spans), int(attempts)
    except ValueError:
        log.error("ignoring %s: not a spool segment name", path)
        return None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
