"""The policy subcommands of `open-router`: check, fmt, explain and decide.

Every input error becomes a diagnostic and an exit status (0 clean, 1 policy errors, 2 bad usage);
none ends in a traceback. PATH... always names one policy: its files (and directories' top-level
``*.policy`` files) merged in the order given, as the gateway would load them.
"""
from __future__ import annotations

import argparse
import dataclasses
import difflib
import json
import os
import sys
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import ast as A
from .errors import Diagnostic, PolicyError
from .facts import KINDS, TAGS_HEADER, facts_for, parse_instant, request_kind
from .loading import policy_paths, read_policy_file


class UsageError(Exception):
    """A bad command line (not a bad policy): one line on stderr, exit 2."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add check, fmt, explain and decide to the `open-router` command."""
    p = subparsers.add_parser("check", help="parse and check policy files; exit 1 on errors",
                              description="Parse and check a policy (files, or directories of *.policy files). "
                                          "Exit 0 when there are no errors (warnings allowed), 1 otherwise.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1), for CI")
    p.set_defaults(func=_guard(cmd_check))

    p = subparsers.add_parser("fmt", help="rewrite policy files in the canonical layout",
                              description="Rewrite policy files in the canonical layout, in place. "
                                          "PATH `-` formats standard input to standard output.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--check", action="store_true",
                   help="write nothing; list the files that would change and exit 1 if any would")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    p.set_defaults(func=_guard(cmd_fmt))

    p = subparsers.add_parser("explain", help="the policy in plain language, for reviewers")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--format", choices=("md", "text"), default="md")
    p.set_defaults(func=_guard(cmd_explain))

    p = subparsers.add_parser("decide", help="show the decision the policy makes for one request",
                              description="Build the facts of one OpenAI request and print the policy's "
                                          "Decision as JSON.")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--request", required=True, metavar="JSON",
                   help="the OpenAI request body as JSON; @FILE reads it from a file, - from stdin")
    for flag, what in (("team", "the caller's team"), ("project", "its project"), ("app", "its app"),
                       ("cost-center", "its cost center"), ("key", "the virtual key's id"),
                       ("user", "the end user (default: the request's `user`)"),
                       ("task", "the task type (default: the classifier's, when there is one)")):
        p.add_argument(f"--{flag}", metavar=flag.upper().replace("-", "_"), help=what)
    p.add_argument("--kind", choices=KINDS,
                   help="the endpoint: chat (/v1/chat/completions) or embeddings (/v1/embeddings); "
                        "default: embeddings when the body has `input` and no `messages`, else chat")
    p.add_argument("--header", action="append", default=[], metavar="NAME=VALUE")
    p.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help=f"a request tag, added to the {TAGS_HEADER} header as a client would send it")
    p.add_argument("--now", metavar="ISO", help="the time of the request (ISO 8601; UTC if no offset)")
    p.add_argument("--request-id", metavar="ID", help="draws for unsticky splits hash on it (default: random)")
    p.set_defaults(func=_guard(cmd_decide))

    from .cli_review import register as register_review  # test, diff, simulate, review

    register_review(subparsers)


# --------------------------------------------------------------------------- shared


def _print_diags(diags: list[Diagnostic], stream=None) -> None:
    stream = stream or sys.stdout
    for d in diags:
        print(d.render(), file=stream)


