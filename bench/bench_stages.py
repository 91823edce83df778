"""Each hot-path stage on and off, in one sitting: Open-Router variants beside the aiohttp pass-through,
all over the same nginx mock, measured with wrk as ../shared/bench/anchors.sh measures (gateway pinned to
CPU 1, wrk and the mock to CPU 0), alternating variants round by round so drift hits all alike.

    python bench/bench_stages.py [--rounds 2] [--secs 10] [--baseline-tree DIR]

Variants (each a fresh `open-router serve` on :18010 unless named otherwise):
    passthrough  the Quart + Hypercorn + aiohttp pass-through (../shared/bench/passthrough.py)
    baseline     `open-router serve` from --baseline-tree (an older checkout with its own .venv), if given
    bare         ledger, budgets, limits and the decision log off (metrics stay: they cannot be turned off)
    ledger       + the ledger (decision log still off)
    full         + a budget and a requests/min and tokens/min limit on the key's team + the decision log
                 (the defaults: everything on)

Needs nginx (with the echo module), wrk and taskset, and the pass-through's venv, which anchors.sh
installs (its $ANCHORS_WORK, default /tmp/anchors). Prints one JSON line per measurement and a table of
ratios against the pass-through and against `bare` from the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SHARED_BENCH", ROOT.parent / "shared" / "bench"))
ANCHORS = Path(os.environ.get("ANCHORS_WORK", "/tmp/anchors"))
MOCK = "http://127.0.0.1:18080"
PORT = 18010
POLICY = """provider upstream kind openai base_url "http://127.0.0.1:18080/v1" timeout 10s
model gpt-4o-mini = upstream/"gpt-4o-mini" price in 0.15 out 0.60 per 1M tier standard supports tools, json
{extra}
default
  use gpt-4o-mini
