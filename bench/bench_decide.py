"""Decision time of the compiled tree against the reference interpreter as a policy grows.

Builds a policy family (teams × task types × headers × models) at 10, 100, 1,000 and 10,000 routes, as an
AST and as policy text; prints one JSON line per size, then the ratio tree_p50(10000) / tree_p50(10),
which is the figure to watch (absolute times on shared machines are noise).

    .venv/bin/python bench/bench_decide.py [--sizes 10,100,1000,10000] [--calls 5000] [--no-text] [--text-max 1000]
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsl.ast import (  # noqa: E402
    And,
    Arm,
    Choose,
    Compare,
    Fact,
    In,
    IsTrue,
    Model,
    Not,
    PolicyFile,
    PolicySet,
    Provider,
    Route,
    Split,
    Sticky,
    Use,
)
from dsl.compile import compile_policy  # noqa: E402
from dsl.decision import Facts  # noqa: E402

TASKS = ("code", "chat", "summarize", "translate", "extract", "classify", "math", "vision", "search", "agent")
TIERS = ("gold", "silver", "bronze", "free")
MODELS = ("m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7")


def family(n: int) -> tuple[list[str], list[str], list[str]]:
    """Pools sized so that team × task × tier × model has room for ``n`` distinct routes."""
    teams = [f"team{i}" for i in range(max(2, n // (len(TASKS) * len(TIERS) * 2) + 1))]
    return teams, list(TASKS), list(TIERS)


def build(n: int) -> tuple[PolicySet, str]:
    """The same policy twice: as an AST, and as text for the parser."""
    teams, tasks, tiers = family(n)
    decls: list = [Provider("p1", "openai"), Provider("p2", "anthropic")]
    text = ['provider p1 kind openai key env(P1_KEY)', 'provider p2 kind anthropic key env(P2_KEY)']
    for i, m in enumerate(MODELS):
        price = Decimal(i) / 4
        tier = ("economy", "standard", "premium")[i % 3]
        decls.append(Model(m, f"p{1 + i % 2}", f"up-{m}", price, price * 4, tier))
        text.append(f'model {m} = p{1 + i % 2}/"up-{m}" price in {price} out {price * 4} per 1M tier {tier}')
    rng = random.Random(n)
    for i in range(n):
        team = teams[i % len(teams)]
        task = tasks[(i // len(teams)) % len(tasks)]
        tier = tiers[(i // (len(teams) * len(tasks))) % len(tiers)]
        model = MODELS[(i // (len(teams) * len(tasks) * len(tiers))) % len(MODELS)]
        kind = rng.random()
        t_team = Compare(Fact("team"), "==", team)
        t_task = Compare(Fact("task"), "==", task)
        t_tier = Compare(Fact("header", "x-tier"), "==", tier)
        t_model = Compare(Fact("model"), "==", model)
        s_team, s_task, s_tier, s_model = (
            f'team == "{team}"', f'task == "{task}"', f'header "x-tier" == "{tier}"', f'model == "{model}"',
        )
        if kind < 0.6:  # the bulk: fully specific
            when, when_s = And((t_team, t_task, t_tier, t_model)), " and ".join((s_team, s_task, s_tier, s_model))
            action, action_s = Use(MODELS[i % 8]), f"use {MODELS[i % 8]}"
        elif kind < 0.75:  # a set of teams, no model
            other = teams[(i + 1) % len(teams)]
            when = And((In(Fact("team"), (team, other)), t_task, t_tier))
            when_s = f'team in ["{team}", "{other}"] and {s_task} and {s_tier}'
            picks = (MODELS[i % 8], MODELS[(i + 3) % 8], MODELS[(i + 5) % 8])
            action, action_s = Choose("cheapest", picks), f"choose cheapest of [{', '.join(picks)}]"
        elif kind < 0.85:  # a residual test after dispatch
            when = And((t_team, t_task, Compare(Fact("prompt_tokens"), "<", 400 + i % 7 * 100)))
            when_s = f"{s_team} and {s_task} and prompt_tokens < {400 + i % 7 * 100}"
            a, b = MODELS[i % 8], MODELS[(i + 1) % 8]
            action = Split((Arm(Decimal(90), a), Arm(Decimal(10), b)), Sticky("user"))
            action_s = f"split sticky by user {{ 90% {a}, 10% {b} }}"
        elif kind < 0.95:  # header and model only
            when, when_s = And((t_tier, t_model, t_task)), f"{s_tier} and {s_model} and {s_task}"
            action, action_s = Use(MODELS[(i + 2) % 8]), f"use {MODELS[(i + 2) % 8]}"
        else:  # exclusions and flags
            when = And((t_team, Compare(Fact("task"), "!=", task), Not(IsTrue(Fact("stream")))))
            when_s = f'{s_team} and task != "{task}" and not stream'
            action, action_s = Use(MODELS[(i + 4) % 8]), f"use {MODELS[(i + 4) % 8]}"
        spare = MODELS[(i + 6) % 8]  # never one of the route's own candidates (the checker forbids that)
        decls.append(Route(f"r{i}", when, action, fallback=(spare,)))
        text.append(f"route r{i}\n  when {when_s}\n  {action_s}\n  fallback {spare}")
    decls.append(Route("default", None, Use("requested"), fallback=("m0",), is_default=True))
    text.append("default\n  use requested\n  fallback m0")
    return PolicySet((PolicyFile("bench.policy", tuple(decls)),)), "\n\n".join(text) + "\n"


def sample_facts(n_routes: int, count: int, seed: int = 0) -> list[Facts]:
    """A fixed random set of requests; one value in ten is one no rule names, or missing."""
    teams, tasks, tiers = family(n_routes)
    rng = random.Random(seed)
    base = datetime(2026, 12, 15, 12, 0, tzinfo=timezone.utc)

    def pick(pool: list[str] | tuple[str, ...]) -> str | None:
        r = rng.random()
        return None if r < 0.05 else "unknown" if r < 0.1 else rng.choice(pool)

    out = []
    for i in range(count):
        tier = pick(tiers)
        out.append(
            Facts(
                model=pick(MODELS),
                team=pick(teams),
                task=pick(tasks),
                user=f"user{rng.randrange(1000)}",
                key=f"key{rng.randrange(100)}",
                headers={} if tier is None else {"x-tier": tier},
                prompt_tokens=rng.randrange(2000),
                stream=rng.random() < 0.5,
                now=base + timedelta(minutes=rng.randrange(60 * 24 * 30)),
                request_id=f"req-{i}",
            )
        )
    return out


def percentiles(fn: Callable[[Facts], object], facts: list[Facts], calls: int) -> tuple[float, float]:
    samples = []
    clock = time.perf_counter_ns
    gc.disable()  # collector pauses are real, but they are not the tree's doing
    try:
        for i in range(calls):
            f = facts[i % len(facts)]
            t0 = clock()
            fn(f)
            samples.append(clock() - t0)
    finally:
        gc.enable()
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[min(len(samples) - 1, len(samples) * 99 // 100)] / 1000


def parse_check_compile(text: str) -> float:
    """Seconds for the gateway's load path, file → AST → diagnostics → Policy (dsl.load_policy), best of 3."""
    import tempfile
    from pathlib import Path

    from dsl import load_policy

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.policy"
        path.write_text(text, encoding="utf-8")
        best = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            load_policy([path])  # raises on any error diagnostic
            best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10,100,1000,10000")
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--no-text", action="store_true", help="skip timing parse+check+compile of the text")
    ap.add_argument("--text-max", type=int, default=1000, help="largest size to time parse+check+compile at (the checker is slow)")
    args = ap.parse_args()
    tree_p50: dict[int, float] = {}
    for n in (int(s) for s in args.sizes.split(",")):
        ps, text = build(n)
        t0 = time.perf_counter()
        policy = compile_policy(ps, "bench")
        compile_s = time.perf_counter() - t0
        facts = sample_facts(n, 1000)
        # The two must agree on the benchmark's own requests before their times mean anything.
        for f in facts[:200]:
            a, b = policy.decide(f), policy.decide_reference(f)
            assert (a.rule, a.plan, a.arm, a.error) == (b.rule, b.plan, b.arm, b.error), f
        t50, t99 = percentiles(policy.decide, facts, args.calls)
        ref_calls = max(100, min(args.calls, 2_000_000 // n))  # the reference is linear: keep it bounded
        r50, r99 = percentiles(policy.decide_reference, facts, ref_calls)
        row: dict[str, object] = {
            "routes": n,
            "tree_p50_us": round(t50, 2),
            "tree_p99_us": round(t99, 2),
            "ref_p50_us": round(r50, 2),
            "ref_p99_us": round(r99, 2),
            "compile_s": round(compile_s, 4),
        }
        if not args.no_text and n <= args.text_max:
            pcc = parse_check_compile(text)
            if pcc is not None:
                row["parse_check_compile_s"] = round(pcc, 3)
        tree_p50[n] = t50
        print(json.dumps(row), flush=True)
    if 10 in tree_p50 and 10000 in tree_p50:
        print(json.dumps({"tree_p50_ratio_10000_vs_10": round(tree_p50[10000] / tree_p50[10], 2)}))


if __name__ == "__main__":
    main()