def _count(diags: list[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diags if d.severity == "error")
    return errors, len(diags) - errors


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_checker(ps: A.PolicySet) -> list[Diagnostic]:
    """The checker's findings; a crash inside it becomes a diagnostic, never a traceback."""
    try:
        from .check import check
    except ModuleNotFoundError as e:
        if e.name == f"{__package__}.check":  # the checker is not written yet: parsing is all we can do
            return []
        raise
    try:
        return list(check(ps))
    except PolicyError as e:
        return list(e.diagnostics)
    except Exception as e:  # noqa: BLE001 - a checker bug must still give the author an answer
        first = ps.files[0].path if ps.files else "<policy>"
        return [Diagnostic("E999", "error", f"internal error in the checker: {type(e).__name__}: {e}",
                           A.Span(first, 1, 1, 1, 1))]


def load_files(paths: list[str]) -> tuple[A.PolicySet | None, list[Diagnostic], list[str]]:
    """Parse every file under `paths`: the set (None if any file failed), its diagnostics, the files."""
    try:
        files = policy_paths(paths)
    except PolicyError as e:
        return None, list(e.diagnostics), []
    parsed: list[A.PolicyFile] = []
    diags: list[Diagnostic] = []
    for f in files:
        try:
            parsed.append(read_policy_file(f))
        except PolicyError as e:
            diags.extend(e.diagnostics)
    names = [str(f) for f in files]
    return (None if diags else A.PolicySet(tuple(parsed))), diags, names


# --------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    ps, diags, files = load_files(args.paths)
    if ps is not None:
        diags = run_checker(ps)
    errors, warnings = _count(diags)
    strict = getattr(args, "strict", False)
    failed = bool(errors or (strict and warnings))
    note = " (the checker runs once every file parses)" if ps is None and files and errors else ""
    summary = f"{_plural(errors, 'error')}, {_plural(warnings, 'warning')} in {_plural(len(files), 'file')}"
    if strict and warnings and not errors:
        summary += " (--strict: warnings fail)"
    summary = ("ok: " if not failed else "failed: ") + summary + note
    if args.format == "json":
        doc = {"diagnostics": [d.as_json() for d in diags], "errors": errors, "warnings": warnings,
               "files": files, "ok": not failed, "summary": summary}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        _print_diags(diags)
        # The summary goes with the diagnostics on stdout, so `open-router check ... | less` shows both.
        print(summary)
    return 1 if failed else 0


# --------------------------------------------------------------------------- fmt


def _fmt_targets(paths: list[str]) -> tuple[list[Path], list[Diagnostic]]:
    """Files to format: files as given, directories' top-level policy files; missing paths → diagnostics."""
    out: list[Path] = []
    diags: list[Diagnostic] = []
    for raw in paths:
        try:
            out.extend(policy_paths([raw]))
        except PolicyError as e:
            diags.extend(e.diagnostics)
    return list(dict.fromkeys(out)), diags


def _write_atomically(path: Path, text: str) -> None:
    """Write beside the file, then rename over it: a reader (the gateway's watcher) never sees half a file."""
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".fmt-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def cmd_fmt(args: argparse.Namespace) -> int:
    from .fmt import format_file
    from .syntax import parse_text

    status = 0
    if "-" in args.paths:
        if len(args.paths) > 1:
            raise UsageError("`-` (standard input) cannot be combined with other paths")
        text = sys.stdin.read()
        try:
            sys.stdout.write(format_file(parse_text(text, "<stdin>")))
        except PolicyError as e:
            _print_diags(e.diagnostics, sys.stderr)
            return 1
        return 0

    targets, diags = _fmt_targets(args.paths)
    if diags:
        _print_diags(diags, sys.stderr)
        status = 1
    changed: list[Path] = []
    for path in targets:
        try:
            pf = read_policy_file(path)
        except PolicyError as e:
            _print_diags(e.diagnostics, sys.stderr)
            status = 1
            continue
        original = path.read_bytes().decode("utf-8")
        new = format_file(pf)
        if new == original:
            continue
        changed.append(path)
        if args.check or args.diff:
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(
                    original.splitlines(keepends=True), new.splitlines(keepends=True),
                    fromfile=f"{path} (original)", tofile=f"{path} (formatted)"))
            if args.check:
                print(f"would reformat {path}", file=sys.stdout if not args.diff else sys.stderr)
        else:
            try:
                _write_atomically(path, new)
            except OSError as e:
                print(f"{path}: cannot write the file: {e.strerror}", file=sys.stderr)
                status = 1
                continue
            print(f"reformatted {path}", file=sys.stderr)
    if args.check and changed:
        status = 1
    if not (args.check or args.diff):
        print(f"{_plural(len(changed), 'file')} reformatted, {len(targets) - len(changed)} unchanged",
              file=sys.stderr)
    return status


