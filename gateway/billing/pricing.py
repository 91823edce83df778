"""What one request cost: its usage at the prices of the policy version that decided it.

Prices are per 1M tokens and travel on the request's Target (fixed when that version was compiled).
Cached input tokens (part of the prompt tokens) are billed at the cached-input price when the model
declares one, else at the input price. Reasoning tokens are part of the completion tokens (OpenAI's
accounting; the adapters translate to it) and are billed at the output price. Costs are exact Decimals;
rounding to the currency's cents happens once, in reports, with an explicit rule (ROUND_HALF_EVEN).
"""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

PER = Decimal(1_000_000)
CENT = Decimal("0.01")
ZERO = Decimal(0)


def is_priced(target: Any) -> bool:
    """Whether the model declares prices (an unpriced model's rows say so, never a silent $0)."""
    return getattr(target, "price_in", None) is not None and getattr(target, "price_out", None) is not None


def cost(target: Any, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> Decimal | None:
    """The exact cost of these tokens at ``target``'s prices; None for an unpriced model."""
    if not is_priced(target):
        return None
    cached = min(max(cached_tokens, 0), max(prompt_tokens, 0))
    fresh = max(prompt_tokens, 0) - cached
    cached_price = getattr(target, "price_cached_in", None)
    if cached_price is None:
        cached_price = target.price_in
    total = (fresh * target.price_in + cached * cached_price + max(completion_tokens, 0) * target.price_out)
    return total / PER


def max_cost(target: Any, prompt_tokens: int, max_completion_tokens: int) -> Decimal | None:
    """The most a request may cost: every prompt token uncached, the whole completion cap used."""
    return cost(target, prompt_tokens, max_completion_tokens, 0)


def to_cents(amount: Decimal) -> Decimal:
    """``amount`` rounded to cents, half to even (the one rounding rule of reports and bills)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_EVEN)


__all__ = ["CENT", "PER", "ZERO", "cost", "is_priced", "max_cost", "to_cents"]
