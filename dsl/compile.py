"""AST → Policy: resolve every route's plan once, and compile the route conditions into a decision tree.

The tree (after Maranget, "Compiling Pattern Matching to Good Decision Trees", 2008): each route's
condition becomes a disjunction of conjunctions of literals; each conjunction is a row (route, literals).
A node hashes on the discrete fact (a string fact or a header) that the most rows test with ``==``/``in``;
rows that pin that fact go to the branches of their values, rows that exclude values go to every other
branch and to the default, rows that ignore it go everywhere. Leaves keep the rows in route order with
their remaining literals and try them first-match, so first-match meaning is preserved exactly. Routes
whose DNF would blow up stay as one opaque row evaluated by the reference interpreter.
"""
from __future__ import annotations

import re
from collections import deque
from decimal import Decimal
from functools import partial
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping

from .ast import (
    price_per_million,
    NOSPAN,
    SCOPES,
    STRING_FACTS,
    TIERS,
    And,
    Budget,
    Choose,
    Compare,
    Cond,
    Fact,
    Filter,
    In,
    IsTrue,
    Limit,
    Matches,
    Model,
    Not,
    Or,
    PolicySet,
    Provider,
    Ramp,
    Route,
    Span,
    Split,
    Use,
    REQUESTED,
)
from .decision import Facts, Plan, Target
from .dnf import TooLarge, to_dnf
from .errors import Diagnostic, PolicyError
from .atoms import eval_atom
from .quality import quality_tasks
from .quality import verdict as quality_verdict
from .reference import eval_cond
from .tree import BUCKETS, Column, Leaf, Lit, Policy, RoutePlan, Row, Switch

__all__ = ["MAX_DNF", "ORDERED_STRATEGIES", "column_getter", "compile_policy", "implicit_default"]

MAX_DNF = 64  # conjunctions per route before it is kept whole (an opaque row)
LIVE_STRATEGIES = {"cheapest", "fastest", "least_busy", "round_robin"}  # ordered per request by the executor
ORDERED_STRATEGIES = LIVE_STRATEGIES - {"cheapest"}  # (kept for importers: the ones on live status)


def implicit_default() -> Route:
    return Route("default", None, Use(REQUESTED), is_default=True)


def compile_policy(
    ps: PolicySet,
    version: str,
    *,
    max_dnf: int = MAX_DNF,
    tree_budget: int | None = None,
) -> Policy:
    """Compile a checked policy. Raises PolicyError (E900) only for what the checker should have caught.

    ``max_dnf`` and ``tree_budget`` (row copies the tree may make; default 32 per row plus 4096) exist so
    tests can force the fallbacks; the defaults keep decide time flat and compile time near-linear.
    """
    decls = ps.decls()
    providers = {d.name: d for d in decls if isinstance(d, Provider)}
    models = {d.name: d for d in decls if isinstance(d, Model)}
    budgets = tuple(d for d in decls if isinstance(d, Budget))
    limits = tuple(d for d in decls if isinstance(d, Limit))
    written = [d for d in decls if isinstance(d, Route)]

    defaults = [r for r in written if r.is_default]
    if len(defaults) > 1:
        raise _error(defaults[1].span, "a policy has one default route; this is another")
    routes = tuple([r for r in written if not r.is_default] + (defaults or [implicit_default()]))

    targets = {m.name: Target(m.name, m.provider, m.upstream, m.price_in, m.price_out, m.context,
                              m.capabilities, m.price_cached_in) for m in models.values()}
    plans = tuple(_route_plan(r, models, targets) for r in routes)

    lits = _Lits()
    rows = []
    for index, route in enumerate(routes):
        for conj in _route_rows(route, lits, max_dnf):
            rows.append(Row(index, conj))
    budget = tree_budget if tree_budget is not None else 32 * len(rows) + 4096
    root = _build_tree(rows, budget)

    return Policy(
        version=version,
        providers=MappingProxyType(providers),
        models=MappingProxyType(models),
        routes=routes,
        budgets=budgets,
        limits=limits,
        plans=plans,
        targets=MappingProxyType(targets),
        root=root,
        budget_index=_scope_index(budgets),
        limit_index=_scope_index(limits),
    )


