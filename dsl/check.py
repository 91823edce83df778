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
    E109  a currency that is not an ISO 4217 code for money (dsl/currencies.py), e.g. USD
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
    E165  a budget threshold at 0% or below
    W165  a model without a price (its requests are recorded as unpriced); E220-E226 cost centers and shared
          costs: see dsl/check_costs.py
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
    W220  a task name the classifier never reports (did-you-mean; aliases name their task)

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
has no bound. Both tests are indexed rather than run over every pair of routes (see dsl/shadowing.py), and
give exactly what the pairwise definition (`shadow_reference` there) gives; W147 likewise compares a
ramp only with earlier ramps between the same two models whose conditions an index cannot rule out.

Secrets never appear in messages, and the source line shown under a diagnostic has literal secrets masked to
their first three characters and "…" (short ones entirely).
"""
from __future__ import annotations

from typing import Mapping

from . import ast as A
from .check_base import DEFAULT_RETRIED, did_you_mean
from .check_budgets import BudgetChecks
from .check_costs import CostChecks
from .check_providers import ProviderChecks
from .check_routes import RouteChecks
from .check_strategies import StrategyChecks
from .check_capabilities import check_capabilities
from .errors import Diagnostic, PolicyError
from .secrets import mask_key_shapes, redact_line

__all__ = ["check", "check_budget_subjects", "check_text", "DEFAULT_RETRIED"]


class _Checker(ProviderChecks, BudgetChecks, CostChecks, RouteChecks, StrategyChecks):
    """Every group of checks over one policy set, in a fixed order (later checks read what earlier ones
    recorded: the declared providers and models)."""

    def run(self) -> list[Diagnostic]:
        self.check_files()
        self.check_providers()
        self.check_models()
        self.check_budgets_and_limits()
        self.check_costs()
        self.check_routes()
        self.check_strategies()
        self.check_conditions()
        self.check_unused()
        return self.finish()


# =========================================================================== entry points


def check(ps: A.PolicySet) -> list[Diagnostic]:
    """Every finding for the policy set, sorted by file, line and column. Never raises on a parsed policy."""
    return sorted([*_Checker(ps).run(), *check_capabilities(ps)], key=lambda d: (d.span.file, d.span.line, d.span.col))


def check_text(text: str, path: str = "<policy>") -> list[Diagnostic]:
    """Parse one file and check it; a text that does not parse gives its syntax diagnostic instead."""
    from .syntax import parse_text  # the checker itself needs no parser: only this convenience does

    try:
        f = parse_text(text, path)
    except PolicyError as e:
        # A syntax error may sit on a line with a key on it: mask anything key-shaped before showing it.
        return [Diagnostic(d.code, d.severity, mask_key_shapes(d.message), d.span,
                           None if d.source_line is None else redact_line(d.source_line, ()), d.hint)
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
        hint = did_you_mean(d.subject, subjects) or f"create a key with --{d.scope.replace('_', '-')} {d.subject}"
        if d.span.file not in lines:
            lines[d.span.file] = sources.get(d.span.file, "").splitlines()
        got = lines[d.span.file]
        line = got[d.span.line - 1] if 1 <= d.span.line <= len(got) else None
        out.append(Diagnostic("W192", "warning", f"{what} for {d.scope} \"{d.subject}\": no key carries that "
                                                 f"{d.scope.replace('_', ' ')}", d.span,
                              None if line is None else redact_line(line, ()), hint))
    return sorted(out, key=lambda d: (d.span.file, d.span.line, d.span.col, d.code, d.message))
