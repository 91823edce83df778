"""A condition as the disjuncts a reviewer reads: its DNF over the atoms as written (each literal an atom and
its polarity), with contradictory conjunctions dropped by the condition algebra (dsl/regions.py).

Policy-test coverage counts these disjuncts; the semantic diff prints them as "now also matches ...".
"""
from __future__ import annotations

from typing import Any

from . import ast as A
from .atoms import cond_text, eval_atom, fact_text, value_text
from .decision import Facts
from .dnf import TooLarge, to_dnf
from .regions import DNF_LIMIT, Region, atom_set, meet

__all__ = ["Conj", "TooLarge", "conj_holds", "conj_region", "conj_text", "conjunctions", "literal_text", "region_text"]

Literal = tuple[Any, bool]  # (atom, positive)
Conj = tuple[Literal, ...]


def conj_region(conj: Conj) -> Region | None:
    """The region of requests a conjunction allows; None when no request can satisfy it."""
    region: Region = {}
    for atom, positive in conj:
        key, s = atom_set(atom)
        if not positive:
            s = s.complement()
        if s.empty():
            return None
        if s.full():
            continue
        got = meet(region, {key: s})
        if got is None:
            return None
        region = got
    return region


def conjunctions(cond: A.Cond | None, negate: bool = False, cap: int = DNF_LIMIT) -> list[Conj]:
    """``cond`` (or ``not cond``) as satisfiable conjunctions of literals, in written order; [()] is always,
    [] never. Raises TooLarge past ``cap`` conjunctions."""
    if cond is None:
        return [] if negate else [()]

    def leaf(atom: object, positive: bool) -> list[Conj]:
        return [((atom, positive),)]

    def join(a: Conj, b: Conj) -> Conj | None:
        merged = a + tuple(lit for lit in b if lit not in a)
        return merged if conj_region(merged) is not None else None

    out = to_dnf(cond, not negate, leaf=leaf, meet=join, unit=(), cap=cap, stop_when_never=True)
    seen: list[Conj] = []
    for c in out:
        if c not in seen:
            seen.append(c)
    return seen


def literal_text(lit: Literal) -> str:
    atom, positive = lit
    text = cond_text(atom)
    if positive:
        return text
    if isinstance(atom, A.Compare) and atom.op in ("==", "!="):
        return cond_text(A.Compare(atom.fact, "!=" if atom.op == "==" else "==", atom.value))
    if isinstance(atom, A.In):
        return cond_text(A.In(atom.fact, atom.values, not atom.negated))
    return f"not {text}" if isinstance(atom, A.IsTrue) else f"not ({text})"


def conj_text(conj: Conj) -> str:
    return " and ".join(literal_text(lit) for lit in conj) if conj else "always"


def conj_holds(conj: Conj, facts: Facts) -> bool:
    return all(eval_atom(atom, facts) == positive for atom, positive in conj)


def _val(name: str, v: object) -> str:
    if name == "time" and isinstance(v, int):
        return f"{v // 60:02d}:{v % 60:02d}"
    if name == "date" and isinstance(v, int):
        from datetime import date

        return date.fromordinal(v).isoformat()
    return value_text(v)


def region_text(region: Region) -> str:
    """A region in the policy language's words (opaque tests as written), e.g. `prompt_tokens >= 400 and
    prompt_tokens < 800 and not tools`."""
    from .regions import Discrete, Intervals

    parts: list[str] = []
    for key, s in region.items():
        if key[0] == "~":
            parts.append(cond_text(key[1]) if True in s.vals else f"not ({cond_text(key[1])})")
            continue
        fact = fact_text(A.Fact(key[1], key[2]))
        if isinstance(s, Intervals):
            spans = []
            for a, b in s.ivals:
                if a == b:
                    spans.append(f"{fact} == {_val(key[1], a)}")
                elif a == s.lo:
                    spans.append(f"{fact} <= {_val(key[1], b)}")
                elif b == s.hi:
                    spans.append(f"{fact} >= {_val(key[1], a)}")
                else:
                    spans.append(f"{fact} >= {_val(key[1], a)} and {fact} <= {_val(key[1], b)}")
            parts.append(" or ".join(spans) if len(spans) == 1 else "(" + " or ".join(spans) + ")")
        elif isinstance(s, Discrete):
            vals = sorted(s.vals, key=lambda v: (v is None, str(v)))
            if s.univ is not None and s.univ == frozenset({True, False}):
                parts.append(fact if True in s.vals else f"not {fact}")
            elif vals == [None]:
                parts.append(f"{fact} is missing" if not s.co else f"{fact} is present")
            elif len(vals) == 1:
                parts.append(f"{fact} {'!=' if s.co else '=='} {_val(key[1], vals[0])}")
            else:
                shown = ", ".join(_val(key[1], v) for v in vals if v is not None)
                parts.append(f"{fact} {'not in' if s.co else 'in'} [{shown}]")
    return " and ".join(parts) if parts else "always"
