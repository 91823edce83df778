"""The ledger end to end: the official openai SDK drives a gateway in front of fake upstreams; every
request — streamed, cut by the client, failed over, refused — is exactly one row with the right tokens
and cost; reports add up to the rows; a key reads only its own scope; SIGTERM under load loses nothing."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import httpx
import openai
import pytest
import sqlalchemy as sa

from gateway.billing.ledger import TABLE, from_pico
from tests.e2e.conftest import Fakes, fakes_policy
from tests.gateway.conftest import GatewayServer, policy_dir
from tests.gateway.fakes import Behaviour

MSG = [{"role": "user", "content": "tell me something"}]
PRICES = {"oai": (Decimal("0.15"), Decimal("0.60")), "claude": (Decimal(3), Decimal(15)),
          "gem": (Decimal("0.10"), Decimal("0.40"))}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("ledger-e2e")
    s = GatewayServer(policies=policy_dir(tmp, fakes_policy(fakes)), db_url=f"sqlite:///{tmp / 'gw.db'}",
                      env=fakes.env, settings_overrides={"ledger_flush_ms": 20})
    with s:
        yield s


def rows(server: GatewayServer, expect: int, timeout: float = 10.0) -> list[Any]:
    engine = server.gw.keys.engine
    deadline = time.monotonic() + timeout
    while True:
        with engine.connect() as conn:
            found = conn.execute(sa.select(TABLE).where(TABLE.c.request_id.like("e2e-%"))).all()
        if len(found) >= expect or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def client(server: GatewayServer, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.base_url + "/v1", api_key=key or server.key, max_retries=0, timeout=20)


def test_every_request_is_one_row_with_its_tokens_and_cost(server: GatewayServer, fakes: Fakes) -> None:
    fakes.reset()
    fakes.openai.default = Behaviour(text="openai says hi", usage=(21, 7))
    fakes.anthropic.default = Behaviour(text="claude says hi", usage=(33, 11))
    fakes.gemini.default = Behaviour(text="gemini says hi there, at some length", usage=(12, 40))
    c = client(server)
    expected: dict[str, tuple[str | None, int, int, int]] = {}  # request id → (model, prompt, completion, status)
    n = 0

    def rid() -> str:
        nonlocal n
        n += 1
        return f"e2e-{n}"

    for model in ("oai", "claude", "gem"):
        r = rid()
        c.chat.completions.create(model=model, messages=MSG, extra_headers={"x-request-id": r})
        expected[r] = (model, *{"oai": (21, 7), "claude": (33, 11), "gem": (12, 40)}[model], 200)
        r = rid()
        text = "".join(ch.choices[0].delta.content or "" for ch in c.chat.completions.create(
            model=model, messages=MSG, stream=True, extra_headers={"x-request-id": r}) if ch.choices)
        assert text
        expected[r] = (model, *{"oai": (21, 7), "claude": (33, 11), "gem": (12, 40)}[model], 200)
    # Failover: claude answers 500 once, the OpenAI model serves (billed at its own prices).
    fakes.anthropic.queue(Behaviour(status=500))
    r = rid()
    c.chat.completions.create(model="claude-then-oai", messages=MSG, extra_headers={"x-request-id": r})
    expected[r] = ("oai", 21, 7, 200)
    # Refused by the gateway before any upstream call: an unknown model.
    r = rid()
    with pytest.raises(openai.NotFoundError):
        c.chat.completions.create(model="no-such-model", messages=MSG, extra_headers={"x-request-id": r})
    expected[r] = (None, 0, 0, 404)
    # Cut by the client after the first chunk: billed on what was relayed (estimated).
    fakes.gemini.default = Behaviour(text="word " * 200, usage=(12, 400), chunk_delay=0.02)
    r = rid()
    with c.chat.completions.create(model="gem", messages=MSG, stream=True, extra_headers={"x-request-id": r}) as s:
        for _ in s:
            break
    found = {row.request_id: row for row in rows(server, n)}
    assert len(found) == n  # exactly one row each: none lost, none doubled
    time.sleep(0.2)
    assert len(rows(server, n)) == n
    for r, (model, prompt, completion, status) in expected.items():
        row = found[r]
        assert (row.model, row.prompt_tokens, row.completion_tokens, row.status) == (model, prompt, completion, status), r
        assert (row.team, row.project, row.app, row.cost_center, row.key_id) == \
            ("eng", "proj", "tests", "cc-1", server.key_id)
        if model is not None:
            pin, pout = PRICES[model]
            assert from_pico(row.cost_pico) == (prompt * pin + completion * pout) / Decimal(1_000_000), r
            assert row.priced and not row.usage_estimated
    assert found["e2e-7"].attempts == 2 and found["e2e-7"].rule == "failover"
    cut = found[f"e2e-{n}"]
    assert cut.status == 499 and cut.stream and cut.usage_estimated and cut.completion_tokens > 0
    assert cut.ttft_ms is not None and cut.policy_version == server.gw.policies.version


def test_a_report_adds_up_to_its_rows(server: GatewayServer) -> None:
    all_rows = rows(server, 1)
    r = httpx.get(server.base_url + "/admin/usage?by=model,team",
                  headers={"authorization": f"Bearer {server.admin_key}"})
    assert r.status_code == 200, r.text
    data = r.json()
    total = data["totals"][0]
    engine = server.gw.keys.engine
    with engine.connect() as conn:
        n, cost, prompt = conn.execute(sa.select(sa.func.count(), sa.func.sum(TABLE.c.cost_pico),
                                                 sa.func.sum(TABLE.c.prompt_tokens))).one()
    assert total["requests"] == n >= len(all_rows)
    assert Decimal(total["cost_exact"]) == from_pico(cost) and total["prompt_tokens"] == prompt
    assert sum(g["requests"] for g in data["groups"]) == n
    assert sum(Decimal(g["cost"]) for g in data["groups"]) == Decimal(total["cost"])  # to the cent
    for bad, param in (("by=colour", "by"), ("period=2026-13", "period"), ("from=2026-11-05&to=2026-11-01", "from"),
                       ("period=2026-11&from=2026-11-01", "period"), ("bogus=1", "bogus")):
        r = httpx.get(server.base_url + "/admin/usage?" + bad, headers={"authorization": f"Bearer {server.admin_key}"})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, bad


def test_a_key_reads_only_its_own_scope(server: GatewayServer, fakes: Fakes) -> None:
    fakes.reset()
    _, other = server.new_key("research")
    client(server, other).chat.completions.create(model="oai", messages=MSG,
                                                  extra_headers={"x-request-id": "e2e-research-1"})
    rows(server, 1)
    time.sleep(0.1)

    def get(key: str, query: str = "") -> httpx.Response:
        return httpx.get(server.base_url + "/v1/usage" + query, headers={"authorization": f"Bearer {key}"})

    mine = get(other, "?by=team").json()
    assert [g["team"] for g in mine["groups"]] == ["research"] and mine["totals"][0]["requests"] == 1
    eng = get(server.key, "?by=team").json()
    assert {g["team"] for g in eng["groups"]} == {"eng"}
    assert get(other, "?team=eng").status_code == 403
    assert get(other, "?team=research&team=eng").json()["totals"][0]["requests"] == 1
    assert get(server.key, "?project=someone-else").status_code == 403  # the key is scoped to project "proj"
    assert get(other, "?key=" + server.key_id).json()["totals"] == []  # another team's key: nothing
    assert httpx.get(server.base_url + "/v1/usage/../../admin/usage",
                     headers={"authorization": f"Bearer {other}"}).status_code in (401, 404)
    kid = [k for k in server.gw.keys.list() if k.team == "research"][0].id
    server.gw.keys.revoke(kid)
    assert get(other).status_code == 401


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_under_load_loses_no_row(tmp_path: Path) -> None:
    db = tmp_path / "gw.db"
    port = _free_port()
    exe = [sys.executable, "-m", "gateway.cli"]
    env = {**os.environ, "OPEN_ROUTER_DB": f"sqlite:///{db}"}
    key = subprocess.run(exe + ["keys", "create", "--team", "eng"], capture_output=True, text=True, env=env,
                         check=True).stdout.strip().splitlines()[-1]
    log = open(tmp_path / "serve.log", "w")  # a file, not a pipe: nobody reads a pipe while the load runs
    proc = subprocess.Popen(exe + ["serve", "--port", str(port), "--policies", str(Path("policies").resolve())],
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0, timeout=10)
        answered: list[str] = []
        stop = threading.Event()

        def load(worker: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                r = f"term-{worker}-{i}"
                try:
                    out = c.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=(i % 2 == 0),
                                                    extra_headers={"x-request-id": r})
                    if i % 2 == 0:
                        assert "".join(ch.choices[0].delta.content or "" for ch in out if ch.choices)
                    answered.append(r)
                except openai.APIError:
                    return  # the server stopped accepting

        threads = [threading.Thread(target=load, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("serve did not exit after SIGTERM:\n"
                                 + (tmp_path / "serve.log").read_text()[-3000:]) from None
        assert code == 0
        stop.set()
        for t in threads:
            t.join(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        ids = conn.execute(sa.select(TABLE.c.request_id).where(TABLE.c.request_id.like("term-%"))).scalars().all()
    assert len(answered) > 20
    assert set(answered) <= set(ids)  # every answered request has its row
    assert len(ids) == len(set(ids))  # and only one
    assert not list(tmp_path.glob("open-router-spill/*.jsonl"))  # flushed to the database, not left spilled
