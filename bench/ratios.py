"""Open-Router against its peers, from one anchors run: the issue's targets as ratios and deltas.

Usage: python bench/ratios.py /tmp/anchors/results-*/results.log
Prints one JSON line per run and a markdown table; every figure comes from the same run.
"""
from __future__ import annotations

import json
import sys
from collections import defaultdict

TARGETS = {
    "rps_vs_portkey": (">=", 1.2),
    "rps_vs_litellm": (">=", 10.0),
    "rps_vs_aiohttp_passthrough": (">=", 0.6),
    "added_p50_ms_c1": ("<=", 1.0),
    "added_p99_ms_c1": ("<=", 4.0),
    "added_ttfb_p50_ms": ("<=", 2.0),
    "cpu_ms_per_req": ("<=", 1.0),
}


def parse(path: str) -> list[dict[str, str]]:
    rows = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        rows.append(dict(tok.split("=", 1) for tok in line.split() if "=" in tok))
    return rows


def main() -> int:
    rows = parse(sys.argv[1])
    tick = float(next((r for r in rows if r.get("kind") == "meta"), {}).get("clk_tck", 100))
    load: dict[tuple[str, str, str], dict] = {}
    stream: dict[tuple[str, str], dict] = {}
    runs: set[str] = set()
    for r in rows:
        if r.get("kind") == "load":
            load[(r["run"], r["target"], r["conc"])] = r
            runs.add(r["run"])
        elif r.get("kind") == "stream":
            stream[(r["run"], r["target"])] = r
    out = defaultdict(dict)
    for run in sorted(runs):
        def rps(t: str) -> float | None:
            r = load.get((run, t, "32"))
            return float(r["rps"]) if r else None

        o = rps("open-router")
        if o is None:
            continue
        f = out[run]
        f["open_router_rps"] = round(o)
        for key, peer in (("rps_vs_portkey", "portkey"), ("rps_vs_litellm", "litellm"),
                          ("rps_vs_aiohttp_passthrough", "diag:aiohttp"),
                          ("rps_vs_httpx_passthrough", "quart-httpx")):
            p = rps(peer)
            if p:
                f[key] = round(o / p, 2)
                f[f"{peer}_rps"] = round(p)
        r1, d1 = load.get((run, "open-router", "1")), load.get((run, "direct", "1"))
        if r1 and d1:
            f["added_p50_ms_c1"] = round((int(r1["p50_us"]) - int(d1["p50_us"])) / 1000, 2)
            f["added_p99_ms_c1"] = round((int(r1["p99_us"]) - int(d1["p99_us"])) / 1000, 2)
        r32 = load.get((run, "open-router", "32"))
        if r32:
            f["cpu_ms_per_req"] = round(int(r32["gw_ticks"]) / tick / max(int(r32["requests"]), 1) * 1000, 3)
        s, sd = stream.get((run, "open-router")), stream.get((run, "direct"))
        if s and sd:
            f["added_ttfb_p50_ms"] = round(float(s["first_p50_ms"]) - float(sd["first_p50_ms"]), 2)
    for run, f in out.items():
        print(json.dumps({"run": run, **f}))
    print("\n| figure | target | " + " | ".join(f"run {r}" for r in out) + " |")
    print("|---|---|" + "---|" * len(out))
    ok = True
    for key, (op, bound) in TARGETS.items():
        cells = []
        for f in out.values():
            v = f.get(key)
            if v is None:
                cells.append("-")
                continue
            good = v >= bound if op == ">=" else v <= bound
            ok &= good
            cells.append(f"{v}{'' if good else ' ✗'}")
        print(f"| {key} | {op} {bound} | " + " | ".join(cells) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
