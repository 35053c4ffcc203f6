"""Ledger ingest: what one attempt span costs the router, and how many per second one collector
turns from OTLP bytes into stored `llm_attempts` rows (chDB), with its memory over time.

    python bench/ingest.py [--minutes 5] [--spans 20000] [--ingest-spans 500000]

Sections (each a table):
1. Router cost per attempt span, CPU µs (process time of the bench process, export thread included):
   the OTel SDK path (span creation + BatchSpanProcessor, OTLP protobuf encoding) against the lean
   path (`SpanRecorder` on a `LeanTracerProvider`: hand-encoded OTLP, batched HTTP export to a sink).
2. Collector ingest at 1k and 10k spans per OTLP request: a real collector process with its
   shipped defaults (durable spool, 10,000-row inserts into chDB), two senders posting pre-encoded
   bodies; from the first request sent to the last row stored.
3. End to end for `--minutes`: the lean exporter records attempt spans as fast as the collector
   takes them (back-pressure on its queue), the collector spools and stores them; collector RSS
   once its dedup window is full (the last 1M span keys, held in memory) and at the end.
Last line: `RESULT spans_per_s=<end-to-end> collector_spans_per_s=<OTLP bytes → rows, 10k-span
requests> rss_growth_mb=<y> router_us_per_span=<lean> router_journal_us_per_span=<lean + journal>`.
The end-to-end figure shares the machine's two cores between the recording side and the collector.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from common import BENCH, process, routeledger, table

sys.path.insert(0, str(BENCH.parent))

from routeledger.config import TelemetryConfig
from routeledger.router.api.context import RequestContext
from routeledger.router.telemetry.spans import SpanRecorder, attempt_attributes, build_lean_provider
from tests.e2e.attempt_bodies import AttemptBodies, sample_attempt

CONFIG = """
providers:
  alpha: {kind: openai, base_url: "http://127.0.0.1:9/alpha/v1", allow_private_network: true}
models:
  alpha-4o: {provider: alpha, upstream: gpt-4o, price: {genai_prices: gpt-4o, provider: openai}, context_window: 128000}
routes:
  support: {task: support_chat, traffic_class: critical, chain: [alpha-4o]}
