"""Golden values for the sticky draws of `split` and `ramp`.

A sticky draw is a hash that outlives the process: the arm a user, key or session lands in must be the
same in every gateway replica and after every upgrade. If one of the literal values below changes, users
are reshuffled between models on upgrade (an A/B test loses its cohorts, a ramp sends migrated callers
back). Do not "update the goldens" to make these pass; treat a difference as a breaking change.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dsl import Facts, load_policy_set

if TYPE_CHECKING:
    from dsl import Policy

ROOT = Path(__file__).resolve().parents[2]

TENTHS = "{ 10% m0, 10% m1, 10% m2, 10% m3, 10% m4, 10% m5, 10% m6, 10% m7, 10% m8, 10% m9 }"
POLICY = f"""
provider p kind mock

model m0 = p/"m0"
model m1 = p/"m1"
model m2 = p/"m2"
model m3 = p/"m3"
model m4 = p/"m4"
model m5 = p/"m5"
model m6 = p/"m6"
model m7 = p/"m7"
model m8 = p/"m8"
model m9 = p/"m9"

route tenths-a
  when team == "a"
  split sticky by user {TENTHS}

route tenths-b
  when team == "b"
  split sticky by user {TENTHS}

route by-key
  when team == "k"
  split sticky by key {{ 33.33% m0, 33.33% m1, 33.34% m2 }}

route by-header
  when team == "h"
  split sticky by header "x-session" {{ 50% m0, 50% m1 }}

route migrate
  when team == "r"
  ramp m1 from 10% on 2026-01-01 to 90% on 2026-01-11, rest m0

default
  use m0
"""

NOW = datetime(2026, 1, 6, 12, 0, tzinfo=timezone.utc)
USERS = [f"user-{i}" for i in range(12)] + ["alice@example.com", "ünïcødé", "42"]
KEYS = [f"key_{i:012x}" for i in range(12)]
SESSIONS = [f"s{i}" for i in range(1, 9)]

# Computed once with the release the policy language shipped with; see the module docstring.
GOLDEN_TENTHS_A = ["m2", "m6", "m6", "m2", "m5", "m0", "m6", "m3", "m9", "m4", "m3", "m5", "m9", "m9", "m2"]
GOLDEN_TENTHS_B = ["m1", "m5", "m1", "m3", "m8", "m8", "m2", "m9", "m3", "m7", "m5", "m8", "m2", "m2", "m7"]
GOLDEN_BY_KEY = ["m2", "m2", "m2", "m0", "m1", "m1", "m1", "m0", "m2", "m1", "m2", "m2"]
GOLDEN_BY_HEADER = ["m0", "m1", "m0", "m1", "m1", "m1", "m0", "m0"]
GOLDEN_RAMP = {  # day of January 2026 → arm per key (10% on the 1st, 50% on the 6th, 90% from the 11th)
    1: ["m0", "m0", "m0", "m1", "m0", "m1", "m0", "m1", "m0", "m0", "m0", "m0"],
    6: ["m0", "m0", "m1", "m1", "m0", "m1", "m0", "m1", "m0", "m0", "m1", "m0"],
    11: ["m0", "m1", "m1", "m1", "m1", "m1", "m0", "m1", "m1", "m1", "m1", "m1"],
}


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = tmp_path_factory.mktemp("sticky") / "sticky.policy"
    path.write_text(POLICY)
    _, compiled, _ = load_policy_set([path])
    return compiled


def arm(policy: Policy, *, request_id: str = "req-fixed", now: datetime = NOW, **facts: object) -> str:
    d = policy.decide(Facts(now=now, request_id=request_id, **facts))  # type: ignore[arg-type]
    assert d.error is None
    # The reference interpreter must draw the same arm: both are what a replica might run.
    assert policy.decide_reference(Facts(now=now, request_id=request_id, **facts)).arm == d.arm  # type: ignore[arg-type]
    assert d.arm is not None and [t.model for t in d.plan.candidates] == [d.arm]
    return d.arm


def test_split_sticky_by_user_golden(policy: Policy) -> None:
    assert [arm(policy, team="a", user=u) for u in USERS] == GOLDEN_TENTHS_A
    assert [arm(policy, team="b", user=u) for u in USERS] == GOLDEN_TENTHS_B


def test_split_sticky_by_key_golden(policy: Policy) -> None:
    assert [arm(policy, team="k", key=k) for k in KEYS] == GOLDEN_BY_KEY


def test_split_sticky_by_header_golden(policy: Policy) -> None:
    assert [arm(policy, team="h", headers={"x-session": s}) for s in SESSIONS] == GOLDEN_BY_HEADER


@pytest.mark.parametrize("day", sorted(GOLDEN_RAMP))
def test_ramp_sticky_by_key_golden(policy: Policy, day: int) -> None:
    now = datetime(2026, 1, day, 9, 30, tzinfo=timezone.utc)
    assert [arm(policy, team="r", key=k, now=now) for k in KEYS] == GOLDEN_RAMP[day]


def test_ramp_never_moves_a_key_back_as_it_grows() -> None:
    # A key that has been moved to the new model stays there on every later day of the ramp.
    days = sorted(GOLDEN_RAMP)
    for earlier, later in zip(days, days[1:]):
        for before, after in zip(GOLDEN_RAMP[earlier], GOLDEN_RAMP[later]):
            assert not (before == "m1" and after == "m0")


def test_golden_draws_ignore_the_request_id_and_unrelated_facts(policy: Policy) -> None:
    # Sticky means the sticky fact alone decides: a retry (new request id) or another header must not
    # move a user.
    for u, expected in zip(USERS, GOLDEN_TENTHS_A):
        assert arm(policy, team="a", user=u, request_id="another", key="key_other",
                   headers={"x-session": "zzz"}) == expected


def test_split_routes_with_the_same_weights_draw_independently(policy: Policy) -> None:
    # The route name is part of the hash: otherwise every experiment with the same weights would put
    # the same users in the same arm, and their results could not be told apart.
    users = [f"u{i}" for i in range(2000)]
    a = [arm(policy, team="a", user=u) for u in users]
    b = [arm(policy, team="b", user=u) for u in users]
    assert a != b
    same = sum(x == y for x, y in zip(a, b))
    # Independent 10-way draws agree ~10% of the time; identical hashing would agree 100%.
    assert same < len(users) * 0.2
    # Each route on its own still covers every arm.
    assert set(a) == set(b) == {f"m{i}" for i in range(10)}


SUBPROCESS = """
import json, sys
from datetime import datetime, timezone
from dsl import load_policy_set
from dsl import Facts
_, p, _ = load_policy_set([sys.argv[1]])
now = datetime(2026, 1, 6, 12, 0, tzinfo=timezone.utc)
users = json.loads(sys.argv[2])
print(json.dumps([p.decide(Facts(team="a", user=u, now=now, request_id="other-process")).arm for u in users]))
"""


def test_sticky_draw_is_the_same_in_another_process(policy: Policy, tmp_path: Path) -> None:
    # Another replica (another interpreter, another str-hash seed) must draw the same arms.
    path = tmp_path / "sticky.policy"
    path.write_text(POLICY)
    users = USERS + [f"u{i}" for i in range(200)]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", SUBPROCESS, str(path), json.dumps(users)], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=True)
    theirs = json.loads(out.stdout)
    assert theirs[: len(USERS)] == GOLDEN_TENTHS_A
    assert theirs == [arm(policy, team="a", user=u) for u in users]