def _error(span: Span, message: str) -> PolicyError:
    return PolicyError(Diagnostic("E900", "error", message, span))


# --------------------------------------------------------------------------- plans


def _route_plan(route: Route, models: Mapping[str, Model], targets: Mapping[str, Target]) -> RoutePlan:
    def target(alias: str, span: Span) -> Target:
        found = targets.get(alias)
        if found is None:
            raise _error(span if span != NOSPAN else route.span, f"route `{route.name}` names unknown model `{alias}`")
        return found

    action = route.action
    fallback = tuple(target(a, route.span) for a in route.fallback)
    retries = route.retries if route.retries is not None else 1
    timeout = route.timeout.seconds if route.timeout is not None else None
    retry_on = tuple(route.retry_on)

    def plan(candidates: tuple[Target, ...], strategy: str = "ordered", by: str | None = None) -> Plan:
        return Plan(strategy, candidates, fallback, retries, timeout, retry_on, by)

    span = getattr(action, "span", NOSPAN)
    if isinstance(action, Use):
        if action.model == REQUESTED:
            return RoutePlan("requested", plan(()))
        return RoutePlan("plan", plan((target(action.model, span),)))
    if isinstance(action, Split):
        if not action.arms:
            raise _error(span, f"route `{route.name}` splits between no models")
        arms = []
        bound = Decimal(0)
        for arm in action.arms:
            bound += arm.percent * 100
            arms.append((bound, arm.model, plan((target(arm.model, arm.span),))))
        return RoutePlan("split", plan(()), tuple(arms), sticky=action.sticky)
    if isinstance(action, Ramp):
        arms = (
            (Decimal(0), action.model, plan((target(action.model, span),))),
            (Decimal(BUCKETS), action.rest, plan((target(action.rest, span),))),
        )
        return RoutePlan("ramp", plan(()), arms, sticky=action.sticky, ramp=action)
    if isinstance(action, Choose):
        chosen = [(i, models[a]) for i, a in enumerate(action.models) if target(a, span)]
        bars = tuple(f for f in action.filters if f.what == "quality")
        for f in action.filters:
            if f.what != "quality":
                test = _filter(f, route)
                chosen = [(i, m) for i, m in chosen if test(m)]
        if not chosen:
            raise _error(span, f"route `{route.name}`: no model of the choose list passes its where-filters")
        strategy = action.strategy if action.strategy in LIVE_STRATEGIES else "ordered"
        by = action.by if action.strategy == "fastest" and action.by != "p50" else None
        if action.strategy == "cheapest":
            # The static order (the sum of the two prices, then as written) breaks the executor's ties in
            # expected cost, and is the order `decide` shows.
            chosen.sort(key=lambda im: (price_per_million(im[1]), im[0]))
        if not bars:
            return RoutePlan("plan", plan(tuple(targets[m.name] for _, m in chosen), strategy, by))
        # The quality bar depends on the request's task, known only when a request is decided: one plan
        # per task any model scores (and every task the classifier names), the default for the others.
        ms = [m for _, m in chosen]

        def for_task(task: str | None) -> tuple[Plan, tuple[tuple[str, str], ...]]:
            kept, passed = [], []
            for m in ms:
                why = quality_verdict(m, bars, task)
                if why is None:
                    kept.append(targets[m.name])
                else:
                    passed.append((m.name, why))
            return plan(tuple(kept), strategy, by), tuple(passed)

        default_plan, default_passed = for_task(None)
        by_task = {t: for_task(t) for t in quality_tasks(ms)}
        return RoutePlan("quality", default_plan, by_task=MappingProxyType(by_task), passed=default_passed,
                         bars=bars)
    raise _error(route.span, f"route `{route.name}` has an action the compiler does not know")


