"""What one test of a condition means, and how a condition reads: shared by the reference interpreter
(dsl/reference.py), the compiled tree (dsl/tree.py) and the compiler (dsl/compile.py).

A module of its own so that the tree can explain itself without importing the interpreter it is checked
against, and the dependency between the two runs one way (reference -> tree, never back).
"""
from __future__ import annotations

import json
import operator
import re
from datetime import date
from typing import Any, Callable

from .ast import BOOL_FACTS, NUMBER_FACTS, STRING_FACTS, And, Compare, Cond, Fact, In, IsTrue, Matches, Not, Or, TimeOfDay
from .decision import Facts

__all__ = ["ORDERING", "cond_text", "eval_atom", "fact_text", "fact_value", "literal", "value_text"]

ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def fact_value(fact: Fact, facts: Facts) -> Any:
    """The request's value for ``fact``; None when the request does not carry it."""
    name = fact.name
    if name == "header":
        return None if fact.param is None else facts.headers.get(fact.param)
    if name == "tag":
        return fact.param in facts.tags
    if name == "time":
        return facts.minutes
    if name == "date":
        return facts.day
    if name in STRING_FACTS or name in NUMBER_FACTS or name in BOOL_FACTS:
        return getattr(facts, name)
    return None  # a fact the language does not know is simply never present


def literal(value: object) -> object:
    """A condition's literal in the form the fact has: times of day compare as minutes."""
    return value.minutes if isinstance(value, TimeOfDay) else value


def eval_atom(atom: Any, facts: Facts) -> bool:
    """One test without ``and``/``or``/``not``. A missing fact satisfies only ``!=`` and ``not in``."""
    value = fact_value(atom.fact, facts)
    if isinstance(atom, Compare):
        if value is None:
            return atom.op == "!="
        if atom.op == "==":
            return bool(value == literal(atom.value))
        if atom.op == "!=":
            return bool(value != literal(atom.value))
        op = ORDERING.get(atom.op)
        if op is None:
            return False
        try:
            return bool(op(value, literal(atom.value)))
        except TypeError:  # e.g. a date against a number: such a test never holds
            return False
    if isinstance(atom, In):
        if value is None:
            return atom.negated
        return (value in tuple(literal(v) for v in atom.values)) != atom.negated
    if isinstance(atom, Matches):
        return isinstance(value, str) and re.search(atom.pattern, value) is not None
    if isinstance(atom, IsTrue):
        if atom.fact.name == "header":
            return value is not None  # present, even when empty
        return bool(value)
    return False


# --------------------------------------------------------------------------- condition text, for traces


def fact_text(fact: Fact) -> str:
    if fact.param is not None:
        return f"{fact.name} {json.dumps(fact.param)}"
    return fact.name


def value_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def cond_text(cond: Cond) -> str:
    """The condition as a reviewer would write it (close to the source; not the canonical formatter)."""
    if isinstance(cond, Compare):
        return f"{fact_text(cond.fact)} {cond.op} {value_text(cond.value)}"
    if isinstance(cond, In):
        values = ", ".join(value_text(v) for v in cond.values)
        return f"{fact_text(cond.fact)} {'not in' if cond.negated else 'in'} [{values}]"
    if isinstance(cond, Matches):
        return f"{fact_text(cond.fact)} matches {json.dumps(cond.pattern, ensure_ascii=False)}"
    if isinstance(cond, IsTrue):
        return fact_text(cond.fact)
    if isinstance(cond, Not):
        return f"not ({cond_text(cond.item)})"
    if isinstance(cond, And):
        return " and ".join(f"({cond_text(c)})" if isinstance(c, Or) else cond_text(c) for c in cond.items)
    if isinstance(cond, Or):
        return " or ".join(cond_text(c) for c in cond.items)
    return repr(cond)
