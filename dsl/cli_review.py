"""The reviewer's subcommands of `open-router`: test, diff, simulate and review.

Exit statuses: test 0 all pass / 1 a failure or error; diff 0 equivalent / 2 different / 1 error; simulate
0 / 1 error; review 0 clean / 1 something failed. Bad input is a diagnostic with its file and line (or
log line number), never a traceback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("test", help="run policy test cases (NAME.tests.yaml beside the policy)",
                              description="Run the test cases beside a policy: each a request and the outcome "
                                          "expected. PATH: a test file, a policy file (its NAME.tests.yaml), "
                                          "or a directory (its top-level *.tests.yaml). Exit 1 on a failure.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--coverage", action="store_true", help="report the routes, disjuncts, arms and fallbacks "
                                                           "no case reaches")
    p.add_argument("--min-coverage", type=float, metavar="N",
                   help="fail when total coverage is below N %% (implies --coverage)")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.set_defaults(func=cmd_test)

    p = subparsers.add_parser("diff", help="the semantic difference between two policies",
                              description="Compare two policies in words: OLD and NEW are directories, files or "
                                          "git revisions (REV:PATH, e.g. HEAD~1:policies). Exit 0 when they are "
                                          "equivalent, 2 when they differ, 1 on an error.")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--format", choices=("text", "md", "json"), default="text")
    p.set_defaults(func=cmd_diff)

    p = subparsers.add_parser("simulate", help="replay a decision log under a candidate policy",
                              description="Re-decide the requests of a decision log (JSON lines) under a "
                                          "candidate policy and report what would move, and what it costs.")
    p.add_argument("--policies", required=True, metavar="NEW", action="append",
                   help="the candidate policy (directory, file, or REV:PATH)")
    p.add_argument("--baseline", metavar="OLD", help="decide the log under this policy too, instead of trusting "
                                                     "the recorded rule and model")
    p.add_argument("--log", required=True, metavar="FILE", help="decisions.jsonl (- for stdin)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text")
    p.add_argument("--sample", type=int, default=10, metavar="N", help="moved request ids shown (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=cmd_simulate)

    p = subparsers.add_parser("review", help="check + test + diff (+ simulate) as one markdown report",
                              description="Everything a pull request reviewer wants about a policy change, "
                                          "as markdown: check NEW (strict), its tests with coverage, the "
                                          "semantic diff from OLD, and with --log a replay of recorded traffic.")
    p.add_argument("old", metavar="OLD")
    p.add_argument("new", metavar="NEW")
    p.add_argument("--log", metavar="FILE")
    p.add_argument("--tests", action="append", metavar="PATH", help="test files or directories (default: NEW)")
    p.set_defaults(func=cmd_review)


def _err(cmd: str, message: str) -> None:
    print(f"open-router {cmd}: error: {message}", file=sys.stderr)


def cmd_test(args: argparse.Namespace) -> int:
    from .coverage import coverage_of_runs
    from .testing import Suite, SuiteResult, find_suites, run_suite
    from .testing_report import render_json, render_junit, render_text, totals

    files, diags = find_suites(args.paths)
    results = [run_suite(f) for f in files]
    results += [SuiteResult(Suite(Path(d.span.file), []), diagnostics=[d]) for d in diags]
    want_cov = args.coverage or args.min_coverage is not None
    cov = coverage_of_runs(results) if want_cov else None
    if args.format == "json":
        sys.stdout.write(render_json(results, cov))
    elif args.format == "junit":
        sys.stdout.write(render_junit(results))
    else:
        sys.stdout.write(render_text(results, cov))
    t = totals(results)
    status = 1 if (t["failed"] or t["errors"]) else 0
    if args.min_coverage is not None and cov is not None:
        from .coverage import Coverage

        every = Coverage([i for c in cov.values() for i in c.items])
        if every.percent() < args.min_coverage:
            print(f"open-router test: coverage {every.percent():.1f}% is below --min-coverage "
                  f"{args.min_coverage:g}%", file=sys.stderr)
            status = 1
    return status


def cmd_diff(args: argparse.Namespace) -> int:
    from .diff import DiffError, diff_sources, render

    try:
        result = diff_sources(args.old, args.new)
    except DiffError as e:
        _err("diff", "\n".join(e.lines))
        return 1
    sys.stdout.write(render(result, args.format))
    return 0 if result.equivalent else 2


def cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import SimulateError, render, simulate

    try:
        report = simulate(args.policies, args.log, baseline=args.baseline, sample=args.sample,
                          progress=not args.no_progress)
    except SimulateError as e:
        _err("simulate", "\n".join(e.lines))
        return 1
    sys.stdout.write(render(report, args.format))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from .review import review

    text, status = review(args.old, args.new, log=args.log, tests=args.tests)
    sys.stdout.write(text)
    return status
