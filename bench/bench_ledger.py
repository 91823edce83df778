"""Ledger throughput: rows/s through the batched writer (gateway/billing/ledger.py) into SQLite and
PostgreSQL, beside a single-row-per-transaction baseline in the same run.

    python bench/bench_ledger.py [--rows 20000] [--pg postgresql://postgres@127.0.0.1:5432/test]

The writer's figure is end to end: rows queued as the recorder queues them, flushed by the writer task in
batches (one multi-row INSERT ... ON CONFLICT DO NOTHING per transaction, in a worker thread), until
every row is stored. The baseline inserts the same rows one transaction each. PostgreSQL runs in a
fresh database made for the run and dropped after.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.billing.ledger import TABLE, Ledger, to_pico  # noqa: E402
from gateway.db import engine_url, make_engine, upgrade  # noqa: E402


def rows(n: int) -> list[dict]:
    now = datetime.now(timezone.utc)
    return [{"id": secrets.token_hex(12), "request_id": f"bench-{i}", "ts": now, "route": "/v1/chat/completions",
             "key_id": "key_1", "team": f"team-{i % 7}", "project": "p", "app": "a", "cost_center": f"cc-{i % 3}",
             "user": None, "requested_model": "gpt-4o-mini", "model": "gpt-4o-mini", "upstream": "gpt-4o-mini",
             "provider": "openai", "rule": "default", "arm": None, "attempts": 1, "status": 200, "error_code": None,
             "prompt_tokens": 120, "completion_tokens": 40, "cached_tokens": 0, "reasoning_tokens": 0,
             "cost": Decimal("0.000042"), "currency": "USD", "priced": True, "usage_estimated": False,
             "latency_ms": 12.5, "ttft_ms": None, "stream": False, "policy_version": "abc123"} for i in range(n)]


def batched(engine: sa.Engine, data: list[dict], spill: Path) -> float:
    async def go() -> float:
        ledger = Ledger(engine, spill, flush_interval=0.05)
        await ledger.start()
        t0 = time.perf_counter()
        for r in data:
            ledger.add(r)
            if len(ledger.queue) > 5000:
                await asyncio.sleep(0)  # let the writer take batches, as a serving loop would
        await ledger.aclose()
        assert ledger.written == len(data) and not ledger.spilled
        return time.perf_counter() - t0

    return asyncio.run(go())


def single(engine: sa.Engine, data: list[dict]) -> float:
    t0 = time.perf_counter()
    for r in data:
        row = {k: v for k, v in r.items() if k != "cost"}
        row["cost_pico"] = to_pico(r["cost"])
        with engine.begin() as conn:
            conn.execute(TABLE.insert(), row)
    return time.perf_counter() - t0


def count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(TABLE)).scalar_one()


def measure(name: str, url: str, n: int, n_single: int, tmp: Path) -> list[dict]:
    out = []
    engine = make_engine(url)
    upgrade(engine)
    secs = batched(engine, rows(n), tmp / f"spill-{name}")
    out.append({"db": name, "mode": "batched writer", "rows": n, "rows_per_s": round(n / secs)})
    secs = single(engine, rows(n_single))
    out.append({"db": name, "mode": "one row per transaction", "rows": n_single, "rows_per_s": round(n_single / secs)})
    assert count(engine) == n + n_single
    engine.dispose()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--single-rows", type=int, default=2000)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ledger-"))
    results = measure("sqlite", f"sqlite:///{tmp / 'ledger.db'}", args.rows, args.single_rows, tmp)
    name = "bench_ledger_" + secrets.token_hex(4)
    admin = None
    try:
        admin = sa.create_engine(engine_url(args.pg), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        results += measure("postgresql", args.pg.rsplit("/", 1)[0] + "/" + name, args.rows, args.single_rows, tmp)
    except sa.exc.OperationalError as exc:
        print(f"# PostgreSQL skipped: {str(exc).splitlines()[0]}", file=sys.stderr)
    finally:
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    for r in results:
        print(json.dumps(r))
    print("\n| database | batched writer rows/s | one row per transaction rows/s | ratio |")
    print("|---|---|---|---|")
    for db in ("sqlite", "postgresql"):
        b = next((r for r in results if r["db"] == db and r["mode"] == "batched writer"), None)
        s = next((r for r in results if r["db"] == db and r["mode"] != "batched writer"), None)
        if b and s:
            print(f"| {db} | {b['rows_per_s']} | {s['rows_per_s']} | {b['rows_per_s'] / s['rows_per_s']:.1f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
