"""Disjunctive normal form of a condition: the one engine behind the compiler's rows (dsl/compile.py) and the
checker's regions (dsl/regions.py).

A condition becomes a list of conjunctions, pushing ``not`` down to the atoms by De Morgan: ``[]`` is never,
``[unit]`` is always. The caller says what a conjunction is: ``leaf(atom, positive)`` gives the DNF of one
atom (or its negation), ``meet(a, b)`` joins two conjunctions with ``and`` (None when they contradict), and
``unit`` is the empty conjunction. Past ``cap`` conjunctions at any step, `TooLarge` is raised and the
caller falls back (the compiler keeps the route whole; the checker says nothing about it).
"""
from __future__ import annotations

from typing import Callable, TypeVar

from .ast import And, Cond, Not, Or

__all__ = ["TooLarge", "to_dnf"]

C = TypeVar("C")


class TooLarge(Exception):
    """The condition has more conjunctions than the caller's cap."""


def to_dnf(
    cond: Cond,
    positive: bool,
    *,
    leaf: Callable[[object, bool], list[C]],
    meet: Callable[[C, C], C | None],
    unit: C,
    cap: int,
    stop_when_never: bool = False,
) -> list[C]:
    """``cond`` (``not cond`` when ``positive`` is False) as a list of conjunctions, in the order the
    condition is written. ``stop_when_never``: once the conjunctions of an ``and`` so far can never hold,
    answer ``[]`` without expanding the rest of it (so a later part too large to expand does not matter);
    without it every part is expanded, and any too large raises."""

    def walk(c: Cond, pos: bool) -> list[C]:
        if isinstance(c, Not):
            return walk(c.item, not pos)
        if isinstance(c, (And, Or)):
            if isinstance(c, And) == pos:  # a conjunction: And, or a negated Or by De Morgan
                acc: list[C] = [unit]
                for item in c.items:
                    part = walk(item, pos)
                    acc = [m for a in acc for b in part if (m := meet(a, b)) is not None]
                    if len(acc) > cap:
                        raise TooLarge
                    if not acc and stop_when_never:
                        return []
                return acc
            out: list[C] = []
            for item in c.items:
                out.extend(walk(item, pos))
                if len(out) > cap:
                    raise TooLarge
            return out
        return leaf(c, pos)

    return walk(cond, positive)
