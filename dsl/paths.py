"""Which files a list of PATHs names: files as given, and each directory's top-level ``*.policy`` files in name
order (subdirectories are not read). Nothing is read or parsed here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from . import ast as A
from .errors import Diagnostic, PolicySyntaxError

__all__ = ["POLICY_SUFFIX", "file_diag", "policy_paths"]

POLICY_SUFFIX = ".policy"


def file_diag(code: str, path: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, "error", message, A.Span(path, 1, 1, 1, 1), None, hint)


def policy_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Expand the given files and directories (top-level ``*.policy`` files, name order)."""
    out: list[Path] = []
    diags: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix == POLICY_SUFFIX)
            if not found:
                diags.append(file_diag("E004", str(path), f"no policy files (*{POLICY_SUFFIX}) in this directory"))
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            diags.append(file_diag("E004", str(path), "no such file or directory"))
    if diags:
        raise PolicySyntaxError(diags)
    return out
