"""The parser and its lexer: the one LALR parser of the policy grammar (dsl/grammar.lark), and the code that
leans on Lark's internals to make it fast (a lexer of our own, a cheaper position propagation) or to read
what the parser expected where a parse failed.

Everything here is tied to Lark's private structure (lexer states, parse tables, parse_tree_builder); a new
Lark version is checked against tests/dsl/test_lexer.py, which compares this lexer with Lark's own.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import lark.parse_tree_builder as _ptb
from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters
from lark.lexer import ContextualLexer, Lexer, UnlessCallback
from lark.utils import TextSlice

__all__ = ["GRAMMAR_PATH", "RESERVED", "ShapeLexer", "contextual_parser", "parser", "parser_expects"]

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")


class _WholeWords:
    """Lets every lexer state match NAME, so a keyword only ever matches a whole word.

    The contextual lexer scans only for the terminals the parser accepts next; where NAME is not one of
    them, the keyword `use` matched the front of `usem` (read as `use m`) and `whenstream` parsed. With
    NAME always scanned, the longest match wins: `usem` is one word, rejected with "did you mean `use`?",
    and Lark still turns a NAME that spells an expected keyword into that keyword.
    """

    always_accept = ("NAME",)

    def process(self, stream):  # no token rewriting: only `always_accept` matters
        return stream


class _FastPositions:
    """Lark's PropagatePositions with the same results and fewer lookups: with Lark's own, propagating
    positions took half of a parse. Installed only while our parser is built (see `parser()`)."""
    __slots__ = ("node_builder",)

    def __init__(self, node_builder, node_filter=None):
        self.node_builder = node_builder

    def __call__(self, children):
        res = self.node_builder(children)
        if res.__class__ is not Tree:
            return res
        m = res.meta
        d = m.__dict__
        for c in children:
            cls = c.__class__
            if cls is Token:
                first = (c.line, c.column, c.start_pos)
                break
            if cls is Tree:
                cm = c.meta.__dict__
                if cm.get("empty", True) is False or "line" in cm:
                    first = (cm.get("container_line", cm["line"]), cm.get("container_column", cm["column"]),
                             cm.get("container_start_pos", cm["start_pos"]))
                    break
        else:
            first = None
        if first is not None:
            if "line" not in d:
                d["line"], d["column"], d["start_pos"] = first
                d["empty"] = False
            d["container_line"], d["container_column"], d["container_start_pos"] = first
        for i in range(len(children) - 1, -1, -1):
            c = children[i]
            cls = c.__class__
            if cls is Token:
                last = (c.end_line, c.end_column, c.end_pos)
                break
            if cls is Tree:
                cm = c.meta.__dict__
                if cm.get("empty", True) is False or "end_line" in cm:
                    last = (cm.get("container_end_line", cm["end_line"]), cm.get("container_end_column", cm["end_column"]),
                            cm.get("container_end_pos", cm["end_pos"]))
                    break
        else:
            last = None
        if last is not None:
            if "end_line" not in d:
                d["end_line"], d["end_column"], d["end_pos"] = last
                d["empty"] = False
            d["container_end_line"], d["container_end_column"], d["container_end_pos"] = last
        return res


class ShapeLexer(Lexer):
    """Lark's contextual lexer, token for token, at about a third of its cost (it took a fifth of a
    1,000-route load).

    Per parser state, one compiled regex: the ignored terminals (whitespace, comments) skipped up front, then
    the same terminals, in the same order, that Lark's contextual lexer tries in that state (NAME in every
    state, see `_WholeWords`); a NAME that spells a keyword the parser accepts there becomes that keyword.
    Python's `re` takes the first alternative that matches, as Lark's scanner does, so `cheapestx` after
    `choose` is still STRATEGY then NAME, and `==` where only `=` fits is still `=` `=`. The regexes are built
    from Lark's own per-state lexers, so the two cannot drift apart. Where no terminal matches, the rest of
    the text goes to Lark's contextual lexer, so errors (UnexpectedCharacters, or the UnexpectedToken it
    raises for a terminal of another state) are Lark's own, attributes and all. `tests/dsl/test_lexer.py`
    compares the two token by token and error by error.
    """

    __future_interface__ = 2  # lex(lexer_state, parser_state)

    def __init__(self, conf):
        self.conf = conf
        self._reference_lexer: ContextualLexer | None = None
        self._scanners: dict = {}  # parser state -> (bound match, kinds)
        self._compiled: dict = {}  # id of a Lark per-state lexer -> (that lexer, (bound match, kinds))

    def _reference(self, parse_table) -> ContextualLexer:
        if self._reference_lexer is None:
            states = {idx: list(t.keys()) for idx, t in parse_table.states.items()}
            self._reference_lexer = ContextualLexer(self.conf, states, always_accept=_WholeWords.always_accept)
        return self._reference_lexer

    def _scanner(self, parser_state) -> tuple:
        state = parser_state.position
        basic = self._reference(parser_state.parse_conf.parse_table).lexers[state]
        built = self._compiled.get(id(basic))
        if built is None or built[0] is not basic:
            built = self._compiled[id(basic)] = (basic, self._compile(basic))
        self._scanners[state] = built[1]
        return built[1]

    _UNSUPPORTED = (re.compile("").match, (None,))  # matches nothing: Lark's lexer takes over from there

    def _compile(self, basic) -> tuple:
        terminals = basic.scanner.terminals  # Lark's order, keywords folded into NAME (see `_create_unless`)
        ignore = [t for t in terminals if t.name in basic.ignore_types]
        kept = [t for t in terminals if t.name not in basic.ignore_types]
        starts = {c for t in ignore for c in " \t\f\r\n#" if re.match(t.pattern.to_regexp(), c + "x")}
        kinds: list = [None]
        for t in kept:
            regexp = t.pattern.to_regexp()
            cb = basic.callback.get(t.name)
            # Skipping ignored text up front is what Lark does only if no other terminal starts there; a
            # grammar that breaks these assumptions still parses, with Lark's lexer.
            if (re.compile(regexp).groups or any(re.match(regexp, c + "x ") for c in starts)
                    or not (cb is None or isinstance(cb, UnlessCallback))):
                return self._UNSUPPORTED
            unless = None if cb is None else {u.pattern.value: u.name for u in cb.scanner.terminals}
            kinds.append((t.name, unless, t.name in basic.newline_types))
        skip = "|".join(t.pattern.to_regexp() for t in ignore)
        body = "|".join(f"({t.pattern.to_regexp()})" for t in kept)
        pattern = (f"(?:{skip})*+" if skip else "") + f"(?:{body})?"
        return re.compile(pattern, basic.g_regex_flags).match, tuple(kinds)

    def lex(self, lexer_state, parser_state):
        src = lexer_state.text
        text, end = (src.text, src.end) if isinstance(src, TextSlice) else (src, len(src))
        counter = lexer_state.line_ctr
        pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
        scanners = self._scanners
        new = str.__new__
        tok = lexer_state.last_token
        try:
            while True:
                try:
                    match, kinds = scanners[parser_state.state_stack[-1]]
                except KeyError:
                    match, kinds = self._scanner(parser_state)
                m = match(text, pos, end)
                i = m.lastindex
                start = m.start(i) if i else m.end()
                if start != pos:
                    n = text.count("\n", pos, start)
                    if n:
                        line += n
                        line_start = text.rindex("\n", pos, start) + 1
                    pos = start
                if not i:
                    if pos < end:  # nothing matches here: Lark's lexer raises what it always raised
                        counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
                        counter.column = pos - line_start + 1
                        lexer_state.last_token = tok
                        try:
                            yield from self._reference(parser_state.parse_conf.parse_table).lex(
                                lexer_state, parser_state)
                        finally:
                            tok = lexer_state.last_token
                            pos, line, line_start = counter.char_pos, counter.line, counter.line_start_pos
                    return
                value = m.group(i)
                typ, unless, newlines = kinds[i]
                if unless is not None:
                    typ = unless.get(value, typ)
                tok = new(Token, value)
                tok.type = typ
                tok.value = value
                tok.start_pos = pos
                tok.line = line
                tok.column = pos - line_start + 1
                pos = m.end()
                if newlines and "\n" in value:
                    line += value.count("\n")
                    line_start = start + value.rindex("\n") + 1
                tok.end_line = line
                tok.end_column = pos - line_start + 1
                tok.end_pos = pos
                yield tok
        finally:
            counter.char_pos, counter.line, counter.line_start_pos = pos, line, line_start
            counter.column = pos - line_start + 1
            lexer_state.last_token = tok


def _build_parser(lexer) -> Lark:
    original = _ptb.make_propagate_positions
    _ptb.make_propagate_positions = lambda option: _FastPositions if option is True else original(option)
    try:
        return Lark(
            GRAMMAR_PATH.read_text(encoding="utf-8"),
            parser="lalr",
            lexer=lexer,
            postlex=_WholeWords() if lexer == "contextual" else None,
            propagate_positions=True,
            maybe_placeholders=False,
        )
    finally:
        _ptb.make_propagate_positions = original


@lru_cache(maxsize=1)
def parser() -> Lark:
    """The one LALR parser, built once per process (a few ms)."""
    return _build_parser(ShapeLexer)


@lru_cache(maxsize=1)
def contextual_parser() -> Lark:
    """The same parser with Lark's own contextual lexer: the reference `ShapeLexer` is tested against."""
    return _build_parser("contextual")


def parser_expects(err: UnexpectedCharacters) -> set[str]:
    """The terminals the parser accepted where the lexer failed (the lexer's own `allowed` names only NAME
    for keywords, since every state scans NAME: see _WholeWords)."""
    state = getattr(err, "state", None)
    try:
        actions = state.parse_conf.parse_table.states[state.position]  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):
        return set()
    return {t for t in actions if t.isupper() and not t.startswith("$")}


# The words of the language: a value spelled like one must be quoted (dsl/fmt.py), and a hint says so.
RESERVED = {
    "provider", "model", "budget", "limit", "route", "default", "kind", "base_url", "key", "timeout", "header",
    "api_version", "env", "price", "in", "out", "per", "tier", "context", "supports", "at", "alert", "block",
    "downgrade", "to", "team", "project", "app", "cost_center", "requests", "tokens", "minute", "description",
    "owner", "ticket", "when", "fallback", "retries", "retry", "on", "use", "split", "choose", "of", "where",
    "ramp", "from", "rest", "requested", "sticky", "by", "user", "and", "or", "not", "is", "matches", "task",
    "complexity", "weekday", "prompt_tokens", "stream", "tools", "time", "date", "tag", "true", "false", "cached",
    "shared", "usage", "quality", "guard", "over",
}
