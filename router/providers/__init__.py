"""Upstream wire formats. Each adapter turns our OpenAI-shaped request into its provider's call and
the provider's answer back into OpenAI's shape; the engine never sees a provider's dialect."""

from __future__ import annotations

from routeledger.config import ProviderKind
from router.providers.anthropic import AnthropicAdapter
from router.providers.base import Completion, ProviderAdapter, UpstreamError
from router.providers.openai import OpenAIAdapter

ADAPTERS: dict[ProviderKind, ProviderAdapter] = {
    ProviderKind.OPENAI: OpenAIAdapter(),
    ProviderKind.ANTHROPIC: AnthropicAdapter(),
}


def adapter_for(kind: ProviderKind) -> ProviderAdapter:
    return ADAPTERS[kind]


__all__ = ["Completion", "ProviderAdapter", "UpstreamError", "adapter_for"]
