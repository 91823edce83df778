"""Static analysis of a parsed policy set: names, secrets, providers, traffic splits, budgets and rules that
can never match, reported as diagnostics with stable codes, sorted by file, line and column.

Errors (``E``) stop a policy from loading; warnings (``W``) are printed and the policy loads. The parser
(dsl/syntax.py) owns E001 (not in the language), E002 (parses but cannot mean anything: a bad date, a type
mismatch), E003 (conditions nested too deeply) and E004 (a file or directory that cannot be read as policy).

    code  what it means
    ----  ------------------------------------------------------------------------------------------------
    W005  a file that declares nothing
    E006  a policy with no model at all
    E101  a model names a provider that is not declared
    E102  a route, fallback or downgrade names a model that is not declared
    E103  a provider kind the gateway has no adapter for (openai, azure, anthropic, gemini, mock)
    E104  an unknown tier (model `tier`, choose `where tier ...`): economy, standard, premium
    E105  an unknown capability (model `supports`, choose `where supports`): tools, vision, json, embeddings
    E106  an unknown budget or limit scope (key, team, project, app, cost_center)
    E107  an unknown budget period (day, week, month)
    E108  an unknown choose strategy (cheapest, fastest, least-busy, round-robin)
    E109  a currency that is not three upper-case letters (ISO 4217, e.g. USD)
    E110  `requested` outside `use` (split, choose, ramp, fallback, downgrade), or a model named `requested`
    E111  two providers with the same name
    E112  two models with the same alias
    E113  two routes with the same name, or a `route default` (the name belongs to the default route)
    E114  more than one `default` route
    E115  two budgets for the same scope, subject and period
    E116  two limits for the same scope and subject
    E120  a provider key written as a literal string: keys are `env(NAME)`
    E121  a provider header carrying a literal secret (authorization / api-key header, or a key-shaped value)
    E122  a base_url carrying credentials (user:password@ or ?key=...)
    E130  an azure provider without base_url
    E131  a base_url that is not http(s) (a mock provider may also use mock://)
    E132  no key for a provider that needs one (openai at api.openai.com, azure, anthropic, gemini)
    W133  api_version on a provider that is not azure (only azure reads it)
    E140  split weights that do not sum to 100%
    W141  a split arm of 0% (it never receives traffic)
    W142  the same model twice in one split
    E143  a ramp whose end date is not after its start date
    E144  a ramp whose percentage runs backwards (end below start)
    E145  a ramp percentage outside 0..100
    E146  a ramp whose model is also its `rest`
    W147  two ramps moving traffic between the same two models over overlapping dates, whose conditions
          could both match
    E150  a fallback that repeats a model already in the route's plan (the `use` target, a `choose` candidate
          that survives the filters, or the one model of a split)
    E151  a fallback listing the same model twice
    E152  a downgrade that can never lower spend (see "Downgrade rule" below)
    E160  a budget amount of zero or less
    E161  budget thresholds out of order: percents must strictly increase in file order
    E162  two thresholds of one budget at the same percent
    W163  a threshold above a `block`: spending stops at the block, so it never fires
    E164  a limit with no rate, or with a rate of zero
    W170  `choose` over a single model (`use X` says the same)
    W171  `choose` listing a model twice
    E172  `choose ... where` filters that leave no model
    W173  `choose ... where` filters that leave exactly one model (`use X` says the same)
    W180  a model no route, fallback or downgrade can reach (only when nothing says `use requested`)
    W181  a provider no model uses
    W190  a route that can never match: earlier routes catch everything it would (see "Shadowing" below)
    W191  a route whose condition can never be true (e.g. team == "a" and team == "b")
    W192  a budget or limit for a subject no key carries (gateway-time: `check_budget_subjects`)
    E200  a timeout of zero (route or provider)
    W201  more than 10 retries
    W202  `retry on` a status the gateway already retries (408, 409, 429, 500, 502, 503, 504)
    W210  a header name that is not an HTTP token (spaces, quotes, ...)

Downgrade rule (E152): the price of a model is ``price_in + price_out`` per 1M tokens. The models routes can
reach are those named by any route action or fallback, or every model when some route (or the implicit
default, when there is no `default`) says `use requested`. A downgrade target must cost strictly less than
the most expensive *other* reachable model; otherwise no request it replaces can get cheaper. (Stricter
rules, e.g. "cheaper than everything the budget's subject can reach", would need the key store.)

Shadowing (W190): a condition is put in disjunctive normal form (bounded; past the bound nothing is
reported) over per-fact value sets: equality, `is`, `in`, `not in`, `!=`, and the ranges <, <=, >, >= on
prompt_tokens / time / date are decided exactly; `matches` and anything else are opaque tests that only match
an identical test. A later route S is shadowed when each of its disjuncts lies inside a disjunct of one
earlier route R, or, failing that, inside the union of the earlier routes' disjuncts (merged where two differ
in one fact only). A route without `when` catches everything; the `default` is reported when earlier routes
together catch everything. Anything undecided is not reported.

Bounds: a condition with more than DNF_LIMIT (64) disjuncts is undecided. The union of earlier disjuncts is a
pool of at most DNF_LIMIT merged entries, filled in file order: once full, a disjunct that neither merges
with an entry nor lies inside one is left out, so a route caught only by several routes *together*, some of
them past that point, is not reported (a report dropped, never a false one). Shadowing by one earlier route
has no bound. Both tests are indexed rather than run over every pair of routes (see "shadowing, indexed"
below), and give exactly what the pairwise definition (`_shadow_reference`) gives; W147 likewise compares a
ramp only with earlier ramps between the same two models whose conditions an index cannot rule out.

Secrets never appear in messages, and the source line shown under a diagnostic has literal secrets masked to
their first three characters and "…" (short ones entirely).
"""
from __future__ import annotations

import bisect
import difflib
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable, Iterator, Mapping
from urllib.parse import parse_qsl, urlsplit

from . import ast as A
from .check_capabilities import check_capabilities
from .errors import Diagnostic, PolicyError

__all__ = ["check", "check_budget_subjects", "check_text", "DEFAULT_RETRIED"]

# The statuses the gateway retries on its own (gateway.errors.RETRYABLE_STATUSES); dsl must not import the
# gateway, so the set is repeated here and a test in tests/gateway can hold the two equal.
DEFAULT_RETRIED = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRIES = 10
DNF_LIMIT = 64  # disjuncts per condition (and per pool of earlier routes) before shadowing gives up

_OPENAI_HOST = "api.openai.com"
_KEYED_KINDS = ("azure", "anthropic", "gemini")
_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "x-goog-api-key", "apikey", "x-auth-token",
    "ocp-apim-subscription-key", "cookie",
})
_KEY_SHAPES = re.compile(
    r"sk-[A-Za-z0-9_\-]{6,}"          # OpenAI sk-..., sk-proj-..., Anthropic sk-ant-...
    r"|AIza[0-9A-Za-z_\-]{10,}"       # Google API keys
    r"|(?:ghp|gho|ghs|ghu|github_pat)_[A-Za-z0-9_]{10,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|AKIA[0-9A-Z]{12,}"
    r"|hf_[A-Za-z0-9]{10,}"
    r"|(?i:bearer|basic)\s+\S{6,}"
)
_CREDENTIAL_PARAMS = frozenset({"key", "api_key", "api-key", "apikey", "token", "access_token", "auth", "secret",
                                "password", "sig"})
_HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CURRENCY = re.compile(r"[A-Z]{3}")


def _severity(code: str) -> str:
    return "error" if code.startswith("E") else "warning"


def _mask(secret: str) -> str:
    """What a message or source line may show of a secret: three characters of a long one, nothing of a short."""
    return secret[:3] + "…" if len(secret) >= 12 else "…"


def _did_you_mean(name: str, known: Iterable[str], what: str = "") -> str | None:
    choices = sorted(set(known))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if what and choices:
        shown = ", ".join(choices[:8]) + (", ..." if len(choices) > 8 else "")
        return f"known {what}: {shown}"
    return None


def _price(m: A.Model) -> Decimal:
    return m.price_in + m.price_out


# =========================================================================== locating names in the source

_TOKEN = re.compile(r'"[^"\n]*"?|[A-Za-z_][A-Za-z0-9_.\-]*|\d[\d:.\-]*[A-Za-z]*|\S')


def _masked(source: str) -> str:
    """The source with comments and string contents blanked (same length), so names are found only where
    the grammar would see them. (A string runs to its closing quote or the end of the line; a backslash
    escapes the character after it.)"""

    def blank(m: re.Match[str]) -> str:
        if m.group(1) is None:  # a comment
            return " " * len(m.group())
        return '"' + " " * len(m.group(1)) + m.group(2)

    return _BLANKED.sub(blank, source)


