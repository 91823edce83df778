"""What becomes of a Decision after the policy: a small pure model of the gateway's admission and executor,
for policy tests (dsl/testing.py) and replay (dsl/simulate.py), which cannot import the gateway.

- budgets: a budget that applies and has reached a threshold (spent % ≥ the threshold's %) acts by its
  highest reached `block` / `downgrade` threshold: `block` refuses (429 ``budget_exceeded``), `downgrade to
  M` serves M alone. `alert` never changes the outcome.
- rate limits: a limit refuses (429 ``rate_limit_exceeded``) once the requests already made this minute
  plus this one exceed its requests per minute, or the tokens already used plus this prompt's estimate
  exceed its tokens per minute.
- order: the executor's (gateway/router.py `Router.order`): candidates by strategy (fastest: lowest latency
  first, unknown latency first of all; least_busy: fewest in flight; round_robin: rotated by the rule's
  counter; ordered: as given), then the fallback chain, de-duplicated by deployment (provider, upstream),
  and targets whose circuit is open (or half-open with its probe out) last, in their order.
- context: targets whose context window is smaller than the prompt estimate are dropped; none left refuses
  (400 ``context_length_exceeded``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Mapping

from .ast import Budget, Limit, Threshold
from .decision import Decision, Plan, Target

__all__ = ["CIRCUITS", "ModelState", "Outcome", "REFUSALS", "budget_action", "limit_refuses", "order", "outcome"]

CIRCUITS = ("closed", "open", "half_open", "probing")  # probing: half-open with its one probe out
REFUSALS = ("budget_exceeded", "rate_limit_exceeded", "context_length_exceeded", "model_not_found", "no_route")


@dataclass(frozen=True)
class ModelState:
    """What the executor knows of one deployment: its circuit, latency EWMA (None: never measured), in-flight."""

    circuit: str = "closed"
    latency_ms: float | None = None
    in_flight: int = 0

    def available(self) -> bool:
        return self.circuit in ("closed", "half_open")


CLOSED = ModelState()


@dataclass(frozen=True)
class Outcome:
    """A decision as the gateway would carry it out: the targets in the order they would be tried, or the
    refusal (one of REFUSALS) and the budget or limit behind it; ``downgrade`` names the model a budget
    downgraded to."""

    decision: Decision
    order: tuple[Target, ...] = ()
    refusal: str | None = None
    downgrade: str | None = None
    because: str | None = None  # the budget / limit that acted, in words
    budget_alerts: tuple[str, ...] = field(default=())


def budget_action(budget: Budget, spent_percent: Decimal) -> Threshold | None:
    """The block / downgrade threshold of ``budget`` acting at ``spent_percent`` (the highest one reached)."""
    acting: Threshold | None = None
    for t in budget.thresholds:
        if t.action in ("block", "downgrade") and spent_percent >= t.percent:
            if acting is None or t.percent >= acting.percent:
                acting = t
    return acting


def limit_refuses(limit: Limit, requests_used: int, tokens_used: int, prompt_tokens: int) -> bool:
    if limit.requests_per_minute is not None and requests_used + 1 > limit.requests_per_minute:
        return True
    return limit.tokens_per_minute is not None and tokens_used + prompt_tokens > limit.tokens_per_minute


def scope_text(scope: str, subject: str) -> str:
    return f'{scope.replace("_", " ")} "{subject}"'


def order(plan: Plan, states: Mapping[tuple[str, str], ModelState], rr_count: int = 0) -> tuple[Target, ...]:
    """The executor's order of ``plan``'s targets given each deployment's state (missing: closed, unmeasured)."""
    cands = plan.candidates

    def st(t: Target) -> ModelState:
        return states.get((t.provider, t.upstream), CLOSED)

    if len(cands) < 2 or plan.strategy == "ordered":
        ranked = list(cands)
    elif plan.strategy == "fastest":
        ranked = sorted(cands, key=lambda t: st(t).latency_ms if st(t).latency_ms is not None else -1.0)
    elif plan.strategy == "least_busy":
        ranked = sorted(cands, key=lambda t: st(t).in_flight)
    elif plan.strategy == "round_robin":
        k = rr_count % len(cands)
        ranked = list(cands[k:] + cands[:k])
    else:
        ranked = list(cands)
    seen: set[tuple[str, str]] = set()
    first: list[Target] = []
    last: list[Target] = []
    for t in ranked + list(plan.fallback):
        dep = (t.provider, t.upstream)
        if dep in seen:
            continue
        seen.add(dep)
        (first if st(t).available() else last).append(t)
    return tuple(first + last)


def outcome(
    decision: Decision,
    *,
    targets: Mapping[str, Target],
    states: Mapping[tuple[str, str], ModelState] | None = None,
    spent: Mapping[tuple[str, str], Decimal] | None = None,
    used: Mapping[tuple[str, str], tuple[int, int]] | None = None,
    rr_count: int = 0,
) -> Outcome:
    """Carry out ``decision``: ``spent`` maps (scope, subject) to the percent of its budget spent, ``used``
    maps (scope, subject) to (requests, tokens) already used this minute; ``targets`` is the policy's
    alias → Target (for downgrades)."""
    if decision.error is not None:
        code = decision.error.split(":", 1)[0]
        return Outcome(decision, refusal=code if code in REFUSALS else code, because=decision.error)
    facts = decision.facts
    for lim in decision.limits:
        r, t = (used or {}).get((lim.scope, lim.subject), (0, 0))
        if limit_refuses(lim, r, t, facts.prompt_tokens):
            return Outcome(decision, refusal="rate_limit_exceeded",
                           because=f"limit {scope_text(lim.scope, lim.subject)}")
    plan = decision.plan
    downgrade: str | None = None
    alerts: list[str] = []
    for b in decision.budgets:
        pct = (spent or {}).get((b.scope, b.subject))
        if pct is None:
            continue
        if any(t.action == "alert" and pct >= t.percent for t in b.thresholds):
            alerts.append(scope_text(b.scope, b.subject))
        act = budget_action(b, pct)
        if act is None:
            continue
        what = f"budget {scope_text(b.scope, b.subject)} at {pct}% (threshold {act.percent}%)"
        if act.action == "block":
            return Outcome(decision, refusal="budget_exceeded", because=what, budget_alerts=tuple(alerts))
        if act.target and act.target in targets and downgrade is None:
            downgrade = act.target
            plan = Plan("ordered", (targets[act.target],), (), plan.retries, plan.timeout, plan.retry_on)
            because = what
    walk = order(plan, states or {}, rr_count)
    fits = tuple(t for t in walk if t.context is None or t.context >= facts.prompt_tokens)
    if walk and not fits:
        return Outcome(decision, refusal="context_length_exceeded", downgrade=downgrade,
                       because=f"the prompt (~{facts.prompt_tokens} tokens) fits no target's context window")
    return Outcome(decision, order=fits, downgrade=downgrade, because=because if downgrade else None,
                   budget_alerts=tuple(alerts))
