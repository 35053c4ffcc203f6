"""F29, kill during insert: a real collector process is SIGKILLed while its writer is inserting a
batch into chDB, 20 times, and restarted each time on the same spool and store.

Why a process and a signal: the guarantee under test spans three commits that no in-process test can
interleave with a crash: the spool recording the batch as in flight, chDB writing the part, the spool
marking the batch drained. A kill between any two of them must leave every batch in the store
exactly once: all of its rows or none while the collector is down, all of them once it has drained
again, never a second copy.

Each round sends one OTLP body of exactly `batch_max_rows` attempt spans, so one body is one store
batch (the writer takes a batch as soon as `batch_max_rows` rows are spooled) and its rows are found
again by the request id suffix of the body (`attempt_bodies`). The drill polls the store's own
process list (`system.processes`, through the collector's query endpoint) until the batch's INSERT
is running, then kills at a random instant within the time a batch's write lasts (measured on a
warm, unkilled body, until the spool has confirmed it). After the restart the collector's counters
say where the kill landed: `spool_replayed_batches_total` (the batch was in flight: recorded, not
confirmed) and chDB's `DuplicatedInsertedBlocks` (the store had already committed it, so the replay
was dropped by the batch's deduplication token).

The test plan's size is 20k-row batches: `ROUTELEDGER_DRILL_BATCH_ROWS=20000` runs it (about four
minutes here; 440,000 rows, lost 0, dup 0, partial 0, 18 of 20 kills inside the write). The default,
5k rows, keeps the drill near 85 s on a shared 2-core machine, where each of the 20 restarts costs
~3 s (interpreter and chDB start-up) and acknowledging a body ~0.1 s per 1k spans. What is under
test, three commits and one deduplication token per batch, does not depend on the batch's size.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pyarrow.ipc
import pytest
import yaml

from tests.e2e.attempt_bodies import AttemptBodies, body_tag
from tests.e2e.test_ledger_drills import Stage, free_port, wait_for

ROUNDS = int(os.environ.get("ROUTELEDGER_DRILL_KILL_ROUNDS", "20"))
BATCH_ROWS = int(os.environ.get("ROUTELEDGER_DRILL_BATCH_ROWS", "5000"))
SEED = int(os.environ.get("ROUTELEDGER_DRILL_SEED", str(time.time_ns() % 1_000_000)))

PROTOBUF = {"content-type": "application/x-protobuf"}

DRAINED = "routeledger_collector_drained_rows_total"
REPLAYED = "routeledger_collector_spool_replayed_batches_total"

PER_BODY = """
SELECT right(request_id, 8) AS body, count() AS n, uniqExact(trace_id, span_id) AS u
FROM llm_attempts GROUP BY body
"""


def collector_config(workdir: Path, port: int) -> Path:
    """A collector alone: the router sections are required by the schema but nothing routes."""
    data: dict[str, Any] = {
        "providers": {"alpha": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "allow_private_network": True}},
        "models": {
            "alpha-4o": {
                "provider": "alpha",
                "upstream": "gpt-4o",
                "price": {"input_per_mtok": 2.5, "output_per_mtok": 10},
                "context_window": 128000,
            }
        },
        "routes": {"support": {"task": "support_chat", "chain": ["alpha-4o"]}},
        "collector": {
            "port": port,
            "batch_max_rows": BATCH_ROWS,
            "batch_max_delay_ms": 200,
            "spool_path": str(workdir / "collector-spool" / "spool.db"),
        },
        "store": {"path": str(workdir / "data"), "database": "drill"},
    }
    path = workdir / "routeledger.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


class Collector:
    """The collector process and what the drill reads from it (metrics, per-body row counts)."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.client = httpx.Client(timeout=120)

    @property
    def url(self) -> str:
        return self.stage.url

    def send(self, body: bytes) -> None:
        response = self.client.post(self.url + "/v1/traces", content=body, headers=PROTOBUF)
        assert response.status_code == 200, response.text

    def metrics(self) -> dict[str, float]:
        text = self.client.get(self.url + "/metrics").text
        return {
            line.split(" ", 1)[0]: float(line.split(" ", 1)[1])
            for line in text.splitlines()
            if line and not line.startswith("#")
        }

    def query(self, sql: str) -> list[dict[str, Any]]:
        response = self.client.post(self.url + "/v1/query", json={"sql": sql})
        response.raise_for_status()
        with pyarrow.ipc.open_stream(response.content) as reader:
            rows: list[dict[str, Any]] = reader.read_all().to_pylist()
            return rows

    def per_body(self) -> dict[str, tuple[int, int]]:
        return {r["body"]: (int(r["n"]), int(r["u"])) for r in self.query(PER_BODY)}

    def inserting(self) -> bool:
        """The store is running an INSERT right now (chDB's own process list, seen from the reader)."""
        rows = self.query("SELECT count() AS n FROM system.processes WHERE query_kind = 'Insert'")
        return bool(rows[0]["n"])

    def duplicated_blocks(self) -> int:
        """Inserts this process's chDB dropped as repeats of a deduplication token already stored."""
        rows = self.query("SELECT value FROM system.events WHERE event = 'DuplicatedInsertedBlocks'")
        return int(rows[0]["value"]) if rows else 0

    def spool_depth(self) -> float:
        return self.metrics()["routeledger_collector_spool_depth_rows"]