_BLANKED = re.compile(r'#[^\n]*|"((?:\\[^\n]|[^"\n])*)("?)')


class _Source:
    """One file's text with the means to turn a node's span into the span of a word inside it."""

    def __init__(self, f: A.PolicyFile):
        self.path = f.path
        self.text = f.source
        self.masked = _masked(f.source)
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


# =========================================================================== value sets for conditions

_INF = 10 ** 18
_BOOLS = frozenset({True, False})
_WEEK = frozenset(A.WEEKDAYS)
_ORDERED = {"prompt_tokens": (0, _INF), "time": (0, 24 * 60 - 1), "date": (1, date.max.toordinal())}
_DISCRETE_BOOL = ("stream", "tools", "tag")


@dataclass(frozen=True)
class _DSet:
    """A set of discrete values: ``vals`` itself, or (``co``) everything but ``vals``. ``univ`` is the finite
    universe when there is one (booleans, weekdays); None means infinite (names, header values, and None for
    a fact the request does not carry)."""

    vals: frozenset
    co: bool
    univ: frozenset | None = None

    @staticmethod
    def of(vals: Iterable[object], co: bool, univ: frozenset | None) -> "_DSet":
        v = frozenset(vals)
        if univ is not None:
            return _DSet((univ - v) if co else (v & univ), False, univ)
        return _DSet(v, co, None)

    def empty(self) -> bool:
        return not self.co and not self.vals

    def full(self) -> bool:
        if self.univ is not None:
            return self.vals == self.univ
        return self.co and not self.vals

    def complement(self) -> "_DSet":
        return _DSet.of(self.vals, not self.co, self.univ)

    def inter(self, o: "_DSet") -> "_DSet":
        if not self.co and not o.co:
            return _DSet.of(self.vals & o.vals, False, self.univ)
        if not self.co:
            return _DSet.of(self.vals - o.vals, False, self.univ)
        if not o.co:
            return _DSet.of(o.vals - self.vals, False, self.univ)
        return _DSet.of(self.vals | o.vals, True, self.univ)

    def union(self, o: "_DSet") -> "_DSet":
        return self.complement().inter(o.complement()).complement()

    def subset(self, o: "_DSet") -> bool:
        return self.inter(o.complement()).empty()


@dataclass(frozen=True)
class _ISet:
    """A set of whole numbers inside [lo, hi], as sorted, disjoint, non-adjacent closed intervals."""

    ivals: tuple[tuple[int, int], ...]
    lo: int
    hi: int

    @staticmethod
    def of(ivals: Iterable[tuple[int, int]], lo: int, hi: int) -> "_ISet":
        clipped = sorted((max(a, lo), min(b, hi)) for a, b in ivals if max(a, lo) <= min(b, hi))
        merged: list[tuple[int, int]] = []
        for a, b in clipped:
            if merged and a <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], b))
            else:
                merged.append((a, b))
        return _ISet(tuple(merged), lo, hi)

    def empty(self) -> bool:
        return not self.ivals

    def full(self) -> bool:
        return self.ivals == ((self.lo, self.hi),)

    def complement(self) -> "_ISet":
        out, at = [], self.lo
        for a, b in self.ivals:
            if a > at:
                out.append((at, a - 1))
            at = b + 1
        if at <= self.hi:
            out.append((at, self.hi))
        return _ISet.of(out, self.lo, self.hi)

    def inter(self, o: "_ISet") -> "_ISet":
        return _ISet.of(((max(a, c), min(b, d)) for a, b in self.ivals for c, d in o.ivals), self.lo, self.hi)

    def union(self, o: "_ISet") -> "_ISet":
        return _ISet.of(self.ivals + o.ivals, self.lo, self.hi)

    def subset(self, o: "_ISet") -> bool:
        return self.inter(o.complement()).empty()


_Set = _DSet | _ISet
_Key = tuple  # ("fact", name, param) or ("~", atom) for a test decided only by identity
_Conj = dict  # _Key -> _Set; a missing key means "any value"


class _Undecided(Exception):
    """The condition is too large to put in normal form; say nothing about it."""


def _universe(key: _Key) -> _Set:
    if key[0] == "~" or key[1] in _DISCRETE_BOOL:
        return _ALL_BOOLS
    got = _ALL_ORDERED.get(key[1])
    if got is not None:
        return got
    if key[1] == "weekday":
        return _ALL_WEEK
    return _ALL_NAMES


# (the sets are immutable, so one instance of each universe serves every fact)
_ALL_BOOLS = _DSet(_BOOLS, False, _BOOLS)
_ALL_WEEK = _DSet(_WEEK, False, _WEEK)
_ALL_NAMES = _DSet(frozenset(), True, None)
_ALL_ORDERED = {name: _ISet(((lo, hi),), lo, hi) for name, (lo, hi) in _ORDERED.items()}


def _number(fact: str, v: object) -> int | None:
    if isinstance(v, bool):
        return None
    if fact == "prompt_tokens" and isinstance(v, int):
        return v
    if fact == "time":
        if isinstance(v, A.TimeOfDay):
            return v.minutes
        return v if isinstance(v, int) else None
    if fact == "date" and isinstance(v, date):
        return v.toordinal()
    return None


def _atom_set(atom: object) -> tuple[_Key, _Set]:
    """The set of values for which ``atom`` holds, following dsl.reference.eval_atom (a missing fact satisfies
    only != and not in). Anything not modelled exactly is an opaque test keyed by the atom itself."""
    opaque: tuple[_Key, _Set] = (("~", atom), _DSet(frozenset({True}), False, _BOOLS))
    fact = getattr(atom, "fact", None)
    if not isinstance(fact, A.Fact):
        return opaque
    key: _Key = ("fact", fact.name, fact.param)
    univ = _universe(key)
    name = fact.name
    if isinstance(atom, A.Compare):
        if name in _ORDERED:
            assert isinstance(univ, _ISet)
            v = _number(name, atom.value)
            if v is None:
                return opaque
            lo, hi = univ.lo, univ.hi
            ranges = {"<": (lo, v - 1), "<=": (lo, v), ">": (v + 1, hi), ">=": (v, hi), "==": (v, v)}
            if atom.op in ranges:
                return key, _ISet.of([ranges[atom.op]], lo, hi)
            if atom.op == "!=":
                return key, _ISet.of([(v, v)], lo, hi).complement()
            return opaque
        if name in A.STRING_FACTS or name == "header":
            u = univ.univ if isinstance(univ, _DSet) else None
            if atom.op == "==":
                return key, _DSet.of([atom.value], False, u)
            if atom.op == "!=":
                return key, _DSet.of([atom.value], True, u)
        return opaque
    if isinstance(atom, A.In):
        if name in _ORDERED:
            assert isinstance(univ, _ISet)
            nums = [_number(name, v) for v in atom.values]
            if any(n is None for n in nums):
                return opaque
            s = _ISet.of([(n, n) for n in nums if n is not None], univ.lo, univ.hi)
            return key, (s.complement() if atom.negated else s)
        if name in A.STRING_FACTS or name == "header":
            u = univ.univ if isinstance(univ, _DSet) else None
            return key, _DSet.of(atom.values, atom.negated, u)
        return opaque
    if isinstance(atom, A.IsTrue):
        if name in _DISCRETE_BOOL:
            return key, _DSet(frozenset({True}), False, _BOOLS)
        if name == "header":
            return key, _DSet(frozenset({None}), True, None)
    return opaque


def _conj_and(a: _Conj, b: _Conj) -> _Conj | None:
    out = dict(a)
    for k, s in b.items():
        if k in out:
            s = out[k].inter(s)  # type: ignore[arg-type]
            if s.empty():
                return None
        out[k] = s
    return {k: s for k, s in out.items() if not s.full()}


def _dnf(cond: A.Cond | None, negate: bool = False) -> list[_Conj]:
    """The condition as a list of conjunctions (each a fact → value-set map); [] is never, [{}] is always."""
    if cond is None:
        return [] if negate else [{}]
    if isinstance(cond, A.Not):
        return _dnf(cond.item, not negate)
    if isinstance(cond, (A.And, A.Or)):
        conjunctive = isinstance(cond, A.And) != negate
        if conjunctive:
            acc: list[_Conj] = [{}]
            for item in cond.items:
                part = _dnf(item, negate)
                nxt = []
                for a in acc:
                    for b in part:
                        c = _conj_and(a, b)
                        if c is not None:
                            nxt.append(c)
                            if len(nxt) > DNF_LIMIT:
                                raise _Undecided
                acc = nxt
                if not acc:
                    return []
            return acc
        out: list[_Conj] = []
        for item in cond.items:
            out.extend(_dnf(item, negate))
            if len(out) > DNF_LIMIT:
                raise _Undecided
        return out
    key, s = _atom_set(cond)
    if negate:
        s = s.complement()
    if s.empty():
        return []
    return [{}] if s.full() else [{key: s}]


