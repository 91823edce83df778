"""The semantic diff of two policies, in words: what a reviewer must know about a policy change.

Declarations are compared as parsed (spans ignored), so formatting, comments and moving declarations
between files are no change at all. Each change carries its ``effect`` on what the gateway does:

- ``none``: provably no request is decided, priced, admitted or sent anywhere differently (a description,
  an unused model, a condition rewritten into an equivalent one, routes reordered that no request matches
  both of, or whose common requests an unchanged earlier route catches);
- ``changes``: some request is affected (the algebra of dsl/regions.py found one, or the change is to
  prices, budgets, limits, targets or hosts, which affect requests directly);
- ``may change``: the algebra cannot decide (a `matches` test, a condition too large to expand).

The policies are equivalent (exit 0) when every change has effect ``none``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from . import ast as A
from . import fmt
from .conjuncts import TooLarge, conj_region, conjunctions, region_text
from .explain import provider_host
from .regions import RegionUnion, Undecided, disjoint, dnf
from .witness import witnesses

__all__ = ["Change", "DiffError", "DiffResult", "diff", "diff_sources", "render"]

NONE, CHANGES, MAY = "none", "changes", "may change"


class DiffError(Exception):
    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass(frozen=True)
class Change:
    kind: str  # provider | model | budget | limit | billing | route | order
    subject: str
    what: str  # added | removed | changed | reordered | widened | narrowed | rewritten
    text: str
    effect: str = CHANGES
    details: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"details": list(self.details)}


@dataclass
class DiffResult:
    old: str
    new: str
    changes: list[Change] = field(default_factory=list)

    @property
    def equivalent(self) -> bool:
        return all(c.effect == NONE for c in self.changes)


# --------------------------------------------------------------------------- declarations in words


def _safe_provider(p: A.Provider) -> A.Provider:
    """A provider with literal secrets masked: a diff must never print one (env(NAME) shows the name)."""
    hide = lambda v: "***" if isinstance(v, str) else v  # noqa: E731
    return dataclasses.replace(p, key=hide(p.key), headers=tuple((n, hide(v)) for n, v in p.headers))


def decl_text(d: A.Decl) -> str:
    if isinstance(d, A.Provider):
        cells = fmt.provider_cells(_safe_provider(d))
    elif isinstance(d, A.Model):
        cells = fmt.model_cells(d)
    elif isinstance(d, A.Budget):
        cells = fmt.budget_cells(d)
    elif isinstance(d, A.Limit):
        cells = fmt.limit_cells(d)
    elif isinstance(d, A.CostCenter):
        cells = fmt.cost_center_cells(d)
    elif isinstance(d, A.Shared):
        cells = fmt.shared_cells(d)
    else:
        return route_head(d)  # type: ignore[arg-type]
    return "  ".join(c for c, _ in cells if c)


def route_head(r: A.Route) -> str:
    when = f" when {fmt.cond(r.when)}" if r.when is not None else ""
    fb = f", fallback {', '.join(r.fallback)}" if r.fallback else ""
    return f"{'default' if r.is_default else 'route ' + r.name}:{when}: {fmt.action(r.action)}{fb}"


def _by(decls: list[Any], key: Any) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for d in decls:
        out[key(d)] = d
    return out


def _field_changes(old: Any, new: Any, names: dict[str, str]) -> list[str]:
    out = []
    for f, word in names.items():
        a, b = getattr(old, f, None), getattr(new, f, None)
        if a != b:
            out.append(f"{word}: {_v(a)} → {_v(b)}")
    return out


def _v(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, frozenset):
        return ", ".join(sorted(v)) or "none"
    if isinstance(v, A.EnvRef):
        return f"env({v.name})"
    if isinstance(v, A.Duration):
        return fmt.duration(v)
    if isinstance(v, tuple):
        return ", ".join(_v(x) for x in v) or "none"
    return str(v)


def _providers(old: A.PolicySet, new: A.PolicySet, used: set[str]) -> list[Change]:
    a, b = _by(old.of(A.Provider), lambda p: p.name), _by(new.of(A.Provider), lambda p: p.name)
    out = []
    for name in b.keys() - a.keys():
        p = b[name]
        out.append(Change("provider", name, "added", f"provider {name} added: data can now go to "
                          f"{provider_host(p)}", CHANGES if name in used else NONE, (decl_text(p),)))
    for name in a.keys() - b.keys():
        out.append(Change("provider", name, "removed", f"provider {name} removed", NONE if name not in used
                          else CHANGES, (decl_text(a[name]),)))
    for name in sorted(a.keys() & b.keys()):
        p, q = a[name], b[name]
        if p == q:
            continue
        details = _field_changes(_safe_provider(p), _safe_provider(q), {
            "kind": "kind", "base_url": "base_url", "api_version": "api_version", "key": "key", "timeout": "timeout"})
        if p.headers != q.headers:
            details.append("headers: " + (", ".join(n for n, _ in q.headers) or "none") + " (values not shown)")
        text = f"provider {name} changed"
        if provider_host(p) != provider_host(q):
            text += f": requests now go to {provider_host(q)} (was {provider_host(p)})"
        out.append(Change("provider", name, "changed", text, CHANGES, tuple(details)))
    return out


def _models(old: A.PolicySet, new: A.PolicySet, requested: bool) -> list[Change]:
    a, b = _by(old.of(A.Model), lambda m: m.name), _by(new.of(A.Model), lambda m: m.name)
    # A model no route names is served only by `use requested`; without one, adding it changes nothing.
    out = []
    for name in sorted(b.keys() - a.keys()):
        out.append(Change("model", name, "added", f"model {name} added", CHANGES if requested else NONE,
                          (decl_text(b[name]),)))
    for name in sorted(a.keys() - b.keys()):
        out.append(Change("model", name, "removed", f"model {name} removed", CHANGES if requested else NONE,
                          (decl_text(a[name]),)))
    for name in sorted(a.keys() & b.keys()):
        m, n = a[name], b[name]
        if m == n:
            continue
        details = _field_changes(m, n, {
            "provider": "provider", "upstream": "upstream model", "price_in": "input price per 1M",
            "price_out": "output price per 1M", "price_cached_in": "cached input price per 1M", "tier": "tier",
            "context": "context window", "capabilities": "capabilities"})
        words = []
        if m.price_in != n.price_in or m.price_out != n.price_out:
            words.append("prices")
        if (m.provider, m.upstream) != (n.provider, n.upstream):
            words.append(f"now served by {n.provider}/{n.upstream}")
        text = f"model {name} changed" + (f" ({', '.join(words)})" if words else "")
        out.append(Change("model", name, "changed", text, CHANGES, tuple(details)))
    return out


def _scoped(kind: str, olds: list[Any], news: list[Any]) -> list[Change]:
    key = lambda d: (d.scope, d.subject)  # noqa: E731
    a, b = _by(olds, key), _by(news, key)
    out = []
    for k in sorted(b.keys() - a.keys()):
        out.append(Change(kind, f"{k[0]} {k[1]}", "added", f"{decl_text(b[k])} (new)"))
    for k in sorted(a.keys() - b.keys()):
        out.append(Change(kind, f"{k[0]} {k[1]}", "removed", f"{decl_text(a[k])} (removed)"))
    for k in sorted(a.keys() & b.keys()):
        if a[k] != b[k]:
            out.append(Change(kind, f"{k[0]} {k[1]}", "changed", f"{kind} {k[0]} \"{k[1]}\" changed",
                              CHANGES, (f"was: {decl_text(a[k])}", f"now: {decl_text(b[k])}")))
    return out


def _billing(old: A.PolicySet, new: A.PolicySet) -> list[Change]:
    """Cost centers (a description or owner changes no request) and shared costs (they change the bill)."""
    out = []
    for kind, cls in (("cost center", A.CostCenter), ("shared cost", A.Shared)):
        a, b = _by(old.of(cls), lambda d: d.name), _by(new.of(cls), lambda d: d.name)
        effect = NONE if cls is A.CostCenter else CHANGES
        for name in sorted(b.keys() - a.keys()):
            out.append(Change("billing", name, "added", f"{kind} {name} added", effect, (decl_text(b[name]),)))
        for name in sorted(a.keys() - b.keys()):
            out.append(Change("billing", name, "removed", f"{kind} {name} removed", effect, (decl_text(a[name]),)))
        for name in sorted(a.keys() & b.keys()):
            if a[name] != b[name]:
                out.append(Change("billing", name, "changed", f"{kind} {name} changed", effect,
                                  (f"was: {decl_text(a[name])}", f"now: {decl_text(b[name])}")))
    return out


# --------------------------------------------------------------------------- routes


def _residue(a: A.Cond | None, b: A.Cond | None) -> tuple[list[str], str] | None:
    """Requests ``a`` matches and ``b`` does not, as disjuncts in words, and how sure that is (NONE when
    there are none at all, CHANGES when some surely exist, MAY when opaque tests might rule them out).
    None when the condition is too large to expand."""
    if a is None:
        cond: A.Cond | None = A.Not(b) if b is not None else None
        if cond is None:
            return [], NONE
    else:
        cond = a if b is None else A.And((a, A.Not(b)))
        if b is None:
            return [], NONE  # b matches everything
    try:
        conjs = conjunctions(cond)
    except TooLarge:
        return None
    if not conjs:
        return [], NONE
    sure = any(not any(k[0] == "~" for k in (conj_region(c) or {})) for c in conjs)
    return [region_text(conj_region(c) or {}) for c in conjs], CHANGES if sure else MAY


def _when(name: str, a: A.Cond | None, b: A.Cond | None) -> list[Change]:
    if a == b:
        return []
    wider, narrower = _residue(b, a), _residue(a, b)
    shown = (f"was: {fmt.cond(a) if a is not None else 'always'}", f"now: {fmt.cond(b) if b is not None else 'always'}")
    if wider is None or narrower is None:
        return [Change("route", name, "changed", f"route {name}: condition changed (too large to compare)",
                       MAY, shown)]
    out = []
    if wider[0]:
        out.append(Change("route", name, "widened", f"route {name} now also matches requests where "
                          + " or ".join(f"({t})" for t in wider[0][:5]), wider[1], shown))
    if narrower[0]:
        out.append(Change("route", name, "narrowed", f"route {name} no longer matches requests where "
                          + " or ".join(f"({t})" for t in narrower[0][:5]), narrower[1], shown))
    if not out:
        out.append(Change("route", name, "rewritten", f"route {name}: condition rewritten, equivalent", NONE, shown))
    return out


def _action(name: str, a: A.Action, b: A.Action) -> list[Change]:
    if a == b:
        return []
    was, now = fmt.action(a), fmt.action(b)
    if isinstance(a, A.Split) and isinstance(b, A.Split):
        text = f"route {name}: split weights changed" if [x.model for x in a.arms] == [x.model for x in b.arms] \
            and a.sticky == b.sticky else f"route {name}: split changed"
    elif isinstance(a, A.Ramp) and isinstance(b, A.Ramp):
        text = f"route {name}: ramp schedule changed"
    elif isinstance(a, A.Choose) and isinstance(b, A.Choose):
        text = f"route {name}: choice changed"
    else:
        text = f"route {name}: action changed"
    return [Change("route", name, "changed", text, CHANGES, (f"was: {was}", f"now: {now}"))]


def _route_changes(a: A.Route, b: A.Route) -> list[Change]:
    name = a.name
    out = _when(name, a.when, b.when) + _action(name, a.action, b.action)
    if a.fallback != b.fallback:
        out.append(Change("route", name, "changed", f"route {name}: fallback chain changed", CHANGES,
                          (f"was: {_v(a.fallback)}", f"now: {_v(b.fallback)}")))
    details = _field_changes(a, b, {"retries": "retries", "timeout": "timeout", "retry_on": "retry on"})
    if details:
        out.append(Change("route", name, "changed", f"route {name}: retries/timeouts changed", CHANGES, tuple(details)))
    if a.meta != b.meta:
        out.append(Change("route", name, "changed", f"route {name}: description/owner/ticket changed", NONE,
                          tuple(_field_changes(a.meta, b.meta, {"description": "description", "owner": "owner",
                                                                 "ticket": "ticket"}))))
    return out


def _ordered(ps: A.PolicySet) -> list[A.Route]:
    routes = ps.of(A.Route)
    return [r for r in routes if not r.is_default] + [r for r in routes if r.is_default]


def _reorders(olds: list[A.Route], news: list[A.Route], compiled: tuple[Any, Any] | None) -> list[Change]:
    """Pairs of routes present in both whose relative order flipped, and what that does."""
    common = [r.name for r in olds if any(s.name == r.name for s in news)]
    a = {r.name: r for r in olds}
    b = {r.name: r for r in news}
    pos_old = {n: i for i, n in enumerate(r.name for r in olds)}
    pos_new = {n: i for i, n in enumerate(r.name for r in news)}
    out = []
    for i, x in enumerate(common):
        for y in common[i + 1:]:
            if pos_new[x] < pos_new[y]:
                continue
            effect, why = _swap_effect(x, y, a, b, pos_old, pos_new, compiled)
            out.append(Change("order", f"{x}/{y}", "reordered", f"route {y} now comes before route {x}: {why}", effect))
    return out


def _swap_effect(x: str, y: str, a: dict[str, A.Route], b: dict[str, A.Route], pos_old: dict[str, int],
                 pos_new: dict[str, int], compiled: tuple[Any, Any] | None) -> tuple[str, str]:
    if disjoint(a[x].when, a[y].when) and disjoint(b[x].when, b[y].when):
        return NONE, "no request matches both, so no decision changes"
    # Requests matching both go to the other route now, unless an earlier route (before both in both
    # orders, with its condition unchanged) catches every one of them.
    before = [n for n in pos_old if n in pos_new and n in b and pos_old[n] < min(pos_old[x], pos_old[y])
              and pos_new[n] < min(pos_new[x], pos_new[y]) and a[n].when == b[n].when]
    both = A.And(tuple(c for c in (b[x].when, b[y].when) if c is not None)) if (b[x].when or b[y].when) else None
    try:
        overlap = dnf(both)
        caught = RegionUnion()
        for n in before:
            for conj in dnf(b[n].when):
                caught.add(conj, frozenset())
    except Undecided:
        return MAY, "too large to compare: requests matching both may now be decided differently"
    if all(caught.cover(r) is not None for r in overlap):
        return NONE, "every request matching both is caught by an earlier route, so no decision changes"
    for r in overlap if compiled is not None else ():
        for facts in witnesses(r):
            if _decided(compiled[0], facts) != _decided(compiled[1], facts):  # type: ignore[index]
                return CHANGES, (f"requests matching both are now decided by {y} instead of {x}, e.g. "
                                 f"{_facts_text(facts)}")
    opaque = any(k[0] == "~" for r in overlap for k in r)
    if opaque or before:
        return MAY, f"requests matching both may now be decided by {y} instead of {x}"
    return CHANGES, f"requests matching both are now decided by {y} instead of {x}"


def _facts_text(f: Any) -> str:
    parts = [f"{k} {v!r}" for k in ("model", "team", "project", "app", "cost_center", "key", "user", "task")
             if (v := getattr(f, k)) is not None]
    parts += [f"header {k!r} = {v!r}" for k, v in f.headers.items()] + [f"tag {t!r}" for t in sorted(f.tags)]
    parts += [k for k in ("stream", "tools") if getattr(f, k)]
    parts.append(f"{f.prompt_tokens} prompt tokens at {f.now:%Y-%m-%d %H:%M} UTC")
    return "a request with " + ", ".join(parts)


def _decided(policy: Any, facts: Any) -> tuple[Any, ...]:
    d = policy.decide(facts)
    return (d.rule, d.arm, d.error, d.plan.strategy, tuple(t.model for t in d.plan.candidates),
            tuple(t.model for t in d.plan.fallback))


def _compile(ps: A.PolicySet) -> Any:
    from .compile import compile_policy
    from .errors import PolicyError

    try:
        return compile_policy(ps, "diff")
    except (PolicyError, Exception):  # noqa: BLE001 - an unchecked policy: no witnesses, only the algebra
        return None


def diff(old: A.PolicySet, new: A.PolicySet, old_name: str = "OLD", new_name: str = "NEW") -> DiffResult:
    changes: list[Change] = []
    routes_new = _ordered(new)
    requested = any(isinstance(r.action, A.Use) and r.action.model == A.REQUESTED
                    for r in _ordered(old) + routes_new)
    used = {m.provider for m in old.of(A.Model) + new.of(A.Model)}
    changes += _providers(old, new, used)
    changes += _models(old, new, requested)
    changes += _scoped("budget", old.of(A.Budget), new.of(A.Budget))
    changes += _scoped("limit", old.of(A.Limit), new.of(A.Limit))
    changes += _billing(old, new)
    ra, rb = _by(_ordered(old), lambda r: r.name), _by(routes_new, lambda r: r.name)
    for r in routes_new:
        if r.name not in ra:
            changes.append(Change("route", r.name, "added", f"route {r.name} added", CHANGES, (route_head(r),)))
    for r in _ordered(old):
        if r.name not in rb:
            changes.append(Change("route", r.name, "removed", f"route {r.name} removed", CHANGES, (route_head(r),)))
    for r in _ordered(old):
        if r.name in rb and r != rb[r.name]:
            changes += _route_changes(r, rb[r.name])
    pa, pb = _compile(old), _compile(new)
    changes += _reorders(_ordered(old), routes_new, (pa, pb) if pa is not None and pb is not None else None)
    return DiffResult(old_name, new_name, changes)


def diff_sources(old: str, new: str) -> DiffResult:
    from .sources import SourceError, load_source

    sets = []
    for spec in (old, new):
        try:
            sets.append(load_source(spec))
        except SourceError as e:
            raise DiffError(e.lines) from None
    return diff(sets[0], sets[1], old, new)


# --------------------------------------------------------------------------- output

_ORDER = ("provider", "model", "budget", "limit", "billing", "route", "order")
_TITLES = {"provider": "Providers", "model": "Models", "budget": "Budgets", "limit": "Rate limits", "billing": "Cost centers and shared costs",
           "route": "Routes", "order": "Route order"}


def render(result: DiffResult, form: str = "text") -> str:
    if form == "json":
        return json.dumps({"old": result.old, "new": result.new, "equivalent": result.equivalent,
                           "changes": [c.as_json() for c in result.changes]}, indent=2, ensure_ascii=False) + "\n"
    md = form == "md"
    lines = [f"## Policy diff: `{result.old}` → `{result.new}`" if md else f"policy diff: {result.old} -> {result.new}"]
    if not result.changes:
        lines.append("" if md else "")
        lines.append("No change: the two policies are the same (formatting and comments aside).")
        return "\n".join(lines) + "\n"
    verdict = ("Equivalent: no request is decided differently." if result.equivalent else
               f"{sum(c.effect != NONE for c in result.changes)} of {len(result.changes)} changes have an effect.")
    lines += ["", verdict]
    for kind in _ORDER:
        group = [c for c in result.changes if c.kind == kind]
        if not group:
            continue
        lines += ["", f"### {_TITLES[kind]}" if md else f"{_TITLES[kind]}:"]
        for c in group:
            tag = {NONE: "no effect", CHANGES: "changes requests", MAY: "may change requests"}[c.effect]
            if c.kind == "billing" and c.effect == CHANGES:
                tag = "changes the bill"
            lines.append(f"- {c.text} ({'**' + tag + '**' if md and c.effect != NONE else tag})")
            for d in c.details:
                lines.append(f"  - `{d}`" if md else f"    {d}")
    return "\n".join(lines) + "\n"
