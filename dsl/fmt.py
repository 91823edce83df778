"""The canonical formatter: one layout for every policy, comments kept, ``parse(fmt(x)) == parse(x)``.

Canonical choices (so two authors' files diff cleanly):

* Declarations stay in the order written. Consecutive providers, models, budgets and limits form
  aligned columns; a blank line separates declarations of different kinds and surrounds every route.
  Between declarations of the same kind, one blank line is kept where the author left one.
* Route clauses are one per line, indented two spaces, in a fixed order: description, owner, ticket,
  when, the action, fallback, retries, timeout, retry on.
* Provider options: kind, base_url, api_version, key, header..., timeout.
  Model options: price, tier, context, supports (capabilities in the order tools, vision, json, embeddings).
  A model whose prices are both zero reads ``price 0``; otherwise ``price in X [cached C] out Y per 1M``;
  a model without a price has no price clause (it is billed as unpriced, which `price 0` is not).
* Conditions get the fewest parentheses that keep the same tree (not > and > or). Equality is ``==`` /
  ``!=``, except for ``task``, which reads aloud as ``task is code`` / ``task is not code``. Values of
  ``task`` and ``weekday`` are bare words (``[sat, sun]``); every other text value is a quoted string.
  A boolean test is the fact alone (``stream``, ``not tools``), never ``== true``.
* Strings are re-quoted (``\\`` ``\"`` ``\n`` ``\t`` escaped); numbers print as written (``2.50`` stays
  ``2.50``); durations print in whole seconds (``30s``), else milliseconds (``500ms``).
* Comments: the AST drops them, so they are lexed from the text with their positions. A comment on a
  line of its own stays before the line (declaration or route clause) that follows it; a comment at the
  end of a line stays at the end of that declaration's or clause's line. When one line would collect
  several end-of-line comments (a clause folded from several lines), they move above it, in order.
  No comment is ever dropped.
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lark import Tree

from . import ast as A
from .lexer import RESERVED as _RESERVED, parser
from .syntax import parse_text

INDENT = "  "
GAP = "  "  # between aligned columns and before an end-of-line comment

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_BARE_VALUE_FACTS = ("task", "complexity", "weekday")  # enum-like facts whose values read best as bare words
_CLAUSE_ORDER = ("description", "owner", "ticket", "when", "action", "fallback", "retries", "timeout", "retry_on")
_TREE_CLAUSE = {
    "c_description": "description", "c_owner": "owner", "c_ticket": "ticket", "c_when": "when",
    "c_fallback": "fallback", "c_retries": "retries", "c_timeout": "timeout", "c_retry_on": "retry_on",
    "a_use": "action", "a_split": "action", "a_choose": "action", "a_ramp": "action",
}


# --------------------------------------------------------------------------- atoms


def quote(s: str) -> str:
    """A string literal the lexer reads back as ``s`` (the parser maps ``\\n``/``\\t`` and ``\\X`` → X)."""
    body = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t")
    return f'"{body}"'


def number(d: Decimal | int) -> str:
    """Plain notation, trailing zeros kept (``str(Decimal)`` would write 1E-7)."""
    return format(d, "f") if isinstance(d, Decimal) else str(d)


def duration(d: A.Duration) -> str:
    s = d.seconds
    if s == s.to_integral_value():
        return f"{int(s)}s"
    ms = s * 1000
    if ms == ms.to_integral_value():
        return f"{int(ms)}ms"
    return f"{number(s.normalize())}s"


def secret(v: A.EnvRef | str) -> str:
    return f"env({v.name})" if isinstance(v, A.EnvRef) else quote(v)


def _bare_ok(s: str) -> bool:
    return bool(_NAME_RE.fullmatch(s)) and s not in _RESERVED


def fact(f: A.Fact) -> str:
    return f"{f.name} {quote(f.param)}" if f.param is not None else f.name


def value(v: object, f: A.Fact) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return v if f.name in _BARE_VALUE_FACTS and _bare_ok(v) else quote(v)
    if isinstance(v, date):
        return v.isoformat()
    return str(v)  # int, TimeOfDay (HH:MM)


def _prec(c: A.Cond) -> int:
    return 1 if isinstance(c, A.Or) else 2 if isinstance(c, A.And) else 3 if isinstance(c, A.Not) else 4


def cond(c: A.Cond) -> str:
    """The condition with the fewest parentheses that parse back to the same tree.

    A nested ``and`` inside ``and`` (or ``or`` in ``or``) keeps its parentheses: the parser would
    otherwise flatten it, and the tree (hence the AST) would differ.
    """
    if isinstance(c, A.Or):
        return " or ".join(_wrap(x, _prec(x) <= 1) for x in c.items)
    if isinstance(c, A.And):
        return " and ".join(_wrap(x, _prec(x) <= 2) for x in c.items)
    if isinstance(c, A.Not):
        return "not " + _wrap(c.item, _prec(c.item) <= 2)
    if isinstance(c, A.Compare):
        if c.fact.name in ("task", "complexity") and c.op in ("==", "!="):
            op = "is" if c.op == "==" else "is not"
        else:
            op = c.op
        return f"{fact(c.fact)} {op} {value(c.value, c.fact)}"
    if isinstance(c, A.In):
        items = ", ".join(value(v, c.fact) for v in c.values)
        return f"{fact(c.fact)} {'not in' if c.negated else 'in'} [{items}]"
    if isinstance(c, A.Matches):
        return f"{fact(c.fact)} matches {quote(c.pattern)}"
    if isinstance(c, A.IsTrue):
        return fact(c.fact)
    raise TypeError(f"not a condition: {c!r}")


def _wrap(c: A.Cond, paren: bool) -> str:
    return f"({cond(c)})" if paren else cond(c)


def sticky(s: A.Sticky) -> str:
    return f"sticky by header {quote(s.param or '')}" if s.by == "header" else f"sticky by {s.by}"


def action(a: A.Action) -> str:
    if isinstance(a, A.Use):
        return f"use {a.model}"
    if isinstance(a, A.Split):
        arms = ", ".join(f"{number(x.percent)}% {x.model}" for x in a.arms)
        head = "split " + (sticky(a.sticky) + " " if a.sticky else "")
        return f"{head}{{ {arms} }}"
    if isinstance(a, A.Choose):
        by = f" by {a.by}" if a.by is not None else ""
        out = f"choose {a.strategy.replace('_', '-')}{by} of [{', '.join(a.models)}]"
        if a.filters:
            out += " where " + " and ".join(
                f"{f.what} {f.op} {f.value}" if f.what in ("tier", "quality") else f"supports {f.value}"
                for f in a.filters)
        return out
    if isinstance(a, A.Ramp):
        out = (f"ramp {a.model} from {number(a.start_percent)}% on {a.start.isoformat()} "
               f"to {number(a.end_percent)}% on {a.end.isoformat()}, rest {a.rest}")
        return out + (" " + sticky(a.sticky) if a.sticky else "") + (" " + guard(a.guard) if a.guard else "")
    raise TypeError(f"not an action: {a!r}")


def guard(g: A.Guard) -> str:
    def test(t: A.GuardTest) -> str:
        if t.percent is not None:
            shown = f"{number(t.percent)}%"
        elif t.duration is not None:
            shown = duration(t.duration)
        else:
            shown = number(t.number if t.number is not None else 0)
        return f"{t.metric} {t.op} {shown}"

    on = f" on {g.model}" if g.model is not None else ""
    return f"guard {' or '.join(test(t) for t in g.tests)} over {_minutes(g.window)}{on}"


def _minutes(d: A.Duration) -> str:
    s = d.seconds
    if s >= 3600 and s % 3600 == 0:
        return f"{int(s // 3600)}h"
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m"
    return duration(d)


def quality(m: A.Model) -> str:
    return ("quality " + ", ".join(f"{task} {number(score)}" for task, score in m.quality)) if m.quality else ""


def _capabilities(caps: frozenset[str]) -> list[str]:
    known = [c for c in A.CAPABILITIES if c in caps]
    return known + sorted(caps - set(known))


# --------------------------------------------------------------------------- declarations → cells / lines
# A single-line declaration is a list of cells; a block of consecutive same-kind declarations is aligned
# column by column. A cell is (text, right_aligned).

Cell = tuple[str, bool]


def provider_cells(p: A.Provider) -> list[Cell]:
    rest = []
    if p.base_url is not None:
        rest.append(f"base_url {quote(p.base_url)}")
    if p.api_version is not None:
        rest.append(f"api_version {quote(p.api_version)}")
    if p.key is not None:
        rest.append(f"key {secret(p.key)}")
    rest += [f"header {quote(name)} = {secret(v)}" for name, v in p.headers]
    if p.timeout is not None:
        rest.append(f"timeout {duration(p.timeout)}")
    return [(f"provider {p.name}", False), (f"kind {p.kind}", False), (GAP.join(rest), False)]


def model_cells(m: A.Model) -> list[Cell]:
    if m.price_in is None or m.price_out is None:
        price = ""  # no price declared: billed as unpriced (not the same as `price 0`)
    elif m.price_in == 0 and m.price_out == 0 and m.price_cached_in is None:
        price = f"price {number(m.price_in)}"
    else:
        cached = "" if m.price_cached_in is None else f" cached {number(m.price_cached_in)}"
        price = f"price in {number(m.price_in)}{cached} out {number(m.price_out)} per 1M"
    caps = _capabilities(m.capabilities)
    return [
        (f"model {m.name}", False),
        (f"= {m.provider}/{quote(m.upstream)}", False),
        (price, False),
        (f"tier {m.tier}" if m.tier is not None else "", False),
        (f"context {m.context}" if m.context is not None else "", False),
        ("supports " + ", ".join(caps) if caps else "", False),
        (quality(m), False),
    ]


def _threshold(t: A.Threshold) -> str:
    out = f"at {number(t.percent)}% {t.action}"
    return out + (f" to {t.target}" if t.action == "downgrade" else "")


def budget_cells(b: A.Budget) -> list[Cell]:
    return [
        (f"budget {b.scope} {quote(b.subject)}", False),
        (number(b.amount), True),
        (f"{b.currency} per {b.period}", False),
        *((_threshold(t), False) for t in b.thresholds),
    ]


def cost_center_cells(c: A.CostCenter) -> list[Cell]:
    return [(f"cost_center {quote(c.name)}", False),
            (f"description {quote(c.description)}" if c.description is not None else "", False),
            (f"owner {quote(c.owner)}" if c.owner is not None else "", False)]


def shared_cells(sh: A.Shared) -> list[Cell]:
    if sh.amount is not None:
        what = f"{number(sh.amount)} {sh.currency} per {sh.period}"
    else:
        what = f"{sh.scope} {quote(sh.subject or '')}"
    if sh.percentages is None:
        split = "split by usage"
    else:
        split = "split " + ", ".join(f"{number(p)}% {quote(cc)}" for cc, p in sh.percentages)
    return [(f"shared {quote(sh.name)}", False), (what, False), (split, False)]


def limit_cells(lim: A.Limit) -> list[Cell]:
    rates = []
    if lim.requests_per_minute is not None:
        rates.append(f"{lim.requests_per_minute} requests per minute")
    if lim.tokens_per_minute is not None:
        rates.append(f"{lim.tokens_per_minute} tokens per minute")
    return [(f"limit {lim.scope} {quote(lim.subject)}", False), (", ".join(rates), False)]


def route_lines(r: A.Route) -> list[tuple[str, str]]:
    """(clause name, text) in the canonical order; the head line is clause "head"."""
    out = [("head", "default" if r.is_default else f"route {r.name}")]
    if r.meta.description is not None:
        out.append(("description", f"description {quote(r.meta.description)}"))
    if r.meta.owner is not None:
        out.append(("owner", f"owner {quote(r.meta.owner)}"))
    if r.meta.ticket is not None:
        out.append(("ticket", f"ticket {quote(r.meta.ticket)}"))
    if r.when is not None:
        out.append(("when", f"when {cond(r.when)}"))
    out.append(("action", action(r.action)))
    if r.fallback:
        out.append(("fallback", "fallback " + ", ".join(r.fallback)))
    if r.retries is not None:
        out.append(("retries", f"retries {r.retries}"))
    if r.timeout is not None:
        out.append(("timeout", f"timeout {duration(r.timeout)}"))
    if r.retry_on:
        out.append(("retry_on", "retry on " + ", ".join(str(x) for x in r.retry_on)))
    return [(k, t if k == "head" else INDENT + t) for k, t in out]


_CELLS = {A.Provider: provider_cells, A.Model: model_cells, A.Budget: budget_cells, A.Limit: limit_cells,
          A.CostCenter: cost_center_cells, A.Shared: shared_cells}


def _align(rows: list[list[Cell]], first_sep: str = GAP) -> list[str]:
    """Pad every column to its widest cell; empty cells keep their column only when something follows.

    ``first_sep`` joins the first two columns (a model's ``=`` sits one space after its padded name)."""
    ncols = max(len(r) for r in rows)
    widths = [max((len(r[i][0]) for r in rows if i < len(r)), default=0) for i in range(ncols)]
    lines = []
    for r in rows:
        last = max((i for i, (text, _) in enumerate(r) if text), default=-1)
        parts = []
        for i in range(last + 1):
            text, right = r[i]
            parts.append(text.rjust(widths[i]) if right else text.ljust(widths[i]))
        line = parts[0] + (first_sep + GAP.join(parts[1:]) if len(parts) > 1 else "")
        lines.append(line.rstrip())
    return lines


# --------------------------------------------------------------------------- comments


@dataclass
class _Comment:
    line: int
    col: int
    text: str
    own_line: bool  # nothing but blanks before it on its line


_LEX_RE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*')


def comments_of(text: str) -> list[_Comment]:
    """Every ``#`` comment with its 1-based line and column (strings are skipped, they may hold ``#``)."""
    out: list[_Comment] = []
    line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    for m in _LEX_RE.finditer(text):
        if not m.group().startswith("#"):
            continue
        pos = m.start()
        ln = bisect.bisect_right(line_starts, pos)
        start = line_starts[ln - 1]
        before = text[start:pos]
        out.append(_Comment(ln, pos - start + 1, m.group().rstrip(" \t\f\r"), before.strip(" \t\f\r") == ""))
    return out


@dataclass
class _Row:
    """One output line of a declaration, and where its source began (for placing comments)."""

    anchor: tuple[int, int]
    text: str = ""
    end: tuple[int, int] = (0, 0)  # where its source ended; a comment inside a clause stays with it
    before: list[_Comment] = field(default_factory=list)
    after: list[_Comment] = field(default_factory=list)


# --------------------------------------------------------------------------- files


def format_file(pf: A.PolicyFile) -> str:
    """The canonical text of a parsed file; comments come from ``pf.source`` (empty: no comments)."""
    text = pf.source
    try:
        trees: list = _decl_trees(text) if text.strip() else []
    except Exception:  # a synthetic PolicyFile whose source is not policy text
        trees = []
    if len(trees) != len(pf.decls):  # a synthetic PolicyFile whose source is not its text
        trees = [None] * len(pf.decls)
        comments: list[_Comment] = []
    else:
        comments = comments_of(text)
    src_lines = text.split("\n")

    # Rows per declaration, each anchored at the source position where that line's content began.
    decl_rows: list[list[_Row]] = []
    decl_spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    for i, (d, tree) in enumerate(zip(pf.decls, trees)):
        base = (tree.meta.line, tree.meta.column) if tree is not None else (0, i)
        end = (tree.meta.end_line, tree.meta.end_column) if tree is not None else (0, i)
        decl_spans.append((base, end))
        if isinstance(d, A.Route):
            anchors = _clause_anchors(tree) if tree is not None else {}
            rows = []
            for k, t in route_lines(d):
                start, stop = anchors.get(k, (base, base))
                rows.append(_Row(anchor=start, text=t, end=stop))
            rows[0].anchor, rows[0].end = base, base
        else:
            rows = [_Row(anchor=base, end=end)]
        decl_rows.append(rows)

    trailer = _attach(comments, decl_rows, decl_spans)
    aligned = _aligned_texts(pf.decls)

    out: list[str] = []
    for i, (d, rows) in enumerate(zip(pf.decls, decl_rows)):
        if i in aligned:
            rows[0].text = aligned[i]
        head = rows[0]
        first_line = min([c.line for c in head.before] + [head.anchor[0]])
        if i > 0:
            prev = pf.decls[i - 1]
            if (type(prev) is not type(d) or isinstance(d, A.Route)
                    or _blank_between(src_lines, decl_spans[i - 1][1][0], first_line)):
                out.append("")
        for r_i, row in enumerate(rows):
            indent = "" if r_i == 0 else INDENT
            prev_line = None
            for c in row.before:
                if r_i == 0 and prev_line is not None and _blank_between(src_lines, prev_line, c.line):
                    out.append("")
                out.append(indent + c.text)
                prev_line = c.line
            if r_i == 0 and prev_line is not None and _blank_between(src_lines, prev_line, row.anchor[0]):
                out.append("")
            if len(row.after) > 1:  # one line holds one trailing comment: the rest go above, in order
                out.extend(indent + c.text for c in row.after)
                out.append(row.text)
            elif row.after:
                out.append(row.text + GAP + row.after[0].text)
            else:
                out.append(row.text)
    if trailer:
        if out:
            out.append("")
        prev_line = None
        for c in trailer:
            if prev_line is not None and _blank_between(src_lines, prev_line, c.line):
                out.append("")
            out.append(c.text)
            prev_line = c.line
    return "\n".join(out) + "\n" if out else ""


def format_text(text: str, path: str = "<policy>") -> str:
    """Parse and format; raises PolicySyntaxError (with its diagnostic) when the text does not parse."""
    return format_file(parse_text(text, path))


def _decl_trees(text: str) -> list[Tree]:
    # The AST keeps no position for most route clauses; the Lark tree does (same parser, cached).
    return [t for t in parser().parse(text).children if isinstance(t, Tree)]


def _clause_anchors(tree: Tree) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
    """Clause name → (start, end) positions in the source."""
    out: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {}
    for ch in tree.children:
        if isinstance(ch, Tree) and ch.data in _TREE_CLAUSE:
            m = ch.meta
            out.setdefault(_TREE_CLAUSE[ch.data], ((m.line, m.column), (m.end_line, m.end_column)))
    return out


def _attach(comments: list[_Comment], decl_rows: list[list[_Row]],
            decl_spans: list[tuple[tuple[int, int], tuple[int, int]]]) -> list[_Comment]:
    """Hang each comment on a row; returns the comments after the last declaration."""
    all_rows = sorted((r for rows in decl_rows for r in rows), key=lambda r: r.anchor)
    trailer: list[_Comment] = []
    for c in comments:
        pos = (c.line, c.col)
        if not c.own_line:
            # Code precedes it on its line, so some row began before it.
            earlier = [r for r in all_rows if r.anchor < pos]
            if earlier:
                earlier[-1].after.append(c)
            else:  # pragma: no cover - a trailing comment with no code before it cannot happen
                trailer.append(c)
            continue
        inside = next((rows for rows, (s, e) in zip(decl_rows, decl_spans) if s < pos < e), None)
        if inside is not None:
            holder = next((r for r in inside if r.anchor < pos < r.end), None)
            if holder is not None:  # between the lines of one clause: keep it with that clause
                holder.before.append(c)
                continue
            later = sorted((r for r in inside if r.anchor > pos), key=lambda r: r.anchor)
            if later:
                later[0].before.append(c)
            else:  # below the last clause's first line, inside a clause spread over lines
                max((r for r in inside if r.anchor < pos), key=lambda r: r.anchor).before.append(c)
            continue
        later = [r for r in all_rows if r.anchor > pos]
        if later:
            later[0].before.append(c)
        else:
            trailer.append(c)
    return trailer


def _blank_between(lines: list[str], a: int, b: int) -> bool:
    """Whether a blank source line lies strictly between 1-based lines a and b."""
    return any(lines[i - 1].strip(" \t\f\r") == "" for i in range(a + 1, b) if 0 < i <= len(lines))


def _aligned_texts(decls: tuple[A.Decl, ...]) -> dict[int, str]:
    """Single-line declarations, aligned within each run of the same kind."""
    out: dict[int, str] = {}
    i = 0
    while i < len(decls):
        kind = type(decls[i])
        if kind not in _CELLS:
            i += 1
            continue
        j = i
        while j < len(decls) and type(decls[j]) is kind:
            j += 1
        rows = [_CELLS[kind](d) for d in decls[i:j]]
        for k, line in zip(range(i, j), _align(rows, " " if kind is A.Model else GAP)):
            out[k] = line
        i = j
    return out
