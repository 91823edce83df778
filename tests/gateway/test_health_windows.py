"""Sliding windows on the HealthBoard (p50/p95 latency and TTFT, windowed error rate, output rate), the
error-rate breaker, and `fastest` on the window: deterministic simulations on a fake clock."""
from __future__ import annotations

import random

from dsl.decision import Decision, Plan, Target
from dsl.ast import Span
from dsl.decision import Facts
from gateway.errors import UpstreamError
from gateway.health import CLOSED, HALF_OPEN, OPEN, HealthBoard
from gateway.router import Executor

A = Target("a", "p", "up-a")
B = Target("b", "p", "up-b")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def fail() -> UpstreamError:
    return UpstreamError("unavailable", upstream_status=503, status=503, code="upstream_unavailable")


def test_percentiles_cover_the_window_only() -> None:
    clock = Clock()
    hb = HealthBoard(clock=clock, window=60.0)
    for ms in range(1, 101):  # 1..100 ms
        hb.success(A, float(ms))
    s = hb.status(A)
    assert s.percentile(0.5) == 50.5 and abs(s.percentile(0.95) - 95.05) < 1e-9
    clock.t += 61
    hb.success(A, 7.0)
    assert s.percentile(0.5) == 7.0 and s.samples() == 1  # the old samples left the window
    s.observe_stream(ttft_ms=30.0, output_tokens=200, seconds=2.0)
    j = s.as_json()
    assert j["ttft_p50_ms"] == 30.0 and j["output_tokens_per_s"] == 100.0 and j["latency_p95_ms"] == 7.0


def test_error_rate_over_the_window_opens_the_breaker_without_consecutive_failures() -> None:
    clock = Clock()
    hb = HealthBoard(clock=clock, failure_threshold=50, error_rate_threshold=0.5, min_window_requests=20)
    s = hb.status(A)
    for i in range(30):  # fail, fail, ok, ... : 2/3 errors, never 3 in a row
        if i % 3 == 2:
            hb.success(A, 10.0)
        else:
            hb.failure(A, fail())
        if s.state == OPEN:
            break
    assert s.state == OPEN and s.consecutive_failures < 50
    rate, n = s.window_error_rate()
    assert n >= 20 and rate > 0.5


def test_open_circuit_is_probed_once_and_closes() -> None:
    clock = Clock()
    hb = HealthBoard(clock=clock, failure_threshold=3, cooldown=10.0)
    for _ in range(3):
        hb.failure(A, fail())
    s = hb.status(A)
    assert s.circuit() == OPEN and not s.is_available()
    clock.t += 10
    assert s.circuit() == HALF_OPEN
    probe = hb.start(A)
    assert probe.probe and not hb.start(B).probe and not s.is_available()  # one probe at a time
    probe.ok(12.0)
    assert s.circuit() == CLOSED


def _decision(*targets: Target) -> Decision:
    return Decision("r", Span("t", 1, 1, 1, 1), Plan("fastest", tuple(targets)), "v1", Facts())


def test_fastest_explores_settles_on_the_fast_deployment_and_moves_when_it_slows() -> None:
    clock = Clock()
    hb = HealthBoard(clock=clock, window=30.0, explore_samples=5)
    ex = Executor({}, hb)
    d = _decision(A, B)
    rng = random.Random(7)
    latency = {A: 40.0, B: 120.0}
    picks = []
    for _ in range(200):
        first = ex.order(d)[0]
        picks.append(first)
        hb.success(first, latency[first] * rng.uniform(0.8, 1.2))
        clock.t += 0.5
    assert hb.status(B).samples() >= 5  # B was explored before A won
    # Mostly A; B is re-explored whenever its samples age out of the window (fewer than 5 left).
    assert picks[-100:].count(A) >= 85
    latency[A] = 400.0  # A slows down; its window fills with slow samples and B takes over
    for _ in range(200):
        first = ex.order(d)[0]
        picks.append(first)
        hb.success(first, latency[first] * rng.uniform(0.8, 1.2))
        clock.t += 0.5
    # B's old samples aged out of the 30 s window, so it is explored again and then wins.
    assert picks[-100:].count(B) >= 85
