"""The checker's common ground: the diagnostics it collects, the source it points into, the literal secrets it
must mask, the declarations it has seen, and the small helpers every group of checks uses. The checks
themselves are grouped by concern in dsl/check_providers.py, dsl/check_budgets.py and dsl/check_routes.py,
and put together in dsl/check.py (whose docstring lists every code).
"""
from __future__ import annotations

import difflib
import re
from decimal import Decimal
from typing import Iterable

from . import ast as A
from .errors import Diagnostic
from .secrets import mask_key_shapes, redact_line
from .source import Source

__all__ = ["CheckerBase", "DEFAULT_RETRIED", "HTTP_TOKEN", "MAX_RETRIES", "action_models", "did_you_mean", "price",
           "severity"]

# The statuses the gateway retries on its own (gateway.errors.RETRYABLE_STATUSES); dsl must not import the
# gateway, so the set is repeated here and a test in tests/gateway can hold the two equal.
DEFAULT_RETRIED = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRIES = 10

HTTP_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def severity(code: str) -> str:
    return "error" if code.startswith("E") else "warning"


def did_you_mean(name: str, known: Iterable[str], what: str = "") -> str | None:
    choices = sorted(set(known))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean `{close[0]}`?"
    if what and choices:
        shown = ", ".join(choices[:8]) + (", ..." if len(choices) > 8 else "")
        return f"known {what}: {shown}"
    return None


def price(m: A.Model) -> Decimal:
    """The static price the checker compares (input + output per 1M); an unpriced model counts as 0."""
    return A.price_per_million(m)


class CheckerBase:
    """State and helpers shared by the groups of checks (the check_* methods of dsl/check.py's `_Checker`)."""

    def __init__(self, ps: A.PolicySet):
        self.ps = ps
        self.sources = {f.path: Source(f) for f in ps.files}
        self.diags: list[Diagnostic] = []
        self.secrets: dict[str, set[str]] = {}  # file → literal secrets to mask in shown source lines
        self.providers: dict[str, A.Provider] = {}
        self.models: dict[str, A.Model] = {}
        self.routes = [d for d in ps.decls() if isinstance(d, A.Route)]

    # ------------------------------------------------------------------ helpers
    def add(self, code: str, message: str, span: A.Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic(code, severity(code), message, span, None, hint))

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

    # ------------------------------------------------------------------ the answer
    def finish(self) -> list[Diagnostic]:
        out = []
        for d in self.diags:
            src = self.sources.get(d.span.file)
            line = src.line(d.span.line) if src is not None and src.text else None
            if line is not None:
                line = redact_line(line, self.secrets.get(d.span.file, ()))
            # A name taken from the policy (a cost center, a route) may itself be key-shaped: messages and
            # hints are masked like the source line, whatever check wrote them.
            hint = None if d.hint is None else mask_key_shapes(d.hint)
            out.append(Diagnostic(d.code, d.severity, mask_key_shapes(d.message), d.span, line, hint))
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
                         did_you_mean(m.provider, self.providers, "providers"))
            if m.tier is not None and m.tier not in A.TIERS:
                self.add("E104", f"model `{m.name}` has tier `{m.tier}`, which is not a tier",
                         self.at_after(m.span, "tier"), did_you_mean(m.tier, A.TIERS, "tiers"))
            for cap in sorted(m.capabilities - set(A.CAPABILITIES)):
                self.add("E105", f"model `{m.name}` supports `{cap}`, which is not a capability",
                         self.name_at(m.span, cap, after="supports"), did_you_mean(cap, A.CAPABILITIES, "capabilities"))

    def model_ref(self, name: str, where: A.Span, context: str) -> bool:
        """Report an unknown or misplaced model name; True when it names a declared model."""
        if name == A.REQUESTED:
            self.add("E110", f"`requested` can only follow `use`, not appear in {context}", where,
                     "name a model here; `use requested` serves the model the client asked for")
            return False
        if name not in self.models:
            self.add("E102", f"{context} names model `{name}`, which is not declared", where,
                     did_you_mean(name, self.models, "models"))
            return False
        return True

    # ------------------------------------------------------------------ what the routes reach
    def reachable(self) -> set[str]:
        """Models a route can send traffic to (every model, when something says `use requested`)."""
        if self.uses_requested():
            return set(self.models)
        out: set[str] = set()
        for r in self.routes:
            out |= set(action_models(r.action)) | set(r.fallback)
        return out & set(self.models)

    def uses_requested(self) -> bool:
        if not any(r.is_default for r in self.routes):
            return True  # the implicit default is `use requested`
        return any(isinstance(r.action, A.Use) and r.action.model == A.REQUESTED for r in self.routes)

    # ------------------------------------------------------------------ unused declarations
    def check_unused(self) -> None:
        used_models: set[str] = set()
        for r in self.routes:
            used_models |= set(action_models(r.action)) | set(r.fallback)
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


def action_models(a: A.Action) -> list[str]:
    if isinstance(a, A.Use):
        return [] if a.model == A.REQUESTED else [a.model]
    if isinstance(a, A.Split):
        return [arm.model for arm in a.arms]
    if isinstance(a, A.Choose):
        return list(a.models)
    if isinstance(a, A.Ramp):
        return [a.model, a.rest]
    return []
