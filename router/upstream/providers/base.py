"""What every provider adapter produces: a request to send, a completion or an upstream error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from routeledger.config import ModelConfig, ProviderConfig
from routeledger.pricing import Usage
from routeledger.router.api.chat import ChatRequest


@dataclass(frozen=True, slots=True)
class Completion:
    """A decoded answer; `body` is the OpenAI-shaped response the client receives."""

    body: dict[str, Any]
    content: str | None
    finish_reason: str
    usage: Usage | None
    response_model: str
    has_tool_calls: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """A provider's error answer, decoded from its own shape."""

    status: int
    message: str
    type: str | None
    code: str | None
    retry_after_s: float | None


class ProviderAdapter(Protocol):
    def url(self, provider: ProviderConfig) -> str: ...

    def headers(self, provider: ProviderConfig) -> dict[str, str]: ...

    def encode(self, request: ChatRequest, raw: dict[str, Any], model: ModelConfig, max_tokens: int | None) -> bytes:
        """The upstream request body for `model` (max_tokens may be lowered for a fallback)."""
        ...

    def decode(self, body: bytes) -> Completion:
        """Raises ValueError when the body is not a well-formed completion."""
        ...

    def decode_error(self, status: int, body: bytes, retry_after: str | None) -> UpstreamError: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds; HTTP dates are rare from LLM APIs)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        from datetime import UTC, datetime

        seconds = (when - datetime.now(UTC)).total_seconds()
    return max(seconds, 0.0)
