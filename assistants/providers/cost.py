"""Pure cost arithmetic; prices come from the model catalog owned by the Django layer."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from .base import Usage

MILLION = Decimal(1_000_000)
QUANTUM = Decimal("0.000001")


def cost_for(
    usage: Usage,
    input_price_per_million: Decimal,
    output_price_per_million: Decimal,
) -> Decimal:
    """Cost of `usage` in the prices' currency, rounded to 6 decimal places."""
    for price in (input_price_per_million, output_price_per_million):
        # Floats would leak binary rounding errors into invoices.
        if not isinstance(price, Decimal):
            raise TypeError("prices must be Decimal")
    raw = (
        Decimal(usage.prompt_tokens) * input_price_per_million
        + Decimal(usage.completion_tokens) * output_price_per_million
    ) / MILLION
    return raw.quantize(QUANTUM, rounding=ROUND_HALF_UP)
