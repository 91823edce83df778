"""Loading a policy: files and directories → parsed files → checked → compiled, the path the gateway and
`open-router` take. ``load`` parses; ``load_policy_set`` also checks and compiles.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from . import ast as A
from .errors import Diagnostic, PolicyCheckError, PolicyError, PolicySyntaxError
from .paths import POLICY_SUFFIX, file_diag, policy_paths
from .syntax import gc_paused, parse_text

if TYPE_CHECKING:
    from .tree import Policy

__all__ = ["MAX_BYTES", "POLICY_SUFFIX", "load", "load_policy_set", "policy_paths", "policy_version",
           "read_policy_file"]

MAX_BYTES = 8 * 1024 * 1024


def read_policy_file(path: Path) -> A.PolicyFile:
    """Read and parse one file; unreadable, oversized or non-UTF-8 files become diagnostics."""
    p = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicySyntaxError(file_diag("E004", p, "no such file")) from None
    except IsADirectoryError:
        raise PolicySyntaxError(file_diag("E004", p, "is a directory")) from None
    except OSError as e:
        raise PolicySyntaxError(file_diag("E004", p, f"cannot read the file: {e.strerror}")) from None
    if len(data) > MAX_BYTES:
        raise PolicySyntaxError(file_diag("E004", p, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        before = data[: e.start]
        line = before.count(b"\n") + 1
        col = e.start - (before.rfind(b"\n") + 1) + 1
        raise PolicySyntaxError(Diagnostic(
            "E004", "error", f"the file is not UTF-8 text (byte 0x{data[e.start]:02x})",
            A.Span(p, line, col, line, col + 1), None, "save it as UTF-8")) from None
    if "\x00" in text:
        raise PolicySyntaxError(file_diag("E004", p, "the file holds NUL bytes: it is not a policy file"))
    return parse_text(text, p)


def load(paths: Iterable[str | Path]) -> A.PolicySet:
    """Parse every policy file under `paths`. Raises PolicyError with every file's first syntax error."""
    files: list[A.PolicyFile] = []
    diags: list[Diagnostic] = []
    for f in policy_paths(paths):
        try:
            files.append(read_policy_file(f))
        except PolicyError as e:
            diags.extend(e.diagnostics)
    if diags:
        raise PolicySyntaxError(diags)
    return A.PolicySet(tuple(files))


def policy_version(ps: A.PolicySet) -> str:
    """A short hash of the normalised sources: file names and text, line endings and trailing blanks folded."""
    h = hashlib.sha256()
    for f in ps.files:
        h.update(Path(f.path).name.encode())
        h.update(b"\0")
        text = "\n".join(line.rstrip() for line in f.source.replace("\r\n", "\n").split("\n")).strip()
        h.update(text.encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def load_policy_set(paths: Iterable[str | Path]) -> tuple[A.PolicySet, "Policy", list[Diagnostic]]:
    """Parse, check and compile. Raises PolicyError on any error; returns the parsed files (spans and sources,
    for checks made later, such as budgets against the gateway's keys), the policy and its warnings."""
    from .check import check  # the checker and compiler are loaded on first use, not with the parser
    from .compile import compile_policy

    with gc_paused():
        ps = load(paths)
        diags = check(ps)
        errors = [d for d in diags if d.severity == "error"]
        if errors:
            raise PolicyCheckError(errors)
        return ps, compile_policy(ps, policy_version(ps)), [d for d in diags if d.severity != "error"]