def _implies(s: _Conj, r: _Conj) -> bool:
    """Every request matching conjunction ``s`` matches conjunction ``r``."""
    return all(s.get(k, _universe(k)).subset(rs) for k, rs in r.items())  # type: ignore[arg-type]


def _join(a: _Conj, b: _Conj) -> _Conj | None:
    """``a`` ∪ ``b`` as one conjunction when they differ in at most one fact (exact); else None."""
    diff = [k for k in set(a) | set(b) if a.get(k) != b.get(k)]
    if len(diff) != 1:
        return None
    k = diff[0]
    u = a.get(k, _universe(k)).union(b.get(k, _universe(k)))  # type: ignore[arg-type]
    out = {kk: v for kk, v in a.items() if kk != k}
    if not u.full():
        out[k] = u
    return out


class _Union:
    """The requests earlier routes catch, as a union of conjunctions kept small by absorbing one conjunction
    inside another and joining two that differ in one fact. Past ``DNF_LIMIT`` entries it stops growing:
    what it holds is then a part of the union, which is still sound to test against."""

    def __init__(self) -> None:
        self.items: list[tuple[_Conj, frozenset[int]]] = []

    def add(self, conj: _Conj, origin: frozenset[int]) -> None:
        while True:
            if any(_implies(conj, c) for c, _ in self.items):
                return
            self.items = [(c, o) for c, o in self.items if not _implies(c, conj)]
            for i, (c, o) in enumerate(self.items):
                joined = _join(conj, c)
                if joined is not None:
                    del self.items[i]
                    conj, origin = joined, origin | o
                    break
            else:
                if len(self.items) < DNF_LIMIT:
                    self.items.append((conj, origin))
                return

    def cover(self, conj: _Conj) -> frozenset[int] | None:
        return next((o for c, o in self.items if _implies(conj, c)), None)


def _atoms(cond: A.Cond | None) -> Iterator[object]:
    if cond is None:
        return
    if isinstance(cond, A.Not):
        yield from _atoms(cond.item)
    elif isinstance(cond, (A.And, A.Or)):
        for c in cond.items:
            yield from _atoms(c)
    else:
        yield cond


# =========================================================================== shadowing, indexed
#
# The plain statement of W190 is pairwise: every later route against every earlier route, and every later
# route against the pool (`_Union`) of earlier disjuncts. `_shadow_reference` says exactly that and is kept as
# the specification; `_shadow_findings` gives the same findings in near-linear time:
#
# * every disjunct is turned once into a `_Row`: its value sets interned to small integers, with the subset
#   relation between two interned sets computed once and remembered (`_Table`);
# * an earlier row R can only contain a later row S when, for each of R's positive literals (a fact with a
#   finite set of allowed values V: ==, in, is, a weekday or flag), S has a literal on that fact whose values
#   lie in V (conjunctions never hold a full or empty set, so a fact S leaves open is never inside R's). So R
#   is filed under ONE positive literal (the one whose values are rarest over the whole policy), under
#   (fact, v) for every v in V; a row with no positive literal is filed under one of its facts, and a row
#   with no fact at all (catches everything) in a short list. S looks up one value of each of its positive
#   literals and each of its facts, and runs the exact test only on what it finds;
# * the pool of earlier disjuncts keeps its exact behaviour (absorb, drop, join the first joinable entry in
#   order, stop growing at DNF_LIMIT entries), with each of its three searches narrowed by an index.


class _Row:
    """One conjunction, normalised once: ``ids`` maps each fact to its interned value set; ``pos`` lists the
    positive literals (fact, finite set of allowed values); ``keys`` is the set of facts it tests."""

    __slots__ = ("conj", "ids", "pos", "eqs", "pairs", "keys", "owner", "filing")

    def __init__(self, conj: _Conj, ids: dict, pos: tuple, eqs: tuple, owner: int) -> None:
        self.conj = conj
        self.ids = ids
        self.pos = pos
        self.eqs = eqs  # the positive literals allowing one value, as (fact, value), in the table's fact order
        self.pairs = tuple(_pairs(eqs))
        self.keys = frozenset(conj)
        self.owner = owner
        self.filing: tuple[str, object] | None = None  # set by the first index the row is filed in


class _Table:
    """Interned value sets and the remembered subset relation between them."""

    def __init__(self) -> None:
        self.ids: dict[_Set, int] = {}
        self.sets: list[_Set] = []
        self.memo: dict[tuple[int, int], bool] = {}
        self.facts: dict[_Key, int] = {}  # a fixed order of facts (keys do not compare with each other)

    def row(self, conj: _Conj, owner: int = -1) -> _Row:
        ids = {}
        pos = []
        eqs = []
        for k, s in conj.items():
            if s.full():  # never produced by _dnf or _join; a full set holds for every request anyway
                continue
            sid = self.ids.get(s)
            if sid is None:
                sid = self.ids[s] = len(self.sets)
                self.sets.append(s)
            ids[k] = sid
            if isinstance(s, _DSet) and not s.co:
                pos.append((k, s.vals))
                if len(s.vals) == 1:
                    eqs.append((self.facts.setdefault(k, len(self.facts)), k, next(iter(s.vals))))
        eqs.sort(key=lambda e: e[0])
        return _Row(conj, ids, tuple(pos), tuple((k, v) for _, k, v in eqs), owner)

    def within(self, s: _Row, r: _Row) -> bool:
        """``_implies(s.conj, r.conj)``: every request matching ``s`` matches ``r``."""
        sids = s.ids
        memo = self.memo
        for k, b in r.ids.items():
            a = sids.get(k)
            if a is None:
                return False  # s leaves the fact open; r's set is not full
            if a != b:
                v = memo.get((a, b))
                if v is None:
                    v = memo[(a, b)] = self.sets[a].subset(self.sets[b])  # type: ignore[arg-type]
                if not v:
                    return False
        return True


def _pairs(eqs: tuple) -> Iterator[tuple]:
    for i, a in enumerate(eqs):
        for b in eqs[i + 1:]:
            yield a, b


class _Rarity:
    """How many rows carry each (fact, value) of a positive literal, each pair of one-value literals, and
    each fact: an index files a row under its rarest literal (or pair) so that later lookups meet few rows."""

    def __init__(self, rows: Iterable[_Row]) -> None:
        self.values: dict[tuple, int] = {}
        self.pairs: dict[tuple, int] = {}
        self.facts: dict[_Key, int] = {}
        for row in rows:
            for k, vals in row.pos:
                for v in vals:
                    self.values[(k, v)] = self.values.get((k, v), 0) + 1
            for pair in row.pairs:
                self.pairs[pair] = self.pairs.get(pair, 0) + 1
            for k in row.ids:
                self.facts[k] = self.facts.get(k, 0) + 1

    def filing(self, row: _Row) -> tuple[str, object]:
        """Where an index files ``row``: ("pair", two one-value literals), ("value", a positive literal),
        ("fact", a fact) or ("always", None), whichever later rows are expected to look up least."""
        values = self.values
        if row.pos:
            literal = min(row.pos, key=lambda kv: sum(values.get((kv[0], v), 0) for v in kv[1]))
            cost = sum(values.get((literal[0], v), 0) for v in literal[1])
            pair = min(row.pairs, key=lambda p: self.pairs.get(p, 0), default=None)
            if pair is not None and self.pairs.get(pair, 0) < cost:
                return "pair", pair
            return "value", literal
        if row.ids:
            return "fact", min(row.ids, key=lambda k: self.facts.get(k, 0))
        return "always", None


