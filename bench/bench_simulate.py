"""Replay throughput: `dsl.simulate` over a generated decision log, beside the plain decide loop on the same
facts in the same run (the ratio is the figure to watch; absolute rates on shared machines are noise).

    .venv/bin/python bench/bench_simulate.py [--records 200000] [--policy policies/examples]

Prints one JSON line: records/s of simulate (with facts in every line, and rebuilt from old-style lines),
of json.loads alone, and of policy.decide alone, and simulate's share of the decide-loop rate.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsl import load_policy  # noqa: E402
from dsl.simulate import facts_from_json, simulate  # noqa: E402

TEAMS = ["eng", "platform", "research", "support", None]
MODELS = ["gpt-4o", "gpt-4o-mini", "sonnet", "flash", "text-embedding-3-small"]


def make_log(path: Path, n: int, with_facts: bool, seed: int = 7) -> None:
    rnd = random.Random(seed)
    t0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with path.open("w") as fh:
        for i in range(n):
            now = t0 + timedelta(seconds=i * 3)
            team = rnd.choice(TEAMS)
            model = rnd.choice(MODELS)
            line = {"ts": now.timestamp(), "request_id": f"req-{i:08d}", "route": "/v1/chat/completions",
                    "key": f"k{rnd.randrange(50)}", "team": team, "policy_version": "abc", "rule": "default",
                    "arm": None, "requested": model, "model": model, "stream": False, "attempts": [],
                    "status": 200, "latency_ms": 120.0, "upstream_ms": 110.0,
                    "usage": {"prompt_tokens": rnd.randrange(2000), "completion_tokens": rnd.randrange(500)}}
            if with_facts:
                line["facts"] = {"model": model, "team": team, "project": rnd.choice(["chatbot", "support", None]),
                                 "app": None, "cost_center": None, "key": line["key"], "user": f"u{rnd.randrange(99)}",
                                 "task": rnd.choice(["code", "chat", None]), "headers": {}, "tags": [],
                                 "prompt_tokens": line["usage"]["prompt_tokens"], "stream": False,
                                 "tools": rnd.random() < 0.2, "now": now.isoformat(), "request_id": line["request_id"]}
            fh.write(json.dumps(line) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--policy", default="policies/examples")
    args = ap.parse_args()
    policy, _ = load_policy([args.policy])
    with tempfile.TemporaryDirectory() as tmp:
        full, old = Path(tmp, "facts.jsonl"), Path(tmp, "old.jsonl")
        make_log(full, args.records, True)
        make_log(old, args.records, False)
        raw = full.read_bytes().splitlines()
        t = time.perf_counter()
        docs = [json.loads(x) for x in raw]
        loads_s = time.perf_counter() - t
        facts = [facts_from_json(d["facts"], d["request_id"]) for d in docs]
        t = time.perf_counter()
        for f in facts:
            policy.decide(f)
        decide_s = time.perf_counter() - t
        t = time.perf_counter()
        rep = simulate(args.policy, str(full), progress=False)
        sim_s = time.perf_counter() - t
        t = time.perf_counter()
        simulate(args.policy, str(old), progress=False)
        old_s = time.perf_counter() - t
    n = args.records
    print(json.dumps({
        "records": n, "moved": rep.moved,
        "simulate_per_s": round(n / sim_s), "simulate_rebuilt_per_s": round(n / old_s),
        "json_loads_per_s": round(n / loads_s), "decide_per_s": round(n / decide_s),
        "simulate_vs_decide": round(decide_s / sim_s, 3),
    }))


if __name__ == "__main__":
    main()
