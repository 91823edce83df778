"""Policy text → AST (Lark, LALR), with errors a person can act on: ``file:line:col``, the line, a caret,
and what was expected in words.

Loading a directory means its top-level ``*.policy`` files in name order; subdirectories are not read.
"""
from __future__ import annotations

import difflib
import gc
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import lark.parse_tree_builder as _ptb
from lark import Lark, Token, Transformer, Tree, v_args
from lark.lexer import ContextualLexer, Lexer, UnlessCallback
from lark.utils import TextSlice
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError

from . import ast as A
from .errors import Diagnostic, PolicyError, PolicySyntaxError, source_line

POLICY_SUFFIX = ".policy"
MAX_DEPTH = 48  # nesting of conditions; deeper input gets a diagnostic, not a RecursionError
MAX_BYTES = 8 * 1024 * 1024

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


class _ShapeLexer(Lexer):
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
    return _build_parser(_ShapeLexer)


@lru_cache(maxsize=1)
def _contextual_parser() -> Lark:
    """The same parser with Lark's own contextual lexer: the reference `_ShapeLexer` is tested against."""
    return _build_parser("contextual")


# ------------------------------------------------------------------ error messages in words

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


def _expected_words(expected: Iterable[str], prev: str | None) -> tuple[str, list[str]]:
    names = sorted(set(expected))
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
    # Declaration keywords first: they are what an author most often meant.
    words.sort(key=lambda w: (0 if w.strip("`") in _DECL_KEYWORDS else 1, w))
    if len(words) > 8:
        words = words[:8] + ["..."]
    return (", ".join(words) if len(words) > 1 else (words[0] if words else "something else")), keywords


def _after(prev: str | None) -> str:
    # A string is never echoed into a message: it may be a key someone pasted, and the caret shows it anyway.
    if not prev:
        return ""
    return " after a string" if prev.startswith('"') else f" after `{prev}`"


def _parser_expects(err: UnexpectedCharacters) -> set[str]:
    """The terminals the parser accepted where the lexer failed (the lexer's own `allowed` names only NAME
    for keywords, since every state scans NAME: see _WholeWords)."""
    state = getattr(err, "state", None)
    try:
        actions = state.parse_conf.parse_table.states[state.position]  # type: ignore[union-attr]
    except (AttributeError, KeyError, TypeError):
        return set()
    return {t for t in actions if t.isupper() and not t.startswith("$")}


def _syntax_diagnostic(err: UnexpectedInput, text: str, path: str) -> Diagnostic:
    line = getattr(err, "line", 1) or 1
    col = getattr(err, "column", 1) or 1
    pos = getattr(err, "pos_in_stream", None)
    if pos is None:
        pos = len(text)
    prev = _previous_word(text, pos)
    hint = None
    end_col = col + 1
    if isinstance(err, UnexpectedCharacters):
        ch = text[pos] if 0 <= pos < len(text) else ""
        allowed = _parser_expects(err) or err.allowed or ()
        expected, _ = _expected_words(allowed, prev)
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
        expected, keywords = _expected_words(err.expected, prev)
        shown = str(tok)
        what = "a string" if tok.type == "STRING" else f"`{shown}`"
        msg = f"unexpected {what}: expected {expected}" + _after(prev)
        end_col = (tok.end_column or col + 1)
        if tok.type == "NAME" and keywords:
            close = difflib.get_close_matches(shown, keywords, n=1, cutoff=0.6)
            if close:
                hint = f"did you mean `{close[0]}`?"
        if tok.type == "NAME" and shown in ("kind", "base_url", "key", "timeout", "use", "when"):
            pass
        if tok.type != "NAME" and "NAME" in err.expected and tok.value in _RESERVED:
            hint = f"`{tok.value}` is a reserved word; quote it as \"{tok.value}\" where a value is meant"
    return Diagnostic(
        code="E001",
        severity="error",
        message=msg,
        span=A.Span(path, line, col, line, end_col),
        source_line=_shown_line(text, line),
        hint=hint,
    )


_RESERVED = {
    "provider", "model", "budget", "limit", "route", "default", "kind", "base_url", "key", "timeout", "header",
    "api_version", "env", "price", "in", "out", "per", "tier", "context", "supports", "at", "alert", "block",
    "downgrade", "to", "team", "project", "app", "cost_center", "requests", "tokens", "minute", "description",
    "owner", "ticket", "when", "fallback", "retries", "retry", "on", "use", "split", "choose", "of", "where",
    "ramp", "from", "rest", "requested", "sticky", "by", "user", "and", "or", "not", "is", "matches", "task",
    "weekday", "prompt_tokens", "stream", "tools", "time", "date", "tag", "true", "false",
}


