"""Upstream wire formats. Each adapter turns our OpenAI-shaped request into its provider's call and
the provider's answer back into OpenAI's shape; the engine never sees a provider's dialect."""

from __future__ import annotations

from routeledger.config import ProviderKind
from routeledger.router.upstream.providers.anthropic import AnthropicAdapter
from routeledger.router.upstream.providers.base import Completion, ProviderAdapter, UpstreamError
from routeledger.router.upstream.providers.openai import OpenAIAdapter

ADAPTERS: dict[ProviderKind, ProviderAdapter] = {
    ProviderKind.OPENAI: OpenAIAdapter(),
    ProviderKind.ANTHROPIC: AnthropicAdapter(),
}


def adapter_for(kind: ProviderKind) -> ProviderAdapter:
    return ADAPTERS[kind]


__all__ = ["Completion", "ProviderAdapter", "UpstreamError", "adapter_for"]
