"""The collector's HTTP surface.

    POST /v1/traces    OTLP/HTTP traces (protobuf or JSON, gzip allowed); attempt spans → rows
    POST /v1/query     read-only SQL over the store, answered as Arrow IPC (for the CLI, dashboard)
    GET  /healthz      liveness
    GET  /metrics      counters in Prometheus text format

A malformed body is answered 400 with the reason and writes nothing; an attempt span with malformed
attributes is rejected alone and reported through OTLP `partial_success`. A 200 is sent only once the
request's rows are committed to the durable spool (`collector.spool`); a full spool is answered 503
with Retry-After, which OTLP exporters retry. With a token configured (`collector.token_env`),
/v1/traces and /v1/query require `Authorization: Bearer <token>` (compared in constant time).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.ipc
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from routeledger.collector.otlp import BodyTooLarge, OtlpDecodeError, decompress, encode_response, protobuf_body
from routeledger.collector.spans import Extracted, extract
from routeledger.collector.spool import SpanSpool, SpoolFull
from routeledger.collector.writer import BatchWriter
from routeledger.config import RouteledgerConfig
from routeledger.errors import QueryError, RouteledgerError
from routeledger.store import AttemptStore, WriterStore
from routeledger.store.schema import (
    DEPENDENT_VIEWS,
    INSERT_SESSION_SETTINGS,
    MIN_DEDUP_WINDOW,
    UNGUARDED_TABLES,
    unguarded_tables,
    unsafe_insert_settings,
)
from routeledger.store.service import ARROW_STREAM

log = logging.getLogger("routeledger.collector")


@dataclass(slots=True)
class IngestStats:
    requests: int = 0
    bad_requests: int = 0
    attempt_spans: int = 0
    skipped_spans: int = 0
    rejected_spans: int = 0
    unauthorized: int = 0
    spool_full: int = 0
    unguarded_tables: int = 0


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "code": status}})
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def create_app(config: RouteledgerConfig, store: AttemptStore, environ: dict[str, str] | None = None) -> FastAPI:
    """The collector app over an open store (the caller owns and closes the store)."""
    settings = config.collector
    stats = IngestStats()
    spool = SpanSpool(spool_path(config), budget_bytes=settings.spool_budget_bytes, dedup_keys=settings.dedup_keys)
    writer = BatchWriter(store, spool, max_rows=settings.batch_max_rows, max_delay_s=settings.batch_max_delay_ms / 1000)
    limit = settings.max_body_bytes
    token = (os.environ if environ is None else environ).get(settings.token_env, "")
    expected = f"Bearer {token}".encode() if token else b""
    retry_after = {"retry-after": str(settings.retry_after_s)}

    def authorized(request: Request) -> bool:
        if not expected:
            return True
        given = request.headers.get("authorization", "").encode("utf-8", "replace")
        return hmac.compare_digest(given, expected)

    # One request is decoded, checked and spooled at a time, on one thread: the work holds the GIL
    # in many short steps (array calls release it), and two requests interleaving those steps each
    # wait out the other's switch interval at every step (measured: array calls ~20x slower).
    # The spool write (mostly SQLite and fsync, outside the GIL) has a thread of its own, so the
    # next request is decoded while the previous one is made durable.
    intake = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otlp-intake")
    spooler = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otlp-spool")

    def accept(raw: bytes, encoding: str | None, content_type: str | None) -> Extracted:
        return extract(protobuf_body(decompress(raw, encoding, limit), content_type))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        store.migrate()
        stats.unguarded_tables = check_dedup_windows(store)
        writer.start()
        try:
            yield
        finally:
            intake.shutdown(wait=True)
            spooler.shutdown(wait=True)
            writer.stop()
            spool.close()

    app = FastAPI(title="routeledger collector", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.writer = writer
    app.state.spool = spool
    app.state.stats = stats

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    @app.post("/v1/traces")
    async def traces(request: Request) -> Response:
        stats.requests += 1
        if not authorized(request):
            stats.unauthorized += 1
            return _error(401, "a valid bearer token is required", {"www-authenticate": "Bearer"})
        content_type = request.headers.get("content-type")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            stats.bad_requests += 1
            return _error(413, f"the request body exceeds {limit} bytes")
        raw = await _read_limited(request, limit)
        if raw is None:  # a chunked body without Content-Length is cut off at the limit, not buffered
            stats.bad_requests += 1
            return _error(413, f"the request body exceeds {limit} bytes")
        encoding = request.headers.get("content-encoding")
        try:
            loop = asyncio.get_running_loop()
            extracted = await loop.run_in_executor(intake, accept, raw, encoding, content_type)
            if extracted.rows.num_rows:
                await loop.run_in_executor(spooler, spool.append, extracted.rows, extracted.keys)
        except BodyTooLarge as exc:
            stats.bad_requests += 1
            return _error(413, str(exc))
        except OtlpDecodeError as exc:
            stats.bad_requests += 1
            return _error(400, str(exc))
        except SpoolFull as exc:
            stats.spool_full += 1
            log.warning("answering 503: %s", exc)
            return _error(503, "the collector's spool is full; retry later", retry_after)
        if extracted.rows.num_rows:
            writer.notify()
        stats.attempt_spans += extracted.rows.num_rows
        stats.skipped_spans += extracted.skipped
        stats.rejected_spans += extracted.rejected
        payload, media = encode_response(content_type, extracted.rejected, extracted.first_rejection)
        return Response(payload, media_type=media)

    @app.post("/v1/query")
    async def query(request: Request) -> Response:
        if not authorized(request):
            return _error(401, "a valid bearer token is required", {"www-authenticate": "Bearer"})
        try:
            data = orjson.loads(await request.body())
            sql, params = data["sql"], data.get("params") or {}
            if not isinstance(sql, str) or not isinstance(params, dict):
                raise TypeError
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return _error(400, 'the body must be {"sql": "...", "params": {...}}')
        try:
            table = await run_in_threadpool(store.query, sql, params)
        except QueryError as exc:
            return _error(400, str(exc))
        except RouteledgerError as exc:
            return _error(503, str(exc))
        return Response(_arrow_bytes(table), media_type=ARROW_STREAM)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(_prometheus(stats, writer, spool), media_type="text/plain; version=0.0.4")

    return app


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it passes `limit` bytes (memory stays bounded per request)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def check_dedup_windows(store: AttemptStore) -> int:
    """Log every MergeTree table (an analytics roll-up, a view target) that would count a retried
    batch twice; the count is exported as a gauge (`refuse_unguarded` makes it fatal at startup)."""
    try:
        unguarded = find_unguarded(store)
    except RouteledgerError as exc:
        log.warning("could not check deduplication windows: %s", exc)
        return 0
    for name in unguarded:
        log.error(
            "table %s has no non_replicated_deduplication_window (>= %d): a retried insert would count twice",
            name,
            MIN_DEDUP_WINDOW,
        )
    return len(unguarded)


def refuse_unguarded(store: AttemptStore) -> None:
    """F31: a collector must not start writing into a store where a retried batch would count twice
    (a table, or a materialized view's target, without an adequate deduplication window)."""
    unguarded = find_unguarded(store)
    if unguarded:
        raise RouteledgerError(
            f"refusing to start: {', '.join(unguarded)} ha{'ve' if len(unguarded) > 1 else 's'} no "
            f"non_replicated_deduplication_window of at least {MIN_DEDUP_WINDOW}, so a retried batch would "
            "be counted twice; fix: ALTER TABLE <name> MODIFY SETTING non_replicated_deduplication_window = 10000"
        )


def refuse_unsafe_insert_settings(store: WriterStore) -> None:
    """F32: a collector must not start writing through a session whose settings would acknowledge an
    insert before it is written, or ignore the batch's deduplication token somewhere (async insert
    deduplication misses the materialized views' targets). Such settings come from outside
    routeledger (the ClickHouse user's profile, the connection URL's parameters, a new engine
    version's defaults), so they are read from the inserting session itself at every start."""
    settings = store.session_settings(INSERT_SESSION_SETTINGS)
    [row] = store.query(DEPENDENT_VIEWS).to_pylist() or [{"views": []}]
    unsafe = unsafe_insert_settings(settings, [str(v) for v in row["views"]])
    if unsafe:
        raise RouteledgerError(
            "refusing to start: the settings of the session the collector inserts through (from the "
            "ClickHouse user's profile, the connection URL's parameters or the engine's defaults) would lose "
            "or double count spans: " + "; ".join(f"{name}: {why}" for name, why in unsafe)
        )


def find_unguarded(store: AttemptStore) -> list[str]:
    found = store.query(UNGUARDED_TABLES).to_pylist()
    return unguarded_tables([(str(t["name"]), str(t["create_table_query"])) for t in found])


def spool_path(config: RouteledgerConfig) -> Path:
    """Where the collector spools: configured, else beside the store's data directory."""
    if config.collector.spool_path:
        return Path(config.collector.spool_path)
    return Path(config.store.path).parent / "spool" / "collector.db"


def _arrow_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _prometheus(stats: IngestStats, writer: BatchWriter, spool: SpanSpool) -> bytes:
    lines: list[tuple[str, str, Any]] = [
        ("routeledger_collector_requests_total", "counter", stats.requests),
        ("routeledger_collector_bad_requests_total", "counter", stats.bad_requests),
        ("routeledger_collector_attempt_spans_total", "counter", stats.attempt_spans),
        ("routeledger_collector_skipped_spans_total", "counter", stats.skipped_spans),
        ("routeledger_collector_rejected_spans_total", "counter", stats.rejected_spans),
        ("routeledger_collector_written_rows_total", "counter", writer.stats.written_rows),
        ("routeledger_collector_store_errors_total", "counter", writer.stats.store_errors),
        ("routeledger_collector_pending_rows", "gauge", writer.pending),
        ("routeledger_collector_unauthorized_total", "counter", stats.unauthorized),
        ("routeledger_collector_spool_full_total", "counter", stats.spool_full),
        ("routeledger_collector_spool_depth_rows", "gauge", spool.depth),
        ("routeledger_collector_spool_bytes", "gauge", spool.pending_bytes),
        ("routeledger_collector_spool_budget_bytes", "gauge", spool.budget_bytes),
        ("routeledger_collector_spool_duplicate_rows_total", "counter", spool.stats.duplicate_rows),
        ("routeledger_collector_spool_replayed_batches_total", "counter", spool.stats.replayed_batches),
        ("routeledger_collector_spool_quarantined_files_total", "counter", spool.stats.quarantined_files),
        ("routeledger_collector_drained_rows_total", "counter", spool.stats.drained_rows),
        ("routeledger_collector_store_up", "gauge", int(writer.stats.store_up)),
        ("routeledger_collector_tables_without_dedup_window", "gauge", stats.unguarded_tables),
    ]
    out = []
    for name, kind, value in lines:
        out.append(f"# TYPE {name} {kind}\n{name} {value}\n")
    return "".join(out).encode()
