"""The reference interpreter: first match in file order, conditions walked straight off the AST, and split
and ramp arms drawn straight from the route's action.

It defines what a policy means. The compiled tree (dsl/tree.py) must agree with it on every policy and
every request; tests/dsl/test_tree_property.py holds the two equal. So that the property can see a bug in
the tree's arm choice, the draw here is written out again, from the language's definition, rather than
borrowed from the tree: only the Decision is assembled by the shared ``Policy.decision_for``.
"""
from __future__ import annotations

import hashlib
from datetime import date
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from .ast import TIERS, And, Choose, Cond, Not, Or, Ramp, Split, Sticky
from .atoms import eval_atom
from .decision import Decision, Facts
from .quality import verdict as quality_verdict

if TYPE_CHECKING:
    from .tree import Policy

__all__ = ["TraceHit", "decide", "draw", "eval_cond", "ramp_share", "sticky_on"]

# One recorded evaluation: (route index, the atom tested, its result). Formatted into a TraceStep only
# when a trace is asked for.
TraceHit = tuple[int, Any, bool]


def eval_cond(cond: Cond, facts: Facts, route: int = 0, hits: list[TraceHit] | None = None) -> bool:
    """Evaluate a condition left to right with short-circuit; record each atom tested in ``hits``."""
    if isinstance(cond, Not):
        return not eval_cond(cond.item, facts, route, hits)
    if isinstance(cond, And):
        return all(eval_cond(c, facts, route, hits) for c in cond.items)
    if isinstance(cond, Or):
        return any(eval_cond(c, facts, route, hits) for c in cond.items)
    result = eval_atom(cond, facts)
    if hits is not None:
        hits.append((route, cond, result))
    return result


def decide(policy: Policy, facts: Facts, trace: bool = False) -> Decision:
    """First match in file order (the default route is last in ``policy.routes``)."""
    hits: list[TraceHit] | None = [] if trace else None
    for index, route in enumerate(policy.routes):
        if route.when is None or eval_cond(route.when, facts, index, hits):
            return policy.decision_for(index, facts, hits, arm=_arm(route.action, route.name, facts),
                                       chosen=_chosen(policy, route.action, facts))
    return policy.decision_for(None, facts, hits)


# --------------------------------------------------------------------------- choose with a quality bar

_TIER_CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
             "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def _chosen(policy: Policy, action: object, facts: Facts) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]] | None:
    """For a `choose` with a quality bar: the models it may send this request to, in order, and the ones the
    bar left out with why; None for any other action. Written from the language's definition: the where
    filters in turn (tier by the TIERS order, supports by the declared capabilities, quality by the score
    for the request's task, else the model's default, else fail), `cheapest` ordered by the two prices'
    sum and then as written."""
    if not isinstance(action, Choose) or not any(f.what == "quality" for f in action.filters):
        return None
    models = policy.models
    listed = [(i, models[name]) for i, name in enumerate(action.models)]
    for f in action.filters:
        if f.what == "tier":
            want = TIERS.index(f.value)
            listed = [(i, m) for i, m in listed if m.tier in TIERS and _TIER_CMP[f.op or "=="](TIERS.index(m.tier), want)]
        elif f.what == "supports":
            listed = [(i, m) for i, m in listed if f.value in m.capabilities]
    if action.strategy == "cheapest":
        listed.sort(key=lambda im: ((im[1].price_in or 0) + (im[1].price_out or 0), im[0]))
    bars = [f for f in action.filters if f.what == "quality"]
    kept: list[str] = []
    passed: list[tuple[str, str]] = []
    for _, m in listed:
        why = quality_verdict(m, bars, facts.task)
        if why is None:
            kept.append(m.name)
        else:
            passed.append((m.name, why))
    return tuple(kept), tuple(passed)


# --------------------------------------------------------------------------- split and ramp arms


def _arm(action: object, route_name: str, facts: Facts) -> int | None:
    """The index of the arm a split or ramp gives this request (a ramp's arms: 0 the model, 1 the rest)."""
    if isinstance(action, Split):
        bucket = draw(route_name, sticky_on(action.sticky, facts, default="request"))
        total = Fraction(0)
        for i, arm in enumerate(action.arms):
            total += Fraction(arm.percent)
            if bucket < total * 100:
                return i
        return len(action.arms) - 1  # shares short of 100 % (an E140 policy): the rest goes to the last arm
    if isinstance(action, Ramp):
        bucket = draw(route_name, sticky_on(action.sticky, facts, default="key"))
        return 0 if bucket < ramp_share(action, facts.day) * 100 else 1
    return None


def draw(route_name: str, value: str) -> int:
    """A bucket in 0..9999: sha256 of "route name NUL value" (UTF-8; lone surrogates kept) as a big-endian
    number, modulo 10,000. Same route and value, same bucket: that is what makes a split sticky."""
    data = (route_name + "\x00" + value).encode("utf-8", "surrogatepass")
    return int(hashlib.sha256(data).hexdigest(), 16) % 10_000


def sticky_on(sticky: Sticky | None, facts: Facts, default: str) -> str:
    """What the draw hashes: the sticky fact (``default`` when the action names none), or the request id
    when the request lacks that fact, so such requests each draw anew."""
    by = default if sticky is None else sticky.by
    if by == "user" and facts.user is not None:
        return facts.user
    if by == "key" and facts.key is not None:
        return facts.key
    if by == "header" and sticky is not None and sticky.param is not None:
        value = facts.headers.get(sticky.param)
        if value is not None:
            return value
    return facts.request_id


def ramp_share(ramp: Ramp, day: date) -> Fraction:
    """The percentage of traffic a ramp has moved on ``day``, exactly: none before its start, ``end_percent``
    from its end on, and in between the straight line. (Start is tested first: a ramp that ends the day it
    starts, an E143 policy, moves nothing before that day and everything from it.)"""
    if day < ramp.start:
        return Fraction(0)
    if day >= ramp.end:
        return Fraction(ramp.end_percent)
    done = Fraction((day - ramp.start).days, (ramp.end - ramp.start).days)
    return Fraction(ramp.start_percent) + (Fraction(ramp.end_percent) - Fraction(ramp.start_percent)) * done