class _Supersets:
    """Rows filed so that ``find(s)`` returns (each once) every filed row that may contain ``s``: a superset
    of the rows r with ``within(s, r)``, usually a small one."""

    def __init__(self, rarity: _Rarity, live: Mapping | None = None) -> None:
        self.rarity = rarity
        self.live = live  # when given, items not in it are stale: skipped, and pruned from the lists
        self.by_value: dict[tuple, list] = {}  # (fact, value) → rows filed under a positive literal
        self.by_pair: dict[tuple, list] = {}   # ((fact, value), (fact, value)) → rows filed under two
        self.by_fact: dict[_Key, list] = {}    # fact → rows with no positive literal
        self.always: list = []                 # rows that test nothing

    def add(self, row: _Row, item: object) -> None:
        if row.filing is None:
            row.filing = self.rarity.filing(row)
        how, where = row.filing
        if how == "pair":
            self.by_pair.setdefault(where, []).append(item)
        elif how == "value":
            k, vals = where
            for v in vals:
                self.by_value.setdefault((k, v), []).append(item)
        elif how == "fact":
            self.by_fact.setdefault(where, []).append(item)
        else:
            self.always.append(item)

    def _get(self, table: dict, key: object) -> list:
        got = table.get(key)
        if got and self.live is not None:
            alive = [q for q in got if q in self.live]
            if len(alive) != len(got):
                got = table[key] = alive
        return got or []

    def find(self, s: _Row) -> list:
        if self.live is not None:
            self.always = [q for q in self.always if q in self.live]
        out = list(self.always)
        if self.by_fact:
            for k in s.ids:
                out += self._get(self.by_fact, k)
        by_value = self.by_value
        for k, vals in s.pos:
            # A row filed under fact k contains s only if all of s's values on k are among its own: one
            # value of s finds it. Take the value with the fewest rows.
            best, size = None, 0
            for v in vals:
                got = by_value.get((k, v))
                if not got:
                    best = None
                    break
                if best is None or len(got) < size:
                    best, size = (k, v), len(got)
            if best is not None:
                out += self._get(by_value, best)
        if self.by_pair:
            # a row filed under two one-value literals contains s only if s has both, with those values
            by_pair = self.by_pair
            for pair in s.pairs:
                if pair in by_pair:
                    out += self._get(by_pair, pair)
        return out


class _Pool:
    """`_Union`, with the same entries in the same order and the same answers, but with its searches for
    entries containing, inside, or joinable with a conjunction narrowed by indexes instead of a scan.
    Entries are numbered in arrival order; an index may hold numbers of entries since removed."""

    def __init__(self, table: _Table, rarity: _Rarity) -> None:
        self.table = table
        self.items: dict[int, tuple[_Row, frozenset[int]]] = {}  # in list order
        self.next = 0
        self.sup = _Supersets(rarity, self.items)    # entries that may contain a row
        self.values: dict[tuple, list[int]] = {}      # (fact, value) of every positive literal → entries
        self.exact: dict[tuple, list[int]] = {}       # (fact, interned set) of every literal → entries

    def _live(self, table: dict, key: object) -> list[int]:
        got = table.get(key)
        if not got:
            return []
        alive = [q for q in got if q in self.items]
        if len(alive) != len(got):
            table[key] = alive
        return alive

    def _containing(self, row: _Row) -> list[int]:
        """Numbers (ascending) of the entries c with ``row`` inside c."""
        within = self.table.within
        items = self.items
        return sorted(q for q in self.sup.find(row) if within(row, items[q][0]))

    def _inside(self, row: _Row) -> Iterable[int]:
        """Numbers of the entries that may lie inside ``row`` (every entry that does, and maybe others)."""
        if row.eqs:  # an entry inside row allows only v on k, too
            return self._live(self.values, min(row.eqs, key=lambda kv: len(self.values.get(kv, ()))))
        if row.pos:  # an entry inside row has a positive literal on k, with values in W
            k, vals = min(row.pos, key=lambda kv: sum(len(self.values.get((kv[0], v), ())) for v in kv[1]))
            return {q for v in vals for q in self._live(self.values, (k, v))}
        return list(self.items)

    def _joinable(self, row: _Row) -> list[int]:
        """Numbers (ascending) of the entries that may join with ``row``: after absorption, only an entry
        testing the same facts and differing in one can, and it then shares one of any two of row's sets."""
        if len(row.ids) < 2 or len(row.ids) != len(row.keys):
            return list(self.items)
        exact = self.exact
        a = b = None
        na = nb = 0
        for kv in row.ids.items():
            n = len(exact.get(kv, ()))
            if a is None or n < na:
                a, na, b, nb = kv, n, a, na
            elif b is None or n < nb:
                b, nb = kv, n
        got = self._live(exact, a)
        more = self._live(exact, b)
        return sorted(set(got).union(more)) if got and more else got or more

    def add(self, row: _Row, origin: frozenset[int]) -> None:
        table = self.table
        items = self.items
        within = table.within
        while True:
            if any(within(row, items[q][0]) for q in self.sup.find(row)):
                return
            for q in list(self._inside(row)):
                if q in items and within(items[q][0], row):
                    del items[q]  # index entries go stale and are skipped (and pruned) when next met
            for q in self._joinable(row):
                c, o = items[q]
                if c.keys != row.keys:
                    continue
                joined = _join(row.conj, c.conj)
                if joined is not None:
                    del items[q]
                    row, origin = table.row(joined), origin | o
                    break
            else:
                if len(items) < DNF_LIMIT:
                    self._insert(row, origin)
                return

    def _insert(self, row: _Row, origin: frozenset[int]) -> None:
        q = self.next
        self.next += 1
        self.items[q] = (row, origin)
        self.sup.add(row, q)
        for k, vals in row.pos:
            for v in vals:
                self.values.setdefault((k, v), []).append(q)
        for kv in row.ids.items():
            self.exact.setdefault(kv, []).append(q)

    def cover(self, row: _Row) -> frozenset[int] | None:
        got = self._containing(row)
        return self.items[got[0]][1] if got else None


_Finding = tuple  # ("W191", route, []) or ("W190", route, [earlier routes that together catch it])


def _route_dnfs(routes: list[A.Route]) -> list[tuple[A.Route, list[_Conj] | None]]:
    """The routes in the order they are tried (the first `default` last, later ones ignored), each with its
    condition in normal form (None when too large to decide)."""
    default = [r for r in routes if r.is_default]
    out = []
    for r in [r for r in routes if not r.is_default] + default[:1]:
        try:
            dnf = _dnf(r.when)
        except _Undecided:
            dnf = None
        out.append((r, dnf))
    return out


def _shadow_reference(routes: list[A.Route]) -> list[_Finding]:
    """Routes that can never match, by the plain pairwise definition (quadratic in the number of routes).
    `_shadow_findings` gives the same answer fast; this one stays as its specification, for the tests."""
    out: list[_Finding] = []
    earlier: list[tuple[A.Route, list[_Conj] | None]] = []
    union = _Union()
    for r, dnf in _route_dnfs(routes):
        if dnf == [] and not r.is_default:
            out.append(("W191", r, []))
        elif dnf is not None and earlier:
            shadows = [er for er, edn in earlier if edn and all(any(_implies(s, e) for e in edn) for s in dnf)]
            if shadows:
                out.append(("W190", r, shadows))
            else:
                used: set[int] = set()
                for s in dnf:
                    cover = union.cover(s)
                    if cover is None:
                        break
                    used |= cover
                else:
                    out.append(("W190", r, [earlier[i][0] for i in sorted(used)]))
        if dnf:
            for c in dnf:
                union.add(c, frozenset({len(earlier)}))
        earlier.append((r, dnf))
    return out


def _shadow_findings(routes: list[A.Route]) -> list[_Finding]:
    """The same findings as `_shadow_reference`, in near-linear time (see "shadowing, indexed" above)."""
    entries = _route_dnfs(routes)
    table = _Table()
    rows: list[list[_Row] | None] = [
        None if dnf is None else [table.row(c, i) for c in dnf] for i, (_, dnf) in enumerate(entries)]
    rarity = _Rarity(row for rs in rows if rs for row in rs)
    index = _Supersets(rarity)
    pool = _Pool(table, rarity)
    within = table.within
    out: list[_Finding] = []
    for i, (r, dnf) in enumerate(entries):
        srows = rows[i]
        if dnf == [] and not r.is_default:
            out.append(("W191", r, []))
        elif srows is not None and i > 0:
            if not srows:  # never true (only the default gets here): every earlier route that can match
                owners = [j for j in range(i) if rows[j]]
            else:
                first = srows[0]
                owners = sorted({e.owner for e in index.find(first) if within(first, e)})
                owners = [j for j in owners
                          if all(any(within(s, e) for e in rows[j]) for s in srows)]  # type: ignore[union-attr]
            if owners:
                out.append(("W190", r, [entries[j][0] for j in owners]))
            else:
                used: set[int] = set()
                for s in srows:
                    cover = pool.cover(s)
                    if cover is None:
                        break
                    used |= cover
                else:
                    out.append(("W190", r, [entries[j][0] for j in sorted(used)]))
        if srows:
            for s in srows:
                pool.add(s, frozenset({i}))
            for s in srows:
                index.add(s, s)
    return out


