"""Where a policy to compare or replay comes from: a directory or file on disk, or a git revision
(``REV:PATH``, e.g. ``HEAD~1:policies``, read with `git show` / `git ls-tree`, never checked out).

A spec that exists on disk is a path; otherwise one with a ``:`` is a revision. A directory means its
top-level ``*.policy`` files in name order, as the gateway loads it.
"""
from __future__ import annotations

import subprocess
from pathlib import Path, PurePosixPath

from . import ast as A
from .errors import PolicyError
from .loading import load, read_policy_file
from .paths import POLICY_SUFFIX
from .syntax import parse_text

__all__ = ["SourceError", "is_revision", "load_source"]


class SourceError(Exception):
    """The policy cannot be read: a missing path, an unknown revision, or files that do not parse."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


def is_revision(spec: str) -> bool:
    return not Path(spec).exists() and ":" in spec and not spec.startswith(":")


def _git(args: list[str], cwd: str | None = None) -> str:
    try:
        done = subprocess.run(["git", *args], capture_output=True, cwd=cwd, timeout=60)
    except FileNotFoundError:
        raise SourceError(["git is not installed, so a revision cannot be read"]) from None
    except subprocess.TimeoutExpired:
        raise SourceError([f"git {' '.join(args)} took longer than 60 s"]) from None
    if done.returncode != 0:
        raise _GitFailed(done.stderr.decode("utf-8", "replace").strip())
    return done.stdout.decode("utf-8")


class _GitFailed(Exception):
    pass


def _from_git(spec: str) -> A.PolicySet:
    rev, _, path = spec.partition(":")
    path = path.strip("/") or "."
    try:
        _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"])
    except _GitFailed:
        raise SourceError([f"{spec}: the git revision `{rev}` does not exist (or this is not a git repository)"]) from None
    try:
        kind = _git(["cat-file", "-t", f"{rev}:{path}"]).strip()
    except _GitFailed:
        raise SourceError([f"{spec}: revision `{rev}` has no `{path}`"]) from None
    if kind == "tree":
        listing = _git(["ls-tree", "--name-only", f"{rev}:{path}"]).split("\n")
        names = sorted(n for n in listing if n.endswith(POLICY_SUFFIX))
        files = [str(PurePosixPath(path) / n) for n in names]
        if not files:
            raise SourceError([f"{spec}: no {POLICY_SUFFIX} files in `{path}` at `{rev}`"])
    else:
        files = [path]
    parsed, errors = [], []
    for f in files:
        try:
            text = _git(["show", f"{rev}:{f}"])
        except (_GitFailed, UnicodeDecodeError) as e:
            raise SourceError([f"{rev}:{f}: cannot read it: {e}"]) from None
        try:
            parsed.append(parse_text(text, f"{rev}:{f}"))
        except PolicyError as e:
            errors.extend(d.render() for d in e.diagnostics)
    if errors:
        raise SourceError(errors)
    return A.PolicySet(tuple(parsed))


def load_source(spec: str) -> A.PolicySet:
    """Parse the policy ``spec`` names (see the module docstring). Raises SourceError."""
    if is_revision(spec):
        return _from_git(spec)
    p = Path(spec)
    if not p.exists():
        raise SourceError([f"{spec}: no such file or directory (and not a REV:PATH git revision)"])
    try:
        if p.is_file():
            return A.PolicySet((read_policy_file(p),))
        return load([p])
    except PolicyError as e:
        raise SourceError([d.render() for d in e.diagnostics]) from None
