"""The whole routing step beside the decision alone, in the same run, on a 1,000-route policy.

    routing step = facts (token estimate, headers, principal) + classification (dsl/classify.py)
                   + decide (the compiled tree) + ramp guard + capability restriction
                   + strategy pick (gateway/strategies.py `rank` + context fitting)
    decision     = policy.decide(facts), facts built beforehand

Two request shapes: a one-line prompt and a 2,000-token conversation. Matched routes choose among three
priced models (`cheapest`, with a quality bar on the default route, so the per-task plan lookup is in the
path too) or `fastest by p95`, with a warmed-up health board. Prints one JSON line per (shape, strategy)
with p50 / p99 in µs and ``added_p50_us`` = step p50 − decide p50 (targets: ≤ 50 µs one-line, ≤ 250 µs
2,000 tokens), then a markdown table for the README.

    .venv/bin/python bench/bench_routing.py [--calls 20000] [--routes 1000]
"""
from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dsl import ast  # noqa: E402
from dsl.compile import compile_policy  # noqa: E402
from dsl.syntax import parse_text  # noqa: E402
from gateway.auth import Principal  # noqa: E402
from gateway.capabilities import restrict  # noqa: E402
from gateway.facts import FactsBuilder, load_classifier  # noqa: E402
from gateway.health import HealthBoard  # noqa: E402
from gateway.ramp_guard import RampGuards  # noqa: E402
from gateway.strategies import fitting, rank  # noqa: E402

TASKS = ("code", "math", "chat", "summarization", "translation", "extraction", "creative")


def policy_text(routes: int) -> str:
    lines = ["provider p kind mock"]
    for i, (pin, pout, q) in enumerate((("0.15", "0.6", "default 0.72"), ("2.5", "10", "code 0.9, default 0.85"),
                                        ("0.5", "1.5", "code 0.86, math 0.8, default 0.7"))):
        lines.append(f'model m{i} = p/"m{i}" price in {pin} out {pout} per 1M context 128000 quality {q}')
    teams = max(1, routes // len(TASKS))
    n = 0
    for t in range(teams):
        for task in TASKS:
            if n >= routes - 1:
                break
            strategy = "fastest by p95" if n % 2 else "cheapest"
            lines.append(f'route r{n} when team == "team{t}" and task == {task} choose {strategy} of [m0, m1, m2]')
            n += 1
    lines.append("default choose cheapest of [m0, m1, m2] where quality >= 0.8")
    return "\n".join(lines) + "\n"


def one_line() -> dict:
    return {"model": "x", "messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 64}


def conversation(tokens: int = 2000) -> dict:
    rng = random.Random(1)
    words = ("the function returns a list of values and the caller checks each one before it writes the "
             "result to the database so that a failure leaves nothing half done").split()
    msgs = [{"role": "system", "content": "You are a careful assistant."}]
    chars = 0
    turn = 0
    while chars < tokens * 4:
        text = " ".join(rng.choice(words) for _ in range(60))
        msgs.append({"role": "user" if turn % 2 == 0 else "assistant", "content": text})
        chars += len(text)
        turn += 1
    msgs.append({"role": "user", "content": "Can you summarise the discussion above in three bullet points?"})
    return {"model": "x", "messages": msgs}


def timed(fn, calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / 1000.0)
    return out


def pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--routes", type=int, default=1000)
    args = ap.parse_args()
    policy = compile_policy(ast.PolicySet((parse_text(policy_text(args.routes), "bench.policy"),)), "bench")
    health = HealthBoard()
    rng = random.Random(3)
    for m in ("m0", "m1", "m2"):
        t = policy.target(m)
        for _ in range(200):
            health.success(t, rng.uniform(50, 400))
        for task in TASKS:
            health.status(t).observe_completion(task, rng.randint(50, 600))
    guards = RampGuards(health)
    builder = FactsBuilder(load_classifier())
    rr: dict[str, int] = {}
    results = []
    for shape, body in (("one-line", one_line()), ("2000-token", conversation())):
        for team, label in (("team3", "cheapest/fastest route"), ("nobody", "default: cheapest + quality bar")):
            who = Principal("key_bench", team)
            headers = [("content-type", "application/json")]

            def step() -> None:
                facts = builder.chat(who, body, headers, "req-1")
                d = policy.decide(facts)
                if d.arm is not None:
                    d, _ = guards.apply(policy, d)
                d = restrict(d, body, embeddings=False)
                targets, statuses, why = rank(d, body, health, rr)
                if targets:
                    fitting(targets, statuses, why, facts.prompt_tokens, body)

            facts = builder.chat(who, body, headers, "req-1")
            d = policy.decide(facts)
            picked = rank(d, body, health, rr)[0]

            def decide_only() -> None:
                policy.decide(facts)

            def facts_only() -> None:  # token estimate + headers + the classifier (dsl/classify.py)
                builder.chat(who, body, headers, "req-1")

            for _ in range(2000):  # warm up
                step()
                decide_only()
            gc.collect()
            gc.disable()
            try:
                # Interleaved in rounds so both see the same machine load.
                dec: list[float] = []
                whole: list[float] = []
                fonly: list[float] = []
                for _ in range(10):
                    dec += timed(decide_only, args.calls // 10)
                    whole += timed(step, args.calls // 10)
                    fonly += timed(facts_only, args.calls // 10)
            finally:
                gc.enable()
            row = {"shape": shape, "route": f"{label.split(':')[0]} ({d.plan.strategy}, task {facts.task})"
                   if team != "nobody" else label, "rule": d.rule, "strategy": d.plan.strategy,
                   "prompt_tokens": facts.prompt_tokens, "task": facts.task, "picked": picked[0].model if picked else None,
                   "decide_p50_us": round(pct(dec, 0.5), 2), "decide_p99_us": round(pct(dec, 0.99), 2),
                   "step_p50_us": round(pct(whole, 0.5), 2), "step_p99_us": round(pct(whole, 0.99), 2)}
            row["facts_and_classify_p50_us"] = round(pct(fonly, 0.5), 2)
            row["added_p50_us"] = round(row["step_p50_us"] - row["decide_p50_us"], 2)
            # What the strategy pick, guard and restriction add beyond facts + classification + decide.
            row["pick_p50_us"] = round(row["step_p50_us"] - row["decide_p50_us"] - row["facts_and_classify_p50_us"], 2)
            results.append(row)
            print(json.dumps(row))
    print()
    print(f"| prompt | route ({args.routes} routes) | decide p50 / p99 µs | whole step p50 / p99 µs | added p50 µs "
          "| of which facts + classify | of which guard + restrict + pick |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['shape']} | {r['route']} | {r['decide_p50_us']} / {r['decide_p99_us']} | "
              f"{r['step_p50_us']} / {r['step_p99_us']} | {r['added_p50_us']} | {r['facts_and_classify_p50_us']} | "
              f"{r['pick_p50_us']} |")


if __name__ == "__main__":
    main()
