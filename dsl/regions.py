"""The condition algebra: what a route's condition allows, as regions of the space of requests.

A region is a conjunction of per-fact value sets (`Discrete` for names, flags and weekdays, `Intervals` for
prompt_tokens, time and date); a condition is a union of regions, its DNF (`dnf`, bounded by DNF_LIMIT).
On regions: `meet` (and), `implies` (inside), `join` (or, when exact as one region), `RegionUnion` (a
bounded union kept small), `disjoint` (no request satisfies both conditions). `matches` and anything not
modelled exactly are opaque tests, equal only to themselves. The checker's shadowing and overlap findings
(dsl/shadowing.py) are built on this, and so can coming `diff` and coverage tools be.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable, Iterator

from . import ast as A
from .dnf import TooLarge, to_dnf

__all__ = [
    "DNF_LIMIT", "Discrete", "FactKey", "Intervals", "Region", "RegionUnion", "Undecided", "ValueSet", "atom_set",
    "atoms", "disjoint", "dnf", "implies", "join", "meet", "universe",
]

DNF_LIMIT = 64  # regions per condition (and per union of earlier routes) before the checker gives up


# --------------------------------------------------------------------------- value sets

_INF = 10 ** 18
_BOOLS = frozenset({True, False})
_WEEK = frozenset(A.WEEKDAYS)
_ORDERED = {"prompt_tokens": (0, _INF), "time": (0, 24 * 60 - 1), "date": (1, date.max.toordinal())}
_DISCRETE_BOOL = ("stream", "tools", "tag")


@dataclass(frozen=True)
class Discrete:
    """A set of discrete values: ``vals`` itself, or (``co``) everything but ``vals``. ``univ`` is the finite
    universe when there is one (booleans, weekdays); None means infinite (names, header values, and None for
    a fact the request does not carry)."""

    vals: frozenset
    co: bool
    univ: frozenset | None = None

    @staticmethod
    def of(vals: Iterable[object], co: bool, univ: frozenset | None) -> "Discrete":
        v = frozenset(vals)
        if univ is not None:
            return Discrete((univ - v) if co else (v & univ), False, univ)
        return Discrete(v, co, None)

    def empty(self) -> bool:
        return not self.co and not self.vals

    def full(self) -> bool:
        if self.univ is not None:
            return self.vals == self.univ
        return self.co and not self.vals

    def complement(self) -> "Discrete":
        return Discrete.of(self.vals, not self.co, self.univ)

    def inter(self, o: "Discrete") -> "Discrete":
        if not self.co and not o.co:
            return Discrete.of(self.vals & o.vals, False, self.univ)
        if not self.co:
            return Discrete.of(self.vals - o.vals, False, self.univ)
        if not o.co:
            return Discrete.of(o.vals - self.vals, False, self.univ)
        return Discrete.of(self.vals | o.vals, True, self.univ)

    def union(self, o: "Discrete") -> "Discrete":
        return self.complement().inter(o.complement()).complement()

    def subset(self, o: "Discrete") -> bool:
        return self.inter(o.complement()).empty()


@dataclass(frozen=True)
class Intervals:
    """A set of whole numbers inside [lo, hi], as sorted, disjoint, non-adjacent closed intervals."""

    ivals: tuple[tuple[int, int], ...]
    lo: int
    hi: int

    @staticmethod
    def of(ivals: Iterable[tuple[int, int]], lo: int, hi: int) -> "Intervals":
        clipped = sorted((max(a, lo), min(b, hi)) for a, b in ivals if max(a, lo) <= min(b, hi))
        merged: list[tuple[int, int]] = []
        for a, b in clipped:
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return Intervals(tuple(merged), lo, hi)

    def empty(self) -> bool:
        return not self.ivals

    def full(self) -> bool:
        return self.ivals == ((self.lo, self.hi),)

    def complement(self) -> "Intervals":
        out, at = [], self.lo
        for a, b in self.ivals:
            if a > at:
                out.append((at, a - 1))
            at = b + 1
        if at <= self.hi:
            out.append((at, self.hi))
        return Intervals.of(out, self.lo, self.hi)

    def inter(self, o: "Intervals") -> "Intervals":
        return Intervals.of(((max(a, c), min(b, d)) for a, b in self.ivals for c, d in o.ivals), self.lo, self.hi)

    def union(self, o: "Intervals") -> "Intervals":
        return Intervals.of(self.ivals + o.ivals, self.lo, self.hi)

    def subset(self, o: "Intervals") -> bool:
        return self.inter(o.complement()).empty()


ValueSet = Discrete | Intervals
FactKey = tuple  # ("fact", name, param) or ("~", atom) for a test decided only by identity
Region = dict  # FactKey -> ValueSet; a missing key means "any value"


# The condition is too large to put in normal form: say nothing about it.
Undecided = TooLarge


def universe(key: FactKey) -> ValueSet:
    if key[0] == "~" or key[1] in _DISCRETE_BOOL:
        return _ALL_BOOLS
    got = _ALL_ORDERED.get(key[1])
    if got is not None:
        return got
    if key[1] == "weekday":
        return _ALL_WEEK
    return _ALL_NAMES


# (the sets are immutable, so one instance of each universe serves every fact)
_ALL_BOOLS = Discrete(_BOOLS, False, _BOOLS)
_ALL_WEEK = Discrete(_WEEK, False, _WEEK)
_ALL_NAMES = Discrete(frozenset(), True, None)
_ALL_ORDERED = {name: Intervals(((lo, hi),), lo, hi) for name, (lo, hi) in _ORDERED.items()}


def _number(fact: str, v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if fact == "prompt_tokens" and isinstance(v, int):
        return v
    if fact == "time":
        if isinstance(v, A.TimeOfDay):
            return v.minutes
        return v if isinstance(v, int) else None
    if fact == "date" and isinstance(v, date):
        return v.toordinal()
    return None


def atom_set(atom: object) -> tuple[FactKey, ValueSet]:
    """The set of values for which ``atom`` holds, following dsl.atoms.eval_atom (a missing fact satisfies
    only != and not in). Anything not modelled exactly is an opaque test keyed by the atom itself."""
    opaque: tuple[FactKey, ValueSet] = (("~", atom), Discrete(frozenset({True}), False, _BOOLS))
    fact = getattr(atom, "fact", None)
    if not isinstance(fact, A.Fact):
        return opaque
    key: FactKey = ("fact", fact.name, fact.param)
    univ = universe(key)
    name = fact.name
    if isinstance(atom, A.Compare):
        if name in _ORDERED:
            assert isinstance(univ, Intervals)
            v = _number(name, atom.value)
            if v is None:
                return opaque
            lo, hi = univ.lo, univ.hi
            ranges = {"<": (lo, v - 1), "<=": (lo, v), ">": (v + 1, hi), ">=": (v, hi), "==": (v, v)}
            if atom.op in ranges:
                return key, Intervals.of([ranges[atom.op]], lo, hi)
            if atom.op == "!=":
                return key, Intervals.of([(v, v)], lo, hi).complement()
            return opaque
        if name in A.STRING_FACTS or name == "header":
            u = univ.univ if isinstance(univ, Discrete) else None
            if atom.op == "==":
                return key, Discrete.of([atom.value], False, u)
            if atom.op == "!=":
                return key, Discrete.of([atom.value], True, u)
        return opaque
    if isinstance(atom, A.In):
        if name in _ORDERED:
            assert isinstance(univ, Intervals)
            nums = [_number(name, v) for v in atom.values]
            if any(n is None for n in nums):
                return opaque
            s = Intervals.of([(n, n) for n in nums if n is not None], univ.lo, univ.hi)
            return key, (s.complement() if atom.negated else s)
        if name in A.STRING_FACTS or name == "header":
            u = univ.univ if isinstance(univ, Discrete) else None
            return key, Discrete.of(atom.values, atom.negated, u)
        return opaque
    if isinstance(atom, A.IsTrue):
        if name in _DISCRETE_BOOL:
            return key, Discrete(frozenset({True}), False, _BOOLS)
        if name == "header":
            return key, Discrete(frozenset({None}), True, None)
    return opaque


def meet(a: Region, b: Region) -> Region | None:
    out = dict(a)
    for k, s in b.items():
        if k in out:
            s = out[k].inter(s)  # type: ignore[arg-type]
            if s.empty():
                return None
        out[k] = s
    return {k: s for k, s in out.items() if not s.full()}


def dnf(cond: A.Cond | None, negate: bool = False) -> list[Region]:
    """The condition as a list of regions (each a fact → value-set map); [] is never, [{}] is always.
    Raises `Undecided` past DNF_LIMIT regions at any step."""
    if cond is None:
        return [] if negate else [{}]
    # stop_when_never: an `and` that can no longer hold is never, however large its remaining parts
    return to_dnf(cond, not negate, leaf=_atom_regions, meet=meet, unit={}, cap=DNF_LIMIT, stop_when_never=True)


def _atom_regions(atom: object, positive: bool) -> list[Region]:
    key, s = atom_set(atom)
    if not positive:
        s = s.complement()
    if s.empty():
        return []
    return [{}] if s.full() else [{key: s}]


def implies(s: Region, r: Region) -> bool:
    """Every request matching conjunction ``s`` matches conjunction ``r``."""
    return all(s.get(k, universe(k)).subset(rs) for k, rs in r.items())  # type: ignore[arg-type]


def join(a: Region, b: Region) -> Region | None:
    """``a`` ∪ ``b`` as one conjunction when they differ in at most one fact (exact); else None."""
    diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
    if len(diff) != 1:
        return None
    k = diff[0]
    u = a.get(k, universe(k)).union(b.get(k, universe(k)))  # type: ignore[arg-type]
    out = {kk: v for kk, v in a.items() if kk != k}
    if not u.full():
        out[k] = u
    return out


class RegionUnion:
    """The requests earlier routes catch, as a union of conjunctions kept small by absorbing one conjunction
    inside another and joining two that differ in one fact. Past ``DNF_LIMIT`` entries it stops growing:
    what it holds is then a part of the union, which is still sound to test against."""

    def __init__(self) -> None:
        self.items: list[tuple[Region, frozenset[int]]] = []

    def add(self, conj: Region, origin: frozenset[int]) -> None:
        while True:
            if any(implies(conj, c) for c, _ in self.items):
                return
            self.items = [(c, o) for c, o in self.items if not implies(c, conj)]
            for i, (c, o) in enumerate(self.items):
                joined = join(conj, c)
                if joined is not None:
                    del self.items[i]
                    conj, origin = joined, origin | o
                    break
            else:
                if len(self.items) < DNF_LIMIT:
                    self.items.append((conj, origin))
                return

    def cover(self, conj: Region) -> frozenset[int] | None:
        return next((o for c, o in self.items if implies(conj, c)), None)


def atoms(cond: A.Cond | None) -> Iterator[object]:
    if cond is None:
        return
    if isinstance(cond, A.Not):
        yield from atoms(cond.item)
    elif isinstance(cond, (A.And, A.Or)):
        for c in cond.items:
            yield from atoms(c)
    else:
        yield cond


def disjoint(a: A.Cond | None, b: A.Cond | None) -> bool:
    """True only when no request can satisfy both conditions (decided on their normal forms). The plain
    definition behind W147; the checker gets the same answers through `Meets`."""
    try:
        da, db = dnf(a), dnf(b)
    except Undecided:
        return False
    return all(meet(x, y) is None for x in da for y in db)
