"""Prices per model, to turn token usage into cost.

The table holds list prices of well-known hosted models at the time of writing (US dollars per
million tokens); local and scripted models cost nothing. Prices change: override any model's
price with ``price:`` in its model spec. An unknown hosted model costs 0, with a warning when
its adapter is built.
"""

from __future__ import annotations

import logging
from typing import Final

from podium.models.base import Usage
from podium.models.spec import ModelSpec, Price

__all__ = ["DEFAULT_PRICES", "FREE", "cost", "price_of"]

logger = logging.getLogger(__name__)

FREE: Final = Price(input_per_mtok=0, output_per_mtok=0)

DEFAULT_PRICES: Final[dict[str, Price]] = {
    "gpt-5": Price(input_per_mtok=1.25, output_per_mtok=10.00),
    "gpt-5-mini": Price(input_per_mtok=0.25, output_per_mtok=2.00),
    "gpt-5-nano": Price(input_per_mtok=0.05, output_per_mtok=0.40),
    "gpt-4o": Price(input_per_mtok=2.50, output_per_mtok=10.00),
    "gpt-4o-mini": Price(input_per_mtok=0.15, output_per_mtok=0.60),
    "gpt-4.1": Price(input_per_mtok=2.00, output_per_mtok=8.00),
    "gpt-4.1-mini": Price(input_per_mtok=0.40, output_per_mtok=1.60),
    "gpt-4.1-nano": Price(input_per_mtok=0.10, output_per_mtok=0.40),
    "o3-mini": Price(input_per_mtok=1.10, output_per_mtok=4.40),
    "claude-haiku-4-5": Price(input_per_mtok=1.00, output_per_mtok=5.00),
    "claude-sonnet-4-5": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-opus-4-5": Price(input_per_mtok=5.00, output_per_mtok=25.00),
    "claude-3-5-haiku-latest": Price(input_per_mtok=0.80, output_per_mtok=4.00),
    "claude-3-5-sonnet-latest": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-3-7-sonnet-latest": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-sonnet-4-0": Price(input_per_mtok=3.00, output_per_mtok=15.00),
    "claude-opus-4-0": Price(input_per_mtok=15.00, output_per_mtok=75.00),
}


def price_of(spec: ModelSpec) -> Price:
    """The price of a model: its spec's override, the table's entry, or free."""
    if spec.price is not None:
        return spec.price
    if spec.provider in ("local", "scripted") or spec.base_url is not None:
        return FREE
    price = DEFAULT_PRICES.get(spec.name or "")
    if price is None:
        logger.warning("no price known for model %r: its cost shows as 0", spec.name)
        return FREE
    return price


def cost(price: Price, usage: Usage) -> float:
    """What ``usage`` costs at ``price``, in US dollars."""
    return (
        usage.input_tokens * price.input_per_mtok + usage.output_tokens * price.output_per_mtok
    ) / 1_000_000
