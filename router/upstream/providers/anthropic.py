"""Anthropic Messages API, translated to and from the OpenAI chat shape.

OpenAI keeps the system prompt among the messages and allows optional `max_tokens`; Anthropic takes
`system` apart and requires `max_tokens`. Content parts (text, images), tool definitions, tool calls
and tool results are mapped both ways; stop reasons map to OpenAI finish reasons.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from routeledger.config import ModelConfig, ProviderConfig
from routeledger.pricing import Usage
from routeledger.router.api.chat import ChatRequest
from routeledger.router.upstream.providers.base import Completion, UpstreamError, parse_retry_after

ANTHROPIC_VERSION = "2023-06-01"

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
    "pause_turn": "stop",
}

#: OpenAI parameters with the same meaning in the Messages API.
_PASSTHROUGH = ("temperature", "top_p", "metadata")


class AnthropicAdapter:
    def url(self, provider: ProviderConfig) -> str:
        return provider.base_url + "/messages"

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": ANTHROPIC_VERSION}
        key = provider.api_key()
        if key:
            headers["x-api-key"] = key
        return headers

    def encode(self, request: ChatRequest, raw: dict[str, Any], model: ModelConfig, max_tokens: int | None) -> bytes:
        system_parts: list[str] = []
        messages: list[dict[str, Any]] = []
        for message in raw["messages"]:
            role = message.get("role")
            if role in ("system", "developer"):
                system_parts.append(_text_of(message.get("content")))
            elif role == "tool":
                block = {
                    "type": "tool_result",
                    "tool_use_id": message.get("tool_call_id", ""),
                    "content": _text_of(message.get("content")),
                }
                messages.append({"role": "user", "content": [block]})
            else:
                messages.append({"role": role, "content": _content(message)})
        body: dict[str, Any] = {
            "model": model.upstream,
            "messages": messages,
            "max_tokens": max_tokens or request.max_completion_tokens or request.max_tokens or model.max_output_tokens,
        }
        if system_parts:
            body["system"] = "\n\n".join(system_parts)
        for key in _PASSTHROUGH:
            if key in raw:
                body[key] = raw[key]
        stop = raw.get("stop")
        if stop:
            body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.stream:
            body["stream"] = True
        return orjson.dumps(body)

    def decode(self, body: bytes) -> Completion:
        data = orjson.loads(body)
        text_parts: list[str] = []
        tool_calls: list[dict[str, Any]] = []
        for block in data["content"]:
            if block.get("type") == "text":
                text_parts.append(block.get("text", ""))
            elif block.get("type") == "tool_use":
                tool_calls.append(
                    {
                        "id": block.get("id", ""),
                        "type": "function",
                        "function": {
                            "name": block.get("name", ""),
                            "arguments": orjson.dumps(block.get("input", {})).decode(),
                        },
                    }
                )
        usage_data = data.get("usage") or {}
        usage = anthropic_usage(usage_data) if usage_data else None
        finish = FINISH_REASONS.get(str(data.get("stop_reason")), "stop")
        content = "".join(text_parts)
        message: dict[str, Any] = {"role": "assistant", "content": content if text_parts or not tool_calls else None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        openai_body = {
            "id": "chatcmpl-" + str(data.get("id", "")),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": str(data.get("model") or ""),
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": usage.input_tokens if usage else 0,
                "completion_tokens": usage.output_tokens if usage else 0,
                "total_tokens": (usage.input_tokens + usage.output_tokens) if usage else 0,
            },
        }
        return Completion(
            body=openai_body,
            content=message["content"],
            finish_reason=finish,
            usage=usage,
            response_model=str(data.get("model") or ""),
            has_tool_calls=bool(tool_calls),
        )

    def decode_error(self, status: int, body: bytes, retry_after: str | None) -> UpstreamError:
        error: dict[str, Any] = {}
        try:
            data = orjson.loads(body)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                error = data["error"]
        except orjson.JSONDecodeError:
            pass
        message = str(error.get("message") or body[:300].decode("utf-8", "replace") or f"HTTP {status}")
        err_type = error.get("type")
        code = _code_for(str(err_type) if err_type else None, message)
        return UpstreamError(status, message, str(err_type) if err_type else None, code, parse_retry_after(retry_after))


def anthropic_usage(usage: dict[str, Any]) -> Usage:
    """Anthropic reports cached input apart from `input_tokens`; ours counts it inside."""
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    return Usage(
        input_tokens=int(usage.get("input_tokens") or 0) + cache_read + cache_write,
        output_tokens=int(usage.get("output_tokens") or 0),
        cache_read_tokens=cache_read,
    )


def _code_for(err_type: str | None, message: str) -> str | None:
    """OpenAI-style codes for Anthropic errors, so one classifier reads both."""
    lowered = message.lower()
    if "prompt is too long" in lowered or ("context" in lowered and "length" in lowered):
        return "context_length_exceeded"
    if err_type == "billing_error":
        return "insufficient_quota"
    if err_type == "overloaded_error":
        return "overloaded"
    if err_type == "authentication_error" or err_type == "permission_error":
        return "invalid_api_key"
    return err_type


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _content(message: dict[str, Any]) -> Any:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    if isinstance(content, str):
        if not message.get("tool_calls"):
            return content
        if content:
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text":
                blocks.append({"type": "text", "text": part.get("text", "")})
            elif part.get("type") == "image_url":
                blocks.append(_image(part.get("image_url") or {}))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except orjson.JSONDecodeError:
            arguments = {}
        blocks.append(
            {"type": "tool_use", "id": call.get("id", ""), "name": function.get("name", ""), "input": arguments}
        )
    return blocks


def _image(image: dict[str, Any]) -> dict[str, Any]:
    url = str(image.get("url", ""))
    if url.startswith("data:") and ";base64," in url:
        media_type, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = tool.get("function") or {}
    return {
        "name": function.get("name", ""),
        "description": function.get("description", ""),
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
