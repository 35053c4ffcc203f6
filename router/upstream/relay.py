"""Streaming attempts: open an upstream stream up to its first content token, then relay it.

The committed point is the first content token. `open_stream` reads until it arrives (within the
route's time-to-first-token limit); anything that goes wrong before it — an error status, silence,
an empty or cut stream, garbage — is an ordinary failed attempt and the chain falls over without the
client seeing anything. `LiveStream.relay` then forwards the rest as OpenAI chunks: a stream that
ends after its finish_reason but without `[DONE]` is finalised at once, with usage; one that is cut,
stalls past the idle limit or outlives the request deadline ends with an explicit error event and no
`[DONE]`, so no client mistakes a truncated answer for a complete one. The tokens actually delivered
are priced (the provider's usage when it sent one, else an estimate flagged as such).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from routeledger.config import ProviderKind
from routeledger.failures import FailureClass
from routeledger.pricing import Usage
from routeledger.router.upstream.classify import classify_exception, classify_status, error_type_of
from routeledger.router.upstream.client import Upstream, UpstreamRequest, UpstreamResponse, _loop_time, read_error_body
from routeledger.router.upstream.outcome import AttemptOutcome
from routeledger.router.upstream.providers.base import UpstreamError
from routeledger.router.upstream.streaming import (
    DONE,
    AnthropicStreamDecoder,
    ChunkEncoder,
    Kind,
    OpenAIStreamDecoder,
    SseParser,
    StreamEvent,
)
from routeledger.router.upstream.targets import Target

#: Malformed chunks tolerated (skipped) in one stream; past this the stream is unusable.
MAX_MALFORMED = 3
#: Longest wait for an upstream error body once the status says the stream failed, in seconds.
ERROR_BODY_S = 5.0

#: Prices and records the stream's one attempt once it ends (failure or None, error type, the
#: stream): the engine's `finish`, bound to this attempt. The relay knows nothing of chains or budgets.
Account = Callable[[FailureClass | None, str, "LiveStream"], AttemptOutcome]
#: Settles the attempt's budget reservation with its real cost.
Settle = Callable[[AttemptOutcome], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Refused:
    """A stream attempt that failed before its first content token."""

    status: int
    failure: FailureClass
    error_type: str
    upstream_error: UpstreamError | None = None
    usage: Usage | None = None


@dataclass(slots=True)
class StreamState:
    buffered: list[dict[str, Any]] = field(default_factory=list)
    deltas: int = 0
    finish: str = ""
    usage: Usage | None = None
    model: str = ""
    malformed: int = 0
    done: bool = False
    error: str = ""

    def apply(self, event: StreamEvent) -> None:
        if event.model:
            self.model = event.model
        if event.kind is Kind.DELTA:
            self.deltas += 1
        elif event.kind is Kind.FINISH:
            self.finish = event.finish_reason or "stop"
        elif event.kind is Kind.USAGE:
            self.usage = event.usage
        elif event.kind is Kind.DONE:
            self.done = True
        elif event.kind is Kind.MALFORMED:
            self.malformed += 1
        elif event.kind is Kind.ERROR:
            self.error = event.message or "upstream stream error"


def decoder_for(target: Target) -> OpenAIStreamDecoder | AnthropicStreamDecoder:
    return AnthropicStreamDecoder() if target.provider.kind is ProviderKind.ANTHROPIC else OpenAIStreamDecoder()


async def open_stream(
    upstream: Upstream, target: Target, request: UpstreamRequest, first_token_deadline: float
) -> LiveStream | Refused:
    started = time.monotonic()
    try:
        response = await upstream.open(request, first_token_deadline)
    except TimeoutError:
        return Refused(0, FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, "timeout")
    except httpx.HTTPError as exc:
        return Refused(0, classify_exception(exc), error_type_of(exc))
    if response.status_code != 200:
        try:
            body = await read_error_body(response, time.monotonic() + ERROR_BODY_S)
        except (TimeoutError, httpx.HTTPError):
            body = b""
        error = target.adapter.decode_error(response.status_code, body, response.headers.get("retry-after"))
        return Refused(response.status_code, classify_status(error), str(response.status_code), error)
    state, parser, decoder = StreamState(), SseParser(), decoder_for(target)
    chunks = response.aiter_raw().__aiter__()
    try:
        async with asyncio.timeout_at(_loop_time(first_token_deadline)):
            async for chunk in chunks:
                for name, data in parser.feed(chunk):
                    for event in decoder.decode(name, data):
                        state.apply(event)
                        if event.has_content and event.delta is not None:
                            state.buffered.append(event.delta)
                if state.buffered:
                    ttft = time.monotonic() - started
                    return LiveStream(target, response, chunks, parser, decoder, state, ttft)
                refusal = _refusal(state)
                if refusal is not None:
                    await response.aclose()
                    return refusal
    except TimeoutError:
        await response.aclose()
        return Refused(200, FailureClass.TIMEOUT_BEFORE_FIRST_BYTE, "first_token_timeout", usage=state.usage)
    except httpx.HTTPError as exc:
        await response.aclose()
        return Refused(200, FailureClass.STREAM_CUT, error_type_of(exc), usage=state.usage)
    await response.aclose()
    failure = FailureClass.EMPTY_RESPONSE if state.finish else FailureClass.STREAM_CUT
    return Refused(200, failure, failure.value, usage=state.usage)


def _refusal(state: StreamState) -> Refused | None:
    if state.error:
        return Refused(
            200,
            FailureClass.PROVIDER_ERROR,
            "stream_error",
            UpstreamError(200, state.error, None, None, None),
            state.usage,
        )
    if state.malformed > MAX_MALFORMED:
        return Refused(200, FailureClass.INVALID_OUTPUT, "malformed_stream", usage=state.usage)
    if state.done or state.finish:
        return Refused(200, FailureClass.EMPTY_RESPONSE, "empty_stream", usage=state.usage)
    return None


class LiveStream:
    """A stream past its first content token: relay it to the client, then account for it."""

    def __init__(
        self,
        target: Target,
        response: UpstreamResponse,
        chunks: AsyncIterator[bytes],
        parser: SseParser,
        decoder: OpenAIStreamDecoder | AnthropicStreamDecoder,
        state: StreamState,
        ttft_s: float,
    ) -> None:
        self.target = target
        self.response = response
        self.chunks = chunks
        self.parser = parser
        self.decoder = decoder
        self.state = state
        self.ttft_s = ttft_s

    def bind(
        self,
        *,
        request_id: str,
        include_usage: bool,
        idle_s: float,
        deadline: float,
        prompt_tokens: int,
        account: Account,
        settle: Settle | None = None,
    ) -> None:
        """What relaying needs from the request: its id, whether usage is asked for, the idle and
        whole-request limits, and how to account for the attempt when the stream ends."""
        self.request_id, self.include_usage, self.idle_s, self.deadline = request_id, include_usage, idle_s, deadline
        self.prompt_tokens, self.account, self.settle = prompt_tokens, account, settle

    async def relay(
        self, send: Callable[[bytes], Awaitable[None]], on_attempt: Callable[[AttemptOutcome], None]
    ) -> AttemptOutcome:
        """Forward the stream through `send`; exactly one outcome is recorded, even on cancellation."""
        state = self.state
        encoder = ChunkEncoder(self.request_id, state.model or self.target.model.upstream)
        failure: FailureClass | None = None
        error_type = ""
        try:
            await send(encoder.role() + b"".join(encoder.delta(d) for d in state.buffered))
            failure, error_type = await self._pump(encoder, send)
        except asyncio.CancelledError:
            cancelled = self._outcome(FailureClass.CANCELLED, "client_disconnected")
            on_attempt(cancelled)
            if self.settle is not None:
                await asyncio.shield(self.settle(cancelled))
            raise
        finally:
            await self.response.aclose()
        # The attempt is recorded before the client hears the end of the stream, so whoever reads
        # the ledger after the stream ended finds the attempt there.
        outcome = self._outcome(failure, error_type)
        on_attempt(outcome)
        try:
            if failure is None:
                tail = encoder.finish(state.finish)
                if self.include_usage:
                    tail += encoder.usage(self.usage())
                await send(tail + DONE)
            else:
                await send(ChunkEncoder.error(_message(failure, state), failure.value))
        finally:
            if self.settle is not None:
                await asyncio.shield(self.settle(outcome))
        return outcome

    async def _pump(
        self, encoder: ChunkEncoder, send: Callable[[bytes], Awaitable[None]]
    ) -> tuple[FailureClass | None, str]:
        state, idle = self.state, self.idle_s
        while not state.done:
            limit = min(time.monotonic() + idle, self.deadline)
            try:
                async with asyncio.timeout_at(_loop_time(limit)):
                    chunk = await anext(self.chunks)
            except TimeoutError:
                return FailureClass.STALL, "deadline" if limit >= self.deadline else "idle_timeout"
            except StopAsyncIteration:
                return (None, "") if state.finish else (FailureClass.STREAM_CUT, "ended_without_finish")
            except httpx.HTTPError as exc:
                return FailureClass.STREAM_CUT, error_type_of(exc)
            out = []
            for name, data in self.parser.feed(chunk):
                for event in self.decoder.decode(name, data):
                    state.apply(event)
                    if event.kind is Kind.DELTA and event.delta is not None:
                        out.append(encoder.delta(event.delta))
            if out:
                await send(b"".join(out))
            if state.error:
                return FailureClass.STREAM_CUT, "stream_error"
            if state.malformed > MAX_MALFORMED:
                return FailureClass.INVALID_OUTPUT, "malformed_stream"
        return None, ""

    def usage(self) -> Usage:
        """The provider's usage when it sent one, else an estimate (one token per delta)."""
        return self.state.usage or Usage(self.prompt_tokens, self.state.deltas)

    def _outcome(self, failure: FailureClass | None, error_type: str) -> AttemptOutcome:
        return self.account(failure, error_type, self)


def _message(failure: FailureClass, state: StreamState) -> str:
    if failure is FailureClass.STALL:
        return "The upstream stream stalled; the answer is incomplete."
    if failure is FailureClass.INVALID_OUTPUT:
        return "The upstream stream was garbled; the answer is incomplete."
    detail = f" ({state.error})" if state.error else ""
    return f"The upstream stream was cut before the answer finished{detail}; the answer is incomplete."
