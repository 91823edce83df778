"""Diagnostics and the exception root of the policy language.

    PolicyError                  anything wrong with policy input; carries diagnostics
     ├── PolicySyntaxError       the text does not parse (one diagnostic, with a caret)
     └── PolicyCheckError        it parses, but the checker found errors
"""
from __future__ import annotations

from dataclasses import dataclass

from .ast import Span


@dataclass(frozen=True)
class Diagnostic:
    """One finding: ``path:line:col: severity CODE message``, plus the source line and a caret."""

    code: str  # stable, e.g. "E101"; see dsl/check.py for the table
    severity: str  # "error" | "warning"
    message: str
    span: Span
    source_line: str | None = None  # the offending line, for the caret
    hint: str | None = None  # e.g. "did you mean `sonnet`?"

    def headline(self) -> str:
        msg = self.message + (f" ({self.hint})" if self.hint else "")
        return f"{self.span.file}:{self.span.line}:{self.span.col}: {self.severity} {self.code} {msg}"

    def render(self) -> str:
        """The headline, then the line and a caret under the column (when the line is known)."""
        out = [self.headline()]
        if self.source_line is not None and self.span.line > 0:
            line = self.source_line.rstrip("\n").expandtabs(1)
            out.append(f"    {line}")
            width = 1
            if self.span.end_line == self.span.line and self.span.end_col > self.span.col:
                width = self.span.end_col - self.span.col
            out.append("    " + " " * max(self.span.col - 1, 0) + "^" * max(min(width, max(len(line) - self.span.col + 1, 1)), 1))
        return "\n".join(out)

    def as_json(self) -> dict:
        return {
            "file": self.span.file,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
        }


class PolicyError(Exception):
    """Root of every error the policy language raises. ``diagnostics`` says what and where."""

    def __init__(self, diagnostics: list[Diagnostic] | Diagnostic):
        if isinstance(diagnostics, Diagnostic):
            diagnostics = [diagnostics]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        super().__init__("\n".join(d.headline() for d in self.diagnostics) or "invalid policy")

    def render(self) -> str:
        return "\n".join(d.render() for d in self.diagnostics)


class PolicySyntaxError(PolicyError):
    """The text is not in the language."""


class PolicyCheckError(PolicyError):
    """The policy parses but the checker found errors; warnings never raise."""


def source_line(source: str, line: int) -> str | None:
    lines = source.splitlines()
    if 1 <= line <= len(lines):
        return lines[line - 1]
    return None
