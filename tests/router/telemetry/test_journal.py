"""The attempt journal (E23): what a killed router leaves behind is re-sent or recorded as incomplete.

The process-level drill (SIGKILL a router under load, audit against the simulator's log) is in
tests/e2e/test_ledger_drills.py; these tests pin the file format and the request path's records.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson

from routeledger.router.ingress.app import create_app
from routeledger.router.telemetry.journal import FILE_NAME, AttemptJournal, _replay
from routeledger.router.telemetry.otlpwire import encode_request
from routeledger.router.telemetry.spans import _incomplete_span, attempt_span_id, build_lean_provider
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread
from tests.conftest import ROUTES, make_config, set_faults, sim_log
from tests.router.conftest import Sink
from tests.router.telemetry.test_export import plain
from tests.router.telemetry.test_telemetry import PROMPT


def key(n: int) -> bytes:
    return n.to_bytes(16, "big") + n.to_bytes(8, "big")


def test_replay_keeps_exactly_the_entries_not_settled(tmp_path: Path) -> None:
    journal = AttemptJournal(tmp_path)
    journal.begin(key(1), b"begin-1")  # sent, never ended
    journal.begin(key(2), b"begin-2")
    journal.end(key(2), b"span-2")  # ended, span still in memory
    journal.end(key(3), b"span-3")  # a guardrail stop: ended without a begin
    journal.begin(key(4), b"begin-4")
    journal.end(key(4), b"span-4")
    journal.done([key(4), key(99)])  # delivered (an unknown key is ignored)
    journal.close()
    again = AttemptJournal(tmp_path)
    found = {e.key: (e.begin, e.span) for e in again.recovered}
    assert found == {key(1): (b"begin-1", None), key(2): (b"begin-2", b"span-2"), key(3): (b"", b"span-3")}
    assert again.open_entries == 3
    again.done([key(1), key(2), key(3)])
    again.close()
    assert AttemptJournal(tmp_path).recovered == []


def test_a_torn_last_record_is_ignored(tmp_path: Path) -> None:
    journal = AttemptJournal(tmp_path)
    journal.begin(key(1), b"begin-1")
    journal.close()
    with (tmp_path / FILE_NAME).open("ab") as f:
        f.write(b"B\x00\x00\x01\x00" + key(2)[:10])  # killed mid-write: header promises 256 bytes
    assert [e.key for e in _replay(tmp_path / FILE_NAME)] == [key(1)]


def test_the_file_is_compacted_to_the_open_entries(tmp_path: Path) -> None:
    journal = AttemptJournal(tmp_path, compact_bytes=4096)
    journal.begin(key(0), b"x" * 100)  # stays open throughout
    for n in range(1, 500):
        journal.begin(key(n), b"x" * 100)
        journal.end(key(n), b"y" * 200)
        journal.done([key(n)])
    assert (tmp_path / FILE_NAME).stat().st_size < 4096 + 400
    journal.close()
    assert [e.key for e in AttemptJournal(tmp_path).recovered] == [key(0)]


def test_an_attempt_is_journaled_before_it_is_sent_and_settled_once_exported(
    simulator: SimulatorThread, sink: tuple[str, Sink], tmp_path: Path
) -> None:
    """In flight: the journal holds the `incomplete` attempt the router would leave if killed now."""
    url, state = sink
    support = {**ROUTES["support"], "timeouts": {"connect_s": 0.5, "first_byte_s": 1.0, "total_s": 10}}
    config = make_config(simulator.url, otlp_endpoint=url, routes={"support": support})
    telemetry = config.telemetry.model_copy(update={"spool_dir": str(tmp_path / "spool")})
    provider = build_lean_provider(telemetry)
    set_faults(simulator, [{"kind": "no_response", "provider": "beta", "count": 1}])
    app = create_app(config, tracer_provider=provider, strict_telemetry=True)
    journal_path = tmp_path / "spool" / FILE_NAME
    with ServerThread(app) as server:
        answers: list[httpx.Response] = []
        call = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    server.url + "/v1/chat/completions",
                    json={"model": "support", "messages": PROMPT, "max_tokens": 50},
                    headers={"x-routeledger-tenant": "acme"},
                    timeout=60,
                )
            )
        )
        call.start()
        deadline = time.monotonic() + 20
        while not sim_log(simulator, provider="beta"):  # the silent provider has the request
            assert time.monotonic() < deadline, "the attempt never reached the simulator"
            time.sleep(0.02)  # polling interval, not synchronisation
        [hanging] = _replay(journal_path)
        assert hanging.span is None
        parent_hex, start_ns, name, attributes = orjson.loads(hanging.begin)
        assert hanging.key[16:] == attempt_span_id(bytes.fromhex(parent_hex), 1)
        assert name == "chat claude-sonnet-4-5" and start_ns > 0
        assert {k: attributes[k] for k in ("routeledger.outcome", "routeledger.price_source")} == {
            "routeledger.outcome": "incomplete",
            "routeledger.price_source": "unknown",
        }
        assert attributes["routeledger.billable"] is True and attributes["routeledger.attempt"] == 1
        # What a restarted router would send for it: a valid OTLP span with the same ids.
        recovered = encode_request(provider.exporter.prefix, [_incomplete_span(hanging.key, hanging.begin)])
        [span] = Sink(bodies=[recovered]).spans()
        assert span.trace_id + span.span_id == hanging.key and span.status.code == 2
        assert {kv.key: plain(kv.value) for kv in span.attributes}["routeledger.outcome"] == "incomplete"
        call.join(60)
        assert answers[0].status_code == 200 and answers[0].headers["x-routeledger-attempts"] == "2"
        assert provider.force_flush(10_000)
    provider.shutdown()
    assert _replay(journal_path) == []  # both attempts exported: nothing left to recover
    delivered = state.spans()
    keys = {s.trace_id + s.span_id for s in delivered if s.kind == 3}
    assert hanging.key in keys and len(keys) == 2  # the real span carries the journaled id
