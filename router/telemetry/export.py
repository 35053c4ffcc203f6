"""The router's lean span export: encoded spans → bounded queue → OTLP/HTTP batches → collector,
with a disk spool for whatever the collector cannot take right now.

    record (request path)   one `bytes` per span appended to a bounded deque (no objects kept); a full
                            deque is spilled to the disk spool in one write (never evicted while
                            the spool has room)
    export thread           joins up to `batch_size` spans into one OTLP request and POSTs it
    collector down / 429 /  the request body goes to the `ExportSpool` (fsync'd); the thread probes
    503 / timeout           again after a backoff (Retry-After honoured) and re-sends spooled bodies
                            oldest first once the collector answers
    collector says 400      the body is moved to the dead-letter directory and its spans counted
    settled                 the attempt journal (`router.journal`) learns which spans are safe, so a
                            router killed with spans still in memory re-sends them on restart

Every span leaves through exactly one door, and each door has a counter: exported, rejected by the
collector (partial_success), dead-lettered, or dropped (queue full, or spool over its budget). A
drop is logged with its count. `stats.lost` is the exact number of spans that will never arrive.
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import httpx

from routeledger.router.telemetry.journal import AttemptJournal
from routeledger.router.telemetry.otlpwire import encode_request
from routeledger.router.telemetry.spool import ExportSpool, Segment

log = logging.getLogger("routeledger.router.export")

#: Statuses the OTLP/HTTP spec says to retry (the body is spooled and sent again later).
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
#: Backoff between probes of a collector that is down, seconds (start, cap; full jitter within).
BACKOFF_START_S = 0.25
BACKOFF_CAP_S = 5.0
#: Longest Retry-After honoured, seconds (a misconfigured collector must not park export for hours).
MAX_RETRY_AFTER_S = 60.0


#: A queued span: its encoded bytes, whether it is an attempt span, its journal key (b"" if none).
Item = tuple[bytes, bool, bytes]


class Sent(Enum):
    OK = "ok"
    RETRY = "retry"
    REFUSED = "refused"


@dataclass(slots=True)
class ExportStats:
    recorded: int = 0
    exported: int = 0
    export_failures: int = 0  # requests that failed (each spooled or dropped, never lost silently)
    spooled: int = 0  # spans written to the disk spool
    spilled: int = 0  # of those, spans moved there from a full queue by the request path
    resent: int = 0  # spans delivered from the spool
    rejected: int = 0  # spans the collector refused via partial_success
    dead_lettered: int = 0
    dropped_queue_full: int = 0
    dropped_spool_full: int = 0
    #: Attempt spans among the dropped and dead-lettered ones: exactly the ledger rows that will be
    #: missing (request spans carry no cost).
    dropped_attempts: int = 0
    dead_lettered_attempts: int = 0
    #: Attempt spans re-queued from the journal a killed router left, and those of them that had
    #: never ended (recorded as `incomplete`: sent upstream, cost unknown).
    recovered: int = 0
    recovered_incomplete: int = 0
    collector_up: bool = True
    last_error: str = field(default="")

    @property
    def dropped(self) -> int:
        return self.dropped_queue_full + self.dropped_spool_full

    def as_dict(self) -> dict[str, int]:
        return {
            "recorded": self.recorded,
            "exported": self.exported,
            "export_failures": self.export_failures,
            "spooled": self.spooled,
            "spilled": self.spilled,
            "resent": self.resent,
            "rejected": self.rejected,
            "dead_lettered": self.dead_lettered,
            "dropped_queue_full": self.dropped_queue_full,
            "dropped_spool_full": self.dropped_spool_full,
            "dropped": self.dropped,
            "dropped_attempts": self.dropped_attempts,
            "dead_lettered_attempts": self.dead_lettered_attempts,
            "recovered": self.recovered,
            "recovered_incomplete": self.recovered_incomplete,
            "collector_up": int(self.collector_up),
        }


class LeanExporter:
    def __init__(
        self,
        endpoint: str,
        prefix: tuple[bytes, bytes],
        spool: ExportSpool | None,
        *,
        max_queue: int,
        batch_size: int,
        delay_s: float,
        timeout_s: float = 10.0,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        journal: AttemptJournal | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.journal = journal
        self.prefix = prefix
        self.spool = spool
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.delay_s = delay_s
        self.clock = clock
        self.stats = ExportStats()
        self._queue: collections.deque[Item] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._flushing = 0
        self._in_flight = 0
        self._next_probe = 0.0
        self._backoff = BACKOFF_START_S
        self._client = httpx.Client(
            headers={"content-type": "application/x-protobuf", **(headers or {})},
            timeout=timeout_s,
            transport=transport,
        )
        self._thread = threading.Thread(target=self._run, name="span-export", daemon=True)
        self._thread.start()

    # --- the request path ----------------------------------------------------------------------

    def record(self, span: bytes, attempt: bool = True, key: bytes = b"") -> None:
        """Queue one encoded span (never blocks; a full queue drops it and counts the drop).
        `key` (trace id + span id) is settled in the attempt journal once the span is safe."""
        queue = self._queue
        self.stats.recorded += 1
        if len(queue) >= self.max_queue and self.spool is not None:
            self._spill((span, attempt, key))
            return
        if len(queue) >= self.max_queue:
            self.stats.dropped_queue_full += 1
            self.stats.dropped_attempts += attempt
            if self.stats.dropped_queue_full & (self.stats.dropped_queue_full - 1) == 0:  # 1, 2, 4, 8...
                log.error("dropping spans: export queue full (%d dropped so far)", self.stats.dropped_queue_full)
            if key and self.journal is not None:
                self.journal.done((key,))  # counted as dropped: the drop counter is the truth
            return
        queue.append((span, attempt, key))
        if len(queue) == self.batch_size:
            with self._cond:
                self._cond.notify()

    def _spill(self, item: Item) -> None:
        """The queue is full (the collector is slow or frozen and the export thread is stuck on it):
        move everything queued to the disk spool in one fsync'd write instead of evicting spans. The
        request path pays one fsync per `max_queue` spans, only while export is falling behind."""
        with self._cond:
            batch = [*self._queue, item]
            self._queue.clear()
        self.stats.spilled += len(batch)
        self._keep(batch, "export queue full")
        self._settle(batch)

    # --- control -------------------------------------------------------------------------------

    @property
    def queued(self) -> int:
        return len(self._queue)

    def force_flush(self, timeout_s: float = 30.0) -> bool:
        """Send everything queued and spooled; True once nothing is waiting."""
        deadline = self.clock() + timeout_s
        with self._cond:
            self._flushing += 1
            self._next_probe = 0.0
            self._cond.notify_all()
            try:
                while self._queue or self._in_flight or (self.spool is not None and len(self.spool)):
                    remaining = deadline - self.clock()
                    if remaining <= 0:
                        return False
                    self._cond.wait(min(remaining, 0.05))
            finally:
                self._flushing -= 1
        return True

    def shutdown(self, timeout_s: float = 5.0) -> None:
        """Try to deliver for `timeout_s`; whatever is left goes to the disk spool (fsync'd)."""
        self.force_flush(timeout_s)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(timeout_s + 5)
        while self._queue:
            batch = self._take()
            self._keep(batch, "shutdown")
            self._settle(batch)
        self._client.close()
        if self.journal is not None:
            self.journal.close()
        if self.spool is not None:
            self.spool.close()

    # --- the export thread ---------------------------------------------------------------------

    def _take(self) -> list[Item]:
        queue = self._queue
        n = min(len(queue), self.batch_size)
        return [queue.popleft() for _ in range(n)]

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._stopping and len(self._queue) < self.batch_size and not self._flushing:
                    self._cond.wait(self.delay_s)
                if self._stopping:
                    return
                batch = self._take()
                self._in_flight = len(batch)
            try:
                if batch:
                    self._export(batch)
                self._resend_spooled()
            except Exception:  # the export thread must survive anything; the failure is counted
                log.exception("span export failed unexpectedly")
            finally:
                with self._cond:
                    self._in_flight = 0
                    self._cond.notify_all()

    def _export(self, batch: list[Item]) -> None:
        body = encode_request(self.prefix, [span for span, _, _ in batch])
        attempts = sum(flag for _, flag, _ in batch)
        if not self.stats.collector_up and self.clock() < self._next_probe:
            self._keep_body(body, len(batch), attempts, "collector down")
        else:
            result = self._post(body, len(batch), attempts)
            if result is Sent.OK:
                self.stats.exported += len(batch)
            elif result is Sent.RETRY:
                self._keep_body(body, len(batch), attempts, self.stats.last_error)
        self._settle(batch)

    def _settle(self, batch: list[Item]) -> None:
        """Every span of the batch left through one counted door: the journal can forget them."""
        if self.journal is not None:
            self.journal.done([key for _, _, key in batch if key])

    def _resend_spooled(self) -> None:
        spool = self.spool
        while spool is not None and len(spool) and self.stats.collector_up and not self._stopping:
            found = spool.oldest()
            if found is None:
                return
            segment, body = found
            result = self._post(body, segment.spans, segment.attempts, segment=segment)
            if result is Sent.RETRY:
                return
            if result is Sent.OK:
                spool.remove(segment)
                self.stats.resent += segment.spans
        if spool is not None and len(spool) and not self.stats.collector_up and self.clock() >= self._next_probe:
            found = spool.oldest()  # probe with a spooled body: success means the collector is back
            if found is not None and self._post(found[1], found[0].spans, found[0].attempts, found[0]) is Sent.OK:
                spool.remove(found[0])
                self.stats.resent += found[0].spans

    def _post(self, body: bytes, spans: int, attempts: int, segment: Segment | None = None) -> Sent:
        """OK: accepted (some spans may be rejected, counted); RETRY: keep it and try later;
        REFUSED: dead-lettered (a refused segment is moved aside here)."""
        retry_after: float | None = None
        try:
            response = self._client.post(self.endpoint, content=body)
        except httpx.HTTPError as exc:
            self._down(f"{type(exc).__name__}: {exc}", None)
            return Sent.RETRY
        if response.status_code == 200:
            self._up()
            self._count_partial_success(response.content)
            return Sent.OK
        if response.status_code in RETRYABLE_STATUSES:
            header = response.headers.get("retry-after", "")
            retry_after = min(float(header), MAX_RETRY_AFTER_S) if header.isdigit() else None
            self._down(f"HTTP {response.status_code}", retry_after)
            return Sent.RETRY
        # 400/401/413...: sending the same bytes again cannot succeed. Dead-letter, counted.
        self.stats.export_failures += 1
        self.stats.dead_lettered += spans
        self.stats.dead_lettered_attempts += attempts
        log.error("collector refused %d spans with HTTP %d; dead-lettered", spans, response.status_code)
        if self.spool is not None:
            if segment is not None:
                self.spool.quarantine(segment)
            else:
                self.spool.bury(body, spans, attempts)
        return Sent.REFUSED

    def _count_partial_success(self, content: bytes) -> None:
        if not content:
            return
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        try:
            answer = ExportTraceServiceResponse.FromString(content)
        except Exception:
            return
        rejected = answer.partial_success.rejected_spans
        if rejected:
            self.stats.rejected += rejected
            log.error("collector rejected %d spans: %s", rejected, answer.partial_success.error_message)

    def _up(self) -> None:
        if not self.stats.collector_up:
            log.warning("collector is back; re-sending %d spooled spans", self.spool.spans if self.spool else 0)
        self.stats.collector_up = True
        self._backoff = BACKOFF_START_S

    def _down(self, reason: str, retry_after: float | None) -> None:
        self.stats.export_failures += 1
        self.stats.last_error = reason
        if self.stats.collector_up:
            log.warning("span export failed (%s); spooling until the collector answers", reason)
        self.stats.collector_up = False
        wait = retry_after if retry_after is not None else random.uniform(0, self._backoff)
        self._backoff = min(self._backoff * 2, BACKOFF_CAP_S)
        self._next_probe = self.clock() + wait

    def _keep(self, batch: list[Item], reason: str) -> None:
        if batch:
            body = encode_request(self.prefix, [span for span, _, _ in batch])
            self._keep_body(body, len(batch), sum(flag for _, flag, _ in batch), reason)

    def _keep_body(self, body: bytes, spans: int, attempts: int, reason: str) -> None:
        if self.spool is not None and self.spool.put(body, spans, attempts):
            self.stats.spooled += spans
            return
        self.stats.dropped_spool_full += spans
        self.stats.dropped_attempts += attempts
        log.error("dropping %d spans (%s): the export spool is full or disabled", spans, reason)