# =========================================================================== the checker


class _Checker:
    def __init__(self, ps: A.PolicySet):
        self.ps = ps
        self.sources = {f.path: _Source(f) for f in ps.files}
        self.diags: list[Diagnostic] = []
        self.secrets: dict[str, set[str]] = {}  # file → literal secrets to mask in shown source lines
        self.providers: dict[str, A.Provider] = {}
        self.models: dict[str, A.Model] = {}
        self.routes = [d for d in ps.decls() if isinstance(d, A.Route)]

    # ------------------------------------------------------------------ helpers
    def add(self, code: str, message: str, span: A.Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, _severity(code), message, span, None, hint))

    def toks(self, span: A.Span) -> list[tuple[str, A.Span, int]]:
        src = self.sources.get(span.file)
        return src.tokens(span) if src is not None else []

    def after(self, span: A.Span, keyword: str, nth: int = 0) -> tuple[str, A.Span, int] | None:
        """The token after the ``nth`` occurrence of ``keyword`` inside ``span``."""
        toks = self.toks(span)
        seen = 0
        for i, (t, _, _) in enumerate(toks):
            if t == keyword:
                if seen == nth and i + 1 < len(toks):
                    return toks[i + 1]
                seen += 1
        return None

    def at_after(self, span: A.Span, keyword: str, nth: int = 0) -> A.Span:
        tok = self.after(span, keyword, nth)
        return tok[1] if tok else span

    def name_at(self, span: A.Span, name: str, after: str | None = None, nth: int = 0) -> A.Span:
        """The span of the ``nth`` token ``name`` inside ``span`` (after the keyword ``after``, if given)."""
        toks = self.toks(span)
        started = after is None
        seen = 0
        for t, sp, _ in toks:
            if not started:
                started = t == after
                continue
            if t == name:
                if seen == nth:
                    return sp
                seen += 1
        return span

    def secret(self, file: str, value: str) -> None:
        if value:
            self.secrets.setdefault(file, set()).add(value)
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            self.secrets[file].add(escaped)

    # ------------------------------------------------------------------ run
    def run(self) -> list[Diagnostic]:
        self.check_files()
        self.check_providers()
        self.check_models()
        self.check_budgets_and_limits()
        self.check_routes()
        self.check_conditions()
        self.check_unused()
        return self.finish()

    def finish(self) -> list[Diagnostic]:
        out = []
        for d in self.diags:
            src = self.sources.get(d.span.file)
            line = src.line(d.span.line) if src is not None and src.text else None
            if line is not None:
                line = _redact(line, self.secrets.get(d.span.file, ()))
            out.append(Diagnostic(d.code, d.severity, d.message, d.span, line, d.hint))
        return sorted(out, key=lambda d: (d.span.file, d.span.line, d.span.col, d.code, d.message))

    # ------------------------------------------------------------------ files
    def check_files(self) -> None:
        for f in self.ps.files:
            if not f.decls:
                self.add("W005", "the file declares nothing (empty, or only comments)", A.Span(f.path, 1, 1, 1, 1),
                         "add declarations or remove the file")
        if self.ps.files and not self.ps.of(A.Model):
            first = self.ps.files[0].path
            self.add("E006", "the policy declares no model: the gateway would have nothing to serve",
                     A.Span(first, 1, 1, 1, 1), "declare at least one `model`, e.g. with the built-in mock provider")

    # ------------------------------------------------------------------ providers
    def check_providers(self) -> None:
        for p in self.ps.of(A.Provider):
            if p.name in self.providers:
                first = self.providers[p.name]
                self.add("E111", f"provider `{p.name}` is declared twice", p.span,
                         f"the first is at {first.span.file}:{first.span.line}")
            else:
                self.providers[p.name] = p
            self.check_provider(p)

    def check_provider(self, p: A.Provider) -> None:
        file = p.span.file
        if isinstance(p.key, str):
            tok = self.after(p.span, "key")
            if tok is not None:
                src = self.sources[file]
                self.secret(file, src.raw(tok[2] + 1, len(tok[0]) - 2))
            self.secret(file, p.key)
            self.add("E120", f"provider `{p.name}` has its key written in the file (`{_mask(p.key)}`)",
                     tok[1] if tok else p.span,
                     "write `key env(NAME)` and set NAME in the gateway's environment; rotate the key")
        for n, (hname, value) in enumerate(p.headers):
            name_tok = self.after(p.span, "header", n)
            where = name_tok[1] if name_tok else p.span
            if not _HTTP_TOKEN.fullmatch(hname):
                self.add("W210", f"header name \"{hname}\" is not an HTTP header name (no spaces or quotes)", where)
            if isinstance(value, str):
                lowered = hname.lower()
                if lowered in _SECRET_HEADERS or _KEY_SHAPES.search(value):
                    # The value token sits two tokens after the name (`"name" = "value"`).
                    toks = self.toks(p.span)
                    if name_tok is not None:
                        idx = next((i for i, t in enumerate(toks) if t[2] == name_tok[2]), None)
                        if idx is not None and idx + 2 < len(toks):
                            vt = toks[idx + 2]
                            self.secret(file, self.sources[file].raw(vt[2] + 1, len(vt[0]) - 2))
                    self.secret(file, value)
                    for m in _KEY_SHAPES.finditer(value):
                        self.secret(file, m.group())
                    self.add("E121", f"provider `{p.name}` sends header \"{hname}\" with a secret written in the "
                                     f"file (`{_mask(value)}`)", where,
                             f"write `header \"{hname}\" = env(NAME)`")
        if p.kind not in A.PROVIDER_KINDS:
            self.add("E103", f"provider `{p.name}` has kind `{p.kind}`, which the gateway does not know",
                     self.at_after(p.span, "kind"),
                     _did_you_mean(p.kind, A.PROVIDER_KINDS, "kinds"))
        host = None
        if p.base_url is not None:
            host = self.check_base_url(p)
        if p.kind == "azure" and p.base_url is None:
            self.add("E130", f"azure provider `{p.name}` has no base_url", p.span,
                     'add `base_url "https://<resource>.openai.azure.com"`')
        needs_key = p.kind in _KEYED_KINDS or (p.kind == "openai" and (p.base_url is None or host == _OPENAI_HOST))
        if needs_key and p.key is None:
            self.add("E132", f"provider `{p.name}` ({p.kind}) has no key", p.span,
                     "add `key env(NAME)` with the environment variable that holds it")
        if p.api_version is not None and p.kind != "azure":
            self.add("W133", f"provider `{p.name}` sets api_version, which only azure providers use",
                     self.at_after(p.span, "api_version"), "remove it")
        if p.timeout is not None and p.timeout.seconds <= 0:
            self.add("E200", f"provider `{p.name}` has a timeout of 0: every call would time out", p.timeout.span,
                     "remove it (the default applies) or give a positive duration such as 30s")

    def check_base_url(self, p: A.Provider) -> str | None:
        assert p.base_url is not None
        file = p.span.file
        where = self.at_after(p.span, "base_url")
        try:
            parts = urlsplit(p.base_url)
            host = parts.hostname
            user, password = parts.username, parts.password
        except ValueError:
            self.add("E131", f"provider `{p.name}` has a base_url that is not a URL", where,
                     'write it as "https://host/path"')
            return None
        schemes = ("http", "https", "mock") if p.kind == "mock" else ("http", "https")
        if parts.scheme not in schemes or (parts.scheme != "mock" and not parts.netloc):
            self.add("E131", f"provider `{p.name}` has a base_url that is not http(s)", where,
                     'write it as "https://host/path"' + (" (or mock://...)" if p.kind == "mock" else ""))
        creds = []
        if user is not None or password is not None:
            userinfo = parts.netloc.rpartition("@")[0]
            self.secret(file, userinfo)
            if password:
                self.secret(file, password)
            creds.append("user:password@")
        for name, value in parse_qsl(parts.query, keep_blank_values=True):
            if name.lower() in _CREDENTIAL_PARAMS:
                self.secret(file, value)
                creds.append(f"?{name}=")
        if creds:
            self.add("E122", f"provider `{p.name}` has credentials in its base_url ({', '.join(creds)})", where,
                     "remove them from the URL and use `key env(NAME)` or `header \"...\" = env(NAME)`")
        return host

    # ------------------------------------------------------------------ models
    def check_models(self) -> None:
        for m in self.ps.of(A.Model):
            if m.name in self.models:
                first = self.models[m.name]
                self.add("E112", f"model `{m.name}` is declared twice", m.span,
                         f"the first is at {first.span.file}:{first.span.line}")
            else:
                self.models[m.name] = m
            if m.name == A.REQUESTED:
                self.add("E110", "a model cannot be called `requested`: `use requested` means the model the "
                                 "client asked for", m.span, "choose another alias")
            if m.provider not in self.providers:
                toks = self.toks(m.span)
                where = toks[3][1] if len(toks) > 3 and toks[3][0] == m.provider else m.span
                self.add("E101", f"model `{m.name}` uses provider `{m.provider}`, which is not declared", where,
                         _did_you_mean(m.provider, self.providers, "providers"))
            if m.tier is not None and m.tier not in A.TIERS:
                self.add("E104", f"model `{m.name}` has tier `{m.tier}`, which is not a tier",
                         self.at_after(m.span, "tier"), _did_you_mean(m.tier, A.TIERS, "tiers"))
            for cap in sorted(m.capabilities - set(A.CAPABILITIES)):
                self.add("E105", f"model `{m.name}` supports `{cap}`, which is not a capability",
                         self.name_at(m.span, cap, after="supports"), _did_you_mean(cap, A.CAPABILITIES, "capabilities"))

    def model_ref(self, name: str, where: A.Span, context: str) -> bool:
        """Report an unknown or misplaced model name; True when it names a declared model."""
        if name == A.REQUESTED:
            self.add("E110", f"`requested` can only follow `use`, not appear in {context}", where,
                     "name a model here; `use requested` serves the model the client asked for")
            return False
        if name not in self.models:
            self.add("E102", f"{context} names model `{name}`, which is not declared", where,
                     _did_you_mean(name, self.models, "models"))
            return False
        return True

    # ------------------------------------------------------------------ budgets and limits
    def check_budgets_and_limits(self) -> None:
        seen_budgets: dict[tuple[str, str, str], A.Budget] = {}
        for b in self.ps.of(A.Budget):
            what = f"budget {b.scope} \"{b.subject}\""
            toks = self.toks(b.span)
            if b.scope not in A.SCOPES:
                self.add("E106", f"`{b.scope}` is not a budget scope", b.span, _did_you_mean(b.scope, A.SCOPES, "scopes"))
            if b.period not in A.PERIODS:
                self.add("E107", f"{what}: `{b.period}` is not a period", self.at_after(b.span, "per"),
                         _did_you_mean(b.period, A.PERIODS, "periods"))
            if not _CURRENCY.fullmatch(b.currency):
                where = toks[4][1] if len(toks) > 4 and toks[4][0] == b.currency else b.span
                hint = f"write `{b.currency.upper()}`" if _CURRENCY.fullmatch(b.currency.upper()) else \
                    "use a three-letter ISO 4217 code such as USD or EUR"
                self.add("E109", f"{what}: `{b.currency}` is not a currency code", where, hint)
            if b.amount <= 0:
                where = toks[3][1] if len(toks) > 3 else b.span
                self.add("E160", f"{what} has an amount of {b.amount}: it would block or downgrade everything", where,
                         "give a positive amount")
            key = (b.scope, b.subject, b.period)
            if key in seen_budgets:
                first = seen_budgets[key]
                self.add("E115", f"{what} per {b.period} is declared twice", b.span,
                         f"the first is at {first.span.file}:{first.span.line}; merge their thresholds")
            else:
                seen_budgets[key] = b
            self.check_thresholds(b, what)
        seen_limits: dict[tuple[str, str], A.Limit] = {}
        for lim in self.ps.of(A.Limit):
            what = f"limit {lim.scope} \"{lim.subject}\""
            if lim.scope not in A.SCOPES:
                self.add("E106", f"`{lim.scope}` is not a limit scope", lim.span,
                         _did_you_mean(lim.scope, A.SCOPES, "scopes"))
            rates = [r for r in (lim.requests_per_minute, lim.tokens_per_minute) if r is not None]
            if not rates:
                self.add("E164", f"{what} sets no rate", lim.span, "add `N requests per minute` or `N tokens per minute`")
            elif any(r <= 0 for r in rates):
                self.add("E164", f"{what} has a rate of 0: it would refuse every request", lim.span,
                         "give a positive rate, or remove the limit")
            key2 = (lim.scope, lim.subject)
            if key2 in seen_limits:
                first2 = seen_limits[key2]
                self.add("E116", f"{what} is declared twice", lim.span,
                         f"the first is at {first2.span.file}:{first2.span.line}; put both rates on one line")
            else:
                seen_limits[key2] = lim

    def check_thresholds(self, b: A.Budget, what: str) -> None:
        prev: A.Threshold | None = None
        block: A.Threshold | None = None
        for t in b.thresholds:
            if prev is not None and t.percent == prev.percent:
                self.add("E162", f"{what} has two thresholds at {t.percent}%", t.span,
                         "keep one action per percent")
            elif prev is not None and t.percent < prev.percent:
                self.add("E161", f"{what}: the threshold at {t.percent}% comes after one at {prev.percent}%",
                         t.span, "list thresholds from the lowest percent to the highest")
            if block is not None and t.percent > block.percent:
                self.add("W163", f"{what}: `at {t.percent}% {t.action}` never fires: spending is blocked at "
                                 f"{block.percent}%", t.span, "remove it, or move the block above it")
            if t.action == "block" and (block is None or t.percent < block.percent):
                block = t
            prev = t
            if t.action == "downgrade" and t.target is not None:
                where = self.at_after(t.span, "to")
                if self.model_ref(t.target, where, "a downgrade"):
                    self.check_downgrade(t, where)

    def reachable(self) -> set[str]:
        """Models a route can send traffic to (every model, when something says `use requested`)."""
        if self.uses_requested():
            return set(self.models)
        out: set[str] = set()
        for r in self.routes:
            out |= set(_action_models(r.action)) | set(r.fallback)
        return out & set(self.models)

    def uses_requested(self) -> bool:
        if not any(r.is_default for r in self.routes):
            return True  # the implicit default is `use requested`
        return any(isinstance(r.action, A.Use) and r.action.model == A.REQUESTED for r in self.routes)

    def check_downgrade(self, t: A.Threshold, where: A.Span) -> None:
        assert t.target is not None
        target = self.models[t.target]
        others = [self.models[m] for m in self.reachable() if m != t.target]
        if not others:
            return
        top = max(others, key=_price)
        if _price(target) >= _price(top):
            self.add("E152", f"downgrading to `{t.target}` can never lower spend: it costs {_price(target)} per 1M "
                             f"tokens (in + out), and no model the routes reach costs more "
                             f"(the most expensive is `{top.name}` at {_price(top)})", where,
                     "downgrade to a cheaper model")

    # ------------------------------------------------------------------ routes
    def check_routes(self) -> None:
        names: dict[str, A.Route] = {}
        default: A.Route | None = None
        for r in self.routes:
            if r.is_default:
                if default is not None:
                    self.add("E114", "more than one `default` route", r.span,
                             f"the first is at {default.span.file}:{default.span.line}")
                else:
                    default = r
            else:
                if r.name == "default":
                    self.add("E113", "`route default` is an ordinary route named `default`, not the default route",
                             r.span, "write `default` without `route` for the route tried last, or rename it")
                if r.name in names:
                    first = names[r.name]
                    self.add("E113", f"route `{r.name}` is declared twice", self.at_after(r.span, "route"),
                             f"the first is at {first.span.file}:{first.span.line}")
                else:
                    names[r.name] = r
            self.check_action(r)
            self.check_fallback(r)
            if r.timeout is not None and r.timeout.seconds <= 0:
                self.add("E200", f"route `{r.name}` has a timeout of 0: every attempt would time out", r.timeout.span,
                         "remove it or give a positive duration such as 30s")
            if r.retries is not None and r.retries > MAX_RETRIES:
                self.add("W201", f"route `{r.name}` retries {r.retries} times per target", self.at_after(r.span, "retries"),
                         f"more than {MAX_RETRIES} retries mostly adds latency; fallbacks are the better lever")
            for status in dict.fromkeys(r.retry_on):
                if status in DEFAULT_RETRIED:
                    self.add("W202", f"route `{r.name}`: status {status} is already retried",
                             self.name_at(r.span, str(status), after="on"),
                             f"the gateway always retries {', '.join(map(str, sorted(DEFAULT_RETRIED)))}; remove it")
        self.check_ramp_overlaps()

    def check_action(self, r: A.Route) -> None:
        a = r.action
        who = "the default route" if r.is_default else f"route `{r.name}`"
        if isinstance(a, A.Use):
            if a.model != A.REQUESTED and a.model not in self.models:
                self.model_ref(a.model, self.at_after(a.span, "use"), f"`use` in {who}")
        elif isinstance(a, A.Split):
            self.check_split(a, who)
        elif isinstance(a, A.Choose):
            self.check_choose(a, who)
        elif isinstance(a, A.Ramp):
            self.check_ramp(a, who)

    def check_split(self, a: A.Split, who: str) -> None:
        total = sum((arm.percent for arm in a.arms), Decimal(0))
        if total != 100:
            self.add("E140", f"the split in {who} sums to {total.normalize():f}%, not 100%", a.span,
                     "make the percentages add up to 100")
        seen: set[str] = set()
        for arm in a.arms:
            if arm.model not in self.models:
                self.model_ref(arm.model, arm.span, f"the split in {who}")
            if arm.percent == 0:
                self.add("W141", f"the split in {who} gives `{arm.model}` 0%: it never receives traffic", arm.span,
                         "remove the arm")
            if arm.model in seen:
                self.add("W142", f"the split in {who} lists `{arm.model}` twice", arm.span,
                         "give it one arm with the summed percentage")
            seen.add(arm.model)
        if a.sticky is not None and a.sticky.by == "header" and a.sticky.param is not None:
            self.check_header_name(a.sticky.param, a.sticky.span)

    def filter_verdict(self, m: A.Model, f: A.Filter) -> bool | None:
        """Whether model ``m`` passes filter ``f``; None when it cannot be told here (no tier, bad names)."""
        if f.what == "supports":
            return f.value in m.capabilities
        if f.what == "tier":
            if m.tier not in A.TIERS or f.value not in A.TIERS:
                return None
            a, b = A.TIERS.index(m.tier), A.TIERS.index(f.value)
            ops = {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}
            return ops.get(f.op or "")
        return None

    def survivors(self, a: A.Choose) -> tuple[list[str], list[str]] | None:
        """(models that surely pass the filters, models that may); None when a name is unknown."""
        models = list(dict.fromkeys(a.models))
        if any(m not in self.models for m in models):
            return None
        sure, maybe = [], []
        for name in models:
            verdicts = [self.filter_verdict(self.models[name], f) for f in a.filters]
            if all(v is True for v in verdicts):
                sure.append(name)
            elif not any(v is False for v in verdicts):
                maybe.append(name)
        return sure, maybe

    def check_choose(self, a: A.Choose, who: str) -> None:
        if a.strategy not in A.STRATEGIES:
            self.add("E108", f"`{a.strategy}` is not a strategy", a.span,
                     _did_you_mean(a.strategy, A.STRATEGIES, "strategies"))
        seen: dict[str, int] = {}
        for name in a.models:
            n = seen.get(name, 0)
            if n == 0 and name not in self.models:
                self.model_ref(name, self.name_at(a.span, name, after="of"), f"`choose` in {who}")
            if n == 1:
                self.add("W171", f"`choose` in {who} lists `{name}` twice",
                         self.name_at(a.span, name, after="of", nth=1), "list each model once")
            seen[name] = n + 1
        for f in a.filters:
            if f.what == "tier" and f.value not in A.TIERS:
                self.add("E104", f"`{f.value}` is not a tier", f.span, _did_you_mean(f.value, A.TIERS, "tiers"))
            if f.what == "supports" and f.value not in A.CAPABILITIES:
                self.add("E105", f"`{f.value}` is not a capability", f.span,
                         _did_you_mean(f.value, A.CAPABILITIES, "capabilities"))
        if len(seen) == 1:
            only = next(iter(seen))
            self.add("W170", f"`choose` in {who} has only `{only}` to choose from", a.span, f"`use {only}` says the same")
            return
        if not a.filters:
            return
        got = self.survivors(a)
        if got is None:
            return
        sure, maybe = got
        if not sure and not maybe:
            self.add("E172", f"the filters of `choose` in {who} leave no model", a.span,
                     "loosen the `where` filters or add a model that passes them")
        elif len(sure) == 1 and not maybe:
            self.add("W173", f"the filters of `choose` in {who} leave only `{sure[0]}`", a.span,
                     f"`use {sure[0]}` says the same")

    def check_ramp(self, a: A.Ramp, who: str) -> None:
        if a.model not in self.models:
            self.model_ref(a.model, self.at_after(a.span, "ramp"), f"the ramp in {who}")
        if a.rest not in self.models:
            self.model_ref(a.rest, self.at_after(a.span, "rest"), f"the ramp in {who}")
        if a.model == a.rest:
            self.add("E146", f"the ramp in {who} moves traffic from `{a.rest}` to itself", a.span,
                     "ramp to a different model than `rest`")
        for p in (a.start_percent, a.end_percent):
            if not 0 <= p <= 100:
                self.add("E145", f"the ramp in {who} goes to {p}%: a share of traffic lies in 0..100%", a.span)
        if a.end <= a.start:
            self.add("E143", f"the ramp in {who} ends on {a.end}, not after it starts on {a.start}", a.span,
                     "the `to` date must come after the `from` date")
        if a.end_percent < a.start_percent:
            self.add("E144", f"the ramp in {who} runs backwards, from {a.start_percent}% down to {a.end_percent}%",
                     a.span, f"to move traffic back, ramp `{a.rest}` up and make `{a.model}` the rest")
        if a.sticky is not None and a.sticky.by == "header" and a.sticky.param is not None:
            self.check_header_name(a.sticky.param, a.sticky.span)

    def check_ramp_overlaps(self) -> None:
        """W147, naming for each ramp the first earlier ramp it overlaps. Only ramps between the same two models
        are compared, and among those only the ones an index of their conditions cannot rule out."""
        groups: dict[frozenset[str], _Meets] = {}
        for rj in self.routes:
            aj = rj.action
            if not isinstance(aj, A.Ramp):
                continue
            group = groups.setdefault(frozenset((aj.model, aj.rest)), _Meets())
            try:
                dj = _dnf(rj.when)
            except _Undecided:
                dj = None
            if aj.end > aj.start:  # else E143 already; a backwards date range says nothing about overlap
                for ri, ai in group.meeting(dj):
                    assert isinstance(ai, A.Ramp)
                    if ai.model == ai.rest or ai.end <= ai.start:
                        continue
                    if not (ai.start <= aj.end and aj.start <= ai.end):
                        continue
                    self.add("W147", f"the ramp in route `{rj.name}` moves traffic between `{aj.rest}` and "
                                     f"`{aj.model}` over dates that overlap the ramp in route `{ri.name}` "
                                     f"({ri.span.file}:{ri.span.line})", aj.span,
                             "merge the two ramps, or keep their dates or conditions apart")
                    break
            group.add(dj, (rj, aj))

    def check_fallback(self, r: A.Route) -> None:
        who = "the default route" if r.is_default else f"route `{r.name}`"
        plan = self.plan_models(r.action)
        seen: dict[str, int] = {}
        for name in r.fallback:
            n = seen.get(name, 0)
            # (the name is looked up in the source only when there is something to report)
            if n == 0:
                if name not in self.models:
                    self.model_ref(name, self.name_at(r.span, name, after="fallback"), f"the fallback of {who}")
                elif name in plan:
                    self.add("E150", f"the fallback of {who} repeats `{name}`, which the route already tries",
                             self.name_at(r.span, name, after="fallback"),
                             "fall back to a different model; `retries` tries the same one again")
            else:
                self.add("E151", f"the fallback of {who} lists `{name}` twice",
                         self.name_at(r.span, name, after="fallback", nth=n), "list each model once")
            seen[name] = n + 1

    def plan_models(self, a: A.Action) -> set[str]:
        """Models that are always among the route's own candidates, before its fallback."""
        if isinstance(a, A.Use):
            return set() if a.model == A.REQUESTED else {a.model}
        if isinstance(a, A.Choose):
            got = self.survivors(a)
            if got is None:
                return set(a.models)
            return set(got[0]) | set(got[1])
        if isinstance(a, A.Split):
            arms = [set([arm.model]) for arm in a.arms if arm.percent > 0]
            return set.intersection(*arms) if arms else set()
        return set()

    # ------------------------------------------------------------------ conditions and shadowing
    def check_header_name(self, name: str, where: A.Span) -> None:
        if not _HTTP_TOKEN.fullmatch(name):
            self.add("W210", f"header name \"{name}\" is not an HTTP header name (no spaces or quotes)", where,
                     "header names are letters, digits and - (e.g. \"x-team\")")

    def check_conditions(self) -> None:
        for r in self.routes:
            for atom in _atoms(r.when):
                fact = getattr(atom, "fact", None)
                if isinstance(fact, A.Fact) and fact.name == "header" and fact.param is not None:
                    self.check_header_name(fact.param, fact.span)
        for code, r, shadows in _shadow_findings(self.routes):
            if code == "W191":
                self.add("W191", f"route `{r.name}` can never match: its condition is never true",
                         self.at_after(r.span, "when") if r.when is not None else r.span,
                         "two tests of one fact contradict each other")
            else:
                self.report_shadow(r, shadows)

    def report_shadow(self, r: A.Route, shadows: list[A.Route]) -> None:
        who = "the default route" if r.is_default else f"route `{r.name}`"
        if len(shadows) == 1:
            er = shadows[0]
            hint = (f"`{er.name}` matches every request; give it a narrower `when`, or remove the default"
                    if r.is_default else f"move it above `{er.name}`, narrow `{er.name}`, or remove it")
            self.add("W190", f"{who} can never match: route `{er.name}` ({er.span.file}:{er.span.line}) "
                             f"catches everything it would", r.span, hint)
            return
        listed = ", ".join(f"`{e.name}` ({e.span.file}:{e.span.line})" for e in shadows)
        hint = ("together they match every request; narrow one of them, or remove the default" if r.is_default
                else "reorder the routes, or remove this one")
        self.add("W190", f"{who} can never match: routes {listed} together catch everything it would", r.span, hint)

    # ------------------------------------------------------------------ unused declarations
    def check_unused(self) -> None:
        used_models: set[str] = set()
        for r in self.routes:
            used_models |= set(_action_models(r.action)) | set(r.fallback)
        for b in self.ps.of(A.Budget):
            used_models |= {t.target for t in b.thresholds if t.target}
        if not self.uses_requested():
            for name, m in self.models.items():
                if name not in used_models:
                    self.add("W180", f"model `{name}` is never used: no route, fallback or downgrade names it, and "
                                     "nothing says `use requested`", m.span, "route to it, or remove it")
        used_providers = {m.provider for m in self.ps.of(A.Model)}
        for name, p in self.providers.items():
            if name not in used_providers:
                self.add("W181", f"provider `{name}` is never used: no model names it", p.span,
                         "declare a model on it, or remove it")


