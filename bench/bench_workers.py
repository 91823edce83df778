"""`serve --workers 2` against one worker: requests/s at concurrency 64 through the built-in mock provider
(no upstream latency), with a budget and a rate limit on every request (so the SQLite store is in the
path with two workers, memory with one). The load generator (aiohttp, one process) runs on the same
machine: on a 2-core box it takes a share of the cores the workers need, so read the ratio, not the
absolute figures.

    .venv/bin/python bench/bench_workers.py [--seconds 5] [--concurrency 64]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = """
provider mock kind mock
model m = mock/"mock-small" price in 0.15 out 0.6 per 1M
budget team "bench" 1000000 USD per month at 100% block
limit team "bench" 100000000 requests per minute
default
  use m
"""


async def load(url: str, key: str, seconds: float, concurrency: int) -> float:
    import aiohttp

    body = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}
    done = 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {key}"},
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                async with session.post(url, json=body) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - t0)


def run(workers: int, args: argparse.Namespace) -> float:
    tmp = Path(tempfile.mkdtemp())
    (tmp / "p").mkdir()
    (tmp / "p" / "main.policy").write_text(POLICY)
    db = f"sqlite:///{tmp / 'gw.db'}"
    cli = [sys.executable, "-m", "gateway.cli"]
    key = subprocess.run([*cli, "keys", "create", "--team", "bench", "--db", db], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    port = 18700 + workers
    env = {**os.environ, "OPEN_ROUTER_LOG_LEVEL": "WARNING", "OPEN_ROUTER_DECISION_LOG": "false"}
    proc = subprocess.Popen([*cli, "serve", "--policies", str(tmp / "p"), "--port", str(port), "--db", db,
                             "--workers", str(workers)], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert "listening" in proc.stdout.readline()  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        asyncio.run(load(url, key, 1.0, args.concurrency))  # warm-up
        return asyncio.run(load(url, key, args.seconds, args.concurrency))
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    args = ap.parse_args()
    one = run(1, args)
    two = run(2, args)
    print(json.dumps({"bench": "workers", "concurrency": args.concurrency, "one_worker_rps": round(one, 1),
                      "two_workers_rps": round(two, 1), "ratio": round(two / one, 3), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
