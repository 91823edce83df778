"""Deterministic simulations of the draws: a 90/10 split over 10,000 decisions lands within statistical
tolerance, a ramp at a given instant moves the share its schedule says, and a sticky user keeps their arm
across a restart (a fresh interpreter with another hash seed decides the same)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from dsl import ast
from dsl.compile import compile_policy
from dsl.decision import Facts
from dsl.syntax import parse_text
from dsl.tree import ramp_percent

ROOT = Path(__file__).resolve().parents[2]
POLICY = """\
provider p kind mock
model a = p/"a"
model b = p/"b"
route ab when team == "eng" split sticky by user { 90% a, 10% b }
route move when team == "web" ramp b from 10% on 2026-12-01 to 90% on 2026-12-21, rest a
default use a
"""
N = 10_000


def policy():
    return compile_policy(ast.PolicySet((parse_text(POLICY, "t.policy"),)), "v1")


def within(count: int, n: int, p: float, sigmas: float = 4.0) -> bool:
    return abs(count - n * p) <= sigmas * math.sqrt(n * p * (1 - p))


def test_a_90_10_split_over_10000_users_lands_within_tolerance() -> None:
    p = policy()
    arms = [p.decide(Facts(team="eng", user=f"user-{i}")).arm for i in range(N)]
    assert within(arms.count("b"), N, 0.10), arms.count("b")
    # Without a user the request id draws: still 90/10.
    anon = [p.decide(Facts(team="eng", request_id=f"req-{i}")).arm for i in range(N)]
    assert within(anon.count("b"), N, 0.10), anon.count("b")


def test_a_ramp_at_a_given_instant_moves_the_scheduled_share() -> None:
    p = policy()
    for day, share in ((datetime(2026, 11, 30), 0.0), (datetime(2026, 12, 1), 0.10), (datetime(2026, 12, 11), 0.50),
                       (datetime(2026, 12, 16), 0.70), (datetime(2027, 1, 5), 0.90)):
        now = day.replace(hour=12, tzinfo=timezone.utc)
        ramp = p.routes[1].action
        assert float(ramp_percent(ramp, now.date())) == share * 100
        arms = [p.decide(Facts(team="web", key=f"key_{i}", now=now)).arm for i in range(N)]
        moved = arms.count("b")
        assert (moved == 0) if share == 0 else within(moved, N, share), (day, moved)


_CHILD = """
import json, sys
from dsl import ast
from dsl.compile import compile_policy
from dsl.decision import Facts
from dsl.syntax import parse_text
p = compile_policy(ast.PolicySet((parse_text(sys.stdin.read(), "t.policy"),)), "v1")
print(json.dumps([p.decide(Facts(team="eng", user=f"user-{i}")).arm for i in range(500)]))
"""


def test_a_sticky_user_keeps_their_arm_across_a_restart() -> None:
    here = [policy().decide(Facts(team="eng", user=f"user-{i}")).arm for i in range(500)]
    runs = []
    for seed in ("1", "12345"):  # a different str-hash seed per process, as after a restart
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", _CHILD], input=POLICY, capture_output=True, text=True,
                             env=env, cwd=ROOT, timeout=120, check=True)
        runs.append(json.loads(out.stdout))
    assert runs[0] == runs[1] == here
    assert 0 < here.count("b") < 500