def _action_models(a: A.Action) -> list[str]:
    if isinstance(a, A.Use):
        return [] if a.model == A.REQUESTED else [a.model]
    if isinstance(a, A.Split):
        return [arm.model for arm in a.arms]
    if isinstance(a, A.Choose):
        return list(a.models)
    if isinstance(a, A.Ramp):
        return [a.model, a.rest]
    return []


def _disjoint(a: A.Cond | None, b: A.Cond | None) -> bool:
    """True only when no request can satisfy both conditions (decided on their normal forms). The plain
    definition behind W147; the checker gets the same answers through `_Meets`."""
    try:
        da, db = _dnf(a), _dnf(b)
    except _Undecided:
        return False
    return all(_conj_and(x, y) is None for x in da for y in db)


class _Meets:
    """Conditions (in normal form, None when undecided) with an item each, in arrival order. ``meeting(d)``
    yields, in that order, the items whose condition is not disjoint from ``d`` (``not _disjoint``): a row
    is filed under one of its positive literals, so that a row holding a value set disjoint from it on that
    fact is never met."""

    def __init__(self) -> None:
        self.items: list[tuple[list[_Conj] | None, object]] = []
        self.by_value: dict[tuple, list[tuple[int, _Conj]]] = {}  # (fact, value) → (item, row)
        self.by_fact: dict[_Key, list[tuple[int, _Conj]]] = {}    # fact → every (item, row) filed under it
        self.open: list[tuple[int, _Conj]] = []                   # rows with no positive literal
        self.undecided: list[int] = []

    def add(self, dnf: list[_Conj] | None, item: object) -> None:
        i = len(self.items)
        self.items.append((dnf, item))
        if dnf is None:
            self.undecided.append(i)
            return
        for row in dnf:
            pos = [(k, s.vals) for k, s in row.items() if isinstance(s, _DSet) and not s.co]
            if not pos:
                self.open.append((i, row))
                continue
            k, vals = min(pos, key=lambda kv: len(kv[1]))
            self.by_fact.setdefault(k, []).append((i, row))
            for v in vals:
                self.by_value.setdefault((k, v), []).append((i, row))

    def meeting(self, dnf: list[_Conj] | None) -> Iterator[object]:
        if dnf is None:
            found = set(range(len(self.items)))
        else:
            found = set(self.undecided)
            for y in dnf:
                cands = list(self.open)
                for k, filed in self.by_fact.items():
                    s = y.get(k)
                    if isinstance(s, _DSet) and not s.co:  # rows filed under k meet y only on y's values
                        cands += {id(x): (i, x) for v in s.vals for i, x in self.by_value.get((k, v), ())}.values()
                    else:
                        cands += filed
                found.update(i for i, x in cands if i not in found and _conj_and(x, y) is not None)
        for i in sorted(found):
            yield self.items[i][1]