# ------------------------------------------------------------------ tree → AST


class _Semantic(Exception):
    """A construct that parses but cannot mean anything (a bad date, a type mismatch); becomes a diagnostic."""

    def __init__(self, message: str, meta_or_token: object, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = meta_or_token
        self.hint = hint


def _shown_line(text: str, line: int) -> str | None:
    """The source line a diagnostic shows, with anything key-shaped inside its strings masked: a syntax
    error can sit on the very line that holds a pasted key."""
    from .check import _redact

    shown = source_line(text, line)
    return None if shown is None else _redact(shown, ())


def _unquote(tok: Token) -> str:
    body = str(tok)[1:-1]
    # Only \" \\ \n \t are escapes; any other backslash stays, so `matches "\d+"` means what a regex
    # author wrote.
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}


def _dec(tok: Token) -> Decimal:
    try:
        return Decimal(str(tok))
    except InvalidOperation:  # pragma: no cover - the lexer only lets digits through
        raise _Semantic(f"`{tok}` is not a number", tok)


_UNIT_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}


def _duration(tok: Token) -> Decimal:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(tok))
    assert m
    return Decimal(m.group(1)) * _UNIT_SECONDS[m.group(2)]


class _ToAst(Transformer):
    def __init__(self, path: str):
        super().__init__(visit_tokens=False)
        self.path = path

    def span(self, meta_or_tok: object) -> A.Span:
        m = meta_or_tok
        if isinstance(m, Token):
            return A.Span(self.path, m.line or 0, m.column or 0, m.end_line or m.line or 0, m.end_column or 0)
        if getattr(m, "empty", True) and not hasattr(m, "line"):
            return A.Span(self.path, 0, 0, 0, 0)
        return A.Span(self.path, m.line, m.column, m.end_line, m.end_column)

    # ---- providers
    def env_ref(self, children):
        (name,) = children
        return A.EnvRef(str(name), self.span(name))

    @v_args(meta=True)
    def provider(self, meta, children):
        name, *opts = children
        fields: dict = {"headers": []}
        seen: dict[str, object] = {}
        for key, value, where in opts:
            if key == "headers":
                fields["headers"].append(value)
                continue
            if key in seen:
                raise _Semantic(f"provider `{name}` sets `{key}` twice", where)
            seen[key] = where
            fields[key] = value
        if "kind" not in fields:
            raise _Semantic(f"provider `{name}` has no `kind`", meta,
                            "add `kind openai` (or azure, anthropic, gemini, mock)")
        fields["headers"] = tuple(fields["headers"])
        return A.Provider(name=str(name), span=self.span(meta), **fields)

    def _secret(self, v):
        return v if isinstance(v, A.EnvRef) else _unquote(v)

    def p_kind(self, c):
        return ("kind", str(c[0]), c[0])

    def p_base_url(self, c):
        return ("base_url", _unquote(c[0]), c[0])

    def p_key(self, c):
        return ("key", self._secret(c[0]), c[0])

    def p_timeout(self, c):
        return ("timeout", A.Duration(_duration(c[0]), self.span(c[0])), c[0])

    def p_header(self, c):
        return ("headers", (_unquote(c[0]), self._secret(c[1])), c[0])

    def p_api_version(self, c):
        return ("api_version", _unquote(c[0]), c[0])

    # ---- models
    @v_args(meta=True)
    def model(self, meta, children):
        alias, provider, upstream, *opts = children
        fields: dict = {}
        for key, value, where in opts:
            if key in fields:
                raise _Semantic(f"model `{alias}` sets `{key}` twice", where)
            fields[key] = value
        price = fields.pop("price", (Decimal(0), Decimal(0)))
        return A.Model(
            name=str(alias), provider=str(provider), upstream=_unquote(upstream),
            price_in=price[0], price_out=price[1],
            tier=fields.get("tier"), context=fields.get("context"),
            capabilities=frozenset(fields.get("capabilities", ())), span=self.span(meta),
        )

    def m_price(self, c):
        return ("price", c[0][0], c[0][1])

    def price_io(self, c):
        return ((_dec(c[0]), _dec(c[1])), c[0])

    def price_flat(self, c):
        return ((_dec(c[0]), _dec(c[0])), c[0])

    def m_tier(self, c):
        return ("tier", str(c[0]), c[0])

    def m_context(self, c):
        return ("context", int(c[0]), c[0])

    def m_supports(self, c):
        return ("capabilities", tuple(str(x) for x in c), c[0])

    # ---- budgets and limits
    def scope(self, c):
        return str(c[0])

    @v_args(meta=True)
    def budget(self, meta, c):
        scope, subject, amount, currency, period, *thresholds = c
        return A.Budget(scope=scope, subject=_unquote(subject), amount=_dec(amount), currency=str(currency),
                        period=str(period), thresholds=tuple(thresholds), span=self.span(meta))

    @v_args(meta=True)
    def t_alert(self, meta, c):
        return A.Threshold(_dec(c[0]), "alert", None, self.span(meta))

    @v_args(meta=True)
    def t_block(self, meta, c):
        return A.Threshold(_dec(c[0]), "block", None, self.span(meta))

    @v_args(meta=True)
    def t_downgrade(self, meta, c):
        return A.Threshold(_dec(c[0]), "downgrade", str(c[1]), self.span(meta))

    @v_args(meta=True)
    def limit(self, meta, c):
        scope, subject, *rates = c
        fields: dict = {}
        for key, value, where in rates:
            if key in fields:
                raise _Semantic(f"limit sets {key.replace('_', ' ')} twice", where)
            fields[key] = value
        return A.Limit(scope=scope, subject=_unquote(subject), span=self.span(meta), **fields)

    def r_requests(self, c):
        return ("requests_per_minute", int(c[0]), c[0])

    def r_tokens(self, c):
        return ("tokens_per_minute", int(c[0]), c[0])

    # ---- routes
    @v_args(meta=True)
    def route(self, meta, c):
        name, *clauses = c
        return self._route(str(name), clauses, meta, is_default=False)

    @v_args(meta=True)
    def default_route(self, meta, c):
        return self._route("default", c, meta, is_default=True)

    def _route(self, name: str, clauses: list, meta, is_default: bool) -> A.Route:
        fields: dict = {}
        meta_fields: dict = {}
        action = None
        for clause in clauses:
            if isinstance(clause, (A.Use, A.Split, A.Choose, A.Ramp)):
                if action is not None:
                    raise _Semantic(f"route `{name}` has two actions; a route does one thing "
                                    "(use, split, choose or ramp)", _SpanHolder(clause.span))
                action = clause
                continue
            key, value, where = clause
            target = meta_fields if key in ("description", "owner", "ticket") else fields
            if key in target:
                raise _Semantic(f"route `{name}` has `{key}` twice", where)
            target[key] = value
        if is_default and "when" in fields:
            raise _Semantic("the default route takes no `when`: it serves whatever no route matched",
                            _SpanHolder(fields["when"].span))
        if action is None:
            raise _Semantic(f"route `{name}` says what to match but not what to do", meta,
                            "add an action: `use MODEL`, `split {...}`, `choose ... of [...]` or `ramp ...`")
        return A.Route(name=name, when=fields.get("when"), action=action, fallback=fields.get("fallback", ()),
                       retries=fields.get("retries"), timeout=fields.get("timeout"),
                       retry_on=fields.get("retry_on", ()), meta=A.Meta(**meta_fields),
                       is_default=is_default, span=self.span(meta))

    def c_description(self, c):
        return ("description", _unquote(c[0]), c[0])

    def c_owner(self, c):
        return ("owner", _unquote(c[0]), c[0])

    def c_ticket(self, c):
        return ("ticket", _unquote(c[0]), c[0])

    @v_args(meta=True)
    def c_when(self, meta, c):
        return ("when", c[0], _SpanHolder(self.span(meta)))

    def c_fallback(self, c):
        return ("fallback", tuple(str(x) for x in c), c[0])

    def c_retries(self, c):
        return ("retries", int(c[0]), c[0])

    def c_timeout(self, c):
        return ("timeout", A.Duration(_duration(c[0]), self.span(c[0])), c[0])

    def c_retry_on(self, c):
        codes = tuple(int(x) for x in c)
        for x, tok in zip(codes, c):
            if not 400 <= x <= 599:
                raise _Semantic(f"`retry on {x}`: only HTTP error statuses (400-599) can be retried", tok)
        return ("retry_on", codes, c[0])

    # ---- actions
    @v_args(meta=True)
    def a_use(self, meta, c):
        return A.Use(str(c[0]), self.span(meta))

    def model_ref(self, c):
        return c[0]

    @v_args(meta=True)
    def a_split(self, meta, c):
        sticky = c[0] if isinstance(c[0], A.Sticky) else None
        arms = tuple(x for x in c if isinstance(x, A.Arm))
        return A.Split(arms, sticky, self.span(meta))

    @v_args(meta=True)
    def arm(self, meta, c):
        return A.Arm(_dec(c[0]), str(c[1]), self.span(meta))

    @v_args(meta=True)
    def sticky_user(self, meta, c):
        return A.Sticky("user", None, self.span(meta))

    @v_args(meta=True)
    def sticky_key(self, meta, c):
        return A.Sticky("key", None, self.span(meta))

    @v_args(meta=True)
    def sticky_header(self, meta, c):
        return A.Sticky("header", _unquote(c[0]).lower(), self.span(meta))

    @v_args(meta=True)
    def a_choose(self, meta, c):
        strategy = str(c[0]).replace("-", "_")
        models = tuple(str(x) for x in c[1:] if isinstance(x, Token))
        filters = tuple(x for x in c[1:] if isinstance(x, A.Filter))
        return A.Choose(strategy, models, filters, self.span(meta))

    @v_args(meta=True)
    def f_tier(self, meta, c):
        return A.Filter("tier", str(c[0]), str(c[1]), self.span(meta))

    @v_args(meta=True)
    def f_supports(self, meta, c):
        return A.Filter("supports", None, str(c[0]), self.span(meta))

    @v_args(meta=True)
    def a_ramp(self, meta, c):
        model, p1, d1, p2, d2, rest, *sticky = c
        return A.Ramp(model=str(model), start_percent=_dec(p1), start=self._date(d1), end_percent=_dec(p2),
                      end=self._date(d2), rest=str(rest), sticky=sticky[0] if sticky else None,
                      span=self.span(meta))

    # ---- conditions
    def _date(self, tok: Token) -> date:
        try:
            return date.fromisoformat(str(tok))
        except ValueError:
            raise _Semantic(f"`{tok}` is not a calendar date", tok, "write dates as YYYY-MM-DD")

    def _time(self, tok: Token) -> A.TimeOfDay:
        h, m = (int(x) for x in str(tok).split(":"))
        if h > 23 or m > 59:
            raise _Semantic(f"`{tok}` is not a time of day", tok, "write times as HH:MM, 00:00 to 23:59 (UTC)")
        return A.TimeOfDay(h * 60 + m)

    @v_args(meta=True)
    def c_or(self, meta, c):
        if len(c) == 1:
            return c[0]
        return A.Or(tuple(c), self.span(meta))

    @v_args(meta=True)
    def c_and(self, meta, c):
        if len(c) == 1:
            return c[0]
        return A.And(tuple(c), self.span(meta))

    @v_args(meta=True)
    def c_not(self, meta, c):
        return A.Not(c[0], self.span(meta))

    @v_args(meta=True)
    def fact(self, meta, c):
        name = str(c[0])
        param = _unquote(c[1]).lower() if len(c) > 1 else None
        return A.Fact(name, param, self.span(meta))

    def v_true(self, c):
        return True

    def v_false(self, c):
        return False

    def list(self, c):
        return [self._value_of(x) for x in c]

    def _value_of(self, v):
        """A value token → (python value, kind, token) for type checking against the fact."""
        if isinstance(v, bool):
            return (v, "bool", None)
        assert isinstance(v, Token)
        if v.type == "STRING":
            return (_unquote(v), "str", v)
        if v.type == "NAME":
            return (str(v), "str", v)
        if v.type == "INT":
            return (int(v), "int", v)
        if v.type == "TIME":
            return (self._time(v), "time", v)
        if v.type == "DATE":
            return (self._date(v), "date", v)
        raise _Semantic(f"`{v}` is not a value", v)  # pragma: no cover

    _KIND_OF_FACT = {
        **{f: "str" for f in A.STRING_FACTS},
        "header": "str",
        "prompt_tokens": "int",
        "time": "time",
        "date": "date",
        "stream": "bool",
        "tools": "bool",
        "tag": "bool",
    }
    _KIND_WORDS = {"str": "a name or string", "int": "a whole number", "time": "a time (HH:MM)",
                   "date": "a date (YYYY-MM-DD)", "bool": "true or false"}

    def _typed(self, fact: A.Fact, v, where) -> object:
        value, kind, tok = v
        want = self._KIND_OF_FACT[fact.name]
        if kind != want:
            raise _Semantic(f"`{self._fact_text(fact)}` is compared with {self._KIND_WORDS[kind]}, "
                            f"but it holds {self._KIND_WORDS[want]}", tok or where)
        if fact.name == "weekday" and value not in A.WEEKDAYS:
            raise _Semantic(f"`{value}` is not a weekday", tok or where, "use mon, tue, wed, thu, fri, sat, sun")
        return value

    @staticmethod
    def _fact_text(f: A.Fact) -> str:
        return f'{f.name} "{f.param}"' if f.param is not None else f.name

    def _bool_test(self, fact: A.Fact, value: bool, negate: bool, meta) -> A.Cond:
        node: A.Cond = A.IsTrue(fact, self.span(meta))
        if value == negate:
            node = A.Not(node, self.span(meta))
        return node

    @v_args(meta=True)
    def t_compare(self, meta, c):
        fact, op, raw = c[0], str(c[1]), self._value_of(c[2])
        kind = self._KIND_OF_FACT[fact.name]
        if kind == "bool":
            if op not in ("==", "!=") or raw[1] != "bool":
                raise _Semantic(f"`{self._fact_text(fact)}` is true or false: test it on its own, "
                                f"or with `not`", meta)
            return self._bool_test(fact, raw[0], op == "!=", meta)
        value = self._typed(fact, raw, meta)
        if op in ("<", "<=", ">", ">=") and kind == "str":
            raise _Semantic(f"`{self._fact_text(fact)}` is text: it can be tested with ==, !=, in or matches, "
                            f"not `{op}`", c[1])
        return A.Compare(fact, op, value, self.span(meta))

    @v_args(meta=True)
    def t_is(self, meta, c):
        return self._is(meta, c, negate=False)

    @v_args(meta=True)
    def t_is_not(self, meta, c):
        return self._is(meta, c, negate=True)

    def _is(self, meta, c, negate: bool):
        fact, raw = c[0], self._value_of(c[1])
        if self._KIND_OF_FACT[fact.name] == "bool":
            if raw[1] != "bool":
                raise _Semantic(f"`{self._fact_text(fact)}` is true or false", meta)
            return self._bool_test(fact, raw[0], negate, meta)
        return A.Compare(fact, "!=" if negate else "==", self._typed(fact, raw, meta), self.span(meta))

    @v_args(meta=True)
    def t_in(self, meta, c):
        return self._in(meta, c, negated=False)

    @v_args(meta=True)
    def t_not_in(self, meta, c):
        return self._in(meta, c, negated=True)

    def _in(self, meta, c, negated: bool):
        fact, values = c
        if self._KIND_OF_FACT[fact.name] == "bool":
            raise _Semantic(f"`{self._fact_text(fact)}` is true or false: `in` does not apply", meta)
        if not values:
            raise _Semantic("an empty list never matches", meta, "list at least one value")
        typed = tuple(dict.fromkeys(self._typed(fact, v, meta) for v in values))
        return A.In(fact, typed, negated, self.span(meta))

    @v_args(meta=True)
    def t_matches(self, meta, c):
        fact, pat = c
        if self._KIND_OF_FACT[fact.name] != "str":
            raise _Semantic(f"`{self._fact_text(fact)}` is not text: `matches` does not apply", meta)
        pattern = _unquote(pat)
        try:
            re.compile(pattern)
        except re.error as e:
            raise _Semantic(f"the pattern {pat} is not a valid regular expression: {e.msg}", pat)
        return A.Matches(fact, pattern, self.span(meta))

    @v_args(meta=True)
    def t_bool(self, meta, c):
        fact = c[0]
        if fact.name not in ("stream", "tools", "tag", "header"):
            raise _Semantic(f"`{fact.name}` on its own is not a test", meta,
                            f"compare it, e.g. `{fact.name} == ...` or `{fact.name} in [...]`")
        return A.IsTrue(fact, self.span(meta))

    def start(self, c):
        return tuple(c)


