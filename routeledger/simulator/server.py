"""The simulator's HTTP server: asyncio + httptools, no framework.

Why no framework: the simulator must never be the bottleneck of a benchmark (≥ 10,000 requests/s on
its no-fault path on two cores). A framework's per-request routing, validation and middleware cost
more than the whole answer; here a request without faults or delays is parsed, counted, logged and
answered inside the protocol callback, with keep-alive and pipelining.

Paths: `/{provider}/v1/chat/completions` (OpenAI), `/{provider}/v1/messages` (Anthropic),
`/{provider}/v1/models`, `/healthz`, and the control API under `/_sim/` (faults, clock, log).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any, cast

import httptools
import orjson
from pydantic import TypeAdapter, ValidationError

from routeledger.config import FaultKind, FaultRule, ModelProfile, SimulatorConfig
from routeledger.simulator import responses as wire
from routeledger.simulator.faults import FaultPlan, profile_for
from routeledger.tokens import count_input_tokens

#: Requests kept in the ground-truth log (oldest dropped first); ~200 bytes each.
LOG_CAPACITY = 2_000_000
#: Longest a `no_response` or `stall` fault holds a connection open, in seconds.
MAX_HOLD_S = 600.0

_RULES = TypeAdapter(list[FaultRule])
_REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}
_REASONS[529] = b"Overloaded"


@dataclass(slots=True)
class Exchange:
    """One parsed HTTP request."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


@dataclass(slots=True)
class Plan:
    """What the simulator will do with one chat request."""

    api: str
    provider: str
    model: str
    request_id: str
    stream: bool
    include_usage: bool
    input_tokens: int
    output_tokens: int
    finish: str
    json_asked: bool
    fault: FaultRule | None
    profile: ModelProfile
    prefill: bool


