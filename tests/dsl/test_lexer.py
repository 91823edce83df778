"""The parser's own lexer (`lexer.ShapeLexer`) against Lark's contextual lexer, which it replaces for speed:
the same tokens, positions included, on every policy we ship or test, and on random damage to the example
policy the same tree or the same error, down to the attributes the error messages are built from."""
from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import ContextualLexer

from dsl import lexer, syntax
from dsl.errors import PolicyError

ROOT = Path(__file__).resolve().parents[2]
FULL_TEXT = (ROOT / "policies" / "examples" / "full.policy").read_text(encoding="utf-8")


def _bench_text(n: int) -> str:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from bench_decide import build
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return build(n)[1]


def _tokens(lark, text: str) -> list[tuple]:
    """Every token the parser was fed, as the lexer made it."""
    return [(t.type, t.value, t.start_pos, t.line, t.column, t.end_line, t.end_column, t.end_pos)
            for t in lark.parse_interactive(text).iter_parse()]


def _fast_tokens(text: str) -> list[tuple]:
    """The shape lexer's tokens, which on valid text it must make without handing over to Lark's lexer."""
    def no_fallback(*args, **kwargs):
        raise AssertionError("the shape lexer fell back to Lark's lexer on valid text")

    with mock.patch.object(ContextualLexer, "lex", no_fallback):
        return _tokens(lexer.parser(), text)


def test_parser_uses_the_shape_lexer() -> None:
    assert isinstance(lexer.parser().parser.lexer, lexer.ShapeLexer)


_FILES = [
    ROOT / "policies" / "examples" / "full.policy",
    ROOT / "policies" / "default.policy",
    *sorted((ROOT / "tests" / "dsl" / "golden").glob("*.policy")),
]


