"""Admission when things go wrong: Redis killed mid-load (fail closed with 503 budget_store_unavailable, no
request passes unbudgeted, admission resumes when it is back, spend re-seeded from the ledger); the
fail-open setting; a stream, a client that disconnects mid-stream, and a failover each settle once."""
from __future__ import annotations

import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.gateway.conftest import GatewayServer

from .helpers import PRICE, admin_budgets, cost_of, free_port, ledger_sum, flushed, policy

BODY = {"model": "big", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def redis_server(port: int) -> subprocess.Popen:
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                             "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")


def post(g: GatewayServer) -> httpx.Response:
    return httpx.post(g.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {g.key}"},
                      json=BODY, timeout=30)


def test_redis_killed_mid_load_fails_closed_then_recovers(tmp_path: Path, redis_url: str) -> None:
    port = free_port()
    proc = redis_server(port)
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    server = GatewayServer(policies=policy(tmp_path, 'budget team "eng" 100 USD per day at 100% block'),
                           db_url=db, settings_overrides={"redis": f"redis://127.0.0.1:{port}/0"})
    try:
        with server as g:
            assert [post(g).status_code for _ in range(5)] == [200] * 5
            proc.kill()
            proc.wait()
            down = [post(g) for _ in range(5)]
            assert [r.status_code for r in down] == [503] * 5  # none passes unbudgeted
            assert {r.json()["error"]["code"] for r in down} == {"budget_store_unavailable"}
            assert all(r.headers.get("retry-after") for r in down)
            metrics = httpx.get(g.base_url + "/metrics").text
            assert 'open_router_budget_store_up{store="redis"} 0' in metrics
            assert 'open_router_admission_total{outcome="store_unavailable"} 5' in metrics
            assert 'open_router_budget_fail_open 0' in metrics
            flushed(g)
            before = ledger_sum(db)  # the five served requests (the refused ones cost 0)

            proc = redis_server(port)  # back, and empty
            deadline = time.monotonic() + 10
            while (r := post(g)).status_code != 200:
                assert r.status_code == 503 and time.monotonic() < deadline
                time.sleep(0.1)
            deadline = time.monotonic() + 5
            while Decimal((row := admin_budgets(g.base_url)["data"][0])["reserved"]) and time.monotonic() < deadline:
                time.sleep(0.05)
            # the empty Redis was seeded from the ledger: the spend before the outage is still counted
            assert Decimal(row["spent"]) == before + cost_of(_u(r.json()["usage"]))
            assert admin_budgets(g.base_url)["admission"]["healthy"] is True
    finally:
        proc.kill()
        proc.wait()


def test_fail_open_admits_unbudgeted_and_counts_it(tmp_path: Path) -> None:
    port = free_port()  # nothing listens: the store is down from the start
    server = GatewayServer(policies=policy(tmp_path, 'budget team "eng" 100 USD per day at 100% block'),
                           db_url=f"sqlite:///{tmp_path / 'gw.db'}",
                           settings_overrides={"redis": f"redis://127.0.0.1:{port}/0", "budget_fail_open": True})
    with server as g:
        assert post(g).status_code == 200
        metrics = httpx.get(g.base_url + "/metrics").text
        assert 'open_router_admission_total{outcome="fail_open"} 1' in metrics
        assert 'open_router_budget_fail_open 1' in metrics
        r = httpx.get(g.base_url + "/admin/budgets", headers={"authorization": "Bearer test-admin-key"})
        assert r.status_code == 503 and r.json()["error"]["code"] == "budget_store_unavailable"


def _u(u: dict) -> Any:
    from types import SimpleNamespace

    return SimpleNamespace(prompt_tokens=u["prompt_tokens"], completion_tokens=u["completion_tokens"])


def test_stream_disconnect_and_failover_settle_once(tmp_path: Path) -> None:
    dead = free_port()  # the pricier target's provider refuses connections: the executor fails over
    extra = f"""
provider slowmock kind mock base_url "mock://?ttfb_ms=1&latency_ms=4000"
provider broken kind openai base_url "http://127.0.0.1:{dead}/v1" key env(BROKEN_KEY)
model slow   = slowmock/"mock-large" price in {PRICE} out {PRICE} per 1M
model pricey = broken/"gpt-4o" price in 5000 out 5000 per 1M
budget team "eng" 100 USD per day at 100% block
route failover
  when model == "pricey"
  use pricey
  fallback big
route slow
  when model == "slow"
  use slow
"""
    with GatewayServer(policies=policy(tmp_path, extra), db_url=f"sqlite:///{tmp_path / 'gw.db'}",
                       env={"BROKEN_KEY": "sk-x"}) as g:
        import openai

        client = openai.OpenAI(base_url=g.base_url + "/v1", api_key=g.key, max_retries=0)
        spent = Decimal(0)

        def row() -> dict[str, Any]:
            return admin_budgets(g.base_url)["data"][0]

        # a stream: settled to its usage
        usage = None
        for chunk in client.chat.completions.create(model="big", max_tokens=20, stream=True,
                                                   stream_options={"include_usage": True},
                                                   messages=[{"role": "user", "content": "hi"}]):
            usage = chunk.usage or usage
        spent += cost_of(usage)
        assert (Decimal(row()["spent"]), Decimal(row()["reserved"])) == (spent, 0)

        # a failover from the pricier target: reserved at the plan's dearest, settled once at the server's price
        r = client.chat.completions.with_raw_response.create(model="pricey", max_tokens=20,
                                                            messages=[{"role": "user", "content": "hi"}])
        assert r.headers["x-open-router-model"] == "big" and r.headers["x-open-router-attempts"] != "1"
        spent += cost_of(r.parse().usage)
        assert (Decimal(row()["spent"]), Decimal(row()["reserved"])) == (spent, 0)

        # a client that leaves mid-stream: the reservation is released, what was relayed is charged (estimated)
        with httpx.stream("POST", g.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {g.key}"},
                          json={"model": "slow", "max_tokens": 50, "stream": True,
                                "messages": [{"role": "user", "content": "tell me a long story"}]}) as resp:
            for _ in resp.iter_lines():
                break
        deadline = time.monotonic() + 10
        while Decimal(row()["reserved"]) != 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        after = row()
        assert Decimal(after["reserved"]) == 0
        assert Decimal(after["spent"]) > spent  # the prompt (and any text relayed) is charged once
        assert Decimal(after["spent"]) - spent < Decimal("0.1")