class Simulator:
    """State shared by all connections: config, fault plan, clock and the ground-truth log."""

    def __init__(self, config: SimulatorConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.t0 = clock()
        self.faults = FaultPlan.from_rules(list(config.faults), config.seed)
        self.jitter = random.Random(config.seed)
        self.log: deque[dict[str, Any]] = deque(maxlen=LOG_CAPACITY)
        self.received = 0
        self.fast_path_ok = self._no_delays(config)

    @staticmethod
    def _no_delays(config: SimulatorConfig) -> bool:
        profiles = [config.default, *config.profiles.values()]
        return all(p.first_byte_ms == 0 and p.per_token_ms == 0 and p.jitter_ms == 0 for p in profiles)

    def now_s(self) -> float:
        return self.clock() - self.t0

    def reset(self) -> None:
        """t = 0 now; log and rule counters cleared (rules kept)."""
        self.t0 = self.clock()
        self.log.clear()
        self.received = 0
        self.faults.replace([s.rule for s in self.faults.rules])

    # --- planning --------------------------------------------------------------------------------

    def plan(self, api: str, provider: str, exchange: Exchange, body: dict[str, Any]) -> Plan:
        model = str(body.get("model") or "")
        raw_messages = body.get("messages")
        messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
        system = body.get("system") if api == wire.ANTHROPIC else None
        input_tokens = count_input_tokens(messages, system, body.get("tools"))
        profile = profile_for(self.config, provider, model)
        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        output_tokens = profile.output_tokens
        finish = "stop"
        if isinstance(limit, int) and 0 <= limit < output_tokens:
            output_tokens, finish = limit, "length"
        response_format = body.get("response_format")
        json_asked = isinstance(response_format, dict) and response_format.get("type") in (
            "json_object",
            "json_schema",
        )
        last = messages[-1] if messages else None
        prefill = isinstance(last, dict) and last.get("role") == "assistant"
        stream_options = body.get("stream_options")
        return Plan(
            api=api,
            provider=provider,
            model=model,
            request_id=exchange.headers.get("x-routeledger-request-id", ""),
            stream=bool(body.get("stream")),
            include_usage=api == wire.ANTHROPIC
            or (isinstance(stream_options, dict) and bool(stream_options.get("include_usage"))),
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            finish=finish,
            json_asked=json_asked,
            fault=self.faults.pick(provider, model, self.now_s()),
            profile=profile,
            prefill=prefill,
        )

    def record(self, plan: Plan, exchange: Exchange) -> None:
        self.received += 1
        fault = plan.fault
        self.log.append(
            {
                "t": round(self.now_s(), 6),
                "provider": plan.provider,
                "model": plan.model,
                "api": plan.api,
                "stream": plan.stream,
                "request_id": plan.request_id,
                "attempt": exchange.headers.get("x-routeledger-attempt", ""),
                "fault": fault.kind.value if fault else "",
                "input_tokens": plan.input_tokens,
                "output_tokens": plan.output_tokens,
            }
        )

    def first_byte_delay_s(self, profile: ModelProfile) -> float:
        jitter = self.jitter.random() * profile.jitter_ms if profile.jitter_ms else 0.0
        return (profile.first_byte_ms + jitter) / 1000


class SimulatorProtocol(asyncio.Protocol):
    """One client connection: parse with httptools, answer in order (keep-alive, pipelining)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.pending: deque[Exchange] = deque()
        self.busy = False
        self.closed = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    # --- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transport is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._write_simple(400, b'{"error":"upgrade not supported"}', keep_alive=False)
        except httptools.HttpParserError:
            self._write_simple(400, b'{"error":"malformed HTTP request"}', keep_alive=False)

    # --- httptools callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        url = httptools.parse_url(self.url)
        exchange = Exchange(
            method=self.parser.get_method().decode(),
            path=url.path.decode("latin-1"),
            query=(url.query or b"").decode("latin-1"),
            headers=self.headers,
            body=b"".join(self.body),
            keep_alive=self.parser.should_keep_alive(),
        )
        if self.busy:
            self.pending.append(exchange)
        else:
            self._dispatch(exchange)

    # --- dispatch ---------------------------------------------------------------------------------

    def _dispatch(self, exchange: Exchange) -> None:
        path = exchange.path
        if exchange.method == "POST" and path.endswith("/v1/chat/completions"):
            self._chat(wire.OPENAI, _provider_of(path, "/v1/chat/completions"), exchange)
        elif exchange.method == "POST" and path.endswith("/v1/messages"):
            self._chat(wire.ANTHROPIC, _provider_of(path, "/v1/messages"), exchange)
        elif path.startswith("/_sim/"):
            self._control(exchange)
        elif path == "/healthz":
            self._write_simple(200, b'{"status":"ok"}', exchange.keep_alive)
        elif exchange.method == "GET" and path.endswith("/v1/models"):
            self._write_simple(200, b'{"object":"list","data":[]}', exchange.keep_alive)
        else:
            self._write_simple(404, b'{"error":{"message":"no such path","type":"not_found"}}', exchange.keep_alive)

    def _chat(self, api: str, provider: str, exchange: Exchange) -> None:
        try:
            body = orjson.loads(exchange.body)
            if not isinstance(body, dict):
                raise TypeError("body must be an object")
        except (orjson.JSONDecodeError, TypeError) as exc:
            msg = wire.error_body(api, 400, "invalid_request_error", "invalid_json", f"invalid JSON body: {exc}")
            self._write_simple(400, msg, exchange.keep_alive)
            return
        plan = self.sim.plan(api, provider, exchange, body)
        self.sim.record(plan, exchange)
        fits = plan.input_tokens <= plan.profile.context_window
        if plan.fault is None and not plan.stream and fits and self.sim.fast_path_ok:
            self._respond_complete(plan, exchange.keep_alive)
            return
        self.busy = True
        self.task = asyncio.get_running_loop().create_task(self._serve_slow(plan, exchange))

    async def _serve_slow(self, plan: Plan, exchange: Exchange) -> None:
        try:
            await self._answer(plan, exchange.keep_alive)
        except asyncio.CancelledError:
            return
        finally:
            self.task = None
        self.busy = False
        while self.pending and not self.busy and not self._closing():
            self._dispatch(self.pending.popleft())

    async def _answer(self, plan: Plan, keep_alive: bool) -> None:
        fault = plan.fault
        kind = fault.kind if fault else None
        delay = self.sim.first_byte_delay_s(plan.profile)
        if kind is FaultKind.SLOW_FIRST_TOKEN and not plan.stream:
            delay += fault.delay_ms / 1000 if fault else 0
        if delay:
            await asyncio.sleep(delay)
        if kind is FaultKind.RESET and (not plan.stream or not fault or fault.after_tokens == 0):
            self._abort()
            return
        if kind is FaultKind.NO_RESPONSE:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.closed.wait(), MAX_HOLD_S)
            self._abort()
            return
        if kind is FaultKind.CONTEXT_LENGTH or plan.input_tokens > plan.profile.context_window:
            self._write_error(*wire.context_length_error(plan.api, plan.input_tokens, plan.profile.context_window))
            return
        if kind is FaultKind.REJECT_PREFILL and not plan.prefill:
            kind = None  # the fault only bites a request that actually prefills
        if kind is FaultKind.REDIRECT and fault is not None:
            self._write(302, b"{}", keep_alive, [("location", fault.location)])
            return
        if kind in _ERROR_FAULTS and fault is not None:
            status, body = wire.error_response(plan.api, kind, fault.status)
            headers = _retry_after(fault)
            self._write(status, body, keep_alive, headers)
            return
        if plan.stream:
            await self._stream(plan, kind, fault, keep_alive)
        else:
            if plan.profile.per_token_ms:
                await asyncio.sleep(plan.output_tokens * plan.profile.per_token_ms / 1000)
            self._respond_complete(plan, keep_alive)

    async def _stream(self, plan: Plan, kind: FaultKind | None, fault: FaultRule | None, keep_alive: bool) -> None:
        assert self.transport is not None
        self._write_head(200, b"text/event-stream", None, keep_alive, chunked=True)
        if kind is FaultKind.SLOW_FIRST_TOKEN and fault is not None:
            await asyncio.sleep(fault.delay_ms / 1000)
        self._chunk(wire.stream_start(plan.api, plan.request_id, plan.model, plan.input_tokens))
        tokens = 0 if kind is FaultKind.EMPTY else plan.output_tokens
        stop_at = fault.after_tokens if fault is not None else -1
        for i in range(tokens):
            if i == stop_at:
                if kind is FaultKind.STREAM_CUT:
                    self._chunk_end()
                    return
                if kind is FaultKind.RESET:
                    self._abort()
                    return
                if kind is FaultKind.STALL and fault is not None:
                    await asyncio.sleep(fault.delay_ms / 1000 if fault.delay_ms else MAX_HOLD_S)
                if kind is FaultKind.MALFORMED_CHUNK:
                    self._chunk(b'data: {"choices": [{"delta": {"content": \n\n')
            if plan.profile.per_token_ms and i:
                await asyncio.sleep(plan.profile.per_token_ms / 1000)
            if self._closing():
                return
            self._chunk(wire.stream_token(plan.api, plan.request_id, plan.model, wire.token_piece(i)))
        done = kind is not FaultKind.MISSING_DONE
        self._chunk(
            wire.stream_end(
                plan.api,
                plan.request_id,
                plan.model,
                plan.finish,
                plan.input_tokens,
                tokens,
                plan.include_usage,
                done,
            )
        )
        self._chunk_end()
        if not keep_alive:
            self.transport.close()

    # --- control API ------------------------------------------------------------------------------

    def _control(self, exchange: Exchange) -> None:
        sim = self.sim
        path, method = exchange.path, exchange.method
        try:
            if path == "/_sim/faults" and method == "GET":
                payload: Any = sim.faults.snapshot()
            elif path == "/_sim/faults" and method in ("POST", "PUT"):
                rules = _RULES.validate_json(exchange.body or b"[]")
                sim.faults.replace(rules) if method == "PUT" else sim.faults.add(rules)
                payload = {"rules": len(sim.faults.rules)}
            elif path == "/_sim/faults" and method == "DELETE":
                sim.faults.replace([])
                payload = {"rules": 0}
            elif path == "/_sim/reset" and method == "POST":
                sim.reset()
                payload = {"t": 0.0}
            elif path == "/_sim/log" and method == "GET":
                payload = _filter_log(sim.log, exchange.query)
            elif path == "/_sim/stats" and method == "GET":
                payload = {"received": sim.received, "t": sim.now_s()}
            else:
                self._write_simple(404, b'{"error":"unknown control path"}', exchange.keep_alive)
                return
        except ValidationError as exc:
            detail = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in detail["loc"])
            message = {"error": f"invalid fault rule at {where}: {detail['msg']}"}
            self._write_simple(400, orjson.dumps(message), exchange.keep_alive)
            return
        self._write_simple(200, orjson.dumps(payload), exchange.keep_alive)

    # --- writing ----------------------------------------------------------------------------------

    def _respond_complete(self, plan: Plan, keep_alive: bool) -> None:
        kind = plan.fault.kind if plan.fault else None
        tokens = 0 if kind is FaultKind.EMPTY else plan.output_tokens
        text = wire.answer_text(tokens, plan.json_asked, kind)
        body = wire.completion_body(
            plan.api, plan.request_id or "sim", plan.model, text, plan.finish, plan.input_tokens, tokens
        )
        self._write(200, body, keep_alive, None)

    def _write_error(self, status: int, body: bytes) -> None:
        self._write(status, body, True, None)

    def _write_simple(self, status: int, body: bytes, keep_alive: bool) -> None:
        self._write(status, body, keep_alive, None)

    def _write(self, status: int, body: bytes, keep_alive: bool, extra: list[tuple[str, str]] | None) -> None:
        if self._closing():
            return
        assert self.transport is not None
        self._write_head(status, b"application/json", extra, keep_alive, chunked=False, length=len(body))
        self.transport.write(body)
        if not keep_alive:
            self.transport.close()

    def _write_head(
        self,
        status: int,
        content_type: bytes,
        extra: list[tuple[str, str]] | None,
        keep_alive: bool,
        *,
        chunked: bool,
        length: int = 0,
    ) -> None:
        assert self.transport is not None
        head = [
            b"HTTP/1.1 ",
            str(status).encode(),
            b" ",
            _REASONS.get(status, b"Status"),
            b"\r\ncontent-type: ",
            content_type,
            b"\r\ntransfer-encoding: chunked" if chunked else b"\r\ncontent-length: " + str(length).encode(),
        ]
        if not keep_alive:
            head.append(b"\r\nconnection: close")
        for name, value in extra or ():
            head.append(f"\r\n{name}: {value}".encode())
        head.append(b"\r\n\r\n")
        self.transport.write(b"".join(head))

    def _chunk(self, data: bytes) -> None:
        if not self._closing():
            assert self.transport is not None
            self.transport.write(b"%x\r\n%b\r\n" % (len(data), data))

    def _chunk_end(self) -> None:
        if not self._closing():
            assert self.transport is not None
            self.transport.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def _closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()


_ERROR_FAULTS = frozenset(
    {
        FaultKind.RATE_LIMIT,
        FaultKind.QUOTA,
        FaultKind.SERVER_ERROR,
        FaultKind.OVERLOADED,
        FaultKind.AUTH,
        FaultKind.CONTENT_POLICY,
        FaultKind.REJECT_PREFILL,
    }
)


def _retry_after(fault: FaultRule) -> list[tuple[str, str]] | None:
    if fault.retry_after_s is None:
        return None
    value = fault.retry_after_s
    return [("retry-after", str(int(value)) if value == int(value) else f"{value:g}")]


def _provider_of(path: str, suffix: str) -> str:
    prefix = path[: -len(suffix)].strip("/")
    return prefix.split("/")[-1] if prefix else "default"


def _filter_log(log: deque[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    from urllib.parse import parse_qs

    wanted = {k: v[0] for k, v in parse_qs(query).items()}
    entries = list(log)
    for key in ("request_id", "provider", "model"):
        if key in wanted:
            entries = [e for e in entries if e[key] == wanted[key]]
    return entries


# --- running it -----------------------------------------------------------------------------------


async def start_simulator(sim: Simulator, host: str, port: int) -> asyncio.Server:
    loop = asyncio.get_running_loop()
    return await loop.create_server(lambda: SimulatorProtocol(sim), host, port, reuse_address=True, backlog=4096)


def run_simulator(config: SimulatorConfig, host: str, port: int, ready_file: Path | None = None) -> None:
    """Serve until interrupted (the `routeledger simulate` command)."""
    from routeledger.serving import install_event_loop, write_ready_file

    install_event_loop()

    async def main() -> None:
        sim = Simulator(config)
        server = await start_simulator(sim, host, port)
        bound = server.sockets[0].getsockname()
        url = f"http://{bound[0]}:{bound[1]}"
        print(json.dumps({"simulator": url}), flush=True)
        if ready_file:
            write_ready_file(ready_file, url)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


class SimulatorThread:
    """The simulator on a background thread with its own loop (tests, benches, in-process demos)."""

    def __init__(self, config: SimulatorConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sim = Simulator(config)
        self._host, self._port = host, port
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self.url = ""
        self._error: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            server = self._loop.run_until_complete(start_simulator(self.sim, self._host, self._port))
        except BaseException as exc:  # surfaced to the starting thread
            self._error = exc
            self._started.set()
            return
        bound = server.sockets[0].getsockname()
        self.url = f"http://{bound[0]}:{bound[1]}"
        self._server = server
        self._started.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def start(self) -> SimulatorThread:
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("simulator did not start within 10 s")
        if self._error:
            raise self._error
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
