"""Checks on the routing-strategy clauses: model quality scores, quality bars on `choose`, `choose fastest
by ...`, and ramp guards.

    E230 a quality score outside 0..1            E231 a quality score for a task the gateway never names
    W232 a model scores one task twice           E233 a quality bar outside 0..1
    E234 a quality bar no listed model passes, whatever the task
    W235 a quality bar no listed model passes for some tasks (those requests go to the fallback, or are
         refused with quality_unmet)
    E236 `by` other than p50 / p95, or on a strategy other than fastest
    E240 a guard on the ramp's old model (`rest`): it would hold the ramp because the model it protects
         is failing, and never watch the new one
    E241 a guard on a model the ramp does not move traffic to     E242 an unknown guard metric
    E243 a guard threshold in the wrong unit (error_rate in %, latencies as durations)
    E244 a guard comparison other than > or >=   E245 an error-rate threshold outside 0..100 %, or a window of 0
"""
from __future__ import annotations

from decimal import Decimal

from . import ast as A
from .check_base import CheckerBase, did_you_mean
from .classify import TASK_ALIASES, TASKS
from .quality import bar_value, quality_tasks, verdict

__all__ = ["StrategyChecks"]

_RATE = ("error_rate",)


class StrategyChecks(CheckerBase):
    def check_strategies(self) -> None:
        for m in self.models.values():
            self.check_quality_scores(m)
        for r in self.routes:
            who = "the default route" if r.is_default else f"route `{r.name}`"
            a = r.action
            if isinstance(a, A.Choose):
                self.check_choose_by(a, who)
                self.check_quality_bars(r, a, who)
            elif isinstance(a, A.Ramp) and a.guard is not None:
                self.check_guard(a, a.guard, who)

    # ------------------------------------------------------------------ quality
    def check_quality_scores(self, m: A.Model) -> None:
        seen: set[str] = set()
        for task, score in m.quality:
            where = self.name_at(m.span, task, after="quality")
            if not 0 <= score <= 1:
                self.add("E230", f"model `{m.name}` scores {task} {score}: a quality score lies in 0..1", where,
                         "write scores as fractions, e.g. 0.86 for 86 %")
            key = TASK_ALIASES.get(task, task)
            if key != A.QUALITY_DEFAULT and key not in TASKS:
                self.add("E231", f"model `{m.name}` scores `{task}`, which is not a task the gateway recognises: "
                                 "the score would never apply", where,
                         did_you_mean(task, (*TASKS, A.QUALITY_DEFAULT), "tasks"))
            if key in seen:
                self.add("W232", f"model `{m.name}` scores {key} twice; the first score counts", where,
                         "keep one score per task")
            seen.add(key)

    def check_quality_bars(self, r: A.Route, a: A.Choose, who: str) -> None:
        bars = [f for f in a.filters if f.what == "quality"]
        if not bars:
            return
        for f in bars:
            bar = bar_value(f)
            if bar is None or not 0 <= bar <= 1:
                self.add("E233", f"the quality bar `quality {f.op} {f.value}` of `choose` in {who} lies outside 0..1",
                         f.span, "quality scores are fractions, e.g. `where quality >= 0.8`")
                return
        got = self.survivors(a)  # type: ignore[attr-defined]  # RouteChecks, in the same checker
        if got is None:
            return
        listed = [self.models[n] for n in got[0] + got[1]]
        tasks = (None, *quality_tasks(listed))
        failing = [t for t in tasks if all(verdict(m, bars, t) is not None for m in listed)]
        bar = " and ".join(f"quality {f.op} {f.value}" for f in bars)
        if len(failing) == len(tasks):
            scored = [m.name for m in listed if m.quality]
            hint = ("no model of the list declares a `quality` score" if not scored else
                    "lower the bar, or add a model whose score passes it")
            self.add("E234", f"no model `choose` in {who} may pick passes `{bar}`, for any task", bars[0].span, hint)
            return
        named = [t for t in failing if t is not None and t in TASKS]
        if named:
            then = ("they go to the fallback" if r.fallback else "they are refused (quality_unmet)")
            self.add("W235", f"for requests of task {', '.join(named)}, no model `choose` in {who} may pick passes "
                             f"`{bar}`: {then}", bars[0].span,
                     "give a listed model a score for those tasks, or add a fallback")

    def check_choose_by(self, a: A.Choose, who: str) -> None:
        if a.by is None:
            return
        if a.by not in A.CHOOSE_BY:
            self.add("E236", f"`choose {a.strategy} by {a.by}` in {who}: `by` is p50 or p95", a.span,
                     did_you_mean(a.by, A.CHOOSE_BY, "percentiles"))
        elif a.strategy != "fastest":
            self.add("E236", f"`by {a.by}` in {who} only means something for `fastest`", a.span,
                     f"write `choose fastest by {a.by}`, or drop `by`")

    # ------------------------------------------------------------------ guards
    def check_guard(self, a: A.Ramp, g: A.Guard, who: str) -> None:
        if g.model is not None:
            where = self.name_at(g.span, g.model, after="on") if g.span != A.NOSPAN else a.span
            if g.model == a.rest and g.model != a.model:
                self.add("E240", f"the guard of the ramp in {who} watches `{g.model}`, the model traffic moves away "
                                 "from: it would hold the ramp when the old model fails", where,
                         f"guard the new model: `on {a.model}`, or leave `on` out")
            elif g.model != a.model:
                if g.model in self.models:
                    self.add("E241", f"the guard of the ramp in {who} watches `{g.model}`, which the ramp sends no "
                                     "traffic to", where, f"guard the new model: `on {a.model}`, or leave `on` out")
                else:
                    self.model_ref(g.model, where, f"the guard of the ramp in {who}")
        if g.window.seconds <= 0:
            self.add("E245", f"the guard of the ramp in {who} looks over a window of 0", g.window.span,
                     "give a window such as `over 10m`")
        for t in g.tests:
            if t.metric not in A.GUARD_METRICS:
                self.add("E242", f"`{t.metric}` is not a guard metric", t.span,
                         did_you_mean(t.metric, A.GUARD_METRICS, "metrics") or
                         f"one of {', '.join(A.GUARD_METRICS)}")
                continue
            if t.op not in (">", ">="):
                self.add("E244", f"the guard test `{t.metric} {t.op} ...` in {who} holds the ramp while things are "
                                 "good", t.span, "a guard names the bad state: use > or >=")
            if t.metric in _RATE:
                if t.percent is None:
                    self.add("E243", f"`{t.metric}` in the guard of {who} is a percentage", t.span,
                             f"write it with %, e.g. `{t.metric} > 5%`")
                elif not 0 <= t.percent <= 100:
                    self.add("E245", f"`{t.metric} {t.op} {t.percent}%` in {who}: a rate lies in 0..100 %", t.span)
            elif t.duration is None:
                self.add("E243", f"`{t.metric}` in the guard of {who} is a latency", t.span,
                         f"write it as a duration, e.g. `{t.metric} > 4s` or `{t.metric} > 800ms`")
            elif t.duration.seconds <= Decimal(0):
                self.add("E245", f"`{t.metric} {t.op} 0` in {who} trips on every request", t.span)
