"""Provider adapters: OpenAI passthrough, Anthropic translation both ways."""

from __future__ import annotations

import orjson
import pytest

from routeledger.config import ModelConfig
from routeledger.pricing import Usage
from routeledger.router.api.chat import parse_chat_request
from routeledger.router.upstream.providers.anthropic import AnthropicAdapter
from routeledger.router.upstream.providers.openai import OpenAIAdapter

MODEL = ModelConfig.model_validate(
    {
        "provider": "p",
        "upstream": "claude-x",
        "price": {"input_per_mtok": 1, "output_per_mtok": 2},
        "context_window": 1000,
        "max_output_tokens": 777,
    }
)


def encode(adapter: object, body: dict[str, object], max_tokens: int | None = None) -> dict[str, object]:
    request, raw = parse_chat_request(orjson.dumps(body))
    result: dict[str, object] = orjson.loads(adapter.encode(request, raw, MODEL, max_tokens))  # type: ignore[attr-defined]
    return result


def test_openai_body_is_forwarded_with_the_upstream_model() -> None:
    body = {
        "model": "support",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.2,
        "seed": 7,
        "max_tokens": 50,
    }
    assert encode(OpenAIAdapter(), body) == {**body, "model": "claude-x"}
    assert encode(OpenAIAdapter(), body, max_tokens=20)["max_tokens"] == 20


def test_anthropic_request_translation() -> None:
    body = {
        "model": "support",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "No emojis."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "t1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "t1", "content": "found"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}}}
        ],
        "stop": "END",
        "temperature": 0.1,
    }
    out = encode(AnthropicAdapter(), body)
    assert out["system"] == "Be brief.\n\nNo emojis."
    assert out["max_tokens"] == 777  # required by Anthropic: the model's limit when the client gave none
    assert out["stop_sequences"] == ["END"] and out["temperature"] == 0.1
    assert out["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"q": 1}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "found"}]},
    ]
    assert out["tools"] == [{"name": "lookup", "description": "d", "input_schema": {"type": "object"}}]


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("stop_sequence", "stop"),
    ],
)
def test_anthropic_response_translation(stop_reason: str, finish: str) -> None:
    raw = {
        "id": "msg_1",
        "model": "claude-x-2026",
        "content": [{"type": "text", "text": "Hello"}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}],
        "stop_reason": stop_reason,
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 90},
    }
    completion = AnthropicAdapter().decode(orjson.dumps(raw))
    assert completion.finish_reason == finish
    assert completion.usage == Usage(input_tokens=100, output_tokens=5, cache_read_tokens=90)
    choice = completion.body["choices"][0]
    assert choice["message"]["content"] == "Hello"
    assert choice["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert completion.body["usage"] == {"prompt_tokens": 100, "completion_tokens": 5, "total_tokens": 105}
    assert completion.response_model == "claude-x-2026"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "prompt is too long: 300000 tokens > 200000 maximum",
                },
            },
            "context_length_exceeded",
        ),
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "overloaded"),
        ({"type": "error", "error": {"type": "billing_error", "message": "credit"}}, "insufficient_quota"),
        ({"type": "error", "error": {"type": "authentication_error", "message": "bad key"}}, "invalid_api_key"),
    ],
)
def test_anthropic_errors_get_openai_codes(body: dict[str, object], code: str) -> None:
    error = AnthropicAdapter().decode_error(400, orjson.dumps(body), "3")
    assert error.code == code
    assert error.retry_after_s == 3.0


def test_openai_error_decoding_tolerates_garbage() -> None:
    error = OpenAIAdapter().decode_error(502, b"<html>bad gateway</html>", None)
    assert (error.status, error.message, error.code) == (502, "<html>bad gateway</html>", None)
