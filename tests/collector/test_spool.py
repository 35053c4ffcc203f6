"""The durable spool: duplicates ignored by key (also across a restart), deterministic replay of an
unconfirmed batch (F30), the disk budget, a damaged file set aside (E27), a previous-layout spool
converted without losing a row or changing a token."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from routeledger.attempt import ATTEMPT_SCHEMA, AttemptRow, rows_to_arrow
from routeledger.collector.spans import KEY_BYTES
from routeledger.collector.spool import SpanSpool, SpoolFull, batch_token, read_rows


def keys(start: int, n: int) -> list[bytes]:
    return [i.to_bytes(KEY_BYTES, "big") for i in range(start, start + n)]


def records(start: int, n: int, size: int = 100) -> tuple[pa.Table, bytes]:
    """n rows (request ids start..start+n-1, a `reason` of `size` characters) and their keys."""
    rows = [
        AttemptRow(  # type: ignore[arg-type]
            **{
                **{name: "" for name in AttemptRow.__slots__},
                "start_ns": 1_790_000_000_000_000_000,
                "request_id": f"req-{i}",
                "attempt": 1,
                "trace_id": key[:16].hex(),
                "span_id": key[16:].hex(),
                "http_status": 200,
                "billable": True,
                "stream": False,
                "input_tokens": 1,
                "output_tokens": 1,
                "cache_read_tokens": 0,
                "cost_usd": Decimal("0.5"),
                "duration_ms": 1.0,
                "ttft_ms": None,
                "reason": "x" * size,
            }
        )
        for i, key in zip(range(start, start + n), keys(start, n), strict=True)
    ]
    return rows_to_arrow(rows), b"".join(keys(start, n))


def request_ids(payloads: list[bytes]) -> list[str]:
    return [str(r) for r in read_rows(payloads).column("request_id").to_pylist()]


def test_rows_drain_in_order_and_repeats_are_ignored(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path / "s.db", budget_bytes=10**9)
    assert spool.append(*records(0, 5)) == 5
    assert spool.append(*records(3, 4)) == 2  # keys 3, 4 already spooled: their rows are dropped
    batch = spool.next_batch(4)  # whole requests: the first alone is 5 rows
    assert batch is not None and batch.rows == 5
    assert request_ids(batch.payloads) == [f"req-{i}" for i in range(5)]
    spool.commit(batch)
    rest = spool.next_batch(100)
    assert rest is not None and request_ids(rest.payloads) == ["req-5", "req-6"]
    spool.commit(rest)
    assert spool.next_batch(100) is None
    assert spool.append(*records(0, 7)) == 0  # drained keys are still remembered
    assert (spool.depth, spool.stats.drained_rows, spool.stats.duplicate_rows) == (0, 7, 9)


def test_a_key_repeated_inside_one_request_is_kept_once(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path / "s.db", budget_bytes=10**9)
    rows, first = records(0, 3)
    twice = pa.concat_tables([rows, rows.slice(1, 1)])
    assert spool.append(twice, first + first[KEY_BYTES : 2 * KEY_BYTES]) == 3
    batch = spool.next_batch(100)
    assert batch is not None and request_ids(batch.payloads) == ["req-0", "req-1", "req-2"]
    assert batch.token == batch_token([first])


def test_an_unconfirmed_batch_is_replayed_with_the_same_boundaries_and_token(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9)
    spool.append(*records(0, 6))
    spool.append(*records(6, 4))
    first = spool.next_batch(100)
    assert first is not None
    spool.close()  # the collector dies after (or during) the insert, before commit
    again = SpanSpool(path, budget_bytes=10**9)
    again.append(*records(10, 5))  # new rows arrived meanwhile: they must not join the replayed batch
    replay = again.next_batch(100)
    assert replay is not None and replay.replayed
    assert (replay.first_seq, replay.last_seq, replay.token) == (first.first_seq, first.last_seq, first.token)
    assert replay.payloads == first.payloads
    assert replay.token == batch_token(keys(0, 10))
    again.commit(replay)
    tail = again.next_batch(100)
    assert tail is not None and not tail.replayed and tail.rows == 5
    print("RESULT name=deterministic_replay same_token=1 same_boundaries=1")


def test_the_budget_refuses_whole_requests_and_frees_on_drain(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path / "s.db", budget_bytes=10**9)
    assert spool.append(*records(0, 8, size=1000)) == 8
    spool.budget_bytes = spool.pending_bytes + 1000  # room for less than another request
    with pytest.raises(SpoolFull):
        spool.append(*records(8, 3, size=1000))
    assert spool.depth == 8 and spool.stats.full_rejections == 1
    batch = spool.next_batch(100)
    assert batch is not None
    spool.commit(batch)
    assert (spool.depth, spool.pending_bytes) == (0, 0)
    assert spool.append(*records(8, 3, size=1000)) == 3


def test_pending_rows_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9)
    spool.append(*records(0, 2))
    spool.append(*records(2, 4))
    batch = spool.next_batch(2)
    assert batch is not None
    spool.commit(batch)
    pending = spool.pending_bytes
    spool.close()
    again = SpanSpool(path, budget_bytes=10**9)
    assert (again.depth, again.pending_bytes) == (4, pending)


def test_a_damaged_spool_is_set_aside_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9)
    spool.append(*records(0, 50, size=2000))
    spool.close()
    for side in path.parent.glob("s.db-*"):
        side.unlink()
    data = bytearray(path.read_bytes())
    data[0:16] = b"garbage garbage!"  # the header: SQLite no longer recognises the file
    path.write_bytes(bytes(data))
    again = SpanSpool(path, budget_bytes=10**9)
    assert again.stats.quarantined_files == 1 and again.depth == 0
    assert len(list(tmp_path.glob("s.db.corrupt-*"))) == 1
    assert again.append(*records(0, 1)) == 1


def test_drained_keys_are_remembered_across_a_restart_within_the_window(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9, dedup_keys=10)
    for start in range(0, 30, 5):
        spool.append(*records(start, 5))
        batch = spool.next_batch(100)
        assert batch is not None
        spool.commit(batch)
    spool.close()
    again = SpanSpool(path, budget_bytes=10**9, dedup_keys=10)
    assert again.append(*records(20, 10)) == 0  # the newest 10 keys: repeats
    assert again.append(*records(0, 5)) == 5  # long past the window: taken as new
    kept = again._conn.execute("SELECT count(*) FROM requests").fetchone()[0]
    assert kept <= 4  # drained requests outside the window are pruned, not kept forever


LEGACY_SCHEMA = """
CREATE TABLE spans (seq INTEGER PRIMARY KEY, key BLOB NOT NULL UNIQUE, payload BLOB);
CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


