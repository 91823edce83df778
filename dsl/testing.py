"""Policy tests: cases in a data file beside the policy (NAME.tests.yaml / .yml / .json, schema in
schemas/policy-tests.schema.json), each a request and the outcome expected, decided by the gateway's own
code: facts through dsl.facts.facts_for, the compiled `Policy.decide` (checked against the reference
interpreter), then dsl/outcome.py's model of admission and the executor for the stated model status,
budget and rate-limit state.

Why a data file rather than test syntax in the policy language: a case is mostly an OpenAI request body,
which is JSON already; YAML and JSON editors validate against the schema as one types; and the language
stays what a reviewer reads aloud (Cedar's `run-tests` makes the same choice with JSON cases).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from . import ast as A
from .decision import Decision, Facts
from .errors import Diagnostic, PolicyError
from .facts import clean_headers, facts_for, parse_instant
from .outcome import ModelState, Outcome, outcome

__all__ = ["Case", "CaseResult", "Suite", "SuiteResult", "TEST_SUFFIXES", "find_suites", "load_suite", "run_suite",
           "schema"]

TEST_SUFFIXES = (".tests.yaml", ".tests.yml", ".tests.json")
SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "policy-tests.schema.json"


class TestFileError(Exception):
    """A test file that cannot be run: its diagnostics carry file and line."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Case:
    name: str
    line: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Suite:
    path: Path
    policy: list[Path]  # the policy's paths, as `open-router check` takes them
    cases: tuple[Case, ...] = ()


@dataclass
class CaseResult:
    case: Case
    passed: bool
    outcome: Outcome | None = None
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None  # the case could not run (an unknown name, a bad time, ...)
    ms: float = 0.0


@dataclass
class SuiteResult:
    suite: Suite
    results: list[CaseResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)  # the suite or its policy failed to load
    policy: Any = None  # the compiled Policy, for coverage
    policy_set: A.PolicySet | None = None


def _diag(path: Path | str, line: int, message: str, hint: str | None = None, code: str = "T001") -> Diagnostic:
    return Diagnostic(code, "error", message, A.Span(str(path), max(line, 1), 1, max(line, 1), 2), None, hint)


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- finding and reading test files


def find_suites(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Test files under ``paths``: files as given, directories' top-level NAME.tests.* files."""
    found: list[Path] = []
    diags: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            inside = sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(TEST_SUFFIXES))
            if not inside:
                diags.append(_diag(p, 1, f"no test files here (expected NAME{TEST_SUFFIXES[0]} beside the policy)"))
            found.extend(inside)
        elif p.is_file():
            if p.suffix == ".policy":
                sib = [p.with_name(p.stem + s) for s in TEST_SUFFIXES if p.with_name(p.stem + s).is_file()]
                if not sib:
                    diags.append(_diag(p, 1, f"no test file beside this policy (expected {p.stem}{TEST_SUFFIXES[0]})"))
                found.extend(sib)
            else:
                found.append(p)
        else:
            diags.append(_diag(p, 1, "no such file or directory"))
    return list(dict.fromkeys(found)), diags


