"""Operations benchmarks, each beside a baseline from the same run (these machines are noisy):

1. Reload of a 1,000-route policy: seconds from the file change to the swap, through the real watcher
   (debounce included) and the reload attempt alone, beside a plain `load_policy_dir` of the same files.
2. Request latency p50/p99 on a real `open-router serve` while its 1,000-route policy is rewritten and
   reloaded continuously, beside the same requests with no reloads.
3. Metrics' share of a request's CPU: the server process's CPU per request (from /proc) beside the CPU
   one `Metrics.record` of a realistic served request costs (prometheus_client; issue: keep a hand-rolled
   path if it is over 2 %).

    .venv/bin/python bench/bench_ops.py [--requests 1500] [--json]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_decide import build  # noqa: E402

MOCK = 'provider mock kind mock\nmodel fast = mock/"mock-small" price in 0.15 out 0.60 per 1M\n'


def policy_text(n: int, salt: int = 0) -> str:
    _, text = build(n)
    text = text.replace("default\n  use requested\n  fallback m0\n", "")
    return f"# revision {salt}\n{MOCK}\n{text}\ndefault\n  use fast\n"


# --------------------------------------------------------------------------- 1. reload time


async def reload_time(tmp: Path, rounds: int = 5) -> dict[str, float]:
    from gateway.policy import PolicyStore, load_policy_dir
    from gateway.reload import Reloader

    d = tmp / "reload"
    d.mkdir()
    (d / "main.policy").write_text(policy_text(1000, 0))
    plain = []
    for _ in range(3):
        t0 = time.perf_counter()
        load_policy_dir(d)
        plain.append(time.perf_counter() - t0)
    store = PolicyStore(load_policy_dir(d))
    r = Reloader(store, d, env={}, pool_size=8, debounce=0.2)
    r.prime()
    r.start()
    while not r.watching:
        await asyncio.sleep(0.01)
    total, attempt = [], []
    for i in range(1, rounds + 1):
        before = store.current
        t0 = time.perf_counter()
        (d / "main.policy").write_text(policy_text(1000, i))
        while store.current is before:
            await asyncio.sleep(0.001)
        total.append(time.perf_counter() - t0)
        attempt.append(r.last_attempt.seconds if r.last_attempt else float("nan"))
    await r.stop()
    await store.aclose()
    return {"routes": 1000, "plain_load_s": min(plain), "change_to_swap_s_median": statistics.median(total),
            "change_to_swap_s_max": max(total), "attempt_s_median": statistics.median(attempt),
            "debounce_s": 0.2, "attempt_vs_plain_load": statistics.median(attempt) / min(plain)}


# --------------------------------------------------------------------------- 2 + 3. serving


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drive(url: str, key: str, n: int, concurrency: int = 8) -> list[float]:
    import httpx

    lat: list[float] = []
    body = {"model": "x", "messages": [{"role": "user", "content": "hello there"}]}
    async with httpx.AsyncClient(base_url=url, headers={"authorization": f"Bearer {key}"}, timeout=30) as c:
        left = n

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                r = await c.post("/v1/chat/completions", json=body)
                lat.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def serving(tmp: Path, n: int) -> dict[str, float]:
    d = tmp / "serve"
    d.mkdir()
    (d / "main.policy").write_text(policy_text(1000, 0))
    db = f"sqlite:///{tmp / 'k.db'}"
    exe = [sys.executable, "-m", "gateway.cli"]
    key = subprocess.run([*exe, "keys", "create", "--team", "bench", "--db", db], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    env = {**os.environ, "OPEN_ROUTER_DECISION_LOG": "false", "OPEN_ROUTER_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([*exe, "serve", "--policies", str(d), "--port", "0", "--db", db], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = proc.stdout.readline().split("listening on ")[1].split()[0]  # type: ignore[union-attr]
        await drive(url, key, 200)  # warm up
        c0 = cpu_seconds(proc.pid)
        quiet = await drive(url, key, n)
        cpu_per_request = (cpu_seconds(proc.pid) - c0) / n

        stop = asyncio.Event()
        reloads = 0

        async def rewrite() -> None:
            nonlocal reloads
            i = 0
            while not stop.is_set():
                i += 1
                (d / "main.policy").write_text(policy_text(1000, i))
                reloads += 1
                await asyncio.sleep(0.6)

        task = asyncio.create_task(rewrite())
        busy = await drive(url, key, n)
        stop.set()
        await task
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    return {"requests": n, "p50_ms_quiet": pct(quiet, 0.5) * 1000, "p99_ms_quiet": pct(quiet, 0.99) * 1000,
            "p50_ms_reloading": pct(busy, 0.5) * 1000, "p99_ms_reloading": pct(busy, 0.99) * 1000,
            "p50_ratio": pct(busy, 0.5) / pct(quiet, 0.5), "p99_ratio": pct(busy, 0.99) / pct(quiet, 0.99),
            "rewrites_during_run": reloads, "server_cpu_ms_per_request": cpu_per_request * 1000}


def metrics_cost(rounds: int = 20000) -> float:
    """CPU seconds of one Metrics.record for a served chat request (labels already seen: steady state)."""
    from decimal import Decimal

    from dsl.decision import Target

    from gateway.metrics import Metrics
    from gateway.record import Served, Usage

    class A:
        def __init__(self, t: Target) -> None:
            self.target, self.outcome = t, "ok"

    class P:
        team = "eng"

    class D:
        rule = "default"

    t = Target("fast", "mock", "mock-small", Decimal("0.15"), Decimal("0.60"))
    s = Served("/v1/chat/completions", 0.0, "req_1", P(), target=t, usage=Usage(12, 30), model="fast")  # type: ignore[arg-type]
    s.decision = D()  # type: ignore[assignment]
    attempts = (A(t),)
    m = Metrics()
    for _ in range(100):
        m.record(s.route, "fast", 200, 0.01, 0.005, attempts, s)
    t0 = time.process_time()
    for _ in range(rounds):
        m.record(s.route, "fast", 200, 0.01, 0.005, attempts, s)
    return (time.process_time() - t0) / rounds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1500)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rel = asyncio.run(reload_time(Path(tmp)))
        srv = asyncio.run(serving(Path(tmp), args.requests))
    per = metrics_cost()
    share = {"metrics_record_us": per * 1e6, "server_cpu_us_per_request": srv["server_cpu_ms_per_request"] * 1000,
             "metrics_share_of_request_cpu": per / (srv["server_cpu_ms_per_request"] / 1000)}
    out = {"reload": rel, "serving": srv, "metrics": share}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for section, figures in out.items():
        print(f"[{section}]")
        for k, v in figures.items():
            print(f"  {k:32} {v:.4g}" if isinstance(v, float) else f"  {k:32} {v}")


if __name__ == "__main__":
    main()
