"""Policy text → AST: the parse (dsl/lexer.py's parser), the tree turned into dsl.ast nodes, and the checks
only the parser can make (E002 a construct that cannot mean anything, E003 nesting too deep). A parse error
becomes one diagnostic a person can act on (dsl/parse_errors.py).

Reading files and directories is dsl/loading.py's job; ``policy_paths`` is re-exported here for callers
that import it from this module.
"""
from __future__ import annotations

import gc
import re
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Iterator

from lark import Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedInput, VisitError

from . import ast as A
from .errors import Diagnostic, PolicySyntaxError, source_line
from .lexer import parser
from .parse_errors import shown_line, syntax_diagnostic
from .syntax_strategies import StrategyClauses, duration_seconds
from .paths import policy_paths  # noqa: F401 - re-exported: gateway/app.py imports it from here

__all__ = ["MAX_DEPTH", "gc_paused", "parse_text", "policy_paths"]

MAX_DEPTH = 48  # nesting of conditions; deeper input gets a diagnostic, not a RecursionError


# ------------------------------------------------------------------ tree → AST


class _Semantic(Exception):
    """A construct that parses but cannot mean anything (a bad date, a type mismatch); becomes a diagnostic."""

    def __init__(self, message: str, meta_or_token: object, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.where = meta_or_token
        self.hint = hint


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


_duration = duration_seconds


class _ToAst(StrategyClauses, Transformer):
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
        price = fields.pop("price", (None, None, None))
        return A.Model(
            name=str(alias), provider=str(provider), upstream=_unquote(upstream),
            price_in=price[0], price_out=price[1], price_cached_in=price[2],
            tier=fields.get("tier"), context=fields.get("context"),
            capabilities=frozenset(fields.get("capabilities", ())), span=self.span(meta),
            quality=tuple((t, v) for t, v, _ in fields.get("quality", ())),
        )

    def m_price(self, c):
        return ("price", c[0][0], c[0][1])

    def price_io(self, c):
        # in NUMBER [cached] out NUMBER per PER_UNIT: the unit is the last child
        cached, out = (c[1], c[2]) if len(c) == 4 else (None, c[1])
        return ((_dec(c[0]), _dec(out), cached), c[0])

    def price_cached(self, c):
        return _dec(c[0])

    def price_flat(self, c):
        return ((_dec(c[0]), _dec(c[0]), None), c[0])

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

    # ---- cost centers and shared costs
    @v_args(meta=True)
    def cost_center_decl(self, meta, c):
        name, *opts = c
        fields: dict = {}
        for key, value, where in opts:
            if key in fields:
                raise _Semantic(f"cost_center {name} sets `{key}` twice", where)
            fields[key] = value
        return A.CostCenter(_unquote(name), fields.get("description"), fields.get("owner"), self.span(meta))

    def cc_description(self, c):
        return ("description", _unquote(c[0]), c[0])

    def cc_owner(self, c):
        return ("owner", _unquote(c[0]), c[0])

    @v_args(meta=True)
    def shared(self, meta, c):
        name, what, split = c
        return A.Shared(_unquote(name), **what, percentages=split, span=self.span(meta))

    def sh_amount(self, c):
        return {"amount": _dec(c[0]), "currency": str(c[1]), "period": str(c[2])}

    def sh_scope(self, c):
        return {"scope": c[0], "subject": _unquote(c[1])}

    def sp_usage(self, c):
        return None

    def sp_fixed(self, c):
        return tuple(c)

    def share(self, c):
        return (_unquote(c[1]), _dec(c[0]))

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
        by = next((x[1] for x in c[1:] if isinstance(x, tuple)), None)
        return A.Choose(strategy, models, filters, self.span(meta), by)

    @v_args(meta=True)
    def f_tier(self, meta, c):
        return A.Filter("tier", str(c[0]), str(c[1]), self.span(meta))

    @v_args(meta=True)
    def f_supports(self, meta, c):
        return A.Filter("supports", None, str(c[0]), self.span(meta))

    @v_args(meta=True)
    def a_ramp(self, meta, c):
        model, p1, d1, p2, d2, rest, *opts = c
        sticky = next((x for x in opts if isinstance(x, A.Sticky)), None)
        guard = next((x for x in opts if isinstance(x, A.Guard)), None)
        return A.Ramp(model=str(model), start_percent=_dec(p1), start=self._date(d1), end_percent=_dec(p2),
                      end=self._date(d2), rest=str(rest), sticky=sticky, span=self.span(meta), guard=guard)

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
        if fact.name == "complexity" and value not in A.COMPLEXITIES:
            raise _Semantic(f"`{value}` is not a complexity", tok or where, "use low, medium or high")
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
        raise PolicySyntaxError(syntax_diagnostic(e, text, path)) from None
    deep = _tree_depth_exceeds(tree, MAX_DEPTH)
    if deep is not None:
        meta = deep.meta
        line = getattr(meta, "line", 1)
        raise PolicySyntaxError(Diagnostic(
            "E003", "error", f"conditions nest deeper than {MAX_DEPTH} levels",
            A.Span(path, line, getattr(meta, "column", 1), line, getattr(meta, "column", 1) + 1),
            shown_line(text, line), "split the condition into several routes",
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
                                               shown_line(text, span.line), inner.hint)) from None
        raise
    return A.PolicyFile(path=path, decls=decls, source=text)