class _Loader(yaml.SafeLoader):
    """Safe YAML whose timestamps stay strings (the schema and `now` want ISO text, not datetimes)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: loader.construct_scalar(node))


def _line_of(node: Any, path: tuple[Any, ...]) -> int:
    """The 1-based line of the value at JSON path ``path`` inside a composed YAML node."""
    for step in path:
        if isinstance(node, yaml.MappingNode):
            nxt = next((v for k, v in node.value if getattr(k, "value", None) == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            nxt = node.value[step]
        else:
            nxt = None
        if nxt is None:
            break
        node = nxt
    return node.start_mark.line + 1 if node is not None else 1


def load_suite(path: Path) -> Suite:
    """Read, validate against the schema, and resolve the policy of one test file. Raises TestFileError."""
    import jsonschema

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TestFileError([_diag(path, 1, f"cannot read the test file: {getattr(e, 'strerror', None) or e}")])
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        what = getattr(e, "problem", None) or str(e)
        raise TestFileError([_diag(path, line, f"not valid YAML/JSON: {what}")])
    if data is None:
        raise TestFileError([_diag(path, 1, "the test file is empty", "it needs `cases:`, a list of test cases")])
    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        diags = []
        for e in errors[:20]:
            where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
            diags.append(_diag(path, _line_of(node, tuple(e.absolute_path)), f"{where}: {_schema_words(e)}",
                               "see schemas/policy-tests.schema.json", code="T002"))
        raise TestFileError(diags)
    if "policy" in data:
        target = (path.parent / data["policy"])
        if not target.exists():
            raise TestFileError([_diag(path, _line_of(node, ("policy",)), f"policy {data['policy']!r}: no such file "
                                       f"or directory (relative to {path.parent})")])
        policy = [target]
    else:
        policy = [path.parent]
    cases = tuple(Case(c["name"], _line_of(node, ("cases", i)), c) for i, c in enumerate(data["cases"]))
    names = [c.name for c in cases]
    dup = next((c for i, c in enumerate(cases) if c.name in names[:i]), None)
    if dup is not None:
        raise TestFileError([_diag(path, dup.line, f"two cases are named {dup.name!r}", "give each case its own name")])
    return Suite(path, policy, cases)


def _schema_words(e: Any) -> str:
    if e.validator == "additionalProperties":
        return e.message.replace("Additional properties are not allowed", "unknown field(s)")
    if e.validator == "not" and e.validator_value == {"required": ["request", "facts"]}:
        return "give either `request` (a body) or `facts`, not both"
    return e.message


# --------------------------------------------------------------------------- running cases


def _time(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise ValueError(f"`now` {raw!r} is not an ISO 8601 time (e.g. 2026-12-01T10:30:00Z)") from None


FIXED_NOW = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # a Monday noon: cases without `now` are repeatable


def case_facts(c: dict[str, Any]) -> Facts:
    """The Facts of a case: from its `facts` directly, or built from its request as the gateway would."""
    rid = c.get("request_id") or f"test-{uuid.uuid5(uuid.NAMESPACE_URL, c['name']).hex[:16]}"
    if "facts" in c:
        f = dict(c["facts"])
        now = _time(f.pop("now", None) or c.get("now")) or FIXED_NOW
        headers = clean_headers(f.pop("headers", {}).items())
        tags = frozenset(t.strip().lower() for t in f.pop("tags", []) if t.strip())
        return Facts(**f, headers=headers, tags=tags, now=now, request_id=f.pop("request_id", rid))
    principal = c.get("principal", {})
    body = c.get("request", {})
    return facts_for(body, **principal, user=c.get("user"), headers=c.get("headers"), tags=c.get("tags", ()),
                     now=_time(c.get("now")) or FIXED_NOW, kind=c.get("kind"), task=c.get("task"), request_id=rid)


def _scoped(item: dict[str, Any]) -> tuple[str, str]:
    scopes = [s for s in A.SCOPES if s in item]
    if len(scopes) != 1:
        raise ValueError(f"name exactly one of {', '.join(A.SCOPES)} in {item!r}")
    return scopes[0], item[scopes[0]]


def run_case(policy: Any, c: Case) -> CaseResult:
    t0 = time.perf_counter()
    data = c.data
    try:
        facts = case_facts(data)
        states: dict[tuple[str, str], ModelState] = {}
        for alias, st in data.get("models", {}).items():
            t = policy.target(alias)
            if t is None:
                raise ValueError(f"`models` names {alias!r}, which the policy does not declare")
            states[(t.provider, t.upstream)] = ModelState(st.get("circuit", "closed"), st.get("latency_ms"),
                                                          st.get("in_flight", 0))
        spent = {}
        for item in data.get("spent", []):
            key = _scoped({k: v for k, v in item.items() if k != "percent"})
            if not any((b.scope, b.subject) == key for b in policy.budgets):
                raise ValueError(f"`spent` names {key[0]} {key[1]!r}, which has no budget in the policy")
            spent[key] = Decimal(str(item["percent"]))
        used = {}
        for item in data.get("used", []):
            key = _scoped({k: v for k, v in item.items() if k not in ("requests", "tokens")})
            if not any((lim.scope, lim.subject) == key for lim in policy.limits):
                raise ValueError(f"`used` names {key[0]} {key[1]!r}, which has no limit in the policy")
            used[key] = (item.get("requests", 0), item.get("tokens", 0))
        _check_names(policy, data["expect"])
    except (ValueError, TypeError) as e:
        return CaseResult(c, False, error=str(e), ms=(time.perf_counter() - t0) * 1000)
    decision = policy.decide(facts)
    explained = policy.decide_reference(facts, trace=True)
    if replace(explained, trace=()) != decision:
        return CaseResult(c, False, error="internal error: the compiled policy and the reference interpreter "
                                          "disagree on this request; please report it")
    out = outcome(explained, targets={a: policy.target(a) for a in policy.models}, states=states, spent=spent,
                  used=used, rr_count=data.get("round_robin", 0))
    mismatches = compare(data["expect"], out)
    return CaseResult(c, not mismatches, out, mismatches, ms=(time.perf_counter() - t0) * 1000)


def _check_names(policy: Any, expect: dict[str, Any]) -> None:
    rules = {r.name for r in policy.routes}
    if "rule" in expect and expect["rule"] not in rules:
        raise ValueError(f"expects rule {expect['rule']!r}, which the policy does not have "
                         f"(its rules: {', '.join(sorted(rules))})")
    for k in ("target", "arm", "downgrade"):
        if k in expect and policy.target(expect[k]) is None:
            raise ValueError(f"expects {k} {expect[k]!r}, a model the policy does not declare")
    for k in ("order", "fallback"):
        for name in expect.get(k, []):
            if policy.target(name) is None:
                raise ValueError(f"expects {k} naming {name!r}, a model the policy does not declare")


def actual(out: Outcome) -> dict[str, Any]:
    d: Decision = out.decision
    return {
        "rule": d.rule, "target": out.order[0].model if out.order else None,
        "order": [t.model for t in out.order], "fallback": [t.model for t in d.plan.fallback],
        "arm": d.arm, "refusal": out.refusal, "downgrade": out.downgrade,
    }


def compare(expect: dict[str, Any], out: Outcome) -> list[str]:
    got = actual(out)
    wrong = []
    for k, want in expect.items():
        if got[k] != want:
            wrong.append(f"{k}: expected {_show(want)}, got {_show(got[k])}")
    if "refusal" not in expect and got["refusal"] is not None:
        wrong.append(f"refusal: expected none, got {got['refusal']} ({out.because})")
    return wrong


def _show(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, list):
        return "[" + ", ".join(v) + "]"
    return str(v)


def run_suite(path: Path) -> SuiteResult:
    """Load and run one test file against its policy; every failure to load is a diagnostic."""
    from .loading import load_policy_set

    try:
        suite = load_suite(path)
    except TestFileError as e:
        return SuiteResult(Suite(path, []), diagnostics=e.diagnostics)
    try:
        ps, policy, _ = load_policy_set(suite.policy)
    except PolicyError as e:
        note = _diag(path, 1, f"the policy under test ({', '.join(map(str, suite.policy))}) does not load")
        return SuiteResult(suite, diagnostics=[note, *e.diagnostics])
    res = SuiteResult(suite, policy=policy, policy_set=ps)
    res.results = [run_case(policy, c) for c in suite.cases]
    return res
