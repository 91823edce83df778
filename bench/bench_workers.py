"""`serve --workers 2` against one worker: requests/s at concurrency 64 through the built-in mock provider
(no upstream latency), in the same run:

    plain     no budget, no limit (admission does nothing)
    budgets   a budget and a rate limit on every request: the counter store is in the path — memory with
              one worker, the cross-process store (``--store``, default auto: the shared-memory counter
              file) with two

The load generator is wrk (C, one thread, keep-alive connections; ``--loadgen aiohttp`` for the Python
client) on the same machine. Nothing is pinned: the gateway's workers and wrk share both cores, and the
figures include wrk's CPU seconds per request beside the gateway's so the split is visible. Rounds are
interleaved (1, 2, 1, 2, ...) and the median of each is reported, so a neighbour's load lands on both.

    .venv/bin/python bench/bench_workers.py [--seconds 5] [--concurrency 64] [--rounds 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = """
provider mock kind mock
model m = mock/"mock-small" price in 0.15 out 0.6 per 1M
{budgets}
default
  use m
"""
BUDGETS = """
budget team "bench" 1000000 USD per month at 100% block
limit team "bench" 100000000 requests per minute
"""
BODY = {"model": "m", "max_tokens": 16, "messages": [{"role": "user", "content": "hello"}]}


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its live children (the workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        pids += [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def aiohttp_load(url: str, key: str, seconds: float, concurrency: int) -> tuple[float, int]:
    import aiohttp

    done = 0
    stop = time.monotonic() + seconds
    async with aiohttp.ClientSession(headers={"authorization": f"Bearer {key}"},
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker() -> None:
            nonlocal done
            while time.monotonic() < stop:
                async with session.post(url, json=BODY) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - t0), done


def wrk_load(url: str, key: str, seconds: float, concurrency: int, script: Path) -> tuple[float, int]:
    out = subprocess.run(["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "-s", str(script), url],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OR_KEY": key}).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise SystemExit(f"wrk saw {bad.group(1)} non-2xx responses of {total}:\n{out}")
    return rps, total


def measure(workers: int, budgets: bool, args: argparse.Namespace, tmp: Path) -> dict[str, float]:
    d = Path(tempfile.mkdtemp(dir=tmp))
    (d / "p").mkdir()
    (d / "p" / "main.policy").write_text(POLICY.format(budgets=BUDGETS if budgets else ""))
    db = f"sqlite:///{d / 'gw.db'}"
    cli = [sys.executable, "-m", "gateway.cli"]
    key = subprocess.run([*cli, "keys", "create", "--team", "bench", "--db", db], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip().splitlines()[-1]
    port = 18700 + workers + (10 if budgets else 0)
    env = {**os.environ, "OPEN_ROUTER_LOG_LEVEL": "WARNING", "OPEN_ROUTER_DECISION_LOG": "false"}
    if workers > 1 and args.store != "auto":
        env["OPEN_ROUTER_LIMITS_STORE"] = args.store
    proc = subprocess.Popen([*cli, "serve", "--policies", str(d / "p"), "--port", str(port), "--db", db,
                             "--workers", str(workers), "--no-watch"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            text=True)
    script = d / "post.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = [[' + json.dumps(BODY) + ']]\n'
                      'wrk.headers["content-type"] = "application/json"\n'
                      'wrk.headers["authorization"] = "Bearer " .. os.getenv("OR_KEY")\n')
    try:
        assert "listening" in proc.stdout.readline()  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        if args.loadgen == "wrk":
            wrk_load(url, key, 1.0, args.concurrency, script)  # warm-up
            c0, l0 = cpu_seconds(proc.pid), os.times()
            rps, n = wrk_load(url, key, args.seconds, args.concurrency, script)
            l1 = os.times()
            load_cpu = (l1.children_user + l1.children_system) - (l0.children_user + l0.children_system)
        else:
            asyncio.run(aiohttp_load(url, key, 1.0, args.concurrency))
            c0, l0 = cpu_seconds(proc.pid), os.times()
            rps, n = asyncio.run(aiohttp_load(url, key, args.seconds, args.concurrency))
            l1 = os.times()
            load_cpu = (l1.user + l1.system) - (l0.user + l0.system)
        gw_cpu = cpu_seconds(proc.pid) - c0
        return {"rps": rps, "gateway_us_per_req": 1e6 * gw_cpu / max(n, 1),
                "loadgen_us_per_req": 1e6 * load_cpu / max(n, 1)}
    finally:
        proc.terminate()
        proc.wait(15)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--loadgen", choices=("wrk", "aiohttp"), default="wrk" if shutil.which("wrk") else "aiohttp")
    ap.add_argument("--store", choices=("auto", "shm", "sqlite", "memory"), default="auto",
                    help="the two-worker store (memory: per worker, not exact: an upper bound)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        for _ in range(args.rounds):
            for budgets in (False, True):
                for workers in (1, 2):
                    name = f"{'budgets' if budgets else 'plain'}_{workers}w"
                    runs.setdefault(name, []).append(measure(workers, budgets, args, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = {name: {k: round(statistics.median(r[k] for r in rs), 1) for k in rs[0]} for name, rs in runs.items()}
    out = {"bench": "workers", "concurrency": args.concurrency, "loadgen": args.loadgen, "store_2w": args.store,
           "rounds": args.rounds, "seconds": args.seconds, "cpus": os.cpu_count(), "median": med,
           "rps_all": {n: [round(r["rps"]) for r in rs] for n, rs in runs.items()},
           "ratio_plain": round(med["plain_2w"]["rps"] / med["plain_1w"]["rps"], 3),
           "ratio_budgets": round(med["budgets_2w"]["rps"] / med["budgets_1w"]["rps"], 3),
           "budgets_vs_plain_1w": round(med["budgets_1w"]["rps"] / med["plain_1w"]["rps"], 3),
           "budgets_vs_plain_2w": round(med["budgets_2w"]["rps"] / med["plain_2w"]["rps"], 3),
           "load_average": os.getloadavg()}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
