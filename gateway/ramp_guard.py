"""Guarded ramps: `ramp B from 5% on D1 to 100% on D2, rest A guard error_rate > 5% or p95 > 4s over 10m`.

The decision is pure (dsl/): it draws the ramp's arm by date and sticky hash. This module applies the
guard after it, in the gateway: when a request was drawn for the ramp's new model B and B's live status
over the guard's window (gateway/health.py, this process's board) trips any of the guard's tests, the
decision is re-pointed at the rest A (``Policy.held``, which adds a trace step) and the request records
why (``Served.guard`` → the decision-log line's ``ramp_guard``). Traffic stays on A while the guard trips;
once B's window no longer trips it (its bad samples age out of the window, or new ones dilute them) the
ramp resumes on its own. With all traffic held on A, B gets no new samples: the window ages out after
``over`` and the ramp resumes, so a still-broken B trips the guard again after at least ``min_samples``
outcomes — a probe cycle of one window.

A test only counts with at least ``min_samples`` outcomes in the window (one failure in one request is
no evidence). The verdict per (policy version, rule) is cached for ``recheck`` seconds, so the hot path
is a dict lookup for every request but the first of each second.

Holding and resuming are logged (WARNING / INFO on open_router.ramp_guard), counted
(``open_router_ramp_guard_transitions_total{rule,state}``, ``open_router_ramp_guard_held_requests_total``),
shown as a gauge (``open_router_ramp_guard_holding{rule}``) and listed at /admin/policy (``ramp_guards``).
Per process: with several workers or replicas each judges its own health board.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from dsl.ast import Ramp
from dsl.decision import Decision

from .health import HealthBoard

__all__ = ["GuardState", "RampGuards"]

log = logging.getLogger("open_router.ramp_guard")

_LATENCY = {"p50", "p95", "ttft_p50", "ttft_p95"}


@dataclass
class GuardState:
    rule: str
    version: str
    model: str  # the model watched
    rest: str
    holding: bool = False
    since: float | None = None  # wall-clock time of the last transition
    reason: str | None = None  # why it holds (the tests that trip, with the figures)
    trips: int = 0
    held: int = 0  # requests sent to the rest because of the guard
    checked: float = field(default=-1e18)  # board clock of the last verdict
    status: dict[str, Any] = field(default_factory=dict)  # the figures of the last verdict

    def as_json(self) -> dict[str, Any]:
        return {"rule": self.rule, "policy_version": self.version, "watches": self.model, "rest": self.rest,
                "state": "holding" if self.holding else "ramping", "since": self.since, "reason": self.reason,
                "trips": self.trips, "held_requests": self.held,
                "status": {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.status.items()}}


class RampGuards:
    """Judges the guards of the live policy's ramps against a HealthBoard; one per app."""

    def __init__(self, health: HealthBoard, *, min_samples: int = 10, recheck: float = 1.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.health = health
        self.min_samples = min_samples
        self.recheck = recheck
        self.wall = wall
        self.metrics: Any = None  # gateway/metrics.py Metrics, when bound
        self._states: dict[tuple[str, str], GuardState] = {}
        self._seen: str | None = None  # the policy version whose guard windows the board retains

    # ------------------------------------------------------------------ the request path

    def apply(self, policy: Any, decision: Decision) -> tuple[Decision, str | None]:
        """``decision``, held at the ramp's rest when its guard trips; and why, when it was held."""
        if decision.arm is None:
            return decision, None
        ramps = policy.guarded_ramps()
        if not ramps:
            return decision, None
        ramp = ramps.get(decision.rule)
        if ramp is None or decision.arm != ramp.model:
            return decision, None
        state = self._state(policy, decision.rule, ramp)
        if self.health.clock() - state.checked >= self.recheck:
            self._judge(policy, state, ramp)
        if not state.holding:
            return decision, None
        state.held += 1
        if self.metrics is not None:
            self.metrics.ramp_held.inc((state.rule,))
        why = state.reason or "guard tripped"
        return policy.held(decision, why), why

    def _state(self, policy: Any, rule: str, ramp: Ramp) -> GuardState:
        version = policy.version
        key = (version, rule)
        state = self._states.get(key)
        if state is None:
            if self._seen != version:
                self._adopt(policy)
            assert ramp.guard is not None
            state = self._states[key] = GuardState(rule, version, ramp.guard.model or ramp.model, ramp.rest)
        return state

    def _adopt(self, policy: Any) -> None:
        """A new policy version: keep samples as long as its longest guard looks back; forget old states
        (their rules' states carry over by name, so a reload does not reset a holding guard)."""
        self._seen = policy.version
        ramps = policy.guarded_ramps()
        longest = max((float(r.guard.window.seconds) for r in ramps.values()), default=0.0)
        self.health.retain_for(longest)
        old = {rule: s for (_, rule), s in self._states.items()}
        self._states = {}
        for rule, ramp in ramps.items():
            prev = old.get(rule)
            if prev is not None:
                prev.version = policy.version
                prev.checked = -1e18
                self._states[(policy.version, rule)] = prev

    def _judge(self, policy: Any, state: GuardState, ramp: Ramp) -> None:
        guard = ramp.guard
        assert guard is not None
        target = policy.target(state.model)
        state.checked = self.health.clock()
        if target is None:
            return
        st = self.health.status(target).window_stats(float(guard.window.seconds))
        state.status = st
        tripped = []
        if st["n"] >= self.min_samples:
            for t in guard.tests:
                got = st.get(t.metric)
                if got is None:
                    continue
                if t.metric == "error_rate" and t.percent is not None:
                    value, bar, shown = got * 100, float(t.percent), f"{got * 100:.1f}% {t.op} {t.percent}%"
                elif t.metric in _LATENCY and t.duration is not None:
                    value, bar = got, float(t.duration.seconds) * 1000
                    shown = f"{got:.0f} ms {t.op} {bar:.0f} ms"
                else:
                    continue
                if value > bar or (t.op == ">=" and value >= bar):
                    tripped.append(f"{t.metric} {shown}")
        over = f" over {_window(float(guard.window.seconds))} ({st['n']} outcomes)"
        if tripped and not state.holding:
            state.holding, state.since, state.trips = True, self.wall(), state.trips + 1
            state.reason = f"{state.model} " + " and ".join(tripped) + over
            log.warning("ramp guard of route %r holds the ramp at %s: %s", state.rule, state.rest, state.reason)
            self._count(state, "holding")
        elif tripped:
            state.reason = f"{state.model} " + " and ".join(tripped) + over
        elif state.holding:
            state.holding, state.since = False, self.wall()
            log.info("ramp guard of route %r resumes the ramp to %s (%s)", state.rule, state.model, over.strip())
            state.reason = None
            self._count(state, "resumed")

    def _count(self, state: GuardState, what: str) -> None:
        if self.metrics is not None:
            self.metrics.ramp_transitions.inc((state.rule, what))

    # ------------------------------------------------------------------ views

    def snapshot(self, policy: Any | None = None) -> list[dict[str, Any]]:
        """Every guarded ramp of ``policy`` (default: all known states) with its state, for /admin/policy.
        A ramp no request has reached yet reads as ramping, unjudged."""
        if policy is not None:
            out = []
            for rule, ramp in policy.guarded_ramps().items():
                state = self._states.get((policy.version, rule))
                if state is None:
                    assert ramp.guard is not None
                    state = GuardState(rule, policy.version, ramp.guard.model or ramp.model, ramp.rest)
                out.append(state.as_json())
            return out
        return [s.as_json() for s in self._states.values()]

    def holding(self) -> list[tuple[str, bool]]:
        return [(s.rule, s.holding) for s in self._states.values()]


def _window(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    return f"{seconds:g}s"
