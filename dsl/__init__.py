"""The Open-Router policy language: parse, check, compile and explain policy files.

    from dsl import load_policy
    policy, warnings = load_policy(["policies/"])
    decision = policy.decide(Facts(model="gpt-4o", team="eng"))

Pure Python: no server, database or network; importable, testable and benchmarkable alone.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .ast import PolicySet
from .decision import Decision, Facts, Plan, Target, TraceStep
from .errors import Diagnostic, PolicyCheckError, PolicyError, PolicySyntaxError
from .syntax import gc_paused, load, parse_text

if TYPE_CHECKING:
    from .tree import Policy

__all__ = [
    "Decision", "Diagnostic", "Facts", "Plan", "Policy", "PolicyCheckError", "PolicyError", "PolicySet",
    "PolicySyntaxError", "Target", "TraceStep", "check_policy", "compile_policy", "load", "load_policy",
    "load_policy_set", "parse_text", "policy_version",
]


def policy_version(ps: PolicySet) -> str:
    """A short hash of the normalised sources: file names and text, line endings and trailing blanks folded."""
    h = hashlib.sha256()
    for f in ps.files:
        h.update(Path(f.path).name.encode())
        h.update(b"\0")
        text = "\n".join(line.rstrip() for line in f.source.replace("\r\n", "\n").split("\n")).strip()
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def check_policy(ps: PolicySet) -> list[Diagnostic]:
    """Every diagnostic of the checker (dsl/check.py). Not named `check`: importing the dsl.check submodule
    rebinds that package attribute to the module."""
    from .check import check as _check

    return _check(ps)


def compile_policy(ps: PolicySet, version: str | None = None) -> "Policy":
    from .compile import compile_policy as _compile

    return _compile(ps, version or policy_version(ps))


def load_policy(paths: Iterable[str | Path]) -> tuple["Policy", list[Diagnostic]]:
    """Parse, check and compile. Raises PolicyError on any error; returns the policy and its warnings."""
    _, policy, warnings = load_policy_set(paths)
    return policy, warnings


def load_policy_set(paths: Iterable[str | Path]) -> tuple[PolicySet, "Policy", list[Diagnostic]]:
    """`load_policy`, also returning the parsed files (spans and sources) for checks made later, such as
    budgets against the gateway's keys."""
    with gc_paused():
        ps = load(paths)
        diags = check_policy(ps)
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            raise PolicyCheckError(errors)
        return ps, compile_policy(ps), [d for d in diags if d.severity != "error"]