# --------------------------------------------------------------------------- explain


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain

    ps, diags, _ = load_files(args.paths)
    if ps is not None:
        diags = run_checker(ps)
    errors, _ = _count(diags)
    if ps is None or errors:
        # Explaining a policy the gateway would refuse would mislead the reviewer.
        _print_diags([d for d in diags if d.severity == "error"], sys.stderr)
        return 1
    sys.stdout.write(explain(ps, args.format))
    return 0


# --------------------------------------------------------------------------- decide


def _read_request(raw: str) -> dict[str, Any]:
    source = "--request"
    if raw == "-":
        raw, source = sys.stdin.read(), "the request on stdin"
    elif raw.startswith("@"):
        name = raw[1:]
        try:
            raw = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"cannot read the request file {name}: {getattr(e, 'strerror', None) or e}")
        source = f"the request in {name}"
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as e:
        raise UsageError(f"{source} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}")
    except RecursionError:
        raise UsageError(f"{source} nests too deeply")
    if not isinstance(body, dict):
        raise UsageError(f"{source} must be a JSON object (an OpenAI request body), not {type(body).__name__}")
    if "model" in body and body["model"] is not None and not isinstance(body["model"], str):
        raise UsageError(f"{source}: `model` must be a string")
    return body


def _parse_now(raw: str | None) -> datetime:
    if raw is None:
        return datetime.now(timezone.utc)
    try:
        return parse_instant(raw)
    except ValueError:
        raise UsageError(f"--now {raw!r} is not an ISO 8601 time (e.g. 2026-12-01T10:30:00Z)") from None


def _headers(pairs: list[str]) -> list[tuple[str, str]]:
    """--header NAME=VALUE flags as (name, value) pairs, as a request carries them. Lower-casing and
    dropping credentials is facts_from_request's job, exactly as in the gateway."""
    out: list[tuple[str, str]] = []
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--header {pair!r}: expected NAME=VALUE")
        out.append((name.strip(), value))
    return out


def build_facts(args: argparse.Namespace, body: dict[str, Any]) -> Any:
    """The Facts of `decide`'s flags: dsl.facts.facts_for, the keyword function a policy test can call too
    (it builds them with the gateway's own function). --user stands in for the body's `user`, --tag for the
    tags header, --task for the classifier's answer."""
    return facts_for(
        body, team=args.team, project=args.project, app=args.app, cost_center=args.cost_center, key=args.key,
        user=args.user, headers=_headers(args.header), tags=args.tag, now=_parse_now(args.now), kind=args.kind,
        task=args.task, request_id=args.request_id or f"cli-{uuid.uuid4().hex[:16]}",
    )


def cmd_decide(args: argparse.Namespace) -> int:
    # Bad flags are reported before the policy is even read.
    body = _read_request(args.request)
    _headers(args.header)
    _parse_now(args.now)
    from . import load_policy

    try:
        policy, warnings = load_policy(args.paths)
    except PolicyError as e:
        _print_diags(e.diagnostics, sys.stderr)
        return 1
    _print_diags(warnings, sys.stderr)  # stdout stays pure JSON
    facts = build_facts(args, body)
    decision = policy.decide(facts)
    # The trace a reader wants is the routes tested in file order, each condition where it is written: the
    # reference interpreter's. The compiled tree decided; the two are held equal by a property test, and
    # checked again here, so what is printed is what the gateway does.
    explained = policy.decide_reference(facts, trace=True)
    if dataclasses.replace(explained, trace=()) != decision:
        print("open-router: internal error: the compiled policy and the reference interpreter disagree on "
              "this request; please report it with the policy and the request", file=sys.stderr)
        return 70
    print(json.dumps(explained.as_json(), indent=2, ensure_ascii=False, default=str))
    return 0


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Usage errors raised anywhere in a command: one line on stderr and exit 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except UsageError as e:
            print(f"open-router {args.command}: error: {e}", file=sys.stderr)
            return 2

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


__all__ = ["register", "build_facts", "request_kind", "load_files", "run_checker"]
