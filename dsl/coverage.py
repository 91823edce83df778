"""Policy-test coverage: which routes, which disjuncts of each `when`, which split/ramp arms and which
fallbacks the cases of a test run reach, per policy file and in total.

- a route is covered when a case is decided by it;
- a disjunct (one conjunction of the condition's DNF, dsl/conjuncts.py) when a case decided by its route
  satisfies it; a condition too large to expand counts as one item, covered with its route;
- an arm (a split arm above 0 %, a ramp's two sides) when a case decided by its route draws it;
- a fallback when, for a case decided by its route, it is the first model the gateway would try (every
  candidate before it unavailable: the case's model status says their circuits are open).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from . import ast as A
from .conjuncts import TooLarge, conj_holds, conj_text, conjunctions

__all__ = ["Coverage", "Item", "coverage", "coverage_of_runs"]

KINDS = ("route", "disjunct", "arm", "fallback")


@dataclass
class Item:
    kind: str  # one of KINDS
    route: str
    what: str  # the route's name, the disjunct as text, the arm's model, the fallback model
    span: A.Span
    covered: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "route": self.route, "what": self.what, "covered": self.covered,
                "at": f"{self.span.file}:{self.span.line}:{self.span.col}"}


@dataclass
class Coverage:
    items: list[Item] = field(default_factory=list)

    def files(self) -> list[str]:
        return list(dict.fromkeys(i.span.file for i in self.items))

    def counts(self, file: str | None = None, kind: str | None = None) -> tuple[int, int]:
        sel = [i for i in self.items if (file is None or i.span.file == file) and (kind is None or i.kind == kind)]
        return sum(i.covered for i in sel), len(sel)

    def percent(self, file: str | None = None, kind: str | None = None) -> float:
        hit, total = self.counts(file, kind)
        return 100.0 if total == 0 else 100.0 * hit / total

    def missed(self) -> list[Item]:
        return [i for i in self.items if not i.covered]

    def as_json(self) -> dict[str, Any]:
        def block(file: str | None) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for kind in (*KINDS, None):
                hit, total = self.counts(file, kind)
                out[kind or "total"] = {"covered": hit, "total": total, "percent": round(self.percent(file, kind), 2)}
            return out

        return {"total": block(None), "files": {f: block(f) for f in self.files()},
                "missed": [i.as_json() for i in self.missed()]}


def _items(policy: Any) -> list[tuple[int, Item, Any]]:
    """Every coverage item of the compiled policy: (route index, item, what tests it)."""
    out: list[tuple[int, Item, Any]] = []
    for index, route in enumerate(policy.routes):
        if route.span.file == A.NOSPAN.file:
            continue  # the implicit default: nobody wrote it
        out.append((index, Item("route", route.name, route.name, route.span), None))
        if route.when is not None:
            try:
                conjs = conjunctions(route.when)
            except TooLarge:
                conjs = []
            if len(conjs) > 1:
                for conj in conjs:
                    span = getattr(conj[0][0], "span", route.span) if conj else route.span
                    out.append((index, Item("disjunct", route.name, conj_text(conj), span), conj))
        action = route.action
        if isinstance(action, A.Split):
            for arm in action.arms:
                if arm.percent > 0:
                    out.append((index, Item("arm", route.name, arm.model, arm.span or route.span), arm.model))
        elif isinstance(action, A.Ramp):
            for m in dict.fromkeys((action.model, action.rest)):
                out.append((index, Item("arm", route.name, m, action.span), m))
        for fb in route.fallback:
            out.append((index, Item("fallback", route.name, fb, route.span), fb))
    return out


def coverage(policy: Any, outcomes: Iterable[Any]) -> Coverage:
    """Coverage of ``policy`` by the outcomes (dsl.outcome.Outcome) of a test run."""
    items = _items(policy)
    index_of = {r.name: i for i, r in enumerate(policy.routes)}
    by_route: dict[int, list[tuple[Item, Any]]] = {}
    for index, item, probe in items:
        by_route.setdefault(index, []).append((item, probe))
    for out in outcomes:
        d = out.decision
        index = index_of.get(d.rule)
        if index is None or d.error is not None and not d.rule:
            continue
        first = out.order[0].model if out.order else None
        for item, probe in by_route.get(index, ()):
            if item.kind == "route":
                item.covered = True
            elif item.kind == "disjunct":
                item.covered = item.covered or conj_holds(probe, d.facts)
            elif item.kind == "arm":
                item.covered = item.covered or d.arm == probe
            elif item.kind == "fallback":
                item.covered = item.covered or first == probe
    return Coverage([item for _, item, _ in items])


def coverage_of_runs(results: list) -> dict[str, Coverage]:
    """Coverage per policy under test (of dsl.testing.SuiteResult runs); two test files of one policy cover it together."""
    policies: dict[str, tuple[object, list]] = {}
    for s in results:
        if s.policy is not None:
            key = ",".join(map(str, s.suite.policy))
            entry = policies.setdefault(key, (s.policy, []))
            entry[1].extend(r.outcome for r in s.results if r.outcome is not None)
    return {key: coverage(policy, outs) for key, (policy, outs) in policies.items()}
