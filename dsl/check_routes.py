"""Checks on routes: names, actions (use, split, choose, ramp), fallbacks, retries and timeouts, header names
in conditions, and routes that can never match (E110, E113, E114, E140-E146, W141, W142, W147, E150, E151,
W170-W173, W190, W191, E200, W201, W202, W210, W220 unknown task names). Shadowing and ramp overlaps are computed in
dsl/shadowing.py; this module words them.
"""
from __future__ import annotations

from decimal import Decimal

from . import ast as A
from .classify import TASK_ALIASES, TASKS
from .check_base import DEFAULT_RETRIED, HTTP_TOKEN, MAX_RETRIES, CheckerBase, did_you_mean
from .regions import Undecided, atoms
from .regions import dnf as regions_of
from .shadowing import Meets, shadow_findings

__all__ = ["RouteChecks"]


class RouteChecks(CheckerBase):
    def check_routes(self) -> None:
        names: dict[str, A.Route] = {}
        default: A.Route | None = None
        for r in self.routes:
            if r.is_default:
                if default is not None:
                    self.add("E114", "more than one `default` route", r.span,
                             f"the first is at {default.span.file}:{default.span.line}")
                else:
                    default = r
            else:
                if r.name == "default":
                    self.add("E113", "`route default` is an ordinary route named `default`, not the default route",
                             r.span, "write `default` without `route` for the route tried last, or rename it")
                if r.name in names:
                    first = names[r.name]
                    self.add("E113", f"route `{r.name}` is declared twice", self.at_after(r.span, "route"),
                             f"the first is at {first.span.file}:{first.span.line}")
                else:
                    names[r.name] = r
            self.check_action(r)
            self.check_fallback(r)
            if r.timeout is not None and r.timeout.seconds <= 0:
                self.add("E200", f"route `{r.name}` has a timeout of 0: every attempt would time out", r.timeout.span,
                         "remove it or give a positive duration such as 30s")
            if r.retries is not None and r.retries > MAX_RETRIES:
                self.add("W201", f"route `{r.name}` retries {r.retries} times per target", self.at_after(r.span, "retries"),
                         f"more than {MAX_RETRIES} retries mostly adds latency; fallbacks are the better lever")
            for status in dict.fromkeys(r.retry_on):
                if status in DEFAULT_RETRIED:
                    self.add("W202", f"route `{r.name}`: status {status} is already retried",
                             self.name_at(r.span, str(status), after="on"),
                             f"the gateway always retries {', '.join(map(str, sorted(DEFAULT_RETRIED)))}; remove it")
        self.check_ramp_overlaps()

    def check_action(self, r: A.Route) -> None:
        a = r.action
        who = "the default route" if r.is_default else f"route `{r.name}`"
        if isinstance(a, A.Use):
            if a.model != A.REQUESTED and a.model not in self.models:
                self.model_ref(a.model, self.at_after(a.span, "use"), f"`use` in {who}")
        elif isinstance(a, A.Split):
            self.check_split(a, who)
        elif isinstance(a, A.Choose):
            self.check_choose(a, who)
        elif isinstance(a, A.Ramp):
            self.check_ramp(a, who)

    def check_split(self, a: A.Split, who: str) -> None:
        total = sum((arm.percent for arm in a.arms), Decimal(0))
        if total != 100:
            self.add("E140", f"the split in {who} sums to {total.normalize():f}%, not 100%", a.span,
                     "make the percentages add up to 100")
        seen: set[str] = set()
        for arm in a.arms:
            if arm.model not in self.models:
                self.model_ref(arm.model, arm.span, f"the split in {who}")
            if arm.percent == 0:
                self.add("W141", f"the split in {who} gives `{arm.model}` 0%: it never receives traffic", arm.span,
                         "remove the arm")
            if arm.model in seen:
                self.add("W142", f"the split in {who} lists `{arm.model}` twice", arm.span,
                         "give it one arm with the summed percentage")
            seen.add(arm.model)
        if a.sticky is not None and a.sticky.by == "header" and a.sticky.param is not None:
            self.check_header_name(a.sticky.param, a.sticky.span)

    def filter_verdict(self, m: A.Model, f: A.Filter) -> bool | None:
        """Whether model ``m`` passes filter ``f``; None when it cannot be told here (no tier, bad names)."""
        if f.what == "supports":
            return f.value in m.capabilities
        if f.what == "tier":
            if m.tier not in A.TIERS or f.value not in A.TIERS:
                return None
            a, b = A.TIERS.index(m.tier), A.TIERS.index(f.value)
            ops = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
            return ops.get(f.op or "")
        return None

    def survivors(self, a: A.Choose) -> tuple[list[str], list[str]] | None:
        """(models that surely pass the filters, models that may); None when a name is unknown."""
        models = list(dict.fromkeys(a.models))
        if any(m not in self.models for m in models):
            return None
        sure, maybe = [], []
        for name in models:
            verdicts = [self.filter_verdict(self.models[name], f) for f in a.filters]
            if all(v is True for v in verdicts):
                sure.append(name)
            elif not any(v is False for v in verdicts):
                maybe.append(name)
        return sure, maybe

    def check_choose(self, a: A.Choose, who: str) -> None:
        if a.strategy not in A.STRATEGIES:
            self.add("E108", f"`{a.strategy}` is not a strategy", a.span,
                     did_you_mean(a.strategy, A.STRATEGIES, "strategies"))
        seen: dict[str, int] = {}
        for name in a.models:
            n = seen.get(name, 0)
            if n == 0 and name not in self.models:
                self.model_ref(name, self.name_at(a.span, name, after="of"), f"`choose` in {who}")
            if n == 1:
                self.add("W171", f"`choose` in {who} lists `{name}` twice",
                         self.name_at(a.span, name, after="of", nth=1), "list each model once")
            seen[name] = n + 1
        for f in a.filters:
            if f.what == "tier" and f.value not in A.TIERS:
                self.add("E104", f"`{f.value}` is not a tier", f.span, did_you_mean(f.value, A.TIERS, "tiers"))
            if f.what == "supports" and f.value not in A.CAPABILITIES:
                self.add("E105", f"`{f.value}` is not a capability", f.span,
                         did_you_mean(f.value, A.CAPABILITIES, "capabilities"))
        if len(seen) == 1:
            only = next(iter(seen))
            self.add("W170", f"`choose` in {who} has only `{only}` to choose from", a.span, f"`use {only}` says the same")
            return
        if not a.filters:
            return
        got = self.survivors(a)
        if got is None:
            return
        sure, maybe = got
        if not sure and not maybe:
            self.add("E172", f"the filters of `choose` in {who} leave no model", a.span,
                     "loosen the `where` filters or add a model that passes them")
        elif len(sure) == 1 and not maybe:
            self.add("W173", f"the filters of `choose` in {who} leave only `{sure[0]}`", a.span,
                     f"`use {sure[0]}` says the same")

    def check_ramp(self, a: A.Ramp, who: str) -> None:
        if a.model not in self.models:
            self.model_ref(a.model, self.at_after(a.span, "ramp"), f"the ramp in {who}")
        if a.rest not in self.models:
            self.model_ref(a.rest, self.at_after(a.span, "rest"), f"the ramp in {who}")
        if a.model == a.rest:
            self.add("E146", f"the ramp in {who} moves traffic from `{a.rest}` to itself", a.span,
                     "ramp to a different model than `rest`")
        for p in (a.start_percent, a.end_percent):
            if not 0 <= p <= 100:
                self.add("E145", f"the ramp in {who} goes to {p}%: a share of traffic lies in 0..100%", a.span)
        if a.end <= a.start:
            self.add("E143", f"the ramp in {who} ends on {a.end}, not after it starts on {a.start}", a.span,
                     "the `to` date must come after the `from` date")
        if a.end_percent < a.start_percent:
            self.add("E144", f"the ramp in {who} runs backwards, from {a.start_percent}% down to {a.end_percent}%",
                     a.span, f"to move traffic back, ramp `{a.rest}` up and make `{a.model}` the rest")
        if a.sticky is not None and a.sticky.by == "header" and a.sticky.param is not None:
            self.check_header_name(a.sticky.param, a.sticky.span)

    def check_ramp_overlaps(self) -> None:
        """W147, naming for each ramp the first earlier ramp it overlaps. Only ramps between the same two models
        are compared, and among those only the ones an index of their conditions cannot rule out."""
        groups: dict[frozenset[str], Meets] = {}
        for rj in self.routes:
            aj = rj.action
            if not isinstance(aj, A.Ramp):
                continue
            group = groups.setdefault(frozenset((aj.model, aj.rest)), Meets())
            try:
                dj = regions_of(rj.when)
            except Undecided:
                dj = None
            if aj.end > aj.start:  # else E143 already; a backwards date range says nothing about overlap
                for ri, ai in group.meeting(dj):
                    assert isinstance(ai, A.Ramp)
                    if ai.model == ai.rest or ai.end <= ai.start:
                        continue
                    if not (ai.start <= aj.end and aj.start <= ai.end):
                        continue
                    self.add("W147", f"the ramp in route `{rj.name}` moves traffic between `{aj.rest}` and "
                                     f"`{aj.model}` over dates that overlap the ramp in route `{ri.name}` "
                                     f"({ri.span.file}:{ri.span.line})", aj.span,
                             "merge the two ramps, or keep their dates or conditions apart")
                    break
            group.add(dj, (rj, aj))

    def check_fallback(self, r: A.Route) -> None:
        who = "the default route" if r.is_default else f"route `{r.name}`"
        plan = self.plan_models(r.action)
        seen: dict[str, int] = {}
        for name in r.fallback:
            n = seen.get(name, 0)
            # (the name is looked up in the source only when there is something to report)
            if n == 0:
                if name not in self.models:
                    self.model_ref(name, self.name_at(r.span, name, after="fallback"), f"the fallback of {who}")
                elif name in plan:
                    self.add("E150", f"the fallback of {who} repeats `{name}`, which the route already tries",
                             self.name_at(r.span, name, after="fallback"),
                             "fall back to a different model; `retries` tries the same one again")
            else:
                self.add("E151", f"the fallback of {who} lists `{name}` twice",
                         self.name_at(r.span, name, after="fallback", nth=n), "list each model once")
            seen[name] = n + 1

    def plan_models(self, a: A.Action) -> set[str]:
        """Models that are always among the route's own candidates, before its fallback."""
        if isinstance(a, A.Use):
            return set() if a.model == A.REQUESTED else {a.model}
        if isinstance(a, A.Choose):
            got = self.survivors(a)
            if got is None:
                return set(a.models)
            return set(got[0]) | set(got[1])
        if isinstance(a, A.Split):
            arms = [set([arm.model]) for arm in a.arms if arm.percent > 0]
            return set.intersection(*arms) if arms else set()
        return set()

    # ------------------------------------------------------------------ conditions and shadowing
    def check_header_name(self, name: str, where: A.Span) -> None:
        if not HTTP_TOKEN.fullmatch(name):
            self.add("W210", f"header name \"{name}\" is not an HTTP header name (no spaces or quotes)", where,
                     "header names are letters, digits and - (e.g. \"x-team\")")

    def check_conditions(self) -> None:
        for r in self.routes:
            for atom in atoms(r.when):
                fact = getattr(atom, "fact", None)
                if isinstance(fact, A.Fact) and fact.name == "header" and fact.param is not None:
                    self.check_header_name(fact.param, fact.span)
                if isinstance(fact, A.Fact) and fact.name == "task":
                    values = getattr(atom, "values", None) or (getattr(atom, "value", None),)
                    for v in values:
                        if isinstance(v, str) and v not in TASKS:
                            self.add("W220", f"`{v}` is not a task the gateway recognises: `task is {v}` never "
                                             "holds unless clients send it in x-open-router-task",
                                     getattr(atom, "span", fact.span),
                                     (f"did you mean `{TASK_ALIASES[v]}`?" if v in TASK_ALIASES
                                      else did_you_mean(v, TASKS, "tasks")))
        for code, r, shadows in shadow_findings(self.routes):
            if code == "W191":
                self.add("W191", f"route `{r.name}` can never match: its condition is never true",
                         self.at_after(r.span, "when") if r.when is not None else r.span,
                         "two tests of one fact contradict each other")
            else:
                self.report_shadow(r, shadows)

    def report_shadow(self, r: A.Route, shadows: list[A.Route]) -> None:
        who = "the default route" if r.is_default else f"route `{r.name}`"
        if len(shadows) == 1:
            er = shadows[0]
            hint = (f"`{er.name}` matches every request; give it a narrower `when`, or remove the default"
                    if r.is_default else f"move it above `{er.name}`, narrow `{er.name}`, or remove it")
            self.add("W190", f"{who} can never match: route `{er.name}` ({er.span.file}:{er.span.line}) "
                             f"catches everything it would", r.span, hint)
            return
        listed = ", ".join(f"`{e.name}` ({e.span.file}:{e.span.line})" for e in shadows)
        hint = ("together they match every request; narrow one of them, or remove the default" if r.is_default
                else "reorder the routes, or remove this one")
        self.add("W190", f"{who} can never match: routes {listed} together catch everything it would", r.span, hint)
