"""Pricing: exact Decimal costs from genai-prices or explicit prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from genai_prices import Usage as LibUsage
from genai_prices import calc_price
from hypothesis import given, settings
from hypothesis import strategies as st

from routeledger.pricing import (
    ExplicitPrice,
    FlatPrice,
    GenaiPricesRef,
    PriceSource,
    TieredPrice,
    UnknownPrice,
    Usage,
    resolve_price,
)


def test_sonnet_4_5_at_2000_in_500_out_costs_0_0135() -> None:
    pricing = resolve_price(GenaiPricesRef(genai_prices="claude-sonnet-4-5", provider="anthropic"))
    assert pricing.cost(Usage(2000, 500)) == Decimal("0.0135")
    assert pricing.source is PriceSource.GENAI_PRICES


def test_seed_figures_for_haiku() -> None:
    pricing = resolve_price(GenaiPricesRef(genai_prices="claude-haiku-4-5", provider="anthropic"))
    assert pricing.cost(Usage(2000, 500)) == Decimal("0.0045")


def test_explicit_prices_per_million_tokens() -> None:
    pricing = resolve_price(ExplicitPrice(input_per_mtok=Decimal("0.15"), output_per_mtok=Decimal("0.6")))
    assert pricing.cost(Usage(1_000_000, 500_000)) == Decimal("0.45")
    assert pricing.cost(Usage(1, 0)) == Decimal("0.00000015").quantize(Decimal("1e-9"))
    assert pricing.source is PriceSource.CONFIG


def test_unknown_reference_is_refused() -> None:
    with pytest.raises(UnknownPrice, match="gpt-99"):
        resolve_price(GenaiPricesRef(genai_prices="gpt-99", provider="openai"))


def test_long_context_tier_goes_through_the_library() -> None:
    pricing = resolve_price(GenaiPricesRef(genai_prices="claude-sonnet-4-5", provider="anthropic"))
    assert isinstance(pricing.price, TieredPrice)
    lib = calc_price(LibUsage(input_tokens=300_000, output_tokens=1000), "claude-sonnet-4-5", provider_id="anthropic")
    assert pricing.cost(Usage(300_000, 1000)) == lib.total_price.quantize(Decimal("1e-9"))
    assert pricing.cost(Usage(300_000, 1000)) > Decimal("0.9")  # 6 $/MTok above 200k, not 3


@settings(max_examples=200, deadline=None)
@given(
    model=st.sampled_from([("gpt-4o-mini", "openai"), ("gpt-4o", "openai"), ("claude-haiku-4-5", "anthropic")]),
    input_tokens=st.integers(0, 150_000),
    output_tokens=st.integers(0, 20_000),
    cached_share=st.floats(0, 1),
)
def test_flat_fast_path_equals_the_library(
    model: tuple[str, str], input_tokens: int, output_tokens: int, cached_share: float
) -> None:
    pricing = resolve_price(GenaiPricesRef(genai_prices=model[0], provider=model[1]))
    assert isinstance(pricing.price, FlatPrice)
    cached = int(input_tokens * cached_share)
    lib = calc_price(
        LibUsage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cached or None),
        model[0],
        provider_id=model[1],
    )
    assert pricing.cost(Usage(input_tokens, output_tokens, cached)) == lib.total_price.quantize(Decimal("1e-9"))
