"""Server-sent event streams: upstream dialects in, OpenAI chat-completion chunks out.

    SseParser              bytes → (event, data) pairs, tolerant of chunk boundaries anywhere
    OpenAIStreamDecoder    OpenAI chunks → StreamEvents (content, tool-call deltas, finish, usage)
    AnthropicStreamDecoder Messages API events → the same StreamEvents
    ChunkEncoder           StreamEvents → OpenAI `chat.completion.chunk` SSE lines for the client

A malformed upstream chunk becomes a `MALFORMED` event: it is counted and never forwarded, so
nothing the provider garbled reaches the client.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from routeledger.pricing import Usage
from routeledger.router.upstream.providers.anthropic import FINISH_REASONS, anthropic_usage

DONE = b"data: [DONE]\n\n"


class Kind(Enum):
    DELTA = "delta"  # content or tool-call delta for the client
    FINISH = "finish"  # the answer's finish_reason
    USAGE = "usage"  # the provider's token counts
    DONE = "done"  # the provider's explicit end of stream
    MALFORMED = "malformed"  # unparsable chunk: skipped, counted
    ERROR = "error"  # the provider reported an error inside the stream
    OTHER = "other"  # keep-alive, metadata: nothing for the client


@dataclass(slots=True)
class StreamEvent:
    kind: Kind
    delta: dict[str, Any] | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    message: str = ""

    @property
    def has_content(self) -> bool:
        return bool(self.delta and (self.delta.get("content") or self.delta.get("tool_calls")))


class SseParser:
    """Incremental SSE framing: events end at a blank line; `data:` lines join with newlines."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[tuple[str, bytes]]:
        self._buffer += chunk.replace(b"\r\n", b"\n")
        events: list[tuple[str, bytes]] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return events
            block, self._buffer = self._buffer[:end], self._buffer[end + 2 :]
            name, data = "", []
            for line in block.split(b"\n"):
                if line.startswith(b"data:"):
                    data.append(line[5:].lstrip(b" "))
                elif line.startswith(b"event:"):
                    name = line[6:].strip().decode("utf-8", "replace")
            if data or name:
                events.append((name, b"\n".join(data)))

    @property
    def pending(self) -> bytes:
        return self._buffer


class OpenAIStreamDecoder:
    def decode(self, name: str, data: bytes) -> list[StreamEvent]:
        if data.strip() == b"[DONE]":
            return [StreamEvent(Kind.DONE)]
        try:
            chunk = orjson.loads(data)
            if not isinstance(chunk, dict):
                raise TypeError
        except (orjson.JSONDecodeError, TypeError):
            return [StreamEvent(Kind.MALFORMED)]
        if isinstance(chunk.get("error"), dict):
            return [StreamEvent(Kind.ERROR, message=str(chunk["error"].get("message", "upstream stream error")))]
        events = []
        model = chunk.get("model")
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("tool_calls"):
                events.append(StreamEvent(Kind.DELTA, delta=delta, model=model))
            if choice.get("finish_reason"):
                events.append(StreamEvent(Kind.FINISH, finish_reason=str(choice["finish_reason"]), model=model))
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            details = usage.get("prompt_tokens_details") or {}
            events.append(
                StreamEvent(
                    Kind.USAGE,
                    usage=Usage(
                        int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0),
                        int(details.get("cached_tokens") or 0),
                    ),
                    model=model,
                )
            )
        return events or [StreamEvent(Kind.OTHER, model=model)]


@dataclass(slots=True)
class AnthropicStreamDecoder:
    """Anthropic reports input usage at the start and output usage at the end; merged here."""

    _input: dict[str, Any] = field(default_factory=dict)
    _tool_index: dict[int, int] = field(default_factory=dict)

    def decode(self, name: str, data: bytes) -> list[StreamEvent]:
        try:
            event = orjson.loads(data)
            if not isinstance(event, dict):
                raise TypeError
        except (orjson.JSONDecodeError, TypeError):
            return [StreamEvent(Kind.MALFORMED)]
        kind = event.get("type") or name
        if kind == "message_start":
            message = event.get("message") or {}
            self._input = message.get("usage") or {}
            return [StreamEvent(Kind.OTHER, model=message.get("model"))]
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                position = len(self._tool_index)
                self._tool_index[int(event.get("index", 0))] = position
                call = {
                    "index": position,
                    "id": block.get("id", ""),
                    "type": "function",
                    "function": {"name": block.get("name", ""), "arguments": ""},
                }
                return [StreamEvent(Kind.DELTA, delta={"tool_calls": [call]})]
            return [StreamEvent(Kind.OTHER)]
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [StreamEvent(Kind.DELTA, delta={"content": delta["text"]})]
            if delta.get("type") == "input_json_delta":
                position = self._tool_index.get(int(event.get("index", 0)), 0)
                call = {"index": position, "function": {"arguments": delta.get("partial_json", "")}}
                return [StreamEvent(Kind.DELTA, delta={"tool_calls": [call]})]
            return [StreamEvent(Kind.OTHER)]
        if kind == "message_delta":
            out = []
            stop = (event.get("delta") or {}).get("stop_reason")
            if stop:
                out.append(StreamEvent(Kind.FINISH, finish_reason=FINISH_REASONS.get(str(stop), "stop")))
            usage = event.get("usage")
            if isinstance(usage, dict):
                out.append(StreamEvent(Kind.USAGE, usage=anthropic_usage({**self._input, **usage})))
            return out or [StreamEvent(Kind.OTHER)]
        if kind == "message_stop":
            return [StreamEvent(Kind.DONE)]
        if kind == "error":
            error = event.get("error") or {}
            return [StreamEvent(Kind.ERROR, message=str(error.get("message", "upstream stream error")))]
        return [StreamEvent(Kind.OTHER)]


class ChunkEncoder:
    """OpenAI chat-completion chunks for the client, one id and model for the whole answer."""

    def __init__(self, request_id: str, model: str) -> None:
        self.id = f"chatcmpl-{request_id}"
        self.model = model
        self.created = int(time.time())

    def _chunk(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def role(self) -> bytes:
        return self._chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])

    def delta(self, delta: dict[str, Any]) -> bytes:
        return self._chunk([{"index": 0, "delta": delta, "finish_reason": None}])

    def finish(self, reason: str) -> bytes:
        return self._chunk([{"index": 0, "delta": {}, "finish_reason": reason}])

    def usage(self, usage: Usage) -> bytes:
        counts = {
            "prompt_tokens": usage.input_tokens,
            "completion_tokens": usage.output_tokens,
            "total_tokens": usage.input_tokens + usage.output_tokens,
        }
        return self._chunk([], usage=counts)

    @staticmethod
    def error(message: str, code: str) -> bytes:
        """An error event: the official SDKs raise on it, so a broken answer never looks complete."""
        body = {"error": {"message": message, "type": "upstream_error", "param": None, "code": code}}
        return b"data: " + orjson.dumps(body) + b"\n\n"