# Credentials in URLs, masked wherever a URL is shown (even when the file does not parse).
_URL_USERINFO = re.compile(r"(\w+://)([^/@\s\"]+)@")
_URL_CREDENTIAL = re.compile(r"([?&](?i:" + "|".join(map(re.escape, sorted(_CREDENTIAL_PARAMS))) + r")=)([^&#\s\"]+)")
_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')


def _redact(line: str, secrets: Iterable[str]) -> str:
    """Mask literal secrets inside the quoted strings of ``line`` (only there: a name outside quotes is
    never a secret, and a one-letter key must not eat every letter of the line)."""
    ordered = sorted((s for s in secrets if s), key=len, reverse=True)

    def one(m: re.Match[str]) -> str:
        body = m.group(1)
        for s in ordered:
            body = body.replace(s, _mask(s))
        body = _KEY_SHAPES.sub(lambda k: _mask(k.group()), body)
        body = _URL_USERINFO.sub(lambda k: k.group(1) + _mask(k.group(2)) + "@", body)
        return '"' + _URL_CREDENTIAL.sub(lambda k: k.group(1) + _mask(k.group(2)), body) + '"'

    return _STRING.sub(one, line)


# =========================================================================== entry points


def check(ps: A.PolicySet) -> list[Diagnostic]:
    """Every finding for the policy set, sorted by file, line and column. Never raises on a parsed policy."""
    return sorted([*_Checker(ps).run(), *check_capabilities(ps)], key=lambda d: (d.span.file, d.span.line, d.span.col))


