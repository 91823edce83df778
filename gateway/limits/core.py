"""What a store is asked to hold for one request, and the one rule every store applies to it.

A `Hold` is one request's reservation: its budget lines (each budget's counter key for the current
period, its block cap and downgrade steps), the amounts it may cost (option 0: the decided plan; option i:
the plan downgraded to the i-th model), and its rate lines (GCRA state keys with the units it takes).
`evaluate` is the all-or-none decision, on the counters as they are, with no side effects: the memory
and SQLite stores run it inside their atomic section; the Redis store runs the same rule in Lua.

Money in stores is integer nano-units of the budget's currency (1e-9): exact integer arithmetic in Python,
SQLite and Redis (HINCRBY), reservations rounded up, settled costs rounded up, so a counter never reads
below the ledger's exact Decimal sum.

Rate limits are GCRA (the generic cell rate algorithm, a token bucket kept as one timestamp): a limit of
R per minute has an emission interval T = 60/R seconds per unit and a capacity of R units (one minute);
a request taking c units moves the theoretical arrival time to max(tat, now) + c*T and is admitted when
that stays within 60 s of now. From idle, R units pass at once; then one unit per T.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal

NANO = Decimal(1_000_000_000)
WINDOW = 60.0  # seconds: every limit is per minute

OK, RATE, BUDGET, SEED = "ok", "rate", "budget", "seed"


class StoreError(Exception):
    """The store could not be reached or answer (every store raises this for its own failures)."""


def to_nano(amount: Decimal) -> int:
    """``amount`` in nano-units, rounded up."""
    return int((amount * NANO).to_integral_value(ROUND_CEILING))


def from_nano(n: int) -> Decimal:
    return Decimal(n) / NANO


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """One budget's counter for the current period. ``block``: the cap (nano) spend plus reservations may
    reach, None without a block threshold; ``steps``: (cap, option) downgrade thresholds, lowest first."""

    key: str
    block: int | None
    steps: tuple[tuple[int, int], ...]
    expires: float  # unix time after which the counter is no longer needed (period end + a grace)


@dataclass(frozen=True, slots=True)
class RateLine:
    """One GCRA limit: ``interval`` seconds per unit (60 / the per-minute limit), ``cost`` units asked."""

    key: str
    interval: float
    cost: int
    limit: int  # per minute (for headers)
    unit: str  # "requests" | "tokens"


@dataclass(frozen=True, slots=True)
class Hold:
    rid: str
    budgets: tuple[BudgetLine, ...]
    amounts: tuple[int, ...]  # nano, by option (0: as decided)
    rates: tuple[RateLine, ...]
    expires: float  # when a reservation whose request vanished is dropped


@dataclass(slots=True)
class Result:
    """What a store answers. ``status``: OK, RATE (``index`` the refusing rate line), BUDGET (``index`` the
    refusing budget line) or SEED (``missing``: budget keys the store has no counter for — seed them from
    the ledger and ask again). ``option``: the amount reserved (0, or a downgrade). ``rates``: (remaining,
    reset seconds) per rate line after this request, for the x-ratelimit headers."""

    status: str
    option: int = 0
    index: int = -1
    retry_after: float = 0.0
    rates: list[tuple[int, float]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)


def gcra(tat: float | None, now: float, line: RateLine) -> tuple[bool, float, int, float, float]:
    """(admitted, new tat, remaining units, reset seconds, retry-after seconds) for ``line`` at ``now``."""
    base = now if tat is None or tat < now else tat
    new = base + line.cost * line.interval
    if new - now <= WINDOW + 1e-9:
        return True, new, _remaining(new, now, line), new - now, 0.0
    return False, base, _remaining(base, now, line), base - now, new - now - WINDOW


def _remaining(tat: float, now: float, line: RateLine) -> int:
    return max(0, min(line.limit, int(math.floor((WINDOW - (tat - now)) / line.interval + 1e-9))))


def choose_option(h: Hold, levels: list[int]) -> int:
    """The option to reserve: the first budget (in decision order) whose spend + reservations + this
    request's full amount passes a downgrade step picks that step's model (its highest step passed)."""
    full = h.amounts[0]
    for line, level in zip(h.budgets, levels):
        option = 0
        for cap, opt in line.steps:
            if level + full > cap:
                option = opt
        if option:
            return option
    return 0


def evaluate(h: Hold, levels: list[int | None], tats: list[float | None], now: float) -> tuple[Result, list[float]]:
    """The decision for ``h`` given each budget line's spent + reserved (None: no counter) and each rate
    line's tat (None: idle). Returns the result and, when OK, the new tat of each rate line."""
    missing = [line.key for line, level in zip(h.budgets, levels) if level is None]
    if missing:
        return Result(SEED, missing=missing), []
    views: list[tuple[int, float]] = []
    new_tats: list[float] = []
    refused: Result | None = None
    for i, (line, tat) in enumerate(zip(h.rates, tats)):
        ok, new, remaining, reset, retry = gcra(tat, now, line)
        views.append((remaining, reset))
        new_tats.append(new)
        if not ok and refused is None:
            refused = Result(RATE, index=i, retry_after=retry)
    if refused is not None:
        refused.rates = views
        return refused, []
    lv: list[int] = levels  # type: ignore[assignment]
    option = choose_option(h, lv) if h.budgets else 0
    amount = h.amounts[option] if h.amounts else 0
    for i, (line, level) in enumerate(zip(h.budgets, lv)):
        if line.block is not None and level + amount > line.block:
            return Result(BUDGET, option=option, index=i, rates=views), []
    return Result(OK, option=option, rates=views), new_tats


__all__ = [
    "BUDGET", "BudgetLine", "StoreError", "Hold", "NANO", "OK", "RATE", "RateLine", "Result", "SEED", "WINDOW",
    "choose_option", "evaluate", "from_nano", "gcra", "to_nano",
]
