"""The ledger writer: rows priced by the deciding version, batched, idempotent, and never lost while the
database is away (spill files, replayed exactly once) — on SQLite and PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from dsl.decision import Decision, Facts, Plan, Target
from dsl.ast import NOSPAN
from gateway.auth import Principal
from gateway.billing.ledger import TABLE, Ledger, from_json, row_for, to_json
from gateway.billing.pricing import cost, to_cents
from gateway.db import make_engine, upgrade
from gateway.errors import UpstreamError
from gateway.record import Served, Usage
from gateway.router import Attempt

PRICED = Target("gpt-4o", "openai", "gpt-4o-2024", Decimal("2.50"), Decimal("10.00"))


def served(i: int = 0, *, target: Target | None = PRICED, usage: Usage | None = Usage(1000, 500),
           status: int = 200, error: BaseException | None = None) -> Served:
    facts = Facts(model="gpt-4o", team="eng", prompt_tokens=900)
    d = Decision(rule="default", rule_span=NOSPAN, plan=Plan("ordered", (PRICED,)), policy_version="v1",
                 facts=facts, arm="a")
    s = Served("/v1/chat/completions", 0.0, f"req-{i}", Principal("key_1", "eng", "p", "app", "cc-1"),
               body={"user": "u1"}, decision=d, target=target, usage=usage, status=status, error=error)
    if target is not None:
        s.attempts = (Attempt(target, "ok" if status == 200 else "upstream_error", None, 3.0),)
    return s


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(TABLE)).scalar_one()


def test_a_row_is_priced_at_the_deciding_versions_prices() -> None:
    row = row_for(served(usage=Usage(1000, 500, cached_tokens=200)), now=1.5)
    # 800 fresh input at 2.50/1M + 200 cached (no cached price: the input price) + 500 output at 10/1M
    assert row["cost"] == Decimal("0.0075")
    assert (row["team"], row["project"], row["app"], row["cost_center"], row["key_id"]) == \
        ("eng", "p", "app", "cc-1", "key_1")
    assert (row["model"], row["upstream"], row["provider"], row["rule"], row["arm"]) == \
        ("gpt-4o", "gpt-4o-2024", "openai", "default", "a")
    assert row["user"] == "u1" and row["policy_version"] == "v1" and row["priced"] and row["attempts"] == 1
    assert row["latency_ms"] == 1500.0 and row["cached_tokens"] == 200 and not row["usage_estimated"]
    cached = replace(PRICED, price_cached_in=Decimal("1.25"))
    assert cost(cached, 1000, 500, 200) == Decimal("0.00725")
    assert to_cents(Decimal("0.125")) == Decimal("0.12") and to_cents(Decimal("0.135")) == Decimal("0.14")


def test_unpriced_failed_and_estimated_rows_say_so() -> None:
    unpriced = Target("local", "vllm", "llama", None, None)  # type: ignore[arg-type]
    row = row_for(served(target=unpriced))
    assert row["priced"] is False and row["cost"] == 0
    err = UpstreamError("down", code="upstream_unreachable")
    failed = served(target=None, usage=None, status=502, error=err)
    failed.attempts = (Attempt(PRICED, "upstream_unreachable", None, 2.0),)
    row = row_for(failed)
    # A failed attempt with no usage: estimated from the prompt, billed at the last target's prices.
    assert row["status"] == 502 and row["error_code"] == "upstream_unreachable"
    assert row["usage_estimated"] and row["prompt_tokens"] == 900 and row["model"] == "gpt-4o"
    refused = served(target=None, usage=None, status=401)
    refused.attempts = ()
    row = row_for(refused)
    assert row["cost"] == 0 and row["prompt_tokens"] == 0 and row["model"] is None


def test_json_round_trip_keeps_money_and_time() -> None:
    row = row_for(served())
    back = from_json(json.loads(json.dumps(to_json(row))))
    assert back == row


def _ledger(engine: sa.Engine, tmp: Path, **kw: Any) -> Ledger:
    return Ledger(engine, tmp / "spill", flush_interval=0.02, **kw)


def test_rows_are_batched_and_idempotent(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    upgrade(engine)

    async def go() -> None:
        ledger = _ledger(engine, tmp_path, batch_rows=50)
        await ledger.start()
        rows = [row_for(served(i)) for i in range(120)]
        for r in rows:
            ledger.add(r)
        ledger.add(dict(rows[0]))  # the same row again (a replay): stored once
        await ledger.aclose()

    asyncio.run(go())
    assert count(engine) == 120


def _lock(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    conn.execute("BEGIN EXCLUSIVE")
    return conn


def test_a_locked_database_spills_and_every_row_arrives_once_after(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    engine = make_engine(f"sqlite:///{db}", connect_args={"check_same_thread": False, "timeout": 0.05})
    upgrade(engine)
    with engine.connect() as conn:  # out of WAL: an exclusive lock then also keeps writers out
        conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    engine.dispose()
    engine = sa.create_engine(f"sqlite:///{db}", connect_args={"check_same_thread": False, "timeout": 0.05})

    async def go() -> Ledger:
        ledger = _ledger(engine, tmp_path, batch_rows=10, max_queue=25)
        await ledger.start()
        for i in range(20):
            ledger.add(row_for(served(i)))
        await asyncio.sleep(0.2)
        lock = _lock(db)
        for i in range(20, 80):
            ledger.add(row_for(served(i)))
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.3)
        assert not ledger.healthy and ledger.spilled > 0
        assert list((tmp_path / "spill").glob("*.jsonl"))
        lock.close()  # the database is back
        for i in range(80, 100):
            ledger.add(row_for(served(i)))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if ledger.healthy and not ledger.queue and not ledger._mine:
                break
        await ledger.aclose()
        return ledger

    ledger = asyncio.run(go())
    assert count(engine) == 100
    with engine.connect() as conn:
        ids = conn.execute(sa.select(TABLE.c.request_id)).scalars().all()
    assert sorted(ids) == sorted(f"req-{i}" for i in range(100))
    assert ledger.replayed == ledger.spilled > 0
    assert not list((tmp_path / "spill").glob("*.jsonl"))


def test_rows_spilled_at_shutdown_are_replayed_by_the_next_process(tmp_path: Path) -> None:
    good = make_engine(f"sqlite:///{tmp_path / 'l.db'}")
    upgrade(good)
    down = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'x.db'}")  # cannot even open

    async def first() -> None:
        ledger = _ledger(down, tmp_path)
        await ledger.start()
        for i in range(30):
            ledger.add(row_for(served(i)))
        await ledger.aclose()
        assert ledger.spilled == 30

    async def second() -> Ledger:
        ledger = _ledger(good, tmp_path)
        await ledger.start()
        ledger.add(row_for(served(99)))
        await ledger.aclose()
        return ledger

    asyncio.run(first())
    (tmp_path / "spill" / "ledger-spill-torn.jsonl").write_text('{"id": "x", "ts": "2026-')  # a torn line
    ledger = asyncio.run(second())
    assert count(good) == 31 and ledger.replayed == 30


def test_postgresql_connections_terminated_mid_load(postgres_url: str, tmp_path: Path) -> None:
    """The database refuses connections for a while (every backend terminated, new ones refused): rows
    spill, and all arrive after it returns, none twice."""
    engine = make_engine(postgres_url)
    upgrade(engine)
    name = postgres_url.rsplit("/", 1)[1]
    admin = make_engine(postgres_url.rsplit("/", 1)[0] + "/test", isolation_level="AUTOCOMMIT")

    def outage(on: bool) -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {"false" if on else "true"}'))
            if on:
                conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     "WHERE datname = :n AND pid <> pg_backend_pid()"), {"n": name})

    async def go() -> Ledger:
        ledger = _ledger(engine, tmp_path, batch_rows=20)
        await ledger.start()
        for i in range(50):
            ledger.add(row_for(served(i)))
        await asyncio.sleep(0.2)
        await asyncio.to_thread(outage, True)
        for i in range(50, 150):
            ledger.add(row_for(served(i)))
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.3)
        assert ledger.spilled > 0
        await asyncio.to_thread(outage, False)
        for i in range(150, 200):
            ledger.add(row_for(served(i)))
        await asyncio.sleep(0.5)
        await ledger.aclose()
        return ledger

    try:
        ledger = asyncio.run(go())
    finally:
        outage(False)
    assert count(engine) == 200
    assert ledger.replayed == ledger.spilled
    engine.dispose()
    admin.dispose()