def check_text(text: str, path: str = "<policy>") -> list[Diagnostic]:
    """Parse one file and check it; a text that does not parse gives its syntax diagnostic instead."""
    from .syntax import parse_text

    try:
        f = parse_text(text, path)
    except PolicyError as e:
        # A syntax error may sit on a line with a key on it: mask anything key-shaped before showing it.
        return [Diagnostic(d.code, d.severity, _KEY_SHAPES.sub(lambda k: _mask(k.group()), d.message), d.span,
                           None if d.source_line is None else _redact(d.source_line, ()), d.hint)
                for d in e.diagnostics]
    return check(A.PolicySet((f,)))


def check_budget_subjects(ps: A.PolicySet, known: Mapping[str, set[str]]) -> list[Diagnostic]:
    """Budgets and limits for subjects no key carries. The gateway calls this with the principals of its keys
    (scope → the subjects its keys name); scopes missing from ``known`` are not judged."""
    sources = {f.path: f.source for f in ps.files}
    lines: dict[str, list[str]] = {}  # each file split once (errors.source_line would split per subject)
    out = []
    for d in ps.decls():
        if not isinstance(d, (A.Budget, A.Limit)) or d.scope not in known:
            continue
        subjects = known[d.scope]
        if d.subject in subjects:
            continue
        what = "budget" if isinstance(d, A.Budget) else "limit"
        hint = _did_you_mean(d.subject, subjects) or f"create a key with --{d.scope.replace('_', '-')} {d.subject}"
        if d.span.file not in lines:
            lines[d.span.file] = sources.get(d.span.file, "").splitlines()
        got = lines[d.span.file]
        line = got[d.span.line - 1] if 1 <= d.span.line <= len(got) else None
        out.append(Diagnostic("W192", "warning", f"{what} for {d.scope} \"{d.subject}\": no key carries that "
                                                 f"{d.scope.replace('_', ' ')}", d.span,
                              None if line is None else _redact(line, ()), hint))
    return sorted(out, key=lambda d: (d.span.file, d.span.line, d.span.col, d.code, d.message))
