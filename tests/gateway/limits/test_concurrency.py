"""Budgets hold under concurrency: 200 concurrent requests through the official async openai SDK against a
budget that allows a few dozen — in one process (memory store), with `serve --workers 2` (the SQLite
store), and across two `serve` replicas sharing PostgreSQL and Redis. Spend never passes the cap by more
than one request's maximum cost, every refusal is a 429 budget_exceeded, nothing is lost; the settled
spend equals what the responses' usage costs; and a restarted gateway rebuilds spend from the ledger."""
from __future__ import annotations

import secrets
import time
from decimal import Decimal
from typing import Any

from tests.gateway.conftest import GatewayServer

from .helpers import PRICE, Burst, Serve, admin_budgets, burst, cost_of, ledger_sum, flushed, policy

CAP = Decimal(1)
MAX_TOKENS = 20
N = 200


def check_burst(b: Burst, cap: Decimal = CAP) -> tuple[Decimal, Decimal]:
    """(what the served responses cost, one request's maximum cost); asserts the burst's invariants."""
    assert not b.other, b.other[:3]
    assert len(b.ok) + len(b.refused) == N  # nothing lost
    assert {(e.status_code, e.code) for e in b.refused} == {(429, "budget_exceeded")}
    assert all(int(e.response.headers["retry-after"]) >= 1 for e in b.refused)
    spent = sum((cost_of(r.usage) for r in b.ok), Decimal(0))
    from dsl.facts import estimate_chat_tokens

    prompt = estimate_chat_tokens({"messages": [{"role": "user", "content": "hi"}]})  # the gateway's estimate
    one_max = (max(prompt, *(r.usage.prompt_tokens for r in b.ok)) + MAX_TOKENS) * PRICE / Decimal(1_000_000)
    assert spent <= cap + one_max, (spent, one_max)
    # no over-refusal: at least as many were served as fit in the cap at their maximum cost
    assert len(b.ok) >= int(cap / one_max), (len(b.ok), one_max)
    return spent, one_max


def settled(get: Any) -> dict[str, Any]:
    """The budget row once nothing is reserved any more (settling is asynchronous for shared stores)."""
    deadline = time.monotonic() + 10
    while True:
        row = get()["data"][0]
        if Decimal(row["reserved"]) == 0 or time.monotonic() > deadline:
            return row
        time.sleep(0.05)


def test_one_process_holds_the_cap_and_rebuilds_spend_from_the_ledger(tmp_path: Any) -> None:
    pol = policy(tmp_path, 'budget team "eng" 1 USD per day at 100% block')
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    with GatewayServer(policies=pol, db_url=db) as g:
        b = burst([g.base_url], g.key, N, max_tokens=MAX_TOKENS)
        spent, one_max = check_burst(b)
        row = settled(lambda: admin_budgets(g.base_url))
        assert Decimal(row["spent"]) == spent  # settled to the actual cost, exactly
        # reservations are at the maximum cost, spend at the actual: the rest of the budget is still there for
        # the next burst, until the cap is reached
        for _ in range(25):
            more = burst([g.base_url], g.key, 40, max_tokens=MAX_TOKENS)
            assert len(more.ok) + len(more.refused) == 40 and not more.other
            spent += sum((cost_of(r.usage) for r in more.ok), Decimal(0))
            if not more.ok:
                break
        assert not more.ok and spent <= CAP + one_max
        row = settled(lambda: admin_budgets(g.base_url))
        assert Decimal(row["spent"]) == spent and Decimal(row["remaining"]) < one_max
        flushed(g)
        in_ledger = ledger_sum(db)
        assert in_ledger == spent
    with GatewayServer(policies=pol, db_url=db) as g2:  # a restart: spend comes back from the ledger
        import httpx

        r = httpx.post(g2.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {g2.key}"},
                       json={"model": "big", "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": "hi"}]})
        row = settled(lambda: admin_budgets(g2.base_url))
        if r.status_code == 200:
            assert Decimal(row["spent"]) == in_ledger + cost_of(_usage(r.json()["usage"]))
        else:
            assert r.json()["error"]["code"] == "budget_exceeded"
            assert Decimal(row["spent"]) == in_ledger
        assert Decimal(row["spent"]) <= CAP + one_max


def _usage(u: dict) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(prompt_tokens=u["prompt_tokens"], completion_tokens=u["completion_tokens"])


def test_two_workers_share_the_cap(tmp_path: Any) -> None:
    pol = policy(tmp_path, 'budget team "eng" 1 USD per day at 100% block')
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    with Serve(pol, db, "--workers", "2") as s:
        from gateway.keys import KeyStore

        store = KeyStore(db)
        _, key = store.create("eng")
        store.close()
        b = burst([s.base_url], key, N, max_tokens=MAX_TOKENS)
        spent, _ = check_burst(b)
        row = settled(s.budgets)
        assert s.budgets()["admission"]["store"] == "shm"
        assert Decimal(row["spent"]) == spent


def test_two_replicas_share_postgres_and_redis(tmp_path: Any, postgres_url: str, redis_url: str) -> None:
    pol = policy(tmp_path, 'budget team "eng" 1 USD per day at 100% block\nlimit key "{KEY}" 30 requests per minute')
    from gateway.keys import KeyStore

    store = KeyStore(postgres_url)
    rec, key = store.create("eng")
    store.close()
    text = (pol / "main.policy").read_text().replace("{KEY}", rec.id)
    (pol / "main.policy").write_text(text)
    env = {"OPEN_ROUTER_REDIS_PREFIX": f"t-{secrets.token_hex(4)}:"}
    with Serve(pol, postgres_url, "--redis", redis_url, env=env) as a, \
            Serve(pol, postgres_url, "--redis", redis_url, env=env) as b:
        t0 = time.monotonic()
        out = burst([a.base_url, b.base_url], key, N, max_tokens=MAX_TOKENS)
        elapsed = time.monotonic() - t0
        assert not out.other
        assert len(out.ok) + len(out.refused) == N
        # the key's 30/min across both replicas: at most 30 from idle, plus GCRA's refill while the burst ran
        assert len(out.ok) <= 30 + int(elapsed * 30 / 60) + 1
        assert len(out.ok) >= 10
        assert {e.code for e in out.refused} <= {"rate_limit_exceeded", "budget_exceeded"}
        assert any(e.code == "rate_limit_exceeded" for e in out.refused)
        assert {a.budgets()["admission"]["store"], b.budgets()["admission"]["store"]} == {"redis"}

    # the budget across replicas: a fresh subject with no rate limit (team "eng" already has the first
    # burst's spend in the ledger, which the replicas rebuild their counters from)
    store = KeyStore(postgres_url)
    _, key = store.create("ops")
    store.close()
    text = text.replace(f'limit key "{rec.id}" 30 requests per minute', "").replace('team "eng"', 'team "ops"')
    (pol / "main.policy").write_text(text)
    env = {"OPEN_ROUTER_REDIS_PREFIX": f"t-{secrets.token_hex(4)}:"}
    with Serve(pol, postgres_url, "--redis", redis_url, env=env) as a, \
            Serve(pol, postgres_url, "--redis", redis_url, env=env) as b:
        out = burst([a.base_url, b.base_url], key, N, max_tokens=MAX_TOKENS)
        spent, _ = check_burst(out)
        row_a, row_b = settled(a.budgets), settled(b.budgets)
        assert Decimal(row_a["spent"]) == Decimal(row_b["spent"]) == spent  # one counter, seen by both