store: {path: "${ROUTELEDGER_STORE_PATH}", database: bench}
collector: {spool_path: "${BENCH_SPOOL}"}
"""


def router_costs(n: int, sink: str) -> dict[str, float]:
    """CPU µs per attempt span on both paths."""
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind

    ctx, outcome = sample_attempt()
    attributes = dict(attempt_attributes(ctx, outcome))

    class Keep(SpanExporter):
        def __init__(self) -> None:
            self.spans: list[Any] = []

        def export(self, spans: Any) -> SpanExportResult:
            self.spans.extend(spans)
            return SpanExportResult.SUCCESS

    keep = Keep()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(keep, max_queue_size=n + 1, max_export_batch_size=2048))
    tracer = provider.get_tracer("bench")
    parent = tracer.start_span("request")
    parent_ctx = trace.set_span_in_context(parent)
    t0 = time.process_time()
    for _ in range(n):
        span = tracer.start_span("chat gpt-4o", context=parent_ctx, kind=SpanKind.CLIENT, attributes=attributes)
        span.end()
    provider.force_flush()
    sdk_record = (time.process_time() - t0) / n * 1e6
    t0 = time.process_time()
    for i in range(0, len(keep.spans), 2048):
        encode_spans(keep.spans[i : i + 2048]).SerializeToString()
    sdk_encode = (time.process_time() - t0) / n * 1e6
    provider.shutdown()

    lean_record, lean_total = lean_costs(n, sink, ctx, outcome, journal=False)
    journal_record, journal_total = lean_costs(n, sink, ctx, outcome, journal=True)
    return {
        "sdk_record": sdk_record,
        "sdk_encode": sdk_encode,
        "lean_record": lean_record,
        "lean_total": lean_total,
        "journal_record": journal_record,
        "journal_total": journal_total,
    }


def lean_costs(n: int, sink: str, ctx: RequestContext, outcome: Any, *, journal: bool) -> tuple[float, float]:
    """CPU µs per span of the lean path: recording alone, and recording + encoding + export.
    With `journal`, each attempt's end is also written to the attempt journal (one write per
    attempt, so a router killed mid-flight loses nothing; see router/journal.py)."""
    spool = Path(tempfile.mkdtemp(prefix="rl-bench-spool-"))
    lean = build_lean_provider(
        TelemetryConfig(
            otlp_endpoint=sink + "/v1/traces", spool_dir=str(spool), max_queue_size=n + 10, attempt_journal=journal
        )
    )
    recorder = SpanRecorder(lean)
    request_span = recorder.start_request(ctx)
    recorder.record_attempt(ctx, request_span, outcome)  # warm the attribute cache
    t0 = time.process_time()
    for _ in range(n):
        recorder.record_attempt(ctx, request_span, outcome)
    record_only = (time.process_time() - t0) / n * 1e6
    assert lean.force_flush(60_000)
    total = (time.process_time() - t0) / n * 1e6
    dropped = lean.exporter.stats.dropped
    lean.shutdown()
    assert dropped == 0
    return record_only, total


def metric(url: str, name: str) -> float:
    for line in httpx.get(url + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise KeyError(name)


#: The collector's dedup window in the bench (its default): span keys held in memory.
WINDOW = 1_000_000


def wait_drained(url: str, expected: int, timeout_s: float = 600) -> None:
    """Poll the collector's drain until `expected` rows are stored; fail fast on repeats (every
    span the bench sends is new) or when the drain stalls."""
    deadline = time.monotonic() + timeout_s
    while metric(url, "routeledger_collector_drained_rows_total") < expected:
        if metric(url, "routeledger_collector_spool_duplicate_rows_total"):
            raise SystemExit("the collector dropped spans as repeats: the bench sent the same span ids twice")
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {expected} rows stored after {timeout_s:.0f} s")
        time.sleep(0.05)  # polling the collector's drain, not synchronisation of our own


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def collector_pid(workdir: Path) -> int:
    import json

    return int(json.loads((workdir / "service.json").read_text())["pid"])


def collector_env() -> tuple[dict[str, str], Path]:
    """A collector with the shipped defaults (10,000-row inserts, 200 ms linger, 1M-key dedup window)."""
    workdir = Path(tempfile.mkdtemp(prefix="rl-bench-collector-"))
    config = workdir / "bench.yaml"
    config.write_text(CONFIG)
    env = {
        "ROUTELEDGER_STORE_PATH": str(workdir / "data"),
        "BENCH_SPOOL": str(workdir / "spool.db"),
        "ROUTELEDGER_CLICKHOUSE_URL": "",
        "ROUTELEDGER_CONFIG": str(config),
    }
    return env, workdir


def ingest(batch: int, total: int, senders: int = 2) -> dict[str, float]:
    """OTLP bytes → stored rows through one collector process, `batch` spans per request."""
    env, _ = collector_env()
    template = AttemptBodies(batch)
    bodies = [template.copy(k) for k in range(max(1, total // batch))]
    with process(routeledger("collector"), env=env) as url:
        t0 = time.perf_counter()
        errors = _send_all(url, bodies, senders)
        accepted = time.perf_counter() - t0
        expected = len(bodies) * batch
        wait_drained(url, expected)
        elapsed = time.perf_counter() - t0
        stored = metric(url, "routeledger_collector_drained_rows_total")
    return {"spans": expected, "accepted_s": accepted, "stored_s": elapsed, "stored": stored, "errors": errors}


def _send_all(url: str, bodies: list[bytes], senders: int) -> int:
    errors = [0]
    lock = threading.Lock()
    queue = list(enumerate(bodies))

    def send() -> None:
        with httpx.Client(base_url=url, timeout=120, headers={"content-type": "application/x-protobuf"}) as client:
            while True:
                with lock:
                    if not queue:
                        return
                    _, body = queue.pop()
                while True:
                    response = client.post("/v1/traces", content=body)
                    if response.status_code == 200:
                        break
                    with lock:
                        errors[0] += 1
                    time.sleep(float(response.headers.get("retry-after", "1")))

    threads = [threading.Thread(target=send) for _ in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors[0]


def end_to_end(minutes: float) -> dict[str, float]:
    """The lean exporter feeding one collector for `minutes`; RSS after warm-up and at the end."""
    env, workdir = collector_env()
    ctx, outcome = sample_attempt()
    with process(routeledger("collector"), env=env) as url:
        pid = collector_pid(workdir)
        lean = build_lean_provider(
            TelemetryConfig(
                otlp_endpoint=url + "/v1/traces",
                spool_dir=str(workdir / "router-spool"),
                max_queue_size=200_000,
                max_export_batch_size=5000,
                schedule_delay_ms=20,
            )
        )
        recorder = SpanRecorder(lean)
        exporter = lean.exporter
        # Warm once the dedup window is full (it holds the last 1M span keys, then stays that size),
        # or at a third of the run if it never fills.
        deadline_warm = time.monotonic() + minutes * 60 / 3
        rss_start = 0.0
        t_start = time.perf_counter()
        recorded = 0
        end = time.monotonic() + minutes * 60
        k = 0
        # Attempt span ids follow from the request span and the attempt index (see
        # router.telemetry.attempt_span_id): 100 attempts under one request span need 100 indexes.
        outcomes = [dataclasses.replace(outcome, index=i) for i in range(1, 101)]
        while time.monotonic() < end:
            span = recorder.start_request(ctx)
            for attempt in outcomes:
                k += 1
                recorder.record_attempt(
                    RequestContext(**{**_fields(ctx), "request_id": f"e2e-{k:012d}"}), span, attempt
                )
            recorded += 100
            while exporter.queued > 50_000:
                time.sleep(0.005)  # back-pressure: record no faster than the collector takes
            if not rss_start and (recorded >= WINDOW or time.monotonic() > deadline_warm):
                rss_start = rss_mb(pid)
        assert lean.force_flush(600_000), "the exporter did not drain"
        wait_drained(url, recorded)
        elapsed = time.perf_counter() - t_start
        rss_end = rss_mb(pid)
        stats = exporter.stats
        lean.shutdown()
        stored = metric(url, "routeledger_collector_drained_rows_total")
    return {
        "spans": recorded,
        "seconds": elapsed,
        "spans_per_s": recorded / elapsed,
        "rss_start": rss_start or rss_end,
        "rss_end": rss_end,
        "stored": stored,
        "dropped": stats.dropped,
    }


def _fields(ctx: RequestContext) -> dict[str, Any]:
    return {name: getattr(ctx, name) for name in ctx.__slots__}  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=5.0, help="sustained end-to-end load")
    parser.add_argument("--spans", type=int, default=20_000, help="spans for the router-cost cells")
    parser.add_argument("--ingest-spans", type=int, default=500_000, help="spans per collector ingest cell")
    args = parser.parse_args()

    with process([sys.executable, str(BENCH / "raw_responder.py"), "{READY}"]) as sink:
        cost = router_costs(args.spans, sink)
    table(
        "Router: CPU per attempt span (µs)",
        ["path", "record", "encode + export", "total"],
        [
            [
                "OTel SDK: BatchSpanProcessor + OTLP encoder",
                cost["sdk_record"],
                cost["sdk_encode"],
                cost["sdk_record"] + cost["sdk_encode"],
            ],
            [
                "lean: otlpwire + LeanExporter (HTTP incl.)",
                cost["lean_record"],
                cost["lean_total"] - cost["lean_record"],
                cost["lean_total"],
            ],
            [
                "lean + attempt journal (router SIGKILL-safe)",
                cost["journal_record"],
                cost["journal_total"] - cost["journal_record"],
                cost["journal_total"],
            ],
        ],
    )
    rows = []
    for batch in (1_000, 10_000):
        result = ingest(batch, max(args.ingest_spans, 2 * batch))
        rows.append(
            [
                batch,
                int(result["spans"]),
                result["spans"] / result["accepted_s"],
                result["spans"] / result["stored_s"],
                int(result["stored"]),
                int(result["errors"]),
            ]
        )
    collector_rate = rows[-1][3]  # 10,000-span requests, stored/s
    table(
        "Collector: OTLP bytes → durable spool → chDB rows (one process)",
        ["spans/request", "spans", "accepted/s (acked)", "stored/s", "rows stored", "503s"],
        rows,
    )
    e2e = end_to_end(args.minutes)
    growth = e2e["rss_end"] - e2e["rss_start"]
    table(
        f"End to end for {args.minutes:g} min: lean exporter → collector → chDB",
        ["spans", "seconds", "spans/s", "rows stored", "dropped", "RSS after warm-up MB", "RSS end MB", "growth MB"],
        [
            [
                int(e2e["spans"]),
                e2e["seconds"],
                e2e["spans_per_s"],
                int(e2e["stored"]),
                int(e2e["dropped"]),
                e2e["rss_start"],
                e2e["rss_end"],
                growth,
            ]
        ],
    )
    print(f"cpus={os.cpu_count()} load_avg={os.getloadavg()[0]:.2f}")
    print(
        f"RESULT spans_per_s={e2e['spans_per_s']:.0f} collector_spans_per_s={collector_rate:.0f} "
        f"rss_growth_mb={growth:.1f} "
        f"router_us_per_span={cost['lean_total']:.1f} router_journal_us_per_span={cost['journal_total']:.1f}"
    )


if __name__ == "__main__":
    main()
