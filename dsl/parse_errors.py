"""Syntax errors in words: a Lark parse error turned into the diagnostic a person can act on (``file:line:col``,
the line with anything key-shaped masked, and what was expected, in words rather than terminal names).
"""
from __future__ import annotations

import difflib
import re
from typing import Iterable

from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast as A
from .errors import Diagnostic, source_line
from .lexer import RESERVED, parser, parser_expects
from .secrets import redact_line

__all__ = ["shown_line", "syntax_diagnostic"]


# What a NAME means right after a keyword, so "expected a name" becomes "expected a model name after `use`".
_NAME_AFTER = {
    "use": "a model name (or `requested`)",
    "fallback": "a model name",
    "rest": "a model name",
    "to": "a model name",
    "provider": "a provider name",
    "model": "a model alias",
    "route": "a route name",
    "kind": "a provider kind (openai, azure, anthropic, gemini, mock)",
    "tier": "a tier (economy, standard, premium)",
    "supports": "a capability (tools, vision, json, embeddings)",
    "env": "an environment variable name",
    "ramp": "a model name",
    "of": "a list of model names in [...]",
}

_TERMINAL_WORDS = {
    "NAME": "a name",
    "STRING": 'a quoted string ("...")',
    "NUMBER": "a number",
    "INT": "a whole number",
    "DATE": "a date (YYYY-MM-DD)",
    "TIME": "a time of day (HH:MM)",
    "DURATION": "a duration (e.g. 30s, 500ms, 2m)",
    "CMP": "a comparison (==, !=, <, <=, >, >=)",
    "STRATEGY": "a strategy (cheapest, fastest, least-busy, round-robin)",
    "PER_UNIT": "`1M`",
    "$END": "the end of the file",
}

_DECL_KEYWORDS = ("provider", "model", "budget", "limit", "route", "default")
SHOWN_EXPECTED = 3  # the likeliest words of a long "expected" set; the construct says the rest

# What an author most likely meant next, by the declaration being parsed: earlier first.
_LIKELY = {
    "route": ("and", "or", "use", "fallback", "when", "split", "choose", "ramp", "retries", "timeout"),
    "default": ("use", "fallback", "split", "choose", "ramp", "description"),
    "provider": ("kind", "base_url", "key", "timeout", "header", "api_version"),
    "model": ("price", "tier", "context", "supports"),
    "budget": ("at", "per"),
    "limit": (",",),
}
_DECL_RE = re.compile(r"^[ \t]*(provider|model|budget|limit|route|default)\b[ \t]*([A-Za-z_\"][^\s]*)?", re.M)


def _construct(text: str, pos: int) -> tuple[str | None, str]:
    """The declaration being parsed at ``pos``: its keyword and words for it (`route \`r\``)."""
    found = None
    for m in _DECL_RE.finditer(_strip_comments(text[:pos])):
        found = m
    if found is None:
        return None, ""
    kind, name = found.group(1), found.group(2)
    if kind == "default" or not name:
        return kind, f"the {kind} route" if kind == "default" else kind
    return kind, f"{kind} `{name.strip(chr(34))}`" if kind != "budget" else f"budget {name}"


def _paren_depth(text: str) -> int:
    depth = 0
    for ch in re.sub(r'"(?:[^"\\\n]|\\.)*"', "", _strip_comments(text)):
        depth += (ch == "(") - (ch == ")")
    return depth


def _terminal_word(name: str) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    for t in parser().terminals:
        if t.name == name:
            if t.pattern.type == "str":
                return f"`{t.pattern.value}`"
            return name.lower()
    return name.lower()


def _previous_word(text: str, pos: int) -> str | None:
    words = re.findall(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][A-Za-z0-9_.\-]*|\d[\d:.\-]*[A-Za-z%]*|\S',
                       _strip_comments(text[:pos]))
    return words[-1] if words else None


def _strip_comments(text: str) -> str:
    return re.sub(r"#[^\n]*", "", text)


