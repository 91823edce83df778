"""Admission: the pipeline's stage between deciding a request and calling its upstream, and the settle
that the recording step runs when it ends.

`Admission` is the seam rate limits and budgets plug into: ``admit`` reserves what the request may use
(all or none) and raises the refusal — a 429 ``rate_limit_exceeded`` / ``budget_exceeded``, or a 503 when
the store is unavailable — and ``settle`` turns the reservation into what the request actually used (or
releases it). This base class admits everything and settles nothing: the gateway enforces no budgets
or limits until a store is plugged in.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .record import Served


class Admission:
    """Admits every request; the interface the budget and rate-limit stores implement."""

    async def admit(self, s: Served) -> None:
        """Reserve for ``s`` (its decision names the budgets and limits that apply) or raise."""
        return None

    def settle(self, s: Served) -> None:
        """``s`` ended (``s.status``, ``s.final_usage()``, ``s.target``'s prices): settle or release."""
        return None


__all__ = ["Admission"]
