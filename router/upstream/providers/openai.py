"""OpenAI Chat Completions: the client's body goes upstream almost untouched."""

from __future__ import annotations

from typing import Any

import orjson

from routeledger.config import ModelConfig, ProviderConfig
from routeledger.pricing import Usage
from routeledger.router.api.chat import ChatRequest
from routeledger.router.upstream.providers.base import Completion, UpstreamError, parse_retry_after


class OpenAIAdapter:
    def url(self, provider: ProviderConfig) -> str:
        return provider.base_url + "/chat/completions"

    def headers(self, provider: ProviderConfig) -> dict[str, str]:
        key = provider.api_key()
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    def encode(self, request: ChatRequest, raw: dict[str, Any], model: ModelConfig, max_tokens: int | None) -> bytes:
        body = dict(raw)
        body["model"] = model.upstream
        if request.stream:
            # Usage is how an answer is priced: always ask for it; the client only gets it if it asked.
            body["stream_options"] = {**(raw.get("stream_options") or {}), "include_usage": True}
        if max_tokens is not None:
            body.pop("max_tokens", None)
            body["max_completion_tokens" if "max_completion_tokens" in raw else "max_tokens"] = max_tokens
        return orjson.dumps(body)

    def decode(self, body: bytes) -> Completion:
        data = orjson.loads(body)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        usage = data.get("usage") or None
        return Completion(
            body=data,
            content=message.get("content"),
            finish_reason=str(choice.get("finish_reason") or ""),
            usage=_usage(usage) if usage else None,
            response_model=str(data.get("model") or ""),
            has_tool_calls=bool(message.get("tool_calls")),
        )

    def decode_error(self, status: int, body: bytes, retry_after: str | None) -> UpstreamError:
        error: dict[str, Any] = {}
        try:
            data = orjson.loads(body)
            if isinstance(data, dict) and isinstance(data.get("error"), dict):
                error = data["error"]
        except orjson.JSONDecodeError:
            pass
        return UpstreamError(
            status=status,
            message=str(error.get("message") or body[:300].decode("utf-8", "replace") or f"HTTP {status}"),
            type=_str_or_none(error.get("type")),
            code=_str_or_none(error.get("code")),
            retry_after_s=parse_retry_after(retry_after),
        )


def _usage(usage: dict[str, Any]) -> Usage:
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cache_read_tokens=int(details.get("cached_tokens") or 0),
    )


def _str_or_none(value: Any) -> str | None:
    return str(value) if value is not None else None
