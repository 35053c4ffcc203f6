"""Chain hops resolved once at start-up: model, provider, adapter, URL, price, strength."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from routeledger.config import TIER_RANK, ModelConfig, ProviderConfig, RouteledgerConfig
from routeledger.pricing import FlatPrice, ModelPricing, Usage, resolve_price
from routeledger.router.upstream.providers import ProviderAdapter, adapter_for

#: Output tokens used to rank models by price when no tier is configured.
_RANKING_USAGE = Usage(0, 1_000_000)


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    model: ModelConfig
    provider_name: str
    provider: ProviderConfig
    adapter: ProviderAdapter
    url: str
    #: Parsed once: building a request from a parsed URL costs half as much.
    endpoint: httpx.URL
    server_address: str
    pricing: ModelPricing
    #: Higher is stronger: the configured tier, else the output price per million tokens.
    strength: float


def strength(model: ModelConfig, pricing: ModelPricing) -> float:
    if model.tier is not None:
        return 1e9 * (1 + TIER_RANK[model.tier])
    price = pricing.price
    if isinstance(price, FlatPrice):
        return float(price.output_per_mtok)
    return float(pricing.cost(_RANKING_USAGE))


def resolve_targets(config: RouteledgerConfig) -> dict[str, Target]:
    targets = {}
    for name, model in config.models.items():
        provider = config.providers[model.provider]
        adapter = adapter_for(provider.kind)
        url = adapter.url(provider)
        pricing = resolve_price(model.price)
        targets[name] = Target(
            name=name,
            model=model,
            provider_name=model.provider,
            provider=provider,
            adapter=adapter,
            url=url,
            endpoint=httpx.URL(url),
            server_address=urlsplit(url).hostname or "",
            pricing=pricing,
            strength=strength(model, pricing),
        )
    return targets
