"""The attempt journal: what the router has sent upstream but not yet delivered to the collector.

The export queue lives in memory, so a router killed by SIGKILL or the OOM killer would lose the
spans of attempts that already reached a provider (and may be billed). The journal closes that gap
(reliability plan E23). Three record kinds, appended to one file per router process:

    BEGIN  key, start attributes   written just before the upstream call (an `incomplete` span)
    END    key, encoded span       the attempt ended; its real span, as queued for export
    DONE   keys                    the export thread delivered, spooled, dead-lettered or dropped
                                   (and counted) those spans: nothing more to recover

A restarted router replays the file: a key with END but no DONE is re-sent with its real span; a
key with only BEGIN becomes an `incomplete` attempt (cost unknown, flagged), never a missing one.
Keys are the span's trace id + span id, so a recovered span that the collector already has is
dropped there as a repeat: recovery can over-send, never double count.

Records are plain `os.write` calls without fsync: the page cache survives the death of the
process, which is what this guards against; a power loss is the collector spool's job (an fsync
per attempt would cost more than the rest of the request path). The file is rewritten with only
the open entries once it passes `compact_bytes`, so it stays small.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("routeledger.router.journal")

FILE_NAME = "attempts.journal"
#: Key: 16-byte trace id + 8-byte span id.
KEY_SIZE = 24
#: The file is compacted (rewritten with the open entries only) past this size.
COMPACT_BYTES = 16 * 1024 * 1024

BEGIN, END, DONE = b"B", b"E", b"D"
_HEADER = struct.Struct(">cI")  # kind, payload length


@dataclass(frozen=True, slots=True)
class OpenEntry:
    """An attempt found open on restart: its real span if it ended, else its start record."""

    key: bytes
    begin: bytes
    span: bytes | None


class AttemptJournal:
    def __init__(self, directory: Path, compact_bytes: int = COMPACT_BYTES) -> None:
        self.path = directory / FILE_NAME
        self.compact_bytes = compact_bytes
        self._lock = threading.Lock()
        #: key -> [begin payload, encoded span or None]
        self._open: dict[bytes, list[bytes | None]] = {}
        self.recovered = _replay(self.path)
        for entry in self.recovered:
            self._open[entry.key] = [entry.begin, entry.span]
        self._fd = -1
        self._size = 0
        self._rewrite()

    @property
    def open_entries(self) -> int:
        return len(self._open)

    def begin(self, key: bytes, payload: bytes) -> None:
        """Before the upstream call: `payload` is enough to write an `incomplete` attempt."""
        with self._lock:
            self._open[key] = [payload, None]
            self._append(_record(BEGIN, key + payload))

    def end(self, key: bytes, span: bytes) -> None:
        """The attempt ended and `span` is queued for export."""
        with self._lock:
            entry = self._open.get(key)
            if entry is None:  # never begun (a guardrail stop): only the span needs keeping
                self._open[key] = [b"", span]
            else:
                entry[1] = span
            self._append(_record(END, key + span))

    def done(self, keys: Iterable[bytes]) -> None:
        """The export thread settled these spans (each one delivered, kept on disk, or counted)."""
        with self._lock:
            settled = [key for key in keys if self._open.pop(key, None) is not None]
            if settled:
                self._append(_record(DONE, b"".join(settled)))
            if self._size > self.compact_bytes:
                self._rewrite()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _append(self, data: bytes) -> None:
        if self._fd < 0:
            return
        try:
            os.write(self._fd, data)
        except OSError as exc:  # the request must not fail because the journal cannot be written
            log.error("could not write the attempt journal %s: %s", self.path, exc)
        self._size += len(data)

    def _rewrite(self) -> None:
        """Replace the file with the open entries only (write a new one, then rename over)."""
        tmp = self.path.with_suffix(".tmp")
        parts = []
        for key, (begin, span) in self._open.items():
            if begin:
                parts.append(_record(BEGIN, key + begin))
            if span is not None:
                parts.append(_record(END, key + span))
        data = b"".join(parts)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.rename(tmp, self.path)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd, self._size = fd, len(data)


def _record(kind: bytes, payload: bytes) -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


def _replay(path: Path) -> list[OpenEntry]:
    """The entries a previous process left open; a torn last record (killed mid-write) is ignored."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    open_: dict[bytes, list[bytes | None]] = {}
    pos, size = 0, len(data)
    while pos + _HEADER.size <= size:
        kind, length = _HEADER.unpack_from(data, pos)
        start, pos = pos + _HEADER.size, pos + _HEADER.size + length
        if pos > size:
            log.warning("attempt journal %s ends in a torn record; ignored", path)
            break
        body = data[start:pos]
        if kind == DONE:
            for i in range(0, len(body), KEY_SIZE):
                open_.pop(body[i : i + KEY_SIZE], None)
            continue
        key, rest = body[:KEY_SIZE], body[KEY_SIZE:]
        if kind == BEGIN:
            open_[key] = [rest, None]
        elif kind == END:
            open_.setdefault(key, [b"", None])[1] = rest
        else:
            log.error("attempt journal %s has an unknown record kind %r; stopped reading there", path, kind)
            break
    return [OpenEntry(key, begin or b"", span) for key, (begin, span) in open_.items()]
