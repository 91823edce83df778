"""The compiled policy: decision-tree nodes, their evaluation, and the one function that turns a matched
route into a Decision (shared with the reference interpreter, which passes in the arm it drew itself, so
the two can differ only in matching and in the draw: what the property test compares).

Built by dsl/compile.py; see there for how the tree is laid out.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any, Callable, Mapping

from .atoms import cond_text, eval_atom, fact_text, value_text
from .ast import NOSPAN, SCOPES, And, Budget, Cond, Fact, In, Limit, Model, Not, Or, Provider, Ramp, Route, Sticky
from .decision import Decision, Facts, Plan, Target, TraceStep

__all__ = [
    "BUCKETS", "MODELS_FOR_CACHE", "Column", "Leaf", "Lit", "Policy", "RoutePlan", "Row", "Switch", "bucket",
    "ramp_percent", "sticky_value",
]

Column = tuple[str, "str | None"]  # ("team", None) or ("header", "x-tier"): what a Switch hashes on

BUCKETS = 10000  # a split draws a bucket in [0, 10000): percent * 100, so 0.01 % steps


class Lit:
    """One literal of a route's condition in DNF: an atom (or, for an opaque row, a whole condition) and
    its polarity. ``col``/``eq``/``values`` are set when the tree may dispatch on it: ``eq`` means the fact
    must be one of ``values``; otherwise it must be none of them (a missing fact counts as none)."""

    __slots__ = ("atom", "positive", "test", "col", "eq", "values")

    def __init__(
        self,
        atom: Any,
        positive: bool,
        test: Callable[[Facts], bool],
        col: Column | None = None,
        eq: bool = False,
        values: frozenset[str] = frozenset(),
    ):
        self.atom = atom
        self.positive = positive
        self.test = test  # facts -> bool, polarity already applied
        self.col = col
        self.eq = eq
        self.values = values

    def same(self, other: Lit) -> bool:
        return self.positive == other.positive and self.atom == other.atom

    def text(self) -> str:
        text = cond_text(self.atom)
        return text if self.positive else f"not ({text})"


class Row:
    """A route's conjunction as it reaches a node: the literals still to test, and the ones dispatch
    already settled (kept only to explain a decision)."""

    __slots__ = ("route", "lits", "cols", "tests", "settled")

    def __init__(self, route: int, lits: tuple[Lit, ...], settled: tuple[Lit, ...] = ()):
        self.route = route
        self.lits = lits
        self.cols = frozenset(lit.col for lit in lits if lit.col is not None)
        self.tests: tuple[Callable[[Facts], bool], ...] | None = None  # filled in once the row lands in a leaf
        self.settled = settled


class Leaf:
    """Rows in route order, tried first-match; the lowest route whose residual literals all hold wins."""

    __slots__ = ("rows",)

    def __init__(self, rows: tuple[Row, ...]):
        for row in rows:
            if row.tests is None:
                row.tests = tuple(lit.test for lit in row.lits)
        self.rows = rows


class Switch:
    """Hash dispatch on one discrete fact; a value no row names, or a missing fact, takes ``default``."""

    __slots__ = ("col", "get", "branches", "default")

    def __init__(self, col: Column, get: Callable[[Facts], Any]):
        self.col = col
        self.get = get
        self.branches: dict[str, Leaf | Switch] = {}
        self.default: Leaf | Switch = Leaf(())



@dataclass(frozen=True, slots=True)
class RoutePlan:
    """What a route does once matched, precomputed at compile time.

    kind "plan": ``plan`` is the whole answer (use / choose). "requested": ``plan`` has no candidates and
    the requested alias fills them in. "split" / "ramp": ``arms`` = (bucket bound, alias, plan); for a
    split the bounds are cumulative, for a ramp they are filled in from the day.
    """

    kind: str
    plan: Plan
    arms: tuple[tuple[Decimal, str, Plan], ...] = ()
    sticky: Sticky | None = None
    ramp: Ramp | None = None
    # kind "quality" (choose ... where quality ...): task → (plan, models passed over with why); ``plan`` and
    # ``passed`` serve every task not in the map (no task, or one no model scores).
    by_task: Mapping[str, tuple[Plan, tuple[tuple[str, str], ...]]] | None = None
    passed: tuple[tuple[str, str], ...] = ()
    bars: tuple[Any, ...] = ()


def bucket(route_name: str, sticky_value: str) -> int:
    digest = hashlib.sha256(f"{route_name}\0{sticky_value}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def sticky_value(sticky: Sticky | None, facts: Facts, default_by: str | None) -> str:
    """What a draw hashes on; the request id when the sticky fact is missing (so each request draws anew)."""
    by = sticky.by if sticky is not None else default_by
    value: str | None = None
    if by == "user":
        value = facts.user
    elif by == "key":
        value = facts.key
    elif by == "header" and sticky is not None and sticky.param is not None:
        value = facts.headers.get(sticky.param)
    return facts.request_id if value is None else value


def ramp_percent(ramp: Ramp, day: date) -> Decimal:
    if day < ramp.start:
        return Decimal(0)
    if day >= ramp.end:
        return ramp.end_percent
    done = Decimal((day - ramp.start).days) / Decimal((ramp.end - ramp.start).days)
    return ramp.start_percent + (ramp.end_percent - ramp.start_percent) * done


class Policy:
    """A compiled policy version: its declarations, and ``decide`` (the tree) beside ``decide_reference``."""

    __slots__ = (
        "version",
        "providers",
        "models",
        "routes",
        "budgets",
        "limits",
        "_plans",
        "_targets",
        "_root",
        "_budget_index",
        "_limit_index",
        "_models_for_cache",  # set on first use by models_for
        "_ramp_index",  # set on first use by guarded_ramps / held
    )

    def __init__(
        self,
        *,
        version: str,
        providers: Mapping[str, Provider],
        models: Mapping[str, Model],
        routes: tuple[Route, ...],
        budgets: tuple[Budget, ...],
        limits: tuple[Limit, ...],
        plans: tuple[RoutePlan, ...],
        targets: Mapping[str, Target],
        root: Leaf | Switch,
        budget_index: tuple[tuple[str, Mapping[str, tuple[Budget, ...]]], ...],
        limit_index: tuple[tuple[str, Mapping[str, tuple[Limit, ...]]], ...],
    ):
        self.version = version
        self.providers = providers
        self.models = models
        self.routes = routes
        self.budgets = budgets
        self.limits = limits
        self._plans = plans
        self._targets = targets
        self._root = root
        self._budget_index = budget_index
        self._limit_index = limit_index

    def target(self, alias: str) -> Target | None:
        """The Target of model ``alias`` (its prices, context and capabilities as this version compiled
        them), or None for an alias this policy does not declare."""
        return self._targets.get(alias)

    # ------------------------------------------------------------------ matching

    def decide(self, facts: Facts, trace: bool = False) -> Decision:
        """Walk the compiled tree. ``trace=True`` also explains it (slower: it formats each test)."""
        if trace:
            return self._decide_traced(facts)
        node = self._root
        while node.__class__ is Switch:
            node = node.branches.get(node.get(facts), node.default)  # type: ignore[union-attr]
        for row in node.rows:  # type: ignore[union-attr]
            for test in row.tests:
                if not test(facts):
                    break
            else:
                return self.decision_for(row.route, facts, None)
        return self.decision_for(None, facts, None)

    def decide_reference(self, facts: Facts, trace: bool = False) -> Decision:
        """The naive first-match interpreter; equal to ``decide`` in everything but the trace."""
        from . import reference  # imported here: the interpreter builds on the tree, not the other way round

        return reference.decide(self, facts, trace)

    def _decide_traced(self, facts: Facts) -> Decision:
        hits: list[Any] = []
        node = self._root
        while isinstance(node, Switch):
            value = node.get(facts)
            name = fact_text(_column_fact(node.col))
            if value in node.branches:
                hits.append(TraceStep("(dispatch)", f"{name} == {value_text(value)}", True, NOSPAN))
                node = node.branches[value]
            else:
                shown = "missing" if value is None else f"{value_text(value)}, named by no rule"
                hits.append(TraceStep("(dispatch)", f"{name} is {shown}", True, NOSPAN))
                node = node.default
        for row in node.rows:
            for lit in row.lits:
                ok = lit.test(facts)
                hits.append((row.route, lit, ok))
                if not ok:
                    break
            else:
                hits.extend((row.route, lit, True) for lit in row.settled)
                return self.decision_for(row.route, facts, hits)
        return self.decision_for(None, facts, hits)

    # ------------------------------------------------------------------ the decision

    def decision_for(self, index: int | None, facts: Facts, hits: list[Any] | None,
                     arm: int | None = None,
                     chosen: tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None = None) -> Decision:
        """The Decision for route ``index`` (None: nothing matched, only when the default has a condition).
        For a split or ramp, ``arm`` is the index of the arm already drawn (the reference interpreter's own
        draw); None draws it here, the tree's way. For a choose with a quality bar, ``chosen`` is the
        reference's own (models kept, models passed over with why); None looks the task's plan up."""
        trace = self._trace(hits) if hits is not None else ()
        budgets = self._applicable(self._budget_index, facts)
        limits = self._applicable(self._limit_index, facts)
        if index is None:
            return Decision(
                rule="",
                rule_span=NOSPAN,
                plan=Plan("ordered", ()),
                policy_version=self.version,
                facts=facts,
                budgets=budgets,
                limits=limits,
                trace=trace,
                error="no_route: no route matched this request and the default route's condition does not hold",
            )
        route = self.routes[index]
        rp = self._plans[index]
        plan = rp.plan
        alias: str | None = None
        error: str | None = None
        passed: tuple[tuple[str, str], ...] = ()
        kind = rp.kind
        if kind == "quality":
            if chosen is not None:
                plan = replace(plan, candidates=tuple(self._targets[a] for a in chosen[0]))
                passed = chosen[1]
            else:
                plan, passed = rp.by_task.get(facts.task, (plan, rp.passed))  # type: ignore[union-attr]
            if not plan.candidates and not plan.fallback:
                bar = " and ".join(f"quality {f.op} {f.value}" for f in rp.bars)
                error = (f"quality_unmet: no model route `{route.name}` may choose meets {bar} for "
                         f"{'task ' + facts.task if facts.task else 'a request of unknown task'}")
        elif kind == "requested":
            target = self._targets.get(facts.model) if facts.model is not None else None
            if target is None:
                error = f"model_not_found: the model `{facts.model}` is not served by this gateway"
            else:
                plan = Plan(plan.strategy, (target,), plan.fallback, plan.retries, plan.timeout, plan.retry_on,
                            plan.by)
        elif arm is not None:
            _, alias, plan = rp.arms[arm]
        elif kind == "split":
            drawn = bucket(route.name, sticky_value(rp.sticky, facts, None))
            for bound, alias, plan in rp.arms:
                if drawn < bound:
                    break
        elif kind == "ramp":
            assert rp.ramp is not None
            drawn = bucket(route.name, sticky_value(rp.sticky, facts, "key"))
            moved, rest = rp.arms
            _, alias, plan = moved if drawn < ramp_percent(rp.ramp, facts.day) * 100 else rest
        return Decision(
            rule=route.name,
            rule_span=route.span,
            plan=plan,
            policy_version=self.version,
            facts=facts,
            arm=alias,
            budgets=budgets,
            limits=limits,
            trace=trace,
            error=error,
            passed=passed,
        )

    # ------------------------------------------------------------------ guarded ramps

    def guarded_ramps(self) -> Mapping[str, Ramp]:
        """Rule name → its ramp, for every ramp that names a guard (what the gateway watches)."""
        try:
            return self._ramp_index
        except AttributeError:
            found = {r.name: r.action for r in self.routes if isinstance(r.action, Ramp) and r.action.guard}
            self._ramp_index = found
            return found

    def held(self, decision: Decision, why: str) -> Decision:
        """``decision`` — a guarded ramp's, drawn for its new model — sent to the ramp's rest instead, with a
        trace step saying why: what a tripped guard does. Pure; the gateway judges the guard."""
        index = next(i for i, r in enumerate(self.routes) if r.name == decision.rule)
        _, alias, plan = self._plans[index].arms[1]
        step = TraceStep(decision.rule, f"ramp guard holds the ramp at {alias}: {why}", True, decision.rule_span)
        return replace(decision, arm=alias, plan=plan, trace=decision.trace + (step,))

    # ------------------------------------------------------------------ what a caller can be served

    def models_for(
        self,
        *,
        team: str | None = None,
        project: str | None = None,
        app: str | None = None,
        cost_center: str | None = None,
        key: str | None = None,
    ) -> tuple[str, ...]:
        """The model aliases a caller with this principal can be served, in declaration order (for GET
        /v1/models). ``key`` is the virtual key's id; None means the caller has no such fact.

        Sound, not exact: every model ``decide`` can put in a plan (candidates or fallback) or a budget
        can downgrade to, for any request from this principal, is listed. Routes are walked in order with
        the principal known and every request fact (model, user, task, headers, tags, tokens, stream,
        tools, time, date, weekday) unknown, in three-valued logic: a route whose condition is false for
        this principal is skipped, any other adds the models it can send to (``use requested``: every
        model), and one whose condition holds whatever the request ends the walk. Cached per principal.
        """
        principal = (team, project, app, cost_center, key)
        try:
            cache = self._models_for_cache
        except AttributeError:
            cache = self._models_for_cache = _Lru(MODELS_FOR_CACHE)
        found = cache.get(principal)
        if found is None:
            found = self._models_for(principal)
            cache.put(principal, found)
        return found

    def _models_for(self, principal: tuple[str | None, ...]) -> tuple[str, ...]:
        team, project, app, cost_center, key = principal
        who = Facts(team=team, project=project, app=app, cost_center=cost_center, key=key)
        reachable: set[str] = set()
        for index, route in enumerate(self.routes):
            holds = True if route.when is None else _principal_truth(route.when, who)
            if holds is False:
                continue
            reachable.update(self._route_models(index))
            if holds is True:  # every request from this caller that gets here stops here
                break
        for budget in self._applicable(self._budget_index, who):
            reachable.update(t.target for t in budget.thresholds if t.action == "downgrade" and t.target)
        return tuple(name for name in self.models if name in reachable)

    def _route_models(self, index: int) -> list[str]:
        """Every alias route ``index`` can put in a plan: candidates, drawable arms, fallback."""
        rp = self._plans[index]
        names = [t.model for t in rp.plan.candidates + rp.plan.fallback]
        for plan, _ in (rp.by_task or {}).values():
            names.extend(t.model for t in plan.candidates)
        if rp.kind == "requested":
            names.extend(self._targets)
        elif rp.kind == "split":
            # Arm i is drawn for buckets in [max(earlier bounds), bound_i); the last also for any bucket
            # past every bound (the draw falls through to it). A 0 % arm is never drawn.
            below = Decimal(0)
            for bound, alias, _ in rp.arms:
                if below < bound and below < BUCKETS:
                    names.append(alias)
                below = max(below, bound)
            if below < BUCKETS:
                names.append(rp.arms[-1][1])
        elif rp.kind == "ramp":
            names.extend(alias for _, alias, _ in rp.arms)
        return names

    @staticmethod
    def _applicable(index: tuple[tuple[str, Mapping[str, tuple[Any, ...]]], ...], facts: Facts) -> tuple[Any, ...]:
        # Only scopes the policy uses are in ``index``, so this is one dict lookup per such scope.
        found: tuple[Any, ...] = ()
        for scope, by_subject in index:
            subject = getattr(facts, scope)
            if subject is not None:
                found += by_subject.get(subject, ())
        return found

    def _trace(self, hits: list[Any]) -> tuple[TraceStep, ...]:
        steps = []
        for hit in hits:
            if isinstance(hit, TraceStep):
                steps.append(hit)
                continue
            index, item, result = hit
            rule = self.routes[index].name
            if isinstance(item, Lit):
                steps.append(TraceStep(rule, item.text(), result, getattr(item.atom, "span", NOSPAN)))
            else:
                steps.append(TraceStep(rule, cond_text(item), result, getattr(item, "span", NOSPAN)))
        return tuple(steps)


def _column_fact(col: Column) -> Fact:
    return Fact(col[0], col[1])


MODELS_FOR_CACHE = 1024  # principals remembered per policy by models_for


def _principal_truth(cond: Cond, who: Facts) -> bool | None:
    """``cond`` in Kleene's three-valued logic: principal facts (team, project, app, cost_center, key) as
    in ``who`` (None: missing, with the reference meaning), every other fact unknown (None)."""
    if isinstance(cond, Not):
        inner = _principal_truth(cond.item, who)
        return None if inner is None else not inner
    if isinstance(cond, And):
        out: bool | None = True
        for item in cond.items:
            value = _principal_truth(item, who)
            if value is False:
                return False
            if value is None:
                out = None
        return out
    if isinstance(cond, Or):
        out = False
        for item in cond.items:
            value = _principal_truth(item, who)
            if value is True:
                return True
            if value is None:
                out = None
        return out
    fact = getattr(cond, "fact", None)
    if fact is not None and fact.name in SCOPES:
        return eval_atom(cond, who)
    if isinstance(cond, In) and not cond.values:  # `in []` never holds, `not in []` always does
        return cond.negated
    return None


class _Lru:
    """A small thread-safe LRU map (the gateway may call models_for from several threads)."""

    __slots__ = ("size", "data", "lock")

    def __init__(self, size: int):
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            value = self.data.get(key)
            if value is not None:
                self.data.move_to_end(key)
            return value

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            if len(self.data) > self.size:
                self.data.popitem(last=False)

    def __len__(self) -> int:
        return len(self.data)