class _SpanHolder:
    """Lets a ready Span stand where a Lark meta or token is expected."""

    def __init__(self, span: A.Span):
        self.line, self.column = span.line, span.col
        self.end_line, self.end_column = span.end_line, span.end_col


def _tree_depth_exceeds(tree: Tree, limit: int) -> Tree | None:
    """The first subtree deeper than `limit`, found without recursion (the parse itself does not recurse)."""
    stack: list[tuple[Tree, int]] = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return node
        for ch in node.children:
            if isinstance(ch, Tree):
                stack.append((ch, depth + 1))
    return None


def parse_text(text: str, path: str = "<policy>") -> A.PolicyFile:
    """Parse one policy file's text. Raises PolicySyntaxError with one diagnostic."""
    text = text.replace("\r\n", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        with gc_paused():
            return _parse_text(text, path)
    except PolicySyntaxError as e:
        raise PolicySyntaxError([_realign(d, text) for d in e.diagnostics]) from None


# False in a context (a server's reload thread) where pausing the process-wide collector would pause it
# for every other thread too: gc_paused then leaves it running.
GC_PAUSE: ContextVar[bool] = ContextVar("dsl_gc_pause", default=True)


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while building a large tree of new objects: it would scan them
    again and again for cycles they do not have (a fifth of a 1,000-route parse). Re-entrant. A no-op
    where ``GC_PAUSE`` is set False."""
    if not GC_PAUSE.get():
        yield
        return
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _realign(d: Diagnostic, text: str) -> Diagnostic:
    """Pad the shown line where masking a secret shortened it, so the caret still stands under the column
    the headline names."""
    orig, shown = source_line(text, d.span.line), d.source_line
    if orig is None or shown is None or len(shown) >= len(orig):
        return d
    p = 0
    while p < len(shown) and shown[p] == orig[p]:
        p += 1
    q = 0
    while q < len(shown) - p and shown[-1 - q] == orig[-1 - q]:
        q += 1
    cut = len(shown) - q
    return replace(d, source_line=shown[:cut] + " " * (len(orig) - len(shown)) + shown[cut:])


def _parse_text(text: str, path: str) -> A.PolicyFile:
    try:
        tree = parser().parse(text)
    except UnexpectedInput as e:
        raise PolicySyntaxError(_syntax_diagnostic(e, text, path)) from None
    deep = _tree_depth_exceeds(tree, MAX_DEPTH)
    if deep is not None:
        meta = deep.meta
        line = getattr(meta, "line", 1)
        raise PolicySyntaxError(Diagnostic(
            "E003", "error", f"conditions nest deeper than {MAX_DEPTH} levels",
            A.Span(path, line, getattr(meta, "column", 1), line, getattr(meta, "column", 1) + 1),
            _shown_line(text, line), "split the condition into several routes",
        )) from None
    try:
        decls = _ToAst(path).transform(tree)
    except VisitError as e:
        inner = e.orig_exc
        if isinstance(inner, _Semantic):
            w = inner.where
            if isinstance(w, Token):
                span = A.Span(path, w.line or 1, w.column or 1, w.end_line or w.line or 1, w.end_column or 1)
            else:
                span = A.Span(path, getattr(w, "line", 1), getattr(w, "column", 1),
                              getattr(w, "end_line", 1), getattr(w, "end_column", 1))
            raise PolicySyntaxError(Diagnostic("E002", "error", inner.message, span,
                                               _shown_line(text, span.line), inner.hint)) from None
        raise
    return A.PolicyFile(path=path, decls=decls, source=text)


def _file_diag(code: str, path: str, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, "error", message, A.Span(path, 1, 1, 1, 1), None, hint)


def read_policy_file(path: Path) -> A.PolicyFile:
    """Read and parse one file; unreadable, oversized or non-UTF-8 files become diagnostics."""
    p = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicySyntaxError(_file_diag("E004", p, "no such file")) from None
    except IsADirectoryError:
        raise PolicySyntaxError(_file_diag("E004", p, "is a directory")) from None
    except OSError as e:
        raise PolicySyntaxError(_file_diag("E004", p, f"cannot read the file: {e.strerror}")) from None
    if len(data) > MAX_BYTES:
        raise PolicySyntaxError(_file_diag("E004", p, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MiB"))
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
        raise PolicySyntaxError(_file_diag("E004", p, "the file holds NUL bytes: it is not a policy file"))
    return parse_text(text, p)


def policy_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Expand the given files and directories (top-level ``*.policy`` files, name order)."""
    out: list[Path] = []
    diags: list[Diagnostic] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(f for f in path.iterdir() if f.is_file() and f.suffix == POLICY_SUFFIX)
            if not found:
                diags.append(_file_diag("E004", str(path), f"no policy files (*{POLICY_SUFFIX}) in this directory"))
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            diags.append(_file_diag("E004", str(path), "no such file or directory"))
    if diags:
        raise PolicySyntaxError(diags)
    return out


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
