"""The cost of one upstream attempt, in exact USD.

Prices come from the `genai-prices` database (a model reference in the config) or from explicit
per-million-token prices in the config. Money is `Decimal` from here to the `Decimal(18, 9)` column:
float sums drift and a ledger must add up to the cent.

Speed matters because every attempt is priced on the router's hot path: the library's general
calculation costs about 130 µs, so flat prices (the common case) are resolved once at start-up and
applied with three multiplications; tiered prices (e.g. Anthropic's long-context tier) go through
the library with a bounded memo of recent usages. A test checks the flat path against the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import Discriminator, Field, Tag

from routeledger.strict import StrictModel

#: The ledger's resolution: `Decimal(18, 9)` in ClickHouse, so nano-dollars.
COST_QUANTUM = Decimal("1e-9")
_MTOK = Decimal(1_000_000)
#: Distinct (input, output, cache) usages remembered per tiered model; bounded memory.
_TIERED_MEMO_SIZE = 16_384


class GenaiPricesRef(StrictModel):
    """Price looked up in the `genai-prices` database (model id, optionally its provider id)."""

    genai_prices: str
    provider: str | None = None


class ExplicitPrice(StrictModel):
    """Prices in USD per million tokens, for models genai-prices does not know (or negotiated)."""

    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cache_read_per_mtok: Decimal | None = Field(default=None, ge=0)


def _price_kind(value: Any) -> str:
    """Which price shape the user meant, so errors talk about that shape only."""
    if isinstance(value, dict):
        return "GenaiPricesRef" if "genai_prices" in value else "ExplicitPrice"
    return "GenaiPricesRef" if isinstance(value, GenaiPricesRef) else "ExplicitPrice"


PriceConfig = Annotated[
    Annotated[GenaiPricesRef, Tag("GenaiPricesRef")] | Annotated[ExplicitPrice, Tag("ExplicitPrice")],
    Discriminator(_price_kind),
]


class PriceSource(StrEnum):
    GENAI_PRICES = "genai-prices"
    CONFIG = "config"
    NONE = "none"  # no usage known (e.g. the provider never answered): cost is zero


class UnknownPrice(LookupError):
    """The genai-prices database has no such model (or provider)."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one attempt; `cache_read_tokens` are part of `input_tokens`."""

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0


@dataclass(frozen=True, slots=True)
class FlatPrice:
    """USD per million tokens, the same at every prompt length."""

    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal

    def cost(self, usage: Usage) -> Decimal:
        uncached = max(usage.input_tokens - usage.cache_read_tokens, 0)
        total = (
            uncached * self.input_per_mtok
            + usage.cache_read_tokens * self.cache_read_per_mtok
            + usage.output_tokens * self.output_per_mtok
        ) / _MTOK
        return total.quantize(COST_QUANTUM)


class TieredPrice:
    """A genai-prices model whose rate depends on the prompt length; priced by the library."""

    def __init__(self, model_price: Any) -> None:
        self._model_price = model_price
        self.cost = lru_cache(maxsize=_TIERED_MEMO_SIZE)(self._cost)

    def _cost(self, usage: Usage) -> Decimal:
        from genai_prices import Usage as LibUsage

        lib_usage = LibUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens or None,
        )
        total: Decimal = self._model_price.calc_price(lib_usage)["total_price"]
        return total.quantize(COST_QUANTUM)


@dataclass(frozen=True, slots=True)
class ModelPricing:
    """How one configured model is priced, resolved once at start-up."""

    price: FlatPrice | TieredPrice
    source: PriceSource

    def cost(self, usage: Usage) -> Decimal:
        return self.price.cost(usage)


def resolve_price(ref: GenaiPricesRef | ExplicitPrice) -> ModelPricing:
    """Turn a config price into a `ModelPricing`; raises `UnknownPrice` for unknown references."""
    if isinstance(ref, ExplicitPrice):
        cache = ref.cache_read_per_mtok if ref.cache_read_per_mtok is not None else ref.input_per_mtok
        return ModelPricing(FlatPrice(ref.input_per_mtok, ref.output_per_mtok, cache), PriceSource.CONFIG)
    return ModelPricing(_library_price(ref.genai_prices, ref.provider), PriceSource.GENAI_PRICES)


@lru_cache(maxsize=256)
def _library_price(model_ref: str, provider_id: str | None) -> FlatPrice | TieredPrice:
    from genai_prices import data_snapshot
    from genai_prices.types import TieredPrices

    snapshot = data_snapshot.get_snapshot()
    try:
        _provider, model = snapshot.find_provider_model(model_ref, None, provider_id, None)
    except LookupError as exc:
        raise UnknownPrice(f"genai-prices has no model {model_ref!r}" + _provider_hint(provider_id)) from exc
    except Exception as exc:  # the library raises plain exceptions for unknown providers
        raise UnknownPrice(f"genai-prices cannot resolve {model_ref!r}: {exc}") from exc
    model_price = model.get_prices(datetime.now(UTC))
    input_rate, output_rate, cache_rate = model_price.input_mtok, model_price.output_mtok, model_price.cache_read_mtok
    if all(r is None or isinstance(r, Decimal) for r in (input_rate, output_rate, cache_rate)):
        assert not isinstance(input_rate, TieredPrices) and not isinstance(output_rate, TieredPrices)
        assert not isinstance(cache_rate, TieredPrices)
        base = input_rate or Decimal(0)
        return FlatPrice(base, output_rate or Decimal(0), cache_rate if cache_rate is not None else base)
    return TieredPrice(model_price)


def _provider_hint(provider_id: str | None) -> str:
    return f" for provider {provider_id!r}" if provider_id else ""
