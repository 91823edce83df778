"""Guarded ramps: the guard trips on the new model's live status (a fake clock drives the health windows),
holds the ramp at the old model, and resumes once the window clears; through a real gateway the hold shows
in the response, /admin/policy, the decision log and the metrics."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path

import httpx

from dsl import ast
from dsl.compile import compile_policy
from dsl.decision import Facts
from dsl.syntax import parse_text
from gateway.errors import UpstreamError
from gateway.health import HealthBoard
from gateway.ramp_guard import RampGuards
from tests.gateway.conftest import ADMIN_KEY, GatewayServer, policy_dir

POLICY = """\
provider p kind mock
model old = p/"old"
model new = p/"new"
route move
  when team == "eng"
  ramp new from 100% on 2020-01-01 to 100% on 2020-01-02, rest old guard error_rate > 5% or p95 > 4s over 10m
default use old
"""
NOW = datetime(2026, 12, 1, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fail() -> UpstreamError:
    return UpstreamError("unavailable", upstream_status=503, status=503, code="upstream_unavailable")


def setup():
    clock = Clock()
    hb = HealthBoard(clock=clock, window=60.0, failure_threshold=1000)
    policy = compile_policy(ast.PolicySet((parse_text(POLICY, "t.policy"),)), "v1")
    return clock, hb, policy, RampGuards(hb, min_samples=10, recheck=1.0)


def served(guards: RampGuards, policy, key: str = "key_1") -> tuple[str, str | None]:
    d, why = guards.apply(policy, policy.decide(Facts(team="eng", key=key, now=NOW)))
    return d.plan.candidates[0].model, why


def test_the_guard_trips_holds_then_resumes() -> None:
    clock, hb, policy, guards = setup()
    new = policy.target("new")
    assert served(guards, policy) == ("new", None)
    for _ in range(18):
        hb.success(new, 100.0)
    for _ in range(2):  # 2 / 20 = 10 % > 5 %
        hb.failure(new, fail())
    clock.t += 1.0
    model, why = served(guards, policy)
    assert model == "old" and why is not None and "error_rate 10.0% > 5%" in why
    d, _ = guards.apply(policy, policy.decide(Facts(team="eng", key="key_2", now=NOW)))
    assert d.arm == "old" and d.trace[-1].test.startswith("ramp guard holds the ramp at old")
    [state] = guards.snapshot(policy)
    assert state["state"] == "holding" and state["trips"] == 1 and state["held_requests"] == 2
    # Still inside the 10-minute window (samples are kept that long, beyond the board's 60 s): holds.
    clock.t += 300
    assert served(guards, policy)[0] == "old"
    # The window has passed: no evidence left, the ramp resumes; a slow tail trips it again.
    clock.t += 301
    assert served(guards, policy) == ("new", None)
    assert guards.snapshot(policy)[0]["state"] == "ramping"
    for _ in range(20):
        hb.success(new, 5000.0)
    clock.t += 1.0
    model, why = served(guards, policy)
    assert model == "old" and "p95 5000 ms > 4000 ms" in why
    assert guards.snapshot(policy)[0]["trips"] == 2


def test_too_few_samples_never_trip_and_the_old_arm_is_never_touched() -> None:
    clock, hb, policy, guards = setup()
    new = policy.target("new")
    for _ in range(5):
        hb.failure(new, fail())  # 100 % errors, but only 5 outcomes
    clock.t += 1.0
    assert served(guards, policy) == ("new", None)
    other = policy.decide(Facts(team="ops", now=NOW))  # not the ramp's rule
    assert guards.apply(policy, other) == (other, None)


def test_through_the_gateway_the_hold_shows_in_the_response_admin_log_and_metrics(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="open_router.decisions")
    with GatewayServer(policies=policy_dir(tmp_path, POLICY), db_url=f"sqlite:///{tmp_path / 'k.db'}") as srv:
        gw = srv.gw
        clock = Clock()
        gw.health.clock = clock  # the board and the guards read it: time moves only when the test says
        auth = {"Authorization": f"Bearer {srv.key}"}
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
        with httpx.Client(base_url=srv.base_url, timeout=30) as c:
            assert c.post("/v1/chat/completions", json=body, headers=auth).headers["x-open-router-model"] == "new"
            new = gw.policies.current.policy.target("new")
            for _ in range(20):
                gw.health.failure(new, fail())
            clock.t += 2
            r = c.post("/v1/chat/completions", json=body, headers=auth)
            assert r.status_code == 200 and r.headers["x-open-router-model"] == "old"
            [guard] = c.get("/admin/policy", headers=admin).json()["ramp_guards"]
            assert guard["rule"] == "move" and guard["state"] == "holding" and guard["watches"] == "new"
            assert guard["status"]["error_rate"] > 0.9 and guard["status"]["n"] == 21  # 1 ok + 20 failures
            metrics = c.get("/metrics", headers=admin).text
            assert 'open_router_ramp_guard_holding{rule="move"} 1.0' in metrics
            assert 'open_router_ramp_guard_transitions_total{rule="move",state="holding"} 1.0' in metrics
            assert 'open_router_ramp_guard_held_requests_total{rule="move"} 1.0' in metrics
            clock.t += 601
            assert c.post("/v1/chat/completions", json=body, headers=auth).headers["x-open-router-model"] == "new"
            assert c.get("/admin/policy", headers=admin).json()["ramp_guards"][0]["state"] == "ramping"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "open_router.decisions"]
    held = [ln for ln in lines if ln.get("ramp_guard")]
    assert len(held) == 1 and held[0]["arm"] == "old" and "error_rate 95.2% > 5%" in held[0]["ramp_guard"]
