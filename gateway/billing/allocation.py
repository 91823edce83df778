"""Shared costs allocated to cost centers, to the cent.

A shared cost is a flat amount per period (a reserved-capacity contract) or the direct usage of a shared
scope (team "platform" serves everyone). It is split across cost centers by fixed percentages, or in
proportion to each cost center's direct usage in the period. Every split is made in whole cents with the
largest-remainder method (Hamilton's): each part gets the floor of its exact share, and the cents left
over go to the largest fractional remainders (ties: by name), so the parts always add up to the amount
exactly. The bill then reconciles: the sum over cost centers of (direct + allocated) equals direct usage
plus the flat shared costs, to the cent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Mapping

from .pricing import CENT, to_cents

UNASSIGNED = "(unassigned)"  # rows whose key carries no cost center


def largest_remainder(amount: Decimal, weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """``amount`` (rounded to cents first) split in proportion to ``weights``, in whole cents that add up
    to it exactly. Zero or negative weights get nothing; all-zero weights split evenly."""
    total_cents = int((to_cents(amount) / CENT).to_integral_value())
    names = sorted(weights)
    if not names:
        return {}
    w = {n: max(Decimal(weights[n]), Decimal(0)) for n in names}
    wsum = sum(w.values())
    if wsum == 0:
        w = {n: Decimal(1) for n in names}
        wsum = Decimal(len(names))
    exact = {n: Decimal(total_cents) * w[n] / wsum for n in names}
    floors = {n: int(exact[n].to_integral_value(rounding=ROUND_FLOOR)) for n in names}
    left = total_cents - sum(floors.values())
    # Largest remainder first; ties by name, for a result that never depends on dict order.
    order = sorted(names, key=lambda n: (-(exact[n] - floors[n]), n))
    for n in order[:left]:
        floors[n] += 1
    return {n: Decimal(floors[n]) * CENT for n in names}


@dataclass(frozen=True)
class SharedCost:
    """One shared cost for a period: ``amount`` (flat) or ``scope`` (("team", "platform"): that scope's
    direct usage), split by ``percentages`` (cost center → percent, summing to 100) or, when None, by
    each cost center's direct usage."""

    name: str
    amount: Decimal | None = None
    scope: tuple[str, str] | None = None
    percentages: Mapping[str, Decimal] | None = None
    period: str | None = None  # of a flat amount: day, week or month


@dataclass
class CostCenterLine:
    direct: Decimal = Decimal(0)
    allocated: Decimal = Decimal(0)
    from_shares: dict[str, Decimal] = field(default_factory=dict)  # shared cost name → cents

    @property
    def total(self) -> Decimal:
        return self.direct + self.allocated


@dataclass
class Allocation:
    lines: dict[str, CostCenterLine]
    shared_total: Decimal  # flat shared costs added to the bill
    direct_total: Decimal

    @property
    def total(self) -> Decimal:
        return self.direct_total + self.shared_total


def allocate(direct: Mapping[str, Decimal], scope_usage: Mapping[tuple[str, str], Mapping[str, Decimal]],
             shared: list[SharedCost], cost_centers: list[str] | None = None) -> Allocation:
    """The bill's cost-center section.

    ``direct``: cost center → its direct usage in the period (exact). ``scope_usage``: for each shared
    scope, its usage by cost center (the rows of that scope, by the cost center their keys carry) — moved
    out of those cost centers' direct lines and allocated like a flat amount. ``cost_centers``: the ones
    the policy declares (they appear even with no usage).

    The direct usage is rounded once: its exact total to cents, split by largest remainder over each cost
    center's remaining direct usage and each shared scope's pool, so no line is ever off by a cent
    against another and no direct line goes negative."""
    names = set(direct) | set(cost_centers or ())
    for s in shared:
        names |= set(s.percentages or ())
    exact_total = sum(direct.values(), Decimal(0))
    after = {n: Decimal(direct.get(n, 0)) for n in names}
    pools: dict[str, Decimal] = {}
    for s in shared:
        if s.scope is None:
            continue
        moved = scope_usage.get(s.scope, {})
        for n, v in moved.items():
            take = min(Decimal(v), after.get(n, Decimal(0)))  # a scope's rows are part of their center's
            after[n] = after.get(n, Decimal(0)) - take
            pools[s.name] = pools.get(s.name, Decimal(0)) + take
            names.add(n)
    weights = {f"cc:{n}": max(after.get(n, Decimal(0)), Decimal(0)) for n in names}
    weights.update({f"pool:{k}": v for k, v in pools.items()})
    cents = largest_remainder(exact_total, weights) if exact_total > 0 else {}
    lines = {n: CostCenterLine(direct=cents.get(f"cc:{n}", Decimal(0))) for n in names}
    base = {n: lines[n].direct for n in names}  # "by usage" weights: direct usage after the moves
    shared_total = Decimal(0)
    for s in shared:
        if s.scope is not None:
            amount = cents.get(f"pool:{s.name}", Decimal(0))
        else:
            amount = to_cents(s.amount or Decimal(0))
            shared_total += amount
        if s.percentages is not None:
            weights_s = dict(s.percentages)
        else:
            excluded = {s.scope[1]} if s.scope is not None and s.scope[0] == "cost_center" else set()
            weights_s = {n: v for n, v in base.items() if n not in excluded}
        for n, c in largest_remainder(amount, weights_s).items():
            lines.setdefault(n, CostCenterLine())
            lines[n].allocated += c
            lines[n].from_shares[s.name] = lines[n].from_shares.get(s.name, Decimal(0)) + c
    return Allocation(lines, shared_total, to_cents(exact_total))


__all__ = ["Allocation", "CostCenterLine", "SharedCost", "UNASSIGNED", "allocate", "largest_remainder"]
