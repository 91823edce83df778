"""Model-status alerts: rules on each upstream deployment's live status (gateway/health.py) — the error rate
over a window, the p95 latency over a window, an open circuit — evaluated continuously by a background
task, each fired once per episode (``model.alert``) and closed by one ``model.resolved`` notice, through
the alert sender the budgets use (gateway/alerts.py: logged, counted, POSTed to the webhook with retries,
never on a request's path).

Rules are a setting (``OPEN_ROUTER_MODEL_ALERTS`` / ``model_alerts``), not policy syntax (yet), one per
``;``::

    error_rate > 0.2 over 60s min 10      windowed failures / outcomes above 20 % (at least 10 outcomes)
    p95 > 2000ms over 120s min 5          the window's p95 latency of successes (ms), at least 5 samples
    circuit open                          the deployment's breaker is open (or half open, probing)
    gpt-4o: p95 > 800ms                   only deployments this policy alias (or provider/upstream) names

``over`` defaults to the health board's window (300 s) and is capped by it; ``min`` defaults to 5. A rule
whose window holds too few samples is not firing (an episode already open resolves: "no recent data").
Everything is per process: with ``--workers N`` each worker watches its own health board (the one its
requests move) and alerts on its own view; events carry ``worker`` (the pid).
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("open_router.alerts")

_RULE = re.compile(
    r"^(?:(?P<sel>[^\s:;]+)\s*:\s*)?"
    r"(?:(?P<circuit>circuit\s+open)|(?P<metric>error_rate|p95)\s*>\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|%)?"
    r"(?:\s+over\s+(?P<over>\d+(?:\.\d+)?)\s*(?P<over_unit>s|m)?)?(?:\s+min\s+(?P<min>\d+))?)\s*$")


@dataclass(frozen=True, slots=True)
class Rule:
    name: str  # the rule as written, normalised: also its label in metrics
    metric: str  # "error_rate" | "p95_ms" | "circuit_open"
    threshold: float  # error_rate: a fraction; p95_ms: milliseconds; circuit_open: 0
    window: float | None  # seconds; None: the board's window
    min_samples: int
    selector: str | None  # a policy alias or provider/upstream; None: every deployment

    def matches(self, status: Any) -> bool:
        sel = self.selector
        return sel is None or sel in status.aliases or sel == f"{status.provider}/{status.upstream}"


def parse_rules(spec: str | None) -> list[Rule]:
    """The rules of ``spec``; ValueError naming the rule that does not parse."""
    rules: list[Rule] = []
    for raw in (spec or "").split(";"):
        text = " ".join(raw.split())
        if not text:
            continue
        m = _RULE.match(text)
        if m is None:
            raise ValueError(f"model alert rule {text!r}: expected 'error_rate > 0.2 [over 60s] [min N]', "
                             "'p95 > 2000ms [over 60s] [min N]' or 'circuit open', optionally after 'MODEL:'")
        sel = m.group("sel")
        if m.group("circuit"):
            rules.append(Rule(text, "circuit_open", 0.0, None, 1, sel))
            continue
        value, unit = float(m.group("value")), m.group("unit")
        if m.group("metric") == "error_rate":
            if unit == "%":
                value /= 100
            elif unit is not None:
                raise ValueError(f"model alert rule {text!r}: an error rate is a fraction (0.2) or a percent (20%)")
            if not 0 <= value < 1:
                raise ValueError(f"model alert rule {text!r}: the error rate threshold must be below 1 (100%)")
            metric = "error_rate"
        else:
            if unit == "%":
                raise ValueError(f"model alert rule {text!r}: a latency is in ms or s")
            value = value * 1000 if unit == "s" else value
            metric = "p95_ms"
        window = None
        if m.group("over"):
            window = float(m.group("over")) * (60 if m.group("over_unit") == "m" else 1)
            if window <= 0:
                raise ValueError(f"model alert rule {text!r}: the window must be positive")
        n = int(m.group("min")) if m.group("min") else 5
        rules.append(Rule(text, metric, value, window, max(n, 1), sel))
    names = [r.name for r in rules]
    if len(set(names)) != len(names):
        raise ValueError("model alert rules: the same rule is given twice")
    return rules


def _window(status: Any, series: str, seconds: float) -> list[Any]:
    horizon = status._board.clock() - seconds
    return [v for when, v in getattr(status, series) if when >= horizon]


def measure(rule: Rule, status: Any) -> tuple[bool, float | None, int]:
    """(firing?, the value, samples) of ``rule`` on one deployment's status now."""
    if rule.metric == "circuit_open":
        state = status.circuit()
        return state != "closed", (0.0 if state == "closed" else 1.0), 1
    board_window = status._board.window
    seconds = min(rule.window or board_window, board_window)
    if rule.metric == "error_rate":
        got = _window(status, "_outcomes", seconds)
        if len(got) < rule.min_samples:
            return False, None, len(got)
        rate = sum(1 for ok in got if not ok) / len(got)
        return rate > rule.threshold, rate, len(got)
    values = sorted(_window(status, "_lat", seconds))
    if len(values) < rule.min_samples:
        return False, None, len(values)
    pos = 0.95 * (len(values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(values) - 1)
    p95 = values[lo] + (values[hi] - values[lo]) * (pos - lo)
    return p95 > rule.threshold, p95, len(values)


class ModelAlerts:
    """The background evaluator. ``evaluate()`` is one pass (sync, on the loop); ``start()`` runs it every
    ``interval`` seconds until ``stop()``."""

    def __init__(self, board: Any, rules: list[Rule], sender: Any, *, interval: float = 5.0,
                 registry: CollectorRegistry | None = None, clock: Callable[[], float] = time.time) -> None:
        self.board = board
        self.rules = rules
        self.sender = sender
        self.interval = interval
        self.clock = clock
        self.open: dict[tuple[str, str, str], dict[str, Any]] = {}  # (rule, provider, upstream) → episode
        self.evaluations = 0
        self._task: asyncio.Task[None] | None = None
        self.counter = Counter("open_router_model_alerts", "Model-status alert episodes, by rule and state "
                               "(fired, resolved).", ("rule", "state"), registry=registry)
        if registry is not None:
            registry.register(_Firing(self))

    def _statuses(self) -> Iterable[Any]:
        return list(self.board._by_key.values())

    def evaluate(self) -> list[dict[str, Any]]:
        """One pass over every rule and deployment; returns the events it emitted."""
        self.evaluations += 1
        events = []
        for status in self._statuses():
            for rule in self.rules:
                if not rule.matches(status):
                    continue
                firing, value, samples = measure(rule, status)
                key = (rule.name, status.provider, status.upstream)
                episode = self.open.get(key)
                if firing and episode is None:
                    episode = self.open[key] = {"since": self.clock(), "peak": value}
                    events.append(self._event("model.alert", rule, status, value, samples, episode))
                elif firing and episode is not None and value is not None:
                    if episode["peak"] is None or value > episode["peak"]:
                        episode["peak"] = value
                elif not firing and episode is not None:
                    del self.open[key]
                    events.append(self._event("model.resolved", rule, status, value, samples, episode))
        for event in events:
            self.counter.labels(event["rule"]["name"], "fired" if event["type"] == "model.alert" else "resolved").inc()
            self.sender.emit(event)
        return events

    def _event(self, kind: str, rule: Rule, status: Any, value: float | None, samples: int,
               episode: dict[str, Any]) -> dict[str, Any]:
        where = f"{status.provider}/{status.upstream}"
        shown = _show(rule, value)
        if kind == "model.alert":
            summary = f"{where} ({', '.join(status.aliases)}): {rule.name} — now {shown}"
        else:
            why = "no recent data" if value is None else f"now {shown}"
            summary = f"{where} ({', '.join(status.aliases)}): resolved {rule.name} — {why}, " \
                      f"after {self.clock() - episode['since']:.0f}s (peak {_show(rule, episode['peak'])})"
        since = episode["since"]
        return {
            "schema": 1, "type": kind, "id": f"model:{rule.name}:{where}:{since:.3f}",
            "summary": summary, "raised_at": round(self.clock(), 3),
            "model": {"provider": status.provider, "upstream": status.upstream, "aliases": list(status.aliases)},
            "rule": {"name": rule.name, "metric": rule.metric, "threshold": rule.threshold,
                     "window_seconds": min(rule.window or self.board.window, self.board.window),
                     "min_samples": rule.min_samples},
            "value": value, "samples": samples, "episode_started_at": round(since, 3), "worker": os.getpid(),
        }

    # ------------------------------------------------------------------ the task

    def start(self) -> None:
        if self.rules and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.evaluate()
            except Exception:  # a bad pass is logged; the next one runs
                log.exception("model alert evaluation failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass
            self._task = None

    def describe(self) -> dict[str, Any]:
        return {"rules": [r.name for r in self.rules], "interval_seconds": self.interval,
                "firing": [{"rule": k[0], "provider": k[1], "upstream": k[2], "since": round(v["since"], 3)}
                           for k, v in sorted(self.open.items())]}


def _show(rule: Rule, value: float | None) -> str:
    if value is None:
        return "n/a"
    if rule.metric == "error_rate":
        return f"{value:.1%}"
    if rule.metric == "p95_ms":
        return f"{value:.0f}ms"
    return "open" if value else "closed"


class _Firing(Collector):
    def __init__(self, alerts: ModelAlerts) -> None:
        self.alerts = alerts

    def collect(self) -> Iterable[Any]:
        g = GaugeMetricFamily("open_router_model_alert_firing", "1 while a model-status alert episode is open.",
                              labels=("rule", "provider", "upstream"))
        for rule, provider, upstream in sorted(self.alerts.open):
            g.add_metric((rule, provider, upstream), 1)
        yield g


__all__ = ["ModelAlerts", "Rule", "measure", "parse_rules"]