def _expected_words(expected: Iterable[str], prev: str | None, construct: str | None = None,
                    parens: int = 1) -> tuple[str, list[str]]:
    names = sorted(set(expected))
    if parens <= 0 and len(names) > 1:  # a `)` with no `(` open is never what the author meant
        names = [n for n in names if n != "RPAR"]
    words: list[str] = []
    keywords: list[str] = []
    if prev == "use" and "NAME" in names:
        names = [n for n in names if n != "REQUESTED"]
    for n in names:
        if n == "NAME" and prev in _NAME_AFTER:
            words.append(_NAME_AFTER[prev])
            continue
        w = _terminal_word(n)
        if w.startswith("`") and w[1:-1].isalpha():
            keywords.append(w[1:-1])
        words.append(w)
    # The likeliest first: what the construct being parsed takes next, then a new declaration.
    likely = _LIKELY.get(construct or "", ())

    def rank(w: str) -> tuple[int, int, str]:
        bare = w.strip("`")
        if bare in likely:
            return (0, likely.index(bare), w)
        return (1 if bare in _DECL_KEYWORDS else 2, 0, w)

    words.sort(key=rank)
    if len(words) > SHOWN_EXPECTED + 1:
        words = words[:SHOWN_EXPECTED] + ["..."]
    return (", ".join(words) if len(words) > 1 else (words[0] if words else "something else")), keywords


def _after(prev: str | None) -> str:
    # A string is never echoed into a message: it may be a key someone pasted, and the caret shows it anyway.
    if not prev:
        return ""
    return " after a string" if prev.startswith('"') else f" after `{prev}`"


def syntax_diagnostic(err: UnexpectedInput, text: str, path: str) -> Diagnostic:
    line = getattr(err, "line", 1) or 1
    col = getattr(err, "column", 1) or 1
    pos = getattr(err, "pos_in_stream", None)
    if pos is None:
        pos = len(text)
    prev = _previous_word(text, pos)
    hint = None
    end_col = col + 1
    construct, where = _construct(text, pos)
    parens = _paren_depth(text[:pos])
    inside = f" (in {where})" if where else ""
    if isinstance(err, UnexpectedCharacters):
        ch = text[pos] if 0 <= pos < len(text) else ""
        allowed = parser_expects(err) or err.allowed or ()
        expected, _ = _expected_words(allowed, prev, construct, parens)
        if ch == '"':
            msg = "unterminated string: a string must close with `\"` on the same line"
        else:
            msg = f"unexpected character `{ch}`" + (f": expected {expected}" if allowed else "")
            msg += _after(prev)
    elif isinstance(err, UnexpectedEOF) or (isinstance(err, UnexpectedToken) and err.token.type == "$END"):
        prev = _previous_word(text, len(text))
        expected, _ = _expected_words(err.expected, prev)
        msg = f"the file ends too early: expected {expected}" + _after(prev)
        lines = text.splitlines() or [""]
        line, col = len(lines), len(lines[-1]) + 1
        end_col = col + 1
    else:
        assert isinstance(err, UnexpectedToken)
        tok = err.token
        expected, keywords = _expected_words(err.expected, prev, construct, parens)
        shown = str(tok)
        what = "a string" if tok.type == "STRING" else f"`{shown}`"
        msg = f"unexpected {what}: expected {expected}" + _after(prev) + (inside if "..." in expected else "")
        end_col = (tok.end_column or col + 1)
        if tok.type == "NAME" and keywords:
            close = difflib.get_close_matches(shown, keywords, n=1, cutoff=0.6)
            if close:
                hint = f"did you mean `{close[0]}`?"
        if shown == "=" and "CMP" in err.expected:
            msg = f"unexpected `=`{_after(prev)}: a condition compares with `==` (or !=, <, <=, >, >=)"
            hint = "did you mean `==`?"
        elif "RSQB" in err.expected and "COMMA" in err.expected and tok.type != "NAME" or (
                "RSQB" in err.expected and shown in ("where", "when", "fallback", "use")):
            msg = f"unexpected `{shown}`{_after(prev)}: the list is not closed (expected `]`)"
            hint = f"close the list with `]` before `{shown}`" if shown != "when" else \
                "close the list with `]`; after a list of models `where` filters them, `when` starts a condition"
        if tok.type != "NAME" and "NAME" in err.expected and tok.value in RESERVED:
            hint = f"`{tok.value}` is a reserved word; quote it as \"{tok.value}\" where a value is meant"
    return Diagnostic(
        code="E001",
        severity="error",
        message=msg,
        span=A.Span(path, line, col, line, end_col),
        source_line=shown_line(text, line),
        hint=hint,
    )


def shown_line(text: str, line: int) -> str | None:
    """The source line a diagnostic shows, with anything key-shaped inside its strings masked: a syntax
    error can sit on the very line that holds a pasted key."""
    shown = source_line(text, line)
    return None if shown is None else redact_line(shown)