def partial_bodies(counts: dict[str, tuple[int, int]], rows: int) -> dict[str, int]:
    """Bodies (= batches) with some but not all of their rows stored, or with more than all."""
    return {body: n for body, (n, _) in counts.items() if n not in (0, rows)}


@pytest.mark.skipif(sys.platform != "linux", reason="the drill uses Linux signals")
def test_sigkill_during_insert_leaves_every_batch_whole_and_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    port = free_port()  # fixed, so the restarted collector answers at the same address
    config = collector_config(tmp_path, port)
    args = ["collector", "--config", str(config), "--port", str(port)]
    stage = Stage("collector", args, tmp_path, {"ROUTELEDGER_CLICKHOUSE_URL": ""})
    collector = Collector(stage.start())
    bodies = AttemptBodies(BATCH_ROWS)
    sent: list[str] = []
    rounds: list[dict[str, Any]] = []

    def send(k: int) -> float:
        """Send body `k`; return when the store is inserting it (monotonic time seen), or 0.0 if the
        batch was drained before a poll caught its insert running."""
        drained = collector.metrics()[DRAINED]
        collector.send(bodies.copy(k))
        sent.append(body_tag(k))

        def inserting_or_done() -> float:
            if collector.inserting():
                return time.monotonic()
            return -1.0 if collector.metrics()[DRAINED] >= drained + BATCH_ROWS else 0.0

        return max(0.0, wait_for(inserting_or_done, 60, f"the store to insert body {k}", every_s=0.002))

    try:
        # Two bodies not killed (the first warms chDB up): how long a batch's write lasts once the
        # store shows its insert running, until the spool has confirmed it.
        write_s = []
        for k in range(2):
            seen = send(k)
            wait_for(lambda: collector.spool_depth() == 0, 60, f"body {k} to drain", every_s=0.002)
            write_s.append(time.monotonic() - seen if seen else 0.0)
        window = write_s[-1]

        for k in range(2, ROUNDS + 2):
            seen = send(k)
            # The kill instant, drawn inside the batch's write: a choice, not synchronisation.
            delay = rng.uniform(0, window)
            time.sleep(delay)
            stage.kill()
            stage.start()  # same port, same spool, same store
            # Straight after the restart, whatever the writer is doing: every batch whole or absent.
            snapshot = collector.per_body()
            assert partial_bodies(snapshot, BATCH_ROWS) == {}, (k, snapshot)
            wait_for(lambda: collector.spool_depth() == 0, 60, f"body {k} to drain")
            counts = collector.per_body()
            assert {b: counts.get(b, (0, 0)) for b in sent} == {b: (BATCH_ROWS, BATCH_ROWS) for b in sent}, k
            rounds.append(
                {
                    "caught_inserting": bool(seen),
                    "delay_ms": round(delay * 1000),
                    "in_flight": collector.metrics()[REPLAYED] > 0,
                    "store_had_it": collector.duplicated_blocks() > 0,
                }
            )

        counts = collector.per_body()
        [totals] = collector.query("SELECT count() AS n, uniqExact(trace_id, span_id) AS u FROM llm_attempts")
    finally:
        collector.client.close()
        stage.stop()

    expected = len(sent) * BATCH_ROWS
    lost = sum(max(0, BATCH_ROWS - counts.get(b, (0, 0))[1]) for b in sent)
    dup = int(totals["n"]) - int(totals["u"])
    partial = len(partial_bodies(counts, BATCH_ROWS))
    in_flight = sum(r["in_flight"] for r in rounds)
    deduplicated = sum(r["store_had_it"] for r in rounds)
    print(
        f"RESULT name=kill_during_insert rounds={len(rounds)} rows_per_batch={BATCH_ROWS} batches={len(sent)} "
        f"sent={expected} stored={totals['n']} lost={lost} dup={dup} partial={partial} "
        f"killed_in_flight={in_flight} replays_deduplicated={deduplicated} write_ms={window * 1000:.0f} seed={SEED}"
    )
    assert len(rounds) == ROUNDS
    assert (int(totals["n"]), lost, dup, partial) == (expected, 0, 0, 0)
    assert set(counts) == set(sent)
    # The drill is only worth its name if the kills did land inside the write: the batch recorded in
    # flight and not yet confirmed (20 of 20 here; half leaves room for a loaded machine).
    assert in_flight >= ROUNDS // 2, rounds
