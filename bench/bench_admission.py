"""The hot-path cost of admission (budget reservation + rate check, then settle) in µs p50/p99, per store,
beside the request path without admission measured in the same run: validate + facts + decide of the
same request through the pipeline (`Pipeline.chat`), and the base no-op Admission.

    .venv/bin/python bench/bench_admission.py [--n 5000] [--json]

Stores: memory (one process); SQLite with a second process reserving and settling on the same file
meanwhile (what `serve --workers 2` does); Redis at $OPEN_ROUTER_TEST_REDIS (default 127.0.0.1:6379, own
key prefix). Each request has one budget (with a downgrade step and a block), one requests/min and one
tokens/min limit. Printed: one JSON object per line, and ratios against the decide path.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

POLICY = """
provider mock kind mock
model big = mock/"mock-large" price in 2.5 out 10 per 1M
model small = mock/"mock-small" price in 0.15 out 0.6 per 1M
budget team "bench" 1000000 USD per month at 80% downgrade to small at 100% block
limit team "bench" 100000000 requests per minute, 1000000000000 tokens per minute
default
  use big
"""
BODY = b'{"model":"big","max_tokens":64,"messages":[{"role":"user","content":"hello, how are you today?"}]}'


def build(tmp: Path) -> tuple[Any, Any]:
    from gateway.app import create_app, load_policy_dir
    from gateway.settings import Settings

    (tmp / "p").mkdir(exist_ok=True)
    (tmp / "p" / "main.policy").write_text(POLICY)
    settings = Settings(policies=tmp / "p", db=f"sqlite:///{tmp / 'gw.db'}", decision_log=False)
    app = create_app(settings, policy=load_policy_dir(tmp / "p"))
    gw = app.extensions["open_router"]
    from gateway.auth import Principal

    return gw, Principal("k_bench", "bench")


def pct(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    return {"p50_us": round(xs[len(xs) // 2] * 1e6, 2), "p99_us": round(xs[int(len(xs) * 0.99)] * 1e6, 2),
            "mean_us": round(statistics.fmean(xs) * 1e6, 2)}


async def measure(gw: Any, principal: Any, admission: Any, n: int) -> tuple[dict, dict]:
    """(decide path, admit + settle) timings over ``n`` requests."""
    from gateway.record import Served, Usage

    pipe = gw.pipeline
    decide, admit = [], []
    for i in range(n + 200):
        s = Served("/v1/chat/completions", time.perf_counter(), f"req_{secrets.token_hex(6)}", principal)
        t0 = time.perf_counter()
        pipe.chat(s, BODY, ())
        t1 = time.perf_counter()
        await admission.admit(s)
        s.target, s.usage, s.status = s.decision.plan.candidates[0], Usage(9, 30), 200
        admission.settle(s)
        t2 = time.perf_counter()
        pipe.policies.release(s.snapshot)
        if i >= 200:  # warm-up
            decide.append(t1 - t0)
            admit.append(t2 - t1)
    tasks = getattr(admission, "_tasks", None)
    if tasks:
        await asyncio.wait(list(tasks))
    return pct(decide), pct(admit)


def _hammer(path: str, stop: Any) -> None:
    """The second worker: reserve + settle on the same SQLite file until told to stop."""
    from gateway.limits.core import BudgetLine, Hold, RateLine
    from gateway.limits.sqlite import SQLiteStore

    async def main() -> None:
        store = SQLiteStore(path)
        key = "b:team:bench:USD:month:x"
        await store.seed(key, 0, 2e10)
        while not stop.is_set():
            h = Hold(secrets.token_hex(6), (BudgetLine(key, 10**18, (), 2e10),), (1000,),
                     (RateLine("rpm:team:other", 1e-9, 1, 10**9, "requests"),), time.time() + 60)
            await store.reserve(h, time.time())
            await store.settle(h, 1000, 500, None, time.time())
        await store.aclose()

    asyncio.run(main())


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from gateway.admission import Admission
    from gateway.limits import LimitsAdmission, MemoryStore
    from gateway.limits.sqlite import SQLiteStore

    tmp = Path(tempfile.mkdtemp())
    gw, principal = build(tmp)
    out: list[dict[str, Any]] = []

    def row(store: str, decide: dict, admit: dict, **extra: Any) -> None:
        out.append({"bench": "admission", "store": store, "n": args.n, "decide_path": decide, "admission": admit,
                    "admission_over_decide_p50": round(admit["p50_us"] / decide["p50_us"], 3), **extra})

    d, a = await measure(gw, principal, Admission(), args.n)
    row("none (no-op Admission)", d, a)
    d, a = await measure(gw, principal, LimitsAdmission(MemoryStore()), args.n)
    row("memory", d, a)

    path = str(tmp / "limits.db")
    stop = multiprocessing.Event()
    other = multiprocessing.Process(target=_hammer, args=(path, stop), daemon=True)
    other.start()
    store = SQLiteStore(path)
    try:
        d, a = await measure(gw, principal, LimitsAdmission(store), max(1000, args.n // 5))
        row("sqlite (2 processes)", d, a, note="admit awaits the store's thread; settle runs after, off the request")
    finally:
        stop.set()
        other.join(10)
        await store.aclose()

    url = os.environ.get("OPEN_ROUTER_TEST_REDIS", "redis://127.0.0.1:6379/0")
    try:
        from gateway.limits.redis_store import RedisStore

        rstore = RedisStore(url, prefix=f"bench-{secrets.token_hex(4)}:")
        await rstore.ping()
        ping = []
        for _ in range(500):
            t0 = time.perf_counter()
            await rstore.r.ping()
            ping.append(time.perf_counter() - t0)
        d, a = await measure(gw, principal, LimitsAdmission(rstore), max(1000, args.n // 5))
        row("redis", d, a, redis_ping_round_trip=pct(ping),
            note="one EVALSHA per admit (settle: one more, off the request)")
        await rstore.aclose()
    except Exception as exc:  # no Redis here
        out.append({"bench": "admission", "store": "redis", "skipped": f"{type(exc).__name__}: {exc}"})
    await gw.policies.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    for r in asyncio.run(run(args)):
        print(json.dumps(r))


if __name__ == "__main__":
    main()
