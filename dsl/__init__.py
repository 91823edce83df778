"""The Open-Router policy language: parse, check, compile and explain policy files.

    from dsl import load_policy
    policy, warnings = load_policy(["policies/"])
    decision = policy.decide(Facts(model="gpt-4o", team="eng"))

Pure Python: no server, database or network; importable, testable and benchmarkable alone.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from .ast import PolicySet
from .decision import Decision, Facts, Plan, Target, TraceStep
from .errors import Diagnostic, PolicyCheckError, PolicyError, PolicySyntaxError
from .loading import load, load_policy_set, policy_version
from .syntax import parse_text
from .tree import Policy  # named in __all__, so `from dsl import *` must find it

__all__ = [
    "Decision", "Diagnostic", "Facts", "Plan", "Policy", "PolicyCheckError", "PolicyError", "PolicySet",
    "PolicySyntaxError", "Target", "TraceStep", "check_policy", "compile_policy", "load", "load_policy",
    "load_policy_set", "parse_text", "policy_version",
]


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
