"""Wire shapes of the two simulated APIs: bodies, stream events and errors, as the real ones look."""

from __future__ import annotations

from typing import Any

import orjson

from routeledger.config import FaultKind
from routeledger.tokens import output_text, output_word

OPENAI = "openai"
ANTHROPIC = "anthropic"

_OPENAI_FINISH = {"stop": "stop", "length": "length"}
_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens"}


def completion_body(
    api: str, request_id: str, model: str, text: str, finish: str, input_tokens: int, output_tokens: int
) -> bytes:
    if api == ANTHROPIC:
        return orjson.dumps(
            {
                "id": f"msg_{request_id}",
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [{"type": "text", "text": text}],
                "stop_reason": _ANTHROPIC_STOP[finish],
                "stop_sequence": None,
                "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
            }
        )
    return orjson.dumps(
        {
            "id": f"chatcmpl-{request_id}",
            "object": "chat.completion",
            "created": 1_760_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": _OPENAI_FINISH[finish],
                }
            ],
            "usage": {
                "prompt_tokens": input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
        }
    )


def answer_text(tokens: int, json_asked: bool, fault: FaultKind | None) -> str:
    """The answer's text: words, or a JSON object when JSON output was asked."""
    if fault is FaultKind.EMPTY:
        return ""
    words = output_text(tokens)
    if fault is FaultKind.INVALID_JSON:
        return '{"answer": "' + words  # never closed
    if json_asked:
        return orjson.dumps({"answer": words}).decode()
    return words


def sse(data: Any) -> bytes:
    return b"data: " + (data if isinstance(data, bytes) else orjson.dumps(data)) + b"\n\n"


def anthropic_event(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\n" + sse(data)


def stream_start(api: str, request_id: str, model: str, input_tokens: int) -> bytes:
    if api == ANTHROPIC:
        return anthropic_event(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": f"msg_{request_id}",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": input_tokens, "output_tokens": 0},
                },
            },
        ) + anthropic_event(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
    return sse(_openai_chunk(request_id, model, {"role": "assistant", "content": ""}, None))


def stream_token(api: str, request_id: str, model: str, text: str) -> bytes:
    if api == ANTHROPIC:
        return anthropic_event(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        )
    return sse(_openai_chunk(request_id, model, {"content": text}, None))


def stream_end(
    api: str,
    request_id: str,
    model: str,
    finish: str,
    input_tokens: int,
    output_tokens: int,
    include_usage: bool,
    done: bool,
) -> bytes:
    if api == ANTHROPIC:
        return (
            anthropic_event("content_block_stop", {"type": "content_block_stop", "index": 0})
            + anthropic_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": _ANTHROPIC_STOP[finish], "stop_sequence": None},
                    "usage": {"output_tokens": output_tokens},
                },
            )
            + (anthropic_event("message_stop", {"type": "message_stop"}) if done else b"")
        )
    out = sse(_openai_chunk(request_id, model, {}, _OPENAI_FINISH[finish]))
    if include_usage:
        usage = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        out += sse({**_openai_chunk(request_id, model, None, None), "choices": [], "usage": usage})
    if done:
        out += b"data: [DONE]\n\n"
    return out


def _openai_chunk(request_id: str, model: str, delta: dict[str, Any] | None, finish: str | None) -> dict[str, Any]:
    chunk: dict[str, Any] = {
        "id": f"chatcmpl-{request_id}",
        "object": "chat.completion.chunk",
        "created": 1_760_000_000,
        "model": model,
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    return chunk


def token_piece(index: int) -> str:
    return output_word(index)


# --- errors ---------------------------------------------------------------------------------------

_ERRORS: dict[FaultKind, tuple[int, str, str, str]] = {
    # kind: (status, openai type, openai code, message)
    FaultKind.RATE_LIMIT: (429, "requests", "rate_limit_exceeded", "Rate limit reached, please retry later."),
    FaultKind.QUOTA: (429, "insufficient_quota", "insufficient_quota", "You exceeded your current quota."),
    FaultKind.SERVER_ERROR: (500, "server_error", "server_error", "The server had an error."),
    FaultKind.OVERLOADED: (529, "overloaded_error", "overloaded", "The model is overloaded."),
    FaultKind.AUTH: (401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    FaultKind.CONTENT_POLICY: (
        400,
        "invalid_request_error",
        "content_policy_violation",
        "Your request was rejected as a result of our safety system.",
    ),
    FaultKind.REJECT_PREFILL: (
        400,
        "invalid_request_error",
        "invalid_request_error",
        "This model does not support assistant message prefill.",
    ),
}

_ANTHROPIC_TYPES = {
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "api_error",
    529: "overloaded_error",
    401: "authentication_error",
    400: "invalid_request_error",
}


def error_response(api: str, kind: FaultKind, status: int | None = None) -> tuple[int, bytes]:
    code_status, err_type, code, message = _ERRORS[kind]
    status = status or code_status
    if kind is FaultKind.OVERLOADED and api == OPENAI:
        status = status if status != 529 else 503
    return status, error_body(api, status, err_type, code, message)


def context_length_error(api: str, input_tokens: int, window: int) -> tuple[int, bytes]:
    if api == ANTHROPIC:
        message = f"prompt is too long: {input_tokens} tokens > {window} maximum"
    else:
        message = (
            f"This model's maximum context length is {window} tokens. However, your messages "
            f"resulted in {input_tokens} tokens. Please reduce the length of the messages."
        )
    return 400, error_body(api, 400, "invalid_request_error", "context_length_exceeded", message)


def error_body(api: str, status: int, err_type: str, code: str, message: str) -> bytes:
    if api == ANTHROPIC:
        a_type = _ANTHROPIC_TYPES.get(status, "api_error")
        if code == "insufficient_quota":
            a_type = "billing_error"
        return orjson.dumps({"type": "error", "error": {"type": a_type, "message": message}})
    return orjson.dumps({"error": {"message": message, "type": err_type, "param": None, "code": code}})
