"""The values that cross from the policy to the gateway: Facts in, Decision out.

Both are frozen and plain, so the gateway never needs the policy's internals and a Decision can be
logged as JSON and explained later (it names the rule and the policy version that decided it).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Mapping

from .ast import Budget, Limit, Span

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Facts:
    """What is known about a request when the policy decides. Header names and tags are lower-case."""

    model: str | None = None  # the model the client asked for
    team: str | None = None
    project: str | None = None
    app: str | None = None
    cost_center: str | None = None
    key: str | None = None  # the virtual key's id (never the secret)
    user: str | None = None  # the OpenAI `user` field
    task: str | None = None  # the recognised task type (classifier or x-open-router-task), e.g. "code", "chat"
    complexity: str | None = None  # low / medium / high (classifier)
    headers: Mapping[str, str] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    prompt_tokens: int = 0  # estimate
    stream: bool = False
    tools: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    request_id: str = ""
    complexity_score: float | None = None  # the classifier's 0..1 score behind `complexity`
    evidence: tuple[str, ...] = ()  # what decided task and complexity, for `decide` and the decision log

    # Derived facts, computed on demand (cheap, and the tree only asks for the ones it tests).
    @property
    def minutes(self) -> int:
        return self.now.hour * 60 + self.now.minute

    @property
    def day(self) -> date:
        return self.now.date()

    @property
    def weekday(self) -> str:
        return WEEKDAY_NAMES[self.now.weekday()]

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "team": self.team,
            "project": self.project,
            "app": self.app,
            "cost_center": self.cost_center,
            "key": self.key,
            "user": self.user,
            "task": self.task,
            "complexity": self.complexity,
            "complexity_score": self.complexity_score,
            "task_evidence": list(self.evidence),
            "headers": dict(self.headers),
            "tags": sorted(self.tags),
            "prompt_tokens": self.prompt_tokens,
            "stream": self.stream,
            "tools": self.tools,
            "now": self.now.isoformat(),
            "request_id": self.request_id,
        }


@dataclass(frozen=True)
class Target:
    """One model the gateway may call: the alias, the provider that serves it, the provider's model name,
    and what the policy version that compiled it says of the model: its prices (per 1M tokens, fixed at
    compile time, so a request is priced by the version that decided it), context window and
    capabilities. Equality and hashing are by (model, provider, upstream) alone."""

    model: str
    provider: str
    upstream: str
    price_in: Decimal = field(default=Decimal(0), compare=False)
    price_out: Decimal = field(default=Decimal(0), compare=False)
    context: int | None = field(default=None, compare=False)
    capabilities: frozenset[str] = field(default=frozenset(), compare=False)
    price_cached_in: Decimal | None = field(default=None, compare=False)  # None: cached input at price_in

    def as_json(self) -> dict[str, str]:
        return {"model": self.model, "provider": self.provider, "upstream": self.upstream}


# How the executor orders `candidates` before walking them:
#   "ordered"     as given (use / split / ramp)
#   "cheapest"    by this request's expected cost (prompt estimate + expected completion at the target's
#                 prices; unpriced last), ties in the compiler's order (static price, then as written)
#   "fastest"     by the live window's latency percentile (``Plan.by``: p50, or p95), lowest first; a
#                 deployment with too little data first (exploration)
#   "least_busy"  by in-flight requests, fewest first
#   "round_robin" rotated by a per-rule counter
EXEC_STRATEGIES = ("ordered", "cheapest", "fastest", "least_busy", "round_robin")


@dataclass(frozen=True)
class Plan:
    """What to try, in what order: the candidates (ordered by `strategy`), then the fallback chain."""

    strategy: str
    candidates: tuple[Target, ...]
    fallback: tuple[Target, ...] = ()
    retries: int = 1  # extra attempts per target on a retryable failure
    timeout: Decimal | None = None  # seconds per attempt; None: the provider's own
    retry_on: tuple[int, ...] = ()  # upstream statuses retried beyond the standard retryable set
    by: str | None = None  # "fastest": the latency percentile it ranks on ("p50" when None, or "p95")

    def as_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "by": self.by,
            "candidates": [t.as_json() for t in self.candidates],
            "fallback": [t.as_json() for t in self.fallback],
            "retries": self.retries,
            "timeout": None if self.timeout is None else float(self.timeout),
            "retry_on": list(self.retry_on),
        }


@dataclass(frozen=True)
class TraceStep:
    """One condition the decision tested, where it is written, and what it came to."""

    rule: str
    test: str  # the condition as written, e.g. `team in ["eng", "platform"]`
    result: bool
    span: Span

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "test": self.test,
            "result": self.result,
            "at": f"{self.span.file}:{self.span.line}:{self.span.col}",
        }


@dataclass(frozen=True)
class Decision:
    """The outcome of `Policy.decide(facts)`.

    `error` is set (and `plan.candidates` empty) when the matched rule cannot produce a target, e.g.
    `use requested` for a model the policy does not know: the gateway answers 404 model_not_found.
    """

    rule: str
    rule_span: Span
    plan: Plan
    policy_version: str
    facts: Facts
    arm: str | None = None  # which split arm / ramp side was drawn, e.g. "sonnet"
    budgets: tuple[Budget, ...] = ()
    limits: tuple[Limit, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    error: str | None = None
    # Models the decision itself left out, with why (e.g. ("mini", "quality 0.70 < 0.8 for task code")); the
    # executor adds its own reasons (open circuit, context, capabilities) on the Outcome.
    passed: tuple[tuple[str, str], ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "rule_at": f"{self.rule_span.file}:{self.rule_span.line}:{self.rule_span.col}",
            "policy_version": self.policy_version,
            "arm": self.arm,
            "plan": self.plan.as_json(),
            "targets": [t.as_json() for t in self.plan.candidates + self.plan.fallback],
            "budgets": [
                {
                    "scope": b.scope,
                    "subject": b.subject,
                    "amount": str(b.amount),
                    "currency": b.currency,
                    "period": b.period,
                    "thresholds": [
                        {"percent": str(t.percent), "action": t.action, "target": t.target} for t in b.thresholds
                    ],
                }
                for b in self.budgets
            ],
            "limits": [
                {
                    "scope": lim.scope,
                    "subject": lim.subject,
                    "requests_per_minute": lim.requests_per_minute,
                    "tokens_per_minute": lim.tokens_per_minute,
                }
                for lim in self.limits
            ],
            "trace": [s.as_json() for s in self.trace],
            "passed_over": [{"model": m, "reason": why} for m, why in self.passed],
            "error": self.error,
            "facts": self.facts.as_json(),
        }
