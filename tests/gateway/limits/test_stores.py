"""The stores answer alike: reserve all-or-none, block caps, downgrade steps, GCRA, settle / release,
expiry of vanished reservations, seeding, alert claims — one test body run against memory, the
shared-memory file, SQLite and a real Redis (its own key prefix per test)."""
from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest

from gateway.limits.core import BUDGET, OK, RATE, SEED, BudgetLine, Hold, RateLine
from gateway.limits.memory import MemoryStore

FAR = 2e10  # expiry far in the future


@pytest.fixture(params=["memory", "shm", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "memory":
        yield MemoryStore()
        return
    if request.param == "shm":
        from gateway.limits.shm import ShmStore

        s = ShmStore(tmp_path / "limits.shm", slots=1024, holds=256)
        yield s
        s.close()
        return
    if request.param == "sqlite":
        from gateway.limits.sqlite import SQLiteStore

        s = SQLiteStore(tmp_path / "limits.db")
        yield s
        asyncio.run(s.aclose())
        return
    url = request.getfixturevalue("redis_url")
    from gateway.limits.redis_store import RedisStore

    prefix = f"t-{secrets.token_hex(4)}:"
    yield lambda: RedisStore(url, prefix=prefix)  # one client per event loop


def run(store: Any, fn: Any) -> Any:
    async def main() -> Any:
        s = store() if callable(store) else store
        try:
            return await fn(s)
        finally:
            if callable(store):
                await s.aclose()
    return asyncio.run(main())


def hold(rid: str, amount: int, *, block: int | None = 100, steps=(), amounts=None, rates=(), expires=FAR,
         key: str = "b:team:eng") -> Hold:
    return Hold(rid, (BudgetLine(key, block, steps, FAR),), amounts or (amount,), rates, expires)


def test_reserve_blocks_at_the_cap_and_settle_frees_the_rest(store: Any) -> None:
    async def body(s: Any) -> None:
        h = hold("r1", 60)
        assert (await s.reserve(h, 1000.0)).status == SEED
        await s.seed("b:team:eng", 10, FAR)
        assert (await s.reserve(h, 1000.0)).status == OK  # 10 spent + 60 reserved
        assert (await s.reserve(hold("r2", 40), 1000.0)).status == BUDGET  # 110 > 100: none of it held
        assert await s.status(["b:team:eng"]) == {"b:team:eng": (10, 60)}
        spent = await s.settle(h, 60, 25, 30, 1001.0)  # cost 25 of the 60 reserved
        assert spent == {"b:team:eng": 35}
        assert (await s.reserve(hold("r2", 40), 1000.0)).status == OK  # 35 + 40 <= 100
        await s.settle(hold("r2", 40), 40, 0, 0, 1001.0)  # released: nothing spent
        assert await s.status(["b:team:eng"]) == {"b:team:eng": (35, 0)}
        await s.seed("b:team:eng", 20, FAR)  # a seed never lowers spend
        assert (await s.status(["b:team:eng"]))["b:team:eng"][0] == 35
    run(store, body)


def test_all_or_none_across_budgets(store: Any) -> None:
    async def body(s: Any) -> None:
        for k in ("b:a", "b:b"):
            await s.seed(k, 0, FAR)
        await s.seed("b:b", 90, FAR)
        two = Hold("r", (BudgetLine("b:a", 100, (), FAR), BudgetLine("b:b", 100, (), FAR)), (20,), (), FAR)
        res = await s.reserve(two, 1.0)
        assert res.status == BUDGET and res.index == 1
        assert await s.status(["b:a", "b:b"]) == {"b:a": (0, 0), "b:b": (90, 0)}  # b:a was not touched
    run(store, body)


def test_downgrade_step_reserves_the_cheaper_amount(store: Any) -> None:
    async def body(s: Any) -> None:
        await s.seed("b:team:eng", 75, FAR)
        h = hold("r", 0, steps=((80, 1),), amounts=(20, 2))  # full 20 would pass 80: downgrade to option 1
        res = await s.reserve(h, 1.0)
        assert (res.status, res.option) == (OK, 1)
        assert await s.status(["b:team:eng"]) == {"b:team:eng": (75, 2)}
    run(store, body)


def test_gcra_admits_the_limit_then_refuses_with_a_retry_after(store: Any) -> None:
    async def body(s: Any) -> None:
        rpm = RateLine("rpm:key:k-" + secrets.token_hex(3), 60.0 / 5, 1, 5, "requests")
        results = [await s.reserve(Hold(f"r{i}", (), (), (rpm,), FAR), 1000.0) for i in range(7)]
        assert [r.status for r in results] == [OK] * 5 + [RATE] * 2
        assert [r.rates[0][0] for r in results[:5]] == [4, 3, 2, 1, 0]  # remaining after each
        assert 0 < results[5].retry_after <= 12.0 + 0.5
    run(store, body)


def test_expired_reservations_are_dropped(store: Any) -> None:
    async def body(s: Any) -> None:
        import time

        await s.seed("b:team:eng", 0, FAR)
        t0 = time.time()
        assert (await s.reserve(hold("gone", 90, expires=t0 + 0.3), t0)).status == OK
        assert (await s.reserve(hold("r", 20), t0)).status == BUDGET
        await asyncio.sleep(0.4)
        t1 = max(time.time(), t0 + 1.0)  # past the SQLite store's sweep interval too
        assert (await s.reserve(hold("r", 20), t1)).status == OK  # the vanished request's 90 expired
        assert await s.status(["b:team:eng"]) == {"b:team:eng": (0, 20)}
        await s.settle(hold("gone", 90), 90, 30, None, t1)  # a late settle still counts its cost once
        assert await s.status(["b:team:eng"]) == {"b:team:eng": (30, 20)}
    run(store, body)


def test_alert_claims_once(store: Any) -> None:
    async def body(s: Any) -> None:
        key = "alert:" + secrets.token_hex(4)
        assert [await s.claim(key, 60) for _ in range(3)] == [True, False, False]
    run(store, body)
