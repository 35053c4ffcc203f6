"""The durable spool: duplicates ignored by key, deterministic replay of an unconfirmed batch (F30),
the disk budget, a damaged file set aside (E27)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.spool import ROW_OVERHEAD_BYTES, SpanSpool, SpoolFull, batch_token


def records(start: int, n: int, size: int = 100) -> list[tuple[bytes, bytes]]:
    return [(i.to_bytes(24, "big"), b"x" * size) for i in range(start, start + n)]


def test_rows_drain_in_order_and_repeats_are_ignored(tmp_path: Path) -> None:
    spool = SpanSpool(tmp_path / "s.db", budget_bytes=10**9)
    assert spool.append(records(0, 5)) == 5
    assert spool.append(records(3, 4)) == 2  # keys 3, 4 already spooled
    batch = spool.next_batch(4)
    assert batch is not None and len(batch.payloads) == 4
    spool.commit(batch)
    rest = spool.next_batch(100)
    assert rest is not None and len(rest.payloads) == 3
    spool.commit(rest)
    assert spool.next_batch(100) is None
    assert spool.append(records(0, 7)) == 0  # drained keys are still remembered
    assert (spool.depth, spool.stats.drained_rows, spool.stats.duplicate_rows) == (0, 7, 9)


def test_an_unconfirmed_batch_is_replayed_with_the_same_boundaries_and_token(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9)
    spool.append(records(0, 10))
    first = spool.next_batch(100)
    assert first is not None
    spool.close()  # the collector dies after (or during) the insert, before commit
    again = SpanSpool(path, budget_bytes=10**9)
    again.append(records(10, 5))  # new rows arrived meanwhile: they must not join the replayed batch
    replay = again.next_batch(100)
    assert replay is not None and replay.replayed
    assert (replay.first_seq, replay.last_seq, replay.token) == (first.first_seq, first.last_seq, first.token)
    assert replay.token == batch_token([k for k, _ in records(0, 10)])
    again.commit(replay)
    tail = again.next_batch(100)
    assert tail is not None and not tail.replayed and len(tail.payloads) == 5
    print("RESULT name=deterministic_replay same_token=1 same_boundaries=1")


def test_the_budget_refuses_whole_requests_and_frees_on_drain(tmp_path: Path) -> None:
    per_row = 100 + ROW_OVERHEAD_BYTES
    spool = SpanSpool(tmp_path / "s.db", budget_bytes=per_row * 10)
    assert spool.append(records(0, 8)) == 8
    with pytest.raises(SpoolFull):
        spool.append(records(8, 3))
    assert spool.depth == 8 and spool.stats.full_rejections == 1
    batch = spool.next_batch(100)
    assert batch is not None
    spool.commit(batch)
    assert spool.append(records(8, 3)) == 3


def test_pending_rows_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9)
    spool.append(records(0, 6))
    batch = spool.next_batch(2)
    assert batch is not None
    spool.commit(batch)
    spool.close()
    again = SpanSpool(path, budget_bytes=10**9)
    assert (again.depth, again.pending_bytes) == (4, 4 * (100 + ROW_OVERHEAD_BYTES))


def test_a_damaged_spool_is_set_aside_not_reused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    spool = SpanSpool(path, budget_bytes=10**9)
    spool.append(records(0, 50, size=2000))
    spool.close()
    for side in path.parent.glob("s.db-*"):
        side.unlink()
    data = bytearray(path.read_bytes())
    data[0:16] = b"garbage garbage!"  # the header: SQLite no longer recognises the file
    path.write_bytes(bytes(data))
    again = SpanSpool(path, budget_bytes=10**9)
    assert again.stats.quarantined_files == 1 and again.depth == 0
    assert len(list(tmp_path.glob("s.db.corrupt-*"))) == 1
    assert again.append(records(0, 1)) == 1
