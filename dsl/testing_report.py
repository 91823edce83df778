"""The reports of `open-router test`: text like `opa test` (one line per case; a failure with expected vs
actual, the decision trace and where the deciding rule is written), JSON for CI, and JUnit XML.
"""
from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .coverage import KINDS, Coverage
from .testing import CaseResult, SuiteResult, actual

__all__ = ["render_json", "render_junit", "render_text", "totals"]


def totals(results: list[SuiteResult]) -> dict[str, int]:
    cases = [r for s in results for r in s.results]
    return {
        "passed": sum(r.passed for r in cases),
        "failed": sum(not r.passed and r.error is None for r in cases),
        "errors": sum(r.error is not None for r in cases) + sum(1 for s in results if s.diagnostics),
        "cases": len(cases),
    }


def _at(r: CaseResult) -> str:
    d = r.outcome.decision if r.outcome else None
    if d is None or not d.rule_span.line:
        return "(the implicit default route)" if d is not None else ""
    return f"{d.rule_span.file}:{d.rule_span.line}:{d.rule_span.col}"


def _failure_lines(r: CaseResult, verbose: bool) -> list[str]:
    if r.error is not None:
        return [f"    error: {r.error}"]
    out = [f"    {m}" for m in r.mismatches]
    assert r.outcome is not None
    d = r.outcome.decision
    out.append(f"    decided by rule {d.rule or '(none)'} at {_at(r)}")
    if r.outcome.because:
        out.append(f"    because {r.outcome.because}")
    if d.trace:
        out.append("    trace:")
        for step in d.trace:
            where = "" if not step.span.line else f"  ({step.span.file}:{step.span.line}:{step.span.col})"
            out.append(f"      {step.rule}: {step.test} -> {'true' if step.result else 'false'}{where}")
    return out


def render_text(results: list[SuiteResult], cov: dict[str, Coverage] | None, verbose: bool = False) -> str:
    lines: list[str] = []
    for s in results:
        lines.append(f"{s.suite.path}:")
        for d in s.diagnostics:
            lines.append("  " + d.render().replace("\n", "\n  "))
        for r in s.results:
            mark = "PASS" if r.passed else ("ERROR" if r.error else "FAIL")
            lines.append(f"  {s.suite.path}:{r.case.line}: {r.case.name}: {mark} ({r.ms:.1f}ms)")
            if not r.passed:
                lines.extend(_failure_lines(r, verbose))
    t = totals(results)
    lines.append("-" * 72)
    lines.append(f"PASS: {t['passed']}/{t['cases']}" + (f"  FAIL: {t['failed']}" if t["failed"] else "")
                 + (f"  ERROR: {t['errors']}" if t["errors"] else ""))
    if cov is not None:
        lines.extend(_coverage_text(cov))
    return "\n".join(lines) + "\n"


def _coverage_text(cov: dict[str, Coverage]) -> list[str]:
    lines = ["", "coverage:"]
    every = Coverage([i for c in cov.values() for i in c.items])
    for f in every.files():
        parts = []
        for kind in KINDS:
            hit, total = every.counts(f, kind)
            if total:
                parts.append(f"{kind}s {hit}/{total}")
        lines.append(f"  {f}: {every.percent(f):.1f}%  ({', '.join(parts)})")
    hit, total = every.counts()
    lines.append(f"  total: {every.percent():.1f}%  ({hit}/{total} items; routes "
                 f"{every.percent(kind='route'):.1f}%)")
    missed = every.missed()
    if missed:
        lines.append("  not reached by any case:")
        for i in missed:
            what = f"route {i.route}" if i.kind == "route" else f"{i.kind} {i.what!r} of route {i.route}"
            lines.append(f"    {i.span.file}:{i.span.line}:{i.span.col}: {what}")
    return lines


def _case_json(r: CaseResult) -> dict[str, Any]:
    out: dict[str, Any] = {"name": r.case.name, "line": r.case.line,
                           "status": "pass" if r.passed else ("error" if r.error else "fail"), "ms": round(r.ms, 3)}
    if r.error:
        out["error"] = r.error
    if r.outcome is not None:
        out["actual"] = actual(r.outcome)
        out["rule_at"] = _at(r)
        if not r.passed:
            out["mismatches"] = r.mismatches
            out["trace"] = [s.as_json() for s in r.outcome.decision.trace]
    return out


def render_json(results: list[SuiteResult], cov: dict[str, Coverage] | None) -> str:
    doc: dict[str, Any] = {
        "files": [{"file": str(s.suite.path), "policy": [str(p) for p in s.suite.policy],
                   "diagnostics": [d.as_json() for d in s.diagnostics],
                   "cases": [_case_json(r) for r in s.results]} for s in results],
        **totals(results),
    }
    if cov is not None:
        doc["coverage"] = Coverage([i for c in cov.values() for i in c.items]).as_json()
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_junit(results: list[SuiteResult]) -> str:
    t = totals(results)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<testsuites name="open-router test" tests="{t["cases"]}" failures="{t["failed"]}" errors="{t["errors"]}">']
    for s in results:
        fails = sum(not r.passed and r.error is None for r in s.results)
        errs = sum(r.error is not None for r in s.results) + (1 if s.diagnostics else 0)
        out.append(f'  <testsuite name={quoteattr(str(s.suite.path))} tests="{len(s.results)}" '
                   f'failures="{fails}" errors="{errs}">')
        if s.diagnostics:
            text = "\n".join(d.render() for d in s.diagnostics)
            out.append(f'    <testcase name="(load)" classname={quoteattr(str(s.suite.path))}>'
                       f'<error message="the test file or its policy does not load">{escape(text)}</error></testcase>')
        for r in s.results:
            head = f'    <testcase name={quoteattr(r.case.name)} classname={quoteattr(str(s.suite.path))} ' \
                   f'time="{r.ms / 1000:.6f}"'
            if r.passed:
                out.append(head + "/>")
                continue
            tag = "error" if r.error else "failure"
            body = "\n".join(_failure_lines(r, True))
            msg = r.error or "; ".join(r.mismatches)
            out.append(head + f"><{tag} message={quoteattr(msg)}>{escape(body)}</{tag}></testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out) + "\n"