@pytest.mark.parametrize("path", _FILES, ids=lambda p: p.name)
def test_same_tokens_as_lark_on_policy_files(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    fast = _fast_tokens(text)
    assert len(fast) > 10
    assert fast == _tokens(lexer.contextual_parser(), text)


def test_same_tokens_as_lark_on_the_bench_policy() -> None:
    text = _bench_text(100)
    fast = _fast_tokens(text)
    assert len(fast) > 2000
    assert fast == _tokens(lexer.contextual_parser(), text)


def test_same_tokens_on_layout_corners() -> None:
    """Tabs, form feeds, CRs, comments without a final newline, tokens glued together."""
    text = ("provider p\tkind\fopenai key env(K)\r\n"
            "model m=p/\"u\" price in 1 out 2 per 1M context 8 # c\n"
            "#only a comment\n\n"
            "route r when(team==\"a\"or not task in[\"x\",y,])and time>=09:00 and date<2026-01-02\n"
            "  choose cheapest of[m,m,]where tier>=standard and supports tools\n"
            "  timeout 30s retries 2 retry on 429,503 fallback m,m\n"
            "default split sticky by header \"x\"{50%m,50.5%m,}# end")
    fast = _fast_tokens(text)
    assert fast == _tokens(lexer.contextual_parser(), text)


def _lark_outcome(lark, text: str) -> tuple:
    """A parse's tree, or its error with what the error messages read from it."""
    try:
        return ("tree", lark.parse(text))
    except UnexpectedInput as e:
        out: tuple = (type(e).__name__, e.line, e.column, getattr(e, "pos_in_stream", None),
                      sorted(lexer.parser_expects(e)) if isinstance(e, UnexpectedCharacters) else None)
        if isinstance(e, UnexpectedCharacters):
            out += (sorted(e.allowed or ()), e.char)
        if isinstance(e, UnexpectedToken):
            t = e.token
            out += (sorted(e.expected), t.type, t.value, t.line, t.column, t.end_line, t.end_column)
        return out


def _policy_outcome(text: str) -> tuple:
    try:
        return ("ok", syntax.parse_text(text, "m.policy"))
    except PolicyError as e:
        return ("error", [(d.code, d.message, d.span, d.hint, d.source_line) for d in e.diagnostics])


def _assert_same(text: str) -> None:
    assert _lark_outcome(lexer.parser(), text) == _lark_outcome(lexer.contextual_parser(), text), text
    fast = _policy_outcome(text)
    with mock.patch.object(syntax, "parser", lexer.contextual_parser):
        reference = _policy_outcome(text)
    assert fast == reference, text


@pytest.mark.parametrize("text", [
    "",
    "   \n# nothing\n",
    "route r use m @",
    "route r use m\n  when team == \"eng",            # unterminated string
    "route r choose cheapestx of [m]",                 # STRATEGY is tried before NAME after `choose`
    "route r choose fastest-busy of [m]",
    "route r choose of [m]",
    "model m = p/\"u\" price in 1 out 2 per 1Mx",       # PER_UNIT, then a NAME
    "model m = p/\"u\" price in 1 out 2 per 10M",      # no PER_UNIT: Lark's fallback to another state's NUMBER
    "model m == p/\"u\"",                              # `=` `=` where only `=` fits
    "route r when team = \"a\" use m",                # `=` where only CMP fits
    "route r when time > 9:5 use m",
    "route r when date == 2026-1-01 use m",
    "route r timeout 30sx use m",
    "route r timeout 30 use m",
    "route r retries 2.5 use m",
    "route r use",
    "route r usem",
    "route use use m",
    "route r when team in [\"a\" \"b\"] use m",
    "limit key \"k\" 10 requests per minute, 5 tokens per hour",
    "budget team \"t\" 100 USD per month at 80 % alert at 90% downgrade to m",
    "provider p kind openai header \"x\" = env(K) timeout 1.5m",
    "route r when not not (team == \"a\") use m\x0b",
    "route r when tag \"x\" and header \"y\" use m é",
    "route r\n\n   when team == \"a\"\n   use m\n   }",
])
def test_same_outcome_on_corner_cases(text: str) -> None:
    _assert_same(text)


_SNIPPETS = [
    "provider", "model", "route", "default", "use", "when", "choose", "cheapest", "cheapestx", "least-busy",
    "of", "split", "sticky", "by", "ramp", "from", "to", "on", "rest", "per", "1M", "1Mx", "10M", "0.5",
    "30s", "30sx", "500ms", "2026-01-02", "2026-1-2", "09:00", "9:5", "42", "==", "=", "!=", "<", ">=", "/",
    ",", "%", "{", "}", "[", "]", "(", ")", '"x"', '"', '"a\\"b"', "\\", "#c", "#c\n", "\n", "\t", "\f", "\r",
    "\x0b", "@", "é", "env(X)", "true", "false", "and", "or", "not", "in", "is", "matches", "team", "m",
    "x.y-z", "_",
]


@st.composite
def _mutations(draw: st.DrawFn) -> str:
    """The example policy with a few characters or snippets inserted, deleted or replaced, glued to their
    neighbours as often as not (a lexer's corner cases are at token boundaries)."""
    text = FULL_TEXT
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(("insert", "snippet", "glued", "delete", "replace")))
        if op == "insert":
            text = text[:pos] + draw(st.text(min_size=1, max_size=3)) + text[pos:]
        elif op == "snippet":
            text = text[:pos] + " " + draw(st.sampled_from(_SNIPPETS)) + " " + text[pos:]
        elif op == "glued":
            text = text[:pos] + draw(st.sampled_from(_SNIPPETS)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
        else:
            text = text[:pos] + draw(st.sampled_from(_SNIPPETS)) + text[pos + draw(st.integers(1, 4)):]
    return text


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutations())
def test_same_outcome_on_mutated_example(text: str) -> None:
    _assert_same(text)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_SNIPPETS), max_size=30).flatmap(
    lambda parts: st.lists(st.sampled_from(["", " "]), min_size=len(parts), max_size=len(parts)).map(
        lambda seps: "".join(p + s for p, s in zip(parts, seps)))))
def test_same_outcome_on_snippet_soup(text: str) -> None:
    _assert_same(text)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_same_outcome_on_random_text(text: str) -> None:
    _assert_same(text)