def legacy_payload(row: dict[str, object]) -> bytes:
    """A row as the previous layout spooled it (no api_key column yet: it was added later)."""
    values = [row[name] for name in ATTEMPT_SCHEMA.names if name != "api_key"]
    ts = row["ts"]
    assert isinstance(ts, datetime)
    micros = int(ts.timestamp() * 1_000_000)
    values[0] = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
    values[ATTEMPT_SCHEMA.names.index("cost_usd")] = str(row["cost_usd"])
    return orjson.dumps(values)


def test_a_previous_layout_spool_is_converted_with_its_inflight_batch_and_token(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    table, blob = records(0, 10)
    rows = table.to_pylist()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(LEGACY_SCHEMA)
    for seq, (row, key) in enumerate(zip(rows, keys(0, 10), strict=True), start=1):
        drained = seq <= 3
        conn.execute("INSERT INTO spans VALUES (?, ?, ?)", (seq, key, None if drained else legacy_payload(row)))
    meta = {"drained_upto": 3, "inflight_first": 4, "inflight_last": 7}
    conn.executemany("INSERT INTO meta VALUES (?, ?)", list(meta.items()))
    conn.close()
    spool = SpanSpool(path, budget_bytes=10**9)
    assert (spool.stats.converted_rows, spool.depth) == (7, 7)
    replay = spool.next_batch(100)
    assert replay is not None and replay.replayed and replay.rows == 4
    assert replay.token == batch_token(keys(3, 4))  # what the previous layout's batch carried
    assert read_rows(replay.payloads).to_pylist() == table.slice(3, 4).to_pylist()
    spool.commit(replay)
    rest = spool.next_batch(100)
    assert rest is not None and read_rows(rest.payloads).to_pylist() == table.slice(7, 3).to_pylist()
    assert spool.append(*records(0, 3)) == 0  # drained keys of the old layout are still remembered
    assert spool.append(*records(0, 10)) == 0 and len(blob) == 10 * KEY_BYTES