def _filter(f: Filter, route: Route) -> Callable[[Model], bool]:
    span = f.span if f.span != NOSPAN else route.span
    if f.what == "supports":
        return lambda m: f.value in m.capabilities
    if f.what == "tier":
        if f.value not in TIERS:
            raise _error(span, f"unknown tier `{f.value}` (one of {', '.join(TIERS)})")
        wanted = TIERS.index(f.value)
        ops: dict[str | None, Callable[[int, int], bool]] = {
            "==": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        op = ops.get(f.op)
        if op is None:
            raise _error(span, f"unknown tier comparison `{f.op}`")
        # A model without a (known) tier fails every tier filter: "tier >= standard" is a promise.
        return lambda m: m.tier in TIERS and op(TIERS.index(m.tier), wanted)
    raise _error(span, f"unknown filter `{f.what}`")


def _scope_index(items: Iterable[Budget | Limit]) -> tuple[tuple[str, Mapping[str, tuple[Any, ...]]], ...]:
    by_scope: dict[str, dict[str, tuple[Any, ...]]] = {}
    for item in items:
        if item.scope in SCOPES:  # an unknown scope can never apply
            subjects = by_scope.setdefault(item.scope, {})
            subjects[item.subject] = subjects.get(item.subject, ()) + (item,)
    return tuple((s, MappingProxyType(by_scope[s])) for s in SCOPES if s in by_scope)


# --------------------------------------------------------------------------- conditions → rows


class _Lits:
    """Makes literals, sharing the compiled test of equal atoms: routes repeat the same tests a great
    deal. Each literal keeps its own atom, so a trace points at the place it was written."""

    def __init__(self) -> None:
        self.patterns: dict[str, re.Pattern[str]] = {}
        self.made: dict[tuple[Any, bool], Lit] = {}

    def get(self, atom: Any, positive: bool) -> Lit:
        try:
            known = self.made.get((atom, positive))
        except TypeError:  # an unhashable literal value: fine, just not shared
            return _lit(atom, positive, self.patterns)
        if known is None:
            known = self.made[(atom, positive)] = _lit(atom, positive, self.patterns)
        if known.atom is atom:
            return known
        return Lit(atom, positive, known.test, known.col, known.eq, known.values)


def _route_rows(route: Route, lits: _Lits, max_dnf: int) -> list[tuple[Lit, ...]]:
    """The route's condition as a list of conjunctions (empty list: never; one empty conjunction: always)."""
    if route.when is None:
        return [()]
    _check_patterns(route.when, lits.patterns)
    try:
        return _dnf(route.when, True, lits, max_dnf)
    except TooLarge:
        opaque = Lit(route.when, True, partial(eval_cond, route.when))
        return [(opaque,)]


def _check_patterns(cond: Cond, patterns: dict[str, re.Pattern[str]]) -> None:
    if isinstance(cond, Not):
        _check_patterns(cond.item, patterns)
    elif isinstance(cond, (And, Or)):
        for c in cond.items:
            _check_patterns(c, patterns)
    elif isinstance(cond, Matches) and cond.pattern not in patterns:
        try:
            patterns[cond.pattern] = re.compile(cond.pattern)
        except (re.error, TypeError) as e:
            raise _error(cond.span, f"invalid regular expression {cond.pattern!r}: {e}") from None


def _dnf(cond: Cond, positive: bool, lits: _Lits, cap: int) -> list[tuple[Lit, ...]]:
    # Every part of an `and` is expanded (no stop at "never"), so a part past the cap keeps the route whole.
    return to_dnf(cond, positive, leaf=lambda atom, pos: [(lits.get(atom, pos),)], meet=_merge, unit=(), cap=cap)


def _merge(a: tuple[Lit, ...], b: tuple[Lit, ...]) -> tuple[Lit, ...] | None:
    """a ∧ b without repeats; None when a literal meets its own negation (the conjunction never holds)."""
    if not a or not b:
        return a or b
    out = list(a)
    for lit in b:
        if any(x is lit for x in out):
            continue
        if any(x.atom == lit.atom and x.positive != lit.positive for x in out):
            return None
        if not any(x.same(lit) for x in out):
            out.append(lit)
    return tuple(out)


def _lit(atom: Any, positive: bool, patterns: dict[str, re.Pattern[str]]) -> Lit:
    test = _atom_test(atom, patterns)
    if not positive:
        test = _negate(test)
    return Lit(atom, positive, test, *_discrete(atom, positive))


def _negate(test: Callable[[Facts], bool]) -> Callable[[Facts], bool]:
    return lambda f: not test(f)


def _column(fact: Fact) -> Column | None:
    if fact.name in STRING_FACTS:
        return (fact.name, None)
    if fact.name == "header" and fact.param is not None:
        return ("header", fact.param)
    return None


def column_getter(col: Column) -> Callable[[Facts], Any]:
    name, param = col
    if name == "header":
        return lambda f: f.headers.get(param)
    return lambda f: getattr(f, name)


def _discrete(atom: Any, positive: bool) -> tuple[Column | None, bool, frozenset[str]]:
    """Whether the tree can hash on this literal, and how. Only string values on string-valued facts:
    then the literal is exactly "fact ∈ values" (eq) or "fact ∉ values, or missing" (not eq)."""
    none = (None, False, frozenset())
    if isinstance(atom, Compare) and atom.op in ("==", "!="):
        values: tuple[object, ...] = (atom.value,)
        eq = (atom.op == "==") == positive
    elif isinstance(atom, In):
        values = atom.values
        eq = (not atom.negated) == positive
    else:
        return none
    col = _column(atom.fact)
    if col is None or not all(isinstance(v, str) for v in values):
        return none
    return col, eq, frozenset(values)  # type: ignore[arg-type]


def _atom_test(atom: Any, patterns: dict[str, re.Pattern[str]]) -> Callable[[Facts], bool]:
    """A closure equal to ``atoms.eval_atom(atom, ·)``, specialised for the common shapes."""
    fact: Fact = atom.fact
    name = fact.name
    col = _column(fact)
    if isinstance(atom, Matches) and col is not None:
        search = patterns[atom.pattern].search
        get = column_getter(col)

        def matches(f: Facts) -> bool:
            v = get(f)
            return isinstance(v, str) and search(v) is not None

        return matches
    if isinstance(atom, IsTrue):
        if name in ("stream", "tools"):
            return lambda f: bool(getattr(f, name))
        if name == "tag":
            param = fact.param
            return lambda f: param in f.tags
        if name == "header" and fact.param is not None:
            param = fact.param
            return lambda f: f.headers.get(param) is not None
    if isinstance(atom, Compare) and atom.op in ("<", "<=", ">", ">=") and name in ("prompt_tokens", "time"):
        bound = atom.value.minutes if name == "time" and hasattr(atom.value, "minutes") else atom.value
        if isinstance(bound, int) and not isinstance(bound, bool):
            attr = "minutes" if name == "time" else "prompt_tokens"
            op = atom.op
            if op == "<":
                return lambda f: (v := getattr(f, attr)) is not None and v < bound
            if op == "<=":
                return lambda f: (v := getattr(f, attr)) is not None and v <= bound
            if op == ">":
                return lambda f: (v := getattr(f, attr)) is not None and v > bound
            return lambda f: (v := getattr(f, attr)) is not None and v >= bound
    if isinstance(atom, (Compare, In)):
        discrete = _discrete(atom, True)
        if discrete[0] is not None:
            get = column_getter(discrete[0])
            values = discrete[2]
            # Only strings are hashed on: a missing fact is never among them.
            if discrete[1]:
                return lambda f: get(f) in values
            return lambda f: get(f) not in values
    return partial(eval_atom, atom)


# --------------------------------------------------------------------------- the tree


def _build_tree(rows: list[Row], budget: int) -> Leaf | Switch:
    """Breadth-first, so that when the copy budget runs out the remaining subtrees become leaves
    evenly rather than the last branches of the first switch."""
    slot: list[Leaf | Switch] = [Leaf(())]
    pending: deque[tuple[list[Row], Callable[[Leaf | Switch], None]]] = deque()
    pending.append((rows, lambda node: slot.__setitem__(0, node)))
    used = 0
    while pending:
        rows, attach = pending.popleft()
        rows = _reachable(rows)
        picked = _pick_column(rows)
        if picked is None or used + picked[1] > budget:
            attach(Leaf(tuple(rows)))
            continue
        col, cost = picked
        used += cost
        branches, default = _split(rows, col)
        node = Switch(col, column_getter(col))
        attach(node)
        for value, branch_rows in branches.items():
            pending.append((branch_rows, partial(node.branches.__setitem__, value)))
        pending.append((default, partial(setattr, node, "default")))
    return slot[0]


def _reachable(rows: list[Row]) -> list[Row]:
    # A row with nothing left to test always matches: the rows after it can never be reached here.
    for i, row in enumerate(rows):
        if not row.lits:
            return rows[: i + 1]
    return rows


def _pick_column(rows: list[Row]) -> tuple[Column, int] | None:
    """The column to hash on next, and about how many row copies its children will hold.

    Maranget's "most rows need it" alone is not enough here: a column with many values (team) copies
    every row that ignores it into every branch. So among the columns pinned (==/in) by at least a quarter
    as many rows as the most pinned one, take the one whose children are smallest in total; ties go to
    the most pinned, then to the one met first in route order.
    """
    pinned: dict[Column, int] = {}
    sizes: dict[Column, int] = {}  # sum of |values| over the rows that pin the column
    keys: dict[Column, set[str]] = {}
    for row in rows:
        seen: set[Column] = set()
        for lit in row.lits:
            col = lit.col
            if col is None:
                continue
            keys.setdefault(col, set()).update(lit.values)
            if lit.eq and col not in seen:
                seen.add(col)
                pinned[col] = pinned.get(col, 0) + 1
                sizes[col] = sizes.get(col, 0) + len(lit.values)
    if not pinned:
        return None
    most = max(pinned.values())
    n = len(rows)
    best: tuple[Column, int] | None = None
    best_rank: tuple[int, int] | None = None
    for col, count in pinned.items():
        if 4 * count < most:
            continue
        cost = sizes[col] + (n - count) * (len(keys[col]) + 1)
        rank = (cost, -count)
        if best_rank is None or rank < best_rank:
            best, best_rank = (col, cost), rank
    return best


def _split(rows: list[Row], col: Column) -> tuple[dict[str, list[Row]], list[Row]]:
    keyed: list[tuple[Row, frozenset[str] | None, frozenset[str]]] = []
    keys: dict[str, None] = {}  # every value any row names, in order: `!= v` needs its own branch too
    for row in rows:
        on = [lit for lit in row.lits if lit.col == col] if col in row.cols else None
        if not on:
            keyed.append((row, None, frozenset()))
            continue
        allowed: frozenset[str] | None = None
        excluded: frozenset[str] = frozenset()
        for lit in on:
            keys.update(dict.fromkeys(lit.values))
            if lit.eq:
                allowed = lit.values if allowed is None else allowed & lit.values
            else:
                excluded = excluded | lit.values
        rest = tuple(lit for lit in row.lits if lit.col != col)
        keyed.append((Row(row.route, rest, row.settled + tuple(on)), allowed, excluded))
    branches: dict[str, list[Row]] = {k: [] for k in keys}
    default: list[Row] = []
    every = list(branches.values())
    for row, allowed, excluded in keyed:
        if allowed is not None:
            for value in allowed:
                if value not in excluded:
                    branches[value].append(row)
            continue
        if excluded:
            for value, branch in branches.items():
                if value not in excluded:
                    branch.append(row)
        else:
            for branch in every:
                branch.append(row)
        default.append(row)
    # Rows were appended in route order, so every branch keeps first-match order.
    return branches, default
