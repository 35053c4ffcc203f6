"""The lean span export: standard OTLP on the wire (the same attributes as SDK spans), spooled while
the collector is down and re-sent when it returns, 400s dead-lettered, every drop counted (E22, E26)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from routeledger.router.ingress.app import create_app
from routeledger.router.telemetry.export import LeanExporter
from routeledger.router.telemetry.otlpwire import SPAN_KIND_CLIENT, encode_span, request_prefix
from routeledger.router.telemetry.spans import build_lean_provider
from routeledger.router.telemetry.spool import ExportSpool
from routeledger.serving import ServerThread
from routeledger.simulator import SimulatorThread
from tests.conftest import make_config, set_faults
from tests.router.conftest import Sink
from tests.router.telemetry.test_telemetry import PROMPT


def plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(plain(v) for v in value.array_value.values)
    return getattr(value, kind)


def exporter(url: str, spool_dir: Path, budget: int = 10**9, **kw: Any) -> LeanExporter:
    spool = ExportSpool(spool_dir, budget)
    defaults: dict[str, Any] = {"max_queue": 10_000, "batch_size": 100, "delay_s": 0.01, "timeout_s": 5}
    return LeanExporter(url, request_prefix({"service.name": "t"}, "test"), spool, **{**defaults, **kw})


def spans(n: int, start: int = 0) -> list[bytes]:
    return [
        encode_span(
            (i + 1).to_bytes(16, "big"),
            (i + 1).to_bytes(8, "big"),
            None,
            "chat m",
            SPAN_KIND_CLIENT,
            1,
            2,
            {"routeledger.request_id": f"r{i}", "routeledger.attempt": 1},
        )
        for i in range(start, start + n)
    ]


def test_router_attempt_spans_on_the_lean_path_match_the_sdk_contract(
    simulator: SimulatorThread, sink: tuple[str, Sink], tmp_path: Path
) -> None:
    url, state = sink
    config = make_config(simulator.url, otlp_endpoint=url)
    telemetry = config.telemetry.model_copy(update={"spool_dir": str(tmp_path / "spool")})
    provider = build_lean_provider(telemetry)
    set_faults(simulator, [{"kind": "rate_limit", "provider": "beta", "retry_after_s": 60, "count": 1}])
    app = create_app(config, tracer_provider=provider, strict_telemetry=True)
    with ServerThread(app) as server:
        response = httpx.post(
            server.url + "/v1/chat/completions",
            json={"model": "support", "messages": PROMPT, "max_tokens": 100},
            headers={"x-routeledger-tenant": "acme", "x-routeledger-feature": "chat"},
        )
        assert response.status_code == 200
        assert provider.force_flush(10_000)
        metrics = httpx.get(server.url + "/metrics").text
    provider.shutdown()
    request_id = response.headers["x-routeledger-request-id"]
    received = state.spans()
    server_spans = [s for s in received if s.kind == 2]
    clients = sorted((s for s in received if s.kind == 3), key=lambda s: s.start_time_unix_nano)
    assert [s.name for s in server_spans] == ["POST /v1/chat/completions"]
    assert [s.name for s in clients] == ["chat claude-sonnet-4-5", "chat gpt-4o"]
    assert all(c.parent_span_id == server_spans[0].span_id and c.trace_id == server_spans[0].trace_id for c in clients)
    first = {kv.key: plain(kv.value) for kv in clients[0].attributes}
    assert first == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "server.address": "127.0.0.1",
        "routeledger.request_id": request_id,
        "routeledger.attempt": 1,
        "routeledger.decision": "first",
        "routeledger.route": "support",
        "routeledger.task": "support_chat",
        "routeledger.tenant": "acme",
        "routeledger.feature": "chat",
        "routeledger.traffic_class": "critical",
        "routeledger.model": "beta-sonnet",
        "routeledger.provider": "beta",
        "routeledger.cost_usd": "0",
        "routeledger.price_source": "none",
        "routeledger.billable": False,
        "routeledger.outcome": "failure",
        "routeledger.stream": False,
        "routeledger.failure_class": "rate_limited",
        "gen_ai.usage.input_tokens": 0,
        "gen_ai.usage.output_tokens": 0,
        "gen_ai.usage.cache_read.input_tokens": 0,
        "http.response.status_code": 429,
        "error.type": "429",
    }
    assert clients[0].status.code == 2 and clients[1].status.code == 0
    second = {kv.key: plain(kv.value) for kv in clients[1].attributes}
    assert second["gen_ai.response.finish_reasons"] == ("stop",)
    assert second["routeledger.cost_usd"] == "0.000352500"
    assert {kv.key: plain(kv.value) for kv in server_spans[0].attributes}["routeledger.attempts"] == 2
    assert "routeledger_router_spans_exported_total 3\n" in metrics


def test_spans_spool_while_the_collector_is_down_and_are_resent(sink: tuple[str, Sink], tmp_path: Path) -> None:
    url, state = sink
    state.status = 503
    export = exporter(url, tmp_path / "spool")
    for span in spans(250):
        export.record(span)
    assert not export.force_flush(0.5)  # the collector answers 503: nothing delivered yet
    assert export.stats.spooled == 250 and export.spool is not None and export.spool.spans == 250
    state.status = 200
    assert export.force_flush(20)
    delivered = state.spans()
    assert len(delivered) == 250 == len({s.span_id for s in delivered})
    assert (export.stats.resent, export.stats.dropped, len(export.spool)) == (250, 0, 0)
    export.shutdown()


def test_spooled_spans_survive_a_router_restart(sink: tuple[str, Sink], tmp_path: Path) -> None:
    url, state = sink
    state.status = 503
    first = exporter(url, tmp_path / "spool")
    for span in spans(120):
        first.record(span)
    first.shutdown(timeout_s=0.3)  # SIGTERM while the collector is down: everything goes to disk
    assert first.stats.spooled == 120
    state.status = 200
    second = exporter(url, tmp_path / "spool")
    assert second.force_flush(20)
    assert len(state.spans()) == 120 and second.stats.resent == 120
    second.shutdown()


def test_a_full_spool_drops_and_counts_every_span(sink: tuple[str, Sink], tmp_path: Path) -> None:
    url, state = sink
    state.status = 503
    export = exporter(url, tmp_path / "spool", budget=20_000, batch_size=50)
    for span in spans(1000):
        export.record(span)
    export.force_flush(1.0)
    export.shutdown(timeout_s=0.2)
    stats = export.stats
    assert stats.dropped_spool_full > 0
    assert stats.spooled + stats.dropped_spool_full == 1000
    assert stats.dropped_attempts == stats.dropped_spool_full  # every test span is an attempt span
    state.status = 200
    again = exporter(url, tmp_path / "spool", budget=20_000)
    assert again.force_flush(20)
    assert len(state.spans()) == stats.spooled  # lost == drop counter, exactly
    again.shutdown()
    print(f"RESULT name=router_spool_full recorded=1000 delivered={stats.spooled} dropped={stats.dropped_spool_full}")


def test_a_400_goes_to_the_dead_letter_directory_counted(sink: tuple[str, Sink], tmp_path: Path) -> None:
    url, state = sink
    state.status = 400
    export = exporter(url, tmp_path / "spool")
    for span in spans(30):
        export.record(span)
    assert export.force_flush(10)
    assert (export.stats.dead_lettered, export.stats.exported, export.stats.dropped) == (30, 0, 0)
    assert len(list((tmp_path / "spool" / "dead-letter").glob("*.pb"))) == 1
    export.shutdown()


def test_a_full_queue_spills_to_the_spool_instead_of_evicting(sink: tuple[str, Sink], tmp_path: Path) -> None:
    """E25: the export thread is stuck (delay 60 s stands in for a frozen collector); the queue holds
    10 spans; 25 recorded → 22 spilled to disk in two writes, 3 still queued, none dropped."""
    url, state = sink
    export = exporter(url, tmp_path / "spool", max_queue=10, batch_size=1000, delay_s=60)
    for span in spans(25):
        export.record(span)
    stats = export.stats
    assert (stats.recorded, stats.spilled, stats.spooled, stats.dropped, export.queued) == (25, 22, 22, 0, 3)
    assert export.spool is not None and len(export.spool) == 2
    assert export.force_flush(20)
    assert sorted(s.span_id for s in state.spans()) == _span_ids(25)
    export.shutdown()


def _span_ids(n: int) -> list[bytes]:
    return [(i + 1).to_bytes(8, "big") for i in range(n)]


def test_a_full_queue_without_a_spool_drops_and_counts() -> None:
    export = LeanExporter(
        "http://127.0.0.1:9/v1/traces",
        request_prefix({"service.name": "t"}, "test"),
        None,
        max_queue=10,
        batch_size=1000,
        delay_s=60,
    )
    for span in spans(25):
        export.record(span)
    assert (export.stats.recorded, export.stats.dropped_queue_full, export.queued) == (25, 15, 10)
    assert export.stats.dropped_attempts == 15
    export.shutdown(timeout_s=0.2)


def test_two_processes_do_not_share_a_spool_directory(tmp_path: Path) -> None:
    a = ExportSpool(tmp_path / "s", 1000)
    b = ExportSpool(tmp_path / "s", 1000)
    assert a.directory != b.directory
    a.close()
    c = ExportSpool(tmp_path / "s", 1000)
    assert c.directory == tmp_path / "s"
    b.close()
    c.close()
