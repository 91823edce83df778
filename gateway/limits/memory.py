"""The in-memory store: one process, exact, no I/O. Every operation runs to completion on the event loop
thread without awaiting, so a reservation is atomic by construction (nothing else runs in between).

Counters: budget key → [spent, reserved, expires]; rate key → tat; holds: request id → what it reserved,
with a heap of expiry times so a reservation whose request vanished is dropped on a later reserve.
"""
from __future__ import annotations

import heapq
from typing import Iterable

from .core import OK, Hold, Result, evaluate


class MemoryStore:
    kind = "memory"
    shared = False  # counters are this process's only

    def __init__(self) -> None:
        self.budgets: dict[str, list[float]] = {}  # key → [spent, reserved, expires]
        self.tats: dict[str, float] = {}
        self.holds: dict[str, tuple[Hold, int]] = {}  # rid → (hold, amount reserved)
        self._expiry: list[tuple[float, str]] = []
        self.claims: set[str] = set()
        self.healthy = True

    # ------------------------------------------------------------------ the operations (sync: atomic)

    def reserve_now(self, h: Hold, now: float) -> Result:
        if self._expiry and self._expiry[0][0] <= now:
            self._sweep(now)
        budgets = self.budgets
        levels: list[int | None] = []
        for line in h.budgets:
            c = budgets.get(line.key)
            levels.append(None if c is None else int(c[0] + c[1]))
        tats = [self.tats.get(line.key) for line in h.rates]
        result, new_tats = evaluate(h, levels, tats, now)
        if result.status is not OK:
            return result
        for line, tat in zip(h.rates, new_tats):
            self.tats[line.key] = tat
        amount = h.amounts[result.option] if h.amounts else 0
        if h.budgets:
            for line in h.budgets:
                budgets[line.key][1] += amount
            self.holds[h.rid] = (h, amount)
            heapq.heappush(self._expiry, (h.expires, h.rid))
        elif h.rates:
            self.holds[h.rid] = (h, 0)
            heapq.heappush(self._expiry, (h.expires, h.rid))
        return result

    def settle_now(self, h: Hold, amount: int, cost: int, tokens: int | None, now: float) -> dict[str, int]:
        """Turn ``h``'s reservation of ``amount`` (nano) into ``cost`` spent (also when the reservation
        already expired: then only the spend is added); correct its token lines to ``tokens`` (None: leave
        them as reserved). Returns each budget key's spend after."""
        held = self.holds.pop(h.rid, None) is not None
        spent: dict[str, int] = {}
        for line in h.budgets:
            c = self.budgets.get(line.key)
            if c is None:
                continue
            if held:
                c[1] -= amount
            c[0] += cost
            spent[line.key] = int(c[0])
        if tokens is not None:
            for line in h.rates:
                if line.unit == "tokens" and tokens != line.cost:
                    tat = self.tats.get(line.key)
                    if tat is not None:
                        self.tats[line.key] = max(tat + (tokens - line.cost) * line.interval, now)
        return spent

    def seed_now(self, key: str, spent: int, expires: float) -> None:
        c = self.budgets.get(key)
        if c is None:
            self.budgets[key] = [spent, 0, expires]
        elif c[0] < spent:
            c[0] = spent

    def claim_now(self, key: str) -> bool:
        if key in self.claims:
            return False
        self.claims.add(key)
        return True

    def status_now(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        return {k: (int(c[0]), int(c[1])) for k in keys if (c := self.budgets.get(k)) is not None}

    def _sweep(self, now: float) -> None:
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            _, rid = heapq.heappop(expiry)
            held = self.holds.get(rid)
            if held is not None and held[0].expires <= now:
                del self.holds[rid]
                for line in held[0].budgets:
                    c = self.budgets.get(line.key)
                    if c is not None:
                        c[1] -= held[1]
        for key in [k for k, c in self.budgets.items() if c[2] <= now]:
            del self.budgets[key]

    # ------------------------------------------------------------------ the async face every store has

    async def reserve(self, h: Hold, now: float) -> Result:
        return self.reserve_now(h, now)

    async def settle(self, h: Hold, amount: int, cost: int, tokens: int | None, now: float) -> dict[str, int]:
        return self.settle_now(h, amount, cost, tokens, now)

    async def seed(self, key: str, spent: int, expires: float) -> None:
        self.seed_now(key, spent, expires)

    async def claim(self, key: str, ttl: float) -> bool:
        return self.claim_now(key)

    async def status(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        return self.status_now(keys)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


__all__ = ["MemoryStore"]