"""
FULL = ('budget team "bench" 1000000 USD per day at 80% alert at 100% block\n'
        'limit team "bench" 10000000 requests per minute, 1000000000 tokens per minute')


def wait(url: str, secs: float = 30) -> None:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except urllib.error.HTTPError:
            return  # it answers (a 404 from a pass-through with no such route is an answer)
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


def wrk(url: str, conc: int, secs: int, headers: list[str]) -> dict[str, float]:
    cmd = ["taskset", "-c", "0", "wrk", "-t1", f"-c{conc}", f"-d{secs}s", "--timeout", "5s",
           "-s", str(SHARED / "chat.lua")]
    for h in headers:
        cmd += ["-H", h]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=secs + 60).stdout
    m = re.search(r"^RESULT (.*)$", out, re.M)
    if not m:
        raise SystemExit(f"wrk gave no result for {url}:\n{out[-2000:]}")
    res = {k: float(v) for k, v in (kv.split("=") for kv in m.group(1).split())}
    if res["bad_body"] or res["non2xx"]:
        raise SystemExit(f"{url}: {res['bad_body']:.0f} bad bodies, {res['non2xx']:.0f} non-2xx")
    return res


def cpu_ticks(pid: int) -> int:
    total = 0
    for p in [pid, *child_pids(pid)]:
        try:
            f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    kids = [int(x) for x in out]
    return kids + [g for k in kids for g in child_pids(k)]


class Variant:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], headers: list[str]) -> None:
        self.name, self.cmd, self.env, self.headers = name, cmd, env, headers
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Variant":
        self.proc = subprocess.Popen(["taskset", "-c", "1", *self.cmd], env={**os.environ, **self.env},
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait(f"http://127.0.0.1:{PORT}/healthz" if self.name != "passthrough" else f"http://127.0.0.1:{PORT}/")
        except BaseException:
            self.__exit__()  # never leave a server behind on the port
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


def or_variant(name: str, exe: Path, work: Path, extra: str, env: dict[str, str]) -> Variant:
    pol = work / name / "policies"
    pol.mkdir(parents=True, exist_ok=True)
    (pol / "bench.policy").write_text(POLICY.format(extra=extra))
    db = f"sqlite:///{work / name / 'bench.db'}"
    key = subprocess.run([str(exe), "keys", "create", "--team", "bench", "--db", db], capture_output=True,
                         text=True, check=True).stdout.strip().splitlines()[-1]
    cmd = [str(exe), "serve", "--policies", str(pol), "--port", str(PORT), "--db", db]
    return Variant(name, cmd, {"OPEN_ROUTER_LOG_LEVEL": "warning", **env}, [f"Authorization: Bearer {key}"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--baseline-tree", type=Path)
    ap.add_argument("--tree", action="append", default=[], metavar="NAME=DIR",
                    help="another checkout (with its own .venv) to run as variant NAME, everything off")
    ap.add_argument("--only", help="comma-separated variant names")
    args = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is missing: run `QUICK=1 bash bench/anchors.sh` once to install it")
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    (work / "mock").mkdir()
    mock = subprocess.Popen(["taskset", "-c", "0", "nginx", "-p", str(work / "mock"), "-c",
                             str(SHARED / "mock-nginx.conf"), "-g", "daemon off;"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait(MOCK + "/v1/models")
        exe = ROOT / ".venv" / "bin" / "open-router"
        variants: list[Variant] = []
        pt = ANCHORS / "venv-quartx" / "bin" / "hypercorn"
        if pt.exists():
            variants.append(Variant("passthrough", [str(pt), "-k", "asyncio", "passthrough:app", "-b",
                                                    f"127.0.0.1:{PORT}"],
                                    {"PYTHONPATH": str(SHARED), "UPSTREAM": MOCK, "PT_CLIENT": "aiohttp"}, []))
        if args.baseline_tree:
            variants.append(or_variant("baseline", args.baseline_tree / ".venv" / "bin" / "open-router", work, "",
                                       {"OPEN_ROUTER_DECISION_LOG": "false"}))
        for spec in args.tree:
            tname, _, tdir = spec.partition("=")
            variants.append(or_variant(tname, Path(tdir) / ".venv" / "bin" / "open-router", work, "",
                                       {"OPEN_ROUTER_LEDGER": "false", "OPEN_ROUTER_DECISION_LOG": "false"}))
        quiet = {"OPEN_ROUTER_DECISION_LOG": "false"}
        variants.append(or_variant("bare", exe, work, "", {"OPEN_ROUTER_LEDGER": "false", **quiet}))
        variants.append(or_variant("ledger", exe, work, "", quiet))
        variants.append(or_variant("full", exe, work, FULL, {}))  # + budgets, limits, the decision log
        if args.only:
            keep = set(args.only.split(","))
            variants = [v for v in variants if v.name in keep]
        results: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
        url = f"http://127.0.0.1:{PORT}/v1/chat/completions"
        for r in range(args.rounds):
            for v in variants:
                with v:
                    wrk(url, 8, 2, v.headers)  # warm
                    assert v.proc is not None
                    t0 = cpu_ticks(v.proc.pid)
                    tp = wrk(url, 32, args.secs, v.headers)
                    ticks = cpu_ticks(v.proc.pid) - t0
                    lat = wrk(url, 1, max(3, args.secs // 2), v.headers)
                row = {"round": r, "variant": v.name, "rps": tp["rps"],
                       "cpu_ms_per_req": ticks * 1000 / os.sysconf("SC_CLK_TCK") / max(1, tp["requests"]),
                       "p50_us_c1": lat["p50_us"], "p99_us_c1": lat["p99_us"]}
                results[v.name].append(row)
                print(json.dumps(row), flush=True)
    finally:
        os.killpg(mock.pid, signal.SIGTERM)
    med = {n: {k: statistics.median(x[k] for x in rows) for k in ("rps", "cpu_ms_per_req", "p50_us_c1", "p99_us_c1")}
           for n, rows in results.items() if rows}
    base = med.get("passthrough")
    bare = med.get("bare")
    print("\n| variant | req/s c=32 | CPU ms/req | p50 µs c=1 | p99 µs c=1 | ×pass-through | ×bare |")
    print("|---|---|---|---|---|---|---|")
    for n, m in med.items():
        x_pt = f"{m['rps'] / base['rps']:.2f}" if base else "-"
        x_bare = f"{m['rps'] / bare['rps']:.2f}" if bare else "-"
        print(f"| {n} | {m['rps']:.0f} | {m['cpu_ms_per_req']:.2f} | {m['p50_us_c1']:.0f} | {m['p99_us_c1']:.0f} "
              f"| {x_pt} | {x_bare} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
