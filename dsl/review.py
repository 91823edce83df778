"""`open-router review OLD NEW [--log FILE]`: the pull-request report in one markdown document — NEW
checked strictly (warnings count), its tests with coverage, the semantic diff from OLD, and with a
decision log the replay of recorded traffic under NEW against OLD. Exit 1 when the check or a test fails.
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["review"]


def _check_section(new: str) -> tuple[list[str], bool]:
    from .check import check
    from .sources import SourceError, load_source

    try:
        diags = check(load_source(new))
    except SourceError as e:
        return ["### Check", "", "```", *e.lines, "```"], False
    errors = sum(d.severity == "error" for d in diags)
    warnings = len(diags) - errors
    ok = not diags
    head = "ok: no errors, no warnings" if ok else f"{errors} errors, {warnings} warnings (strict: warnings fail)"
    lines = ["### Check", "", ("✅ " if ok else "❌ ") + head]
    if diags:
        lines += ["", "```", *(d.render() for d in diags), "```"]
    return lines, ok


def _test_section(paths: list[str]) -> tuple[list[str], bool]:
    from .coverage import Coverage, coverage_of_runs
    from .testing import find_suites, run_suite
    from .testing_report import render_text, totals

    files, diags = find_suites(paths)
    if not files:
        return ["### Tests", "", "⚠️ no test files (NAME.tests.yaml beside the policy)"], True
    results = [run_suite(f) for f in files]
    cov = coverage_of_runs(results)
    every = Coverage([i for c in cov.values() for i in c.items])
    t = totals(results)
    ok = not (t["failed"] or t["errors"] or diags)
    lines = ["### Tests", "", f"{'✅' if ok else '❌'} {t['passed']}/{t['cases']} cases pass; coverage "
             f"{every.percent():.1f}% (routes {every.percent(kind='route'):.1f}%)"]
    if not ok or every.missed():
        lines += ["", "<details><summary>details</summary>", "", "```", render_text(results, cov).rstrip(), "```",
                  "", "</details>"]
    return lines, ok


def review(old: str, new: str, *, log: str | None = None, tests: list[str] | None = None) -> tuple[str, int]:
    from .diff import DiffError, diff_sources, render
    from .sources import is_revision

    out = [f"## Policy review: `{old}` → `{new}`", ""]
    check_lines, check_ok = _check_section(new)
    out += check_lines + [""]
    test_paths = tests or ([] if is_revision(new) else [new])
    test_ok = True
    if test_paths and all(Path(p).exists() for p in test_paths):
        test_lines, test_ok = _test_section(test_paths)
        out += test_lines + [""]
    try:
        d = diff_sources(old, new)
        body = render(d, "md").split("\n", 1)[1]  # our own heading instead of the diff's
        out += ["### Diff", body]
    except DiffError as e:
        out += ["### Diff", "", "```", *e.lines, "```", ""]
        check_ok = False
    if log:
        from .simulate import SimulateError, render as render_sim, simulate

        try:
            rep = simulate(new, log, baseline=old, progress=False)
            out += ["### Replay", render_sim(rep, "md").split("\n", 1)[1]]
        except SimulateError as e:
            out += ["### Replay", "", "```", *e.lines, "```", ""]
    return "\n".join(out).rstrip() + "\n", 0 if (check_ok and test_ok) else 1
