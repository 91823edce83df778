"""Immutable AST of the policy language: one frozen dataclass per construct, each with its source span.

Equality ignores spans (``field(compare=False)``), so ``parse(fmt(x)) == parse(x)`` is a plain ``==``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Union


@dataclass(frozen=True)
class Span:
    """Where a node came from: 1-based line and column, end exclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOSPAN = Span("<generated>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NOSPAN, compare=False, repr=False)  # type: ignore[return-value]


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class EnvRef:
    """``env(NAME)``: a secret read from the gateway's environment, never written in a file."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Duration:
    """A duration as written (``30s``, ``500ms``, ``2m``); ``seconds`` is the value."""

    seconds: Decimal
    span: Span = _span()


# --------------------------------------------------------------------------- declarations

PROVIDER_KINDS = ("openai", "azure", "anthropic", "gemini", "mock")
CAPABILITIES = ("tools", "vision", "json", "embeddings")
TIERS = ("economy", "standard", "premium")  # ordered: economy < standard < premium
SCOPES = ("key", "team", "project", "app", "cost_center")
PERIODS = ("day", "week", "month")


@dataclass(frozen=True)
class Provider:
    name: str
    kind: str  # one of PROVIDER_KINDS
    base_url: str | None = None
    key: EnvRef | str | None = None  # a str here is a literal secret: the checker rejects it
    timeout: Duration | None = None
    headers: tuple[tuple[str, EnvRef | str], ...] = ()
    api_version: str | None = None  # azure
    span: Span = _span()


@dataclass(frozen=True)
class Model:
    name: str  # the alias clients and routes use
    provider: str
    upstream: str  # the provider's own model name (azure: the deployment)
    price_in: Decimal | None = None  # per 1M input tokens; None: no price declared (billed as unpriced)
    price_out: Decimal | None = None  # per 1M output tokens
    tier: str | None = None  # one of TIERS
    context: int | None = None  # context window, tokens
    capabilities: frozenset[str] = frozenset()
    span: Span = _span()
    price_cached_in: Decimal | None = None  # per 1M cached input tokens; None: at price_in
    # `quality code 0.86, math 0.78, default 0.7`: (task, score in 0..1) as written; "default" for the rest
    quality: tuple[tuple[str, Decimal], ...] = ()


QUALITY_DEFAULT = "default"  # the quality key that scores every task the model names no score for


def quality_for(m: Model, task: str | None) -> Decimal | None:
    """``m``'s declared quality for ``task`` (its `default` score when it names none for that task), or
    None when it declares neither: such a model fails every quality bar (a bar is a promise)."""
    found: Decimal | None = None
    for name, score in m.quality:
        if name == task:
            return score
        if name == QUALITY_DEFAULT:
            found = score
    return found


def price_per_million(m: Model) -> Decimal:
    """input + output price per 1M tokens, the static order of `choose cheapest` and of the downgrade
    check; a model without a price counts as 0 there (check warns about it: W165)."""
    return (m.price_in or Decimal(0)) + (m.price_out or Decimal(0))


@dataclass(frozen=True)
class Threshold:
    percent: Decimal
    action: str  # "alert" | "block" | "downgrade"
    target: str | None = None  # the model for "downgrade"
    span: Span = _span()


@dataclass(frozen=True)
class Budget:
    scope: str  # one of SCOPES
    subject: str  # the team / project / ... name
    amount: Decimal
    currency: str
    period: str  # one of PERIODS
    thresholds: tuple[Threshold, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class Limit:
    scope: str  # one of SCOPES
    subject: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    span: Span = _span()


@dataclass(frozen=True)
class CostCenter:
    """A cost center the bill has a section for (keys name it: `keys create --cost-center`)."""

    name: str
    description: str | None = None
    owner: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Shared:
    """A shared cost: a flat ``amount`` in ``currency`` per ``period``, or the usage of a shared scope
    (``scope`` ``subject``, e.g. team "platform"), split across cost centers by ``percentages`` ((cost
    center, percent) pairs) or, when None, in proportion to each cost center's direct usage."""

    name: str
    amount: Decimal | None = None
    currency: str | None = None
    period: str | None = None
    scope: str | None = None
    subject: str | None = None
    percentages: tuple[tuple[str, Decimal], ...] | None = None
    span: Span = _span()


# --------------------------------------------------------------------------- conditions

# Facts a condition can test. Discrete facts are hashed on by the compiler.
STRING_FACTS = ("model", "team", "project", "app", "cost_center", "key", "task", "complexity", "user", "weekday")
COMPLEXITIES = ("low", "medium", "high")  # the values of `complexity` (dsl/classify.py)
PARAM_FACTS = ("header", "tag")  # take a name: header "x-foo", tag "batch"
NUMBER_FACTS = ("prompt_tokens",)
BOOL_FACTS = ("stream", "tools")
TIME_FACTS = ("time",)  # "HH:MM" compared as minutes since midnight (UTC)
DATE_FACTS = ("date",)  # ISO date, compared as ordinal
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Fact:
    """A request fact: ``name`` from the lists above, ``param`` for header/tag names (lower-cased)."""

    name: str
    param: str | None = None
    span: Span = _span()

    def key(self) -> tuple[str, str | None]:
        return (self.name, self.param)


# A literal value in a condition. Times are ``TimeOfDay``, dates ``datetime.date``.
@dataclass(frozen=True)
class TimeOfDay:
    minutes: int  # since midnight

    def __str__(self) -> str:
        return f"{self.minutes // 60:02d}:{self.minutes % 60:02d}"


Value = Union[str, int, bool, TimeOfDay, date]


@dataclass(frozen=True)
class Compare:
    """``fact OP value`` with OP in == != < <= > >=."""

    fact: Fact
    op: str
    value: object
    span: Span = _span()


@dataclass(frozen=True)
class In:
    """``fact in [v, ...]`` (or ``not in`` when ``negated``)."""

    fact: Fact
    values: tuple[object, ...]
    negated: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class Matches:
    """``fact matches "regex"`` (Python ``re.search``)."""

    fact: Fact
    pattern: str
    span: Span = _span()


@dataclass(frozen=True)
class IsTrue:
    """A boolean fact on its own: ``stream``, ``tools``; ``tag "x"`` / ``header "x"`` mean present."""

    fact: Fact
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    item: "Cond"
    span: Span = _span()


@dataclass(frozen=True)
class And:
    items: tuple["Cond", ...]
    span: Span = _span()


@dataclass(frozen=True)
class Or:
    items: tuple["Cond", ...]
    span: Span = _span()


Cond = Union[Compare, In, Matches, IsTrue, Not, And, Or]


# --------------------------------------------------------------------------- actions

REQUESTED = "requested"  # `use requested`: the model the client asked for


@dataclass(frozen=True)
class Use:
    model: str  # an alias, or REQUESTED
    span: Span = _span()


@dataclass(frozen=True)
class Arm:
    percent: Decimal
    model: str
    span: Span = _span()


@dataclass(frozen=True)
class Sticky:
    """What a split hashes on: ``user``, ``key``, or ``header`` with a name."""

    by: str
    param: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Split:
    arms: tuple[Arm, ...]
    sticky: Sticky | None = None  # None: the request id decides, so each request draws anew
    span: Span = _span()


STRATEGIES = ("cheapest", "fastest", "least_busy", "round_robin")


@dataclass(frozen=True)
class Filter:
    """A where-clause of ``choose``: ``tier >= standard``, ``supports tools`` or ``quality >= 0.8``. Tier
    and supports are settled when the policy compiles; quality depends on the request's task, so it is
    applied when a request is decided (the compiler lays out one plan per task)."""

    what: str  # "tier" | "supports" | "quality"
    op: str | None = None  # for tier and quality: == != < <= > >=
    value: str = ""
    span: Span = _span()


@dataclass(frozen=True)
class Choose:
    strategy: str  # one of STRATEGIES
    models: tuple[str, ...]
    filters: tuple[Filter, ...] = ()
    span: Span = _span()
    by: str | None = None  # `choose fastest by p95`: the latency percentile (p50 when None)


CHOOSE_BY = ("p50", "p95")  # what `fastest` may rank on
GUARD_METRICS = ("error_rate", "p50", "p95", "ttft_p50", "ttft_p95")  # what a ramp's guard may test


@dataclass(frozen=True)
class GuardTest:
    """One test of a guard: ``error_rate > 5%`` (``percent`` set) or ``p95 > 4s`` (``duration`` set)."""

    metric: str  # one of GUARD_METRICS
    op: str  # > or >= (the checker rejects the others)
    percent: Decimal | None = None
    duration: Duration | None = None
    number: Decimal | None = None  # written without a unit: the checker asks for one
    span: Span = _span()


@dataclass(frozen=True)
class Guard:
    """``guard TEST or TEST over WINDOW [on MODEL]``: while any test holds for ``model``'s live status over
    the window (None: the ramp's new model), the ramp holds: requests drawn for the new model go to the
    rest. It resumes on its own once the tests no longer hold."""

    tests: tuple[GuardTest, ...]
    window: Duration
    model: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Ramp:
    """Move traffic to ``model``: ``start_percent`` on ``start``, rising linearly to ``end_percent`` on ``end``;
    the rest goes to ``rest``. Before ``start`` nothing moves; after ``end`` it stays at ``end_percent``."""

    model: str
    start_percent: Decimal
    start: date
    end_percent: Decimal
    end: date
    rest: str
    sticky: Sticky | None = None  # None: sticky by key, so one caller sees one model on a given day
    span: Span = _span()
    guard: Guard | None = None


Action = Union[Use, Split, Choose, Ramp]


# --------------------------------------------------------------------------- routes and files


@dataclass(frozen=True)
class Meta:
    description: str | None = None
    owner: str | None = None
    ticket: str | None = None


@dataclass(frozen=True)
class Route:
    name: str  # "default" for the default route
    when: Cond | None  # None: always (the default route, or a route with no `when`)
    action: Action
    fallback: tuple[str, ...] = ()
    retries: int | None = None
    timeout: Duration | None = None
    retry_on: tuple[int, ...] = ()  # extra upstream statuses to retry (e.g. 400), beyond the retryable set
    meta: Meta = field(default_factory=Meta)
    is_default: bool = False
    span: Span = _span()


Decl = Union[Provider, Model, Budget, Limit, CostCenter, Shared, Route]


@dataclass(frozen=True)
class PolicyFile:
    path: str
    decls: tuple[Decl, ...]
    source: str = field(default="", compare=False, repr=False)


@dataclass(frozen=True)
class PolicySet:
    """All files of a policy directory, in name order; declarations are merged in that order."""

    files: tuple[PolicyFile, ...]

    def decls(self) -> list[Decl]:
        return [d for f in self.files for d in f.decls]

    def of(self, kind: type) -> list:
        return [d for d in self.decls() if isinstance(d, kind)]
