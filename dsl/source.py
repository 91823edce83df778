"""Locating words in a policy's source: a node's span narrowed to the name or value a diagnostic is about,
found in the text with comments and string contents blanked, so a name is found only where the grammar
would see it. Used by the checker to point its diagnostics at the exact word.
"""
from __future__ import annotations

import bisect
import re

from . import ast as A

__all__ = ["Source", "masked"]

_TOKEN = re.compile(r'"[^"\n]*"?|[A-Za-z_][A-Za-z0-9_.\-]*|\d[\d:.\-]*[A-Za-z]*|\S')


def masked(source: str) -> str:
    """The source with comments and string contents blanked (same length), so names are found only where
    the grammar would see them. (A string runs to its closing quote or the end of the line; a backslash
    escapes the character after it.)"""

    def blank(m: re.Match[str]) -> str:
        if m.group(1) is None:  # a comment
            return " " * len(m.group())
        return '"' + " " * len(m.group(1)) + m.group(2)

    return _BLANKED.sub(blank, source)


_BLANKED = re.compile(r'#[^\n]*|"((?:\\[^\n]|[^"\n])*)("?)')


class Source:
    """One file's text with the means to turn a node's span into the span of a word inside it."""

    def __init__(self, f: A.PolicyFile):
        self.path = f.path
        self.text = f.source
        self.masked = masked(f.source)
        self.starts = [0] + [m.end() for m in re.finditer("\n", f.source)]
        self.lines: list[str] | None = None

    def offset(self, line: int, col: int) -> int | None:
        if not 1 <= line <= len(self.starts) or col < 1:
            return None
        return min(self.starts[line - 1] + col - 1, len(self.text))

    def position(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.starts, offset) - 1
        return i + 1, offset - self.starts[i] + 1

    def tokens(self, span: A.Span) -> list[tuple[str, A.Span, int]]:
        """(masked text, span, offset) of every token inside ``span``."""
        start = self.offset(span.line, span.col)
        end = self.offset(span.end_line, span.end_col)
        if start is None or end is None or end <= start:
            return []
        out = []
        for m in _TOKEN.finditer(self.masked, start, end):
            line, col = self.position(m.start())
            eline, ecol = self.position(m.end())
            out.append((m.group(), A.Span(self.path, line, col, eline, ecol), m.start()))
        return out

    def raw(self, offset: int, length: int) -> str:
        return self.text[offset:offset + length]

    def line(self, line: int) -> str | None:
        """``errors.source_line(self.text, line)``, splitting the text once rather than per diagnostic."""
        if self.lines is None:
            self.lines = self.text.splitlines()
        return self.lines[line - 1] if 1 <= line <= len(self.lines) else None
