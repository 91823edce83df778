"""The order a plan's targets are tried in, by strategy and live status, and why each was taken or passed
over. The executor (gateway/router.py) walks what `rank` returns.

    cheapest     lowest expected cost of THIS request at each target's prices (gateway/billing/pricing.py
                 `cost`): the prompt estimate (the share the deployment usually serves from the provider's
                 cache at the cached-input price) plus the expected completion — the request's
                 max_completion_tokens / max_tokens, else the mean completion length observed for the
                 request's task on that deployment (gateway/health.py), else DEFAULT_COMPLETION tokens.
                 Unpriced targets sort last, and say so; ties keep the compiler's order (static price).
    fastest      lowest sliding-window p50 (or p95: `choose fastest by p95`); a deployment with fewer than
                 the board's explore_samples recent successes first, fewest first (exploration)
    least_busy   fewest requests in flight
    round_robin  rotated by a per-rule counter
    ordered      as given (use, split and ramp arms)

Then the fallback chain, de-duplicated by deployment. Whatever the strategy, a deployment whose breaker is
open (or half-open with its probe out) or that the upstream throttled (a 429 with Retry-After still
running) goes last: tried only when everything else failed. Targets whose context window cannot hold the
prompt plus the requested completion are dropped (`fitting`). Targets lacking a capability the body needs
were dropped before, when the pipeline restricted the decision (gateway/capabilities.py); the decision's
own ``passed`` (quality bars) and those come first in ``why``.

Rate limits of a deployment are seen only as the upstream reports them (429 + Retry-After): the policy
language declares no per-deployment quotas, so there is nothing else to count against.
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any, Mapping

from dsl.decision import Decision, Target

from .billing.pricing import cost
from .errors import InvalidRequest
from .health import CLOSED, HealthBoard, ModelStatus

__all__ = ["DEFAULT_COMPLETION", "Why", "completion_settler", "expected_completion", "fitting", "rank",
           "requested_completion"]

log = logging.getLogger("open_router.router")

DEFAULT_COMPLETION = 256  # tokens `cheapest` expects when the request names no cap and nothing was observed
Why = tuple[Target, str]  # a target and what became of it in the ordering ("cheapest: $0.0012 ...")
_UNPRICED = Decimal("Infinity")


def requested_completion(body: Mapping[str, Any]) -> int:
    """The completion tokens a chat body asks for (max_completion_tokens, else max_tokens; 0 when neither)."""
    for name in ("max_completion_tokens", "max_tokens"):
        v = body.get(name)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return 0


def expected_completion(body: Mapping[str, Any], status: ModelStatus, task: str | None) -> tuple[int, str]:
    """(tokens, where the figure came from) for `cheapest`."""
    asked = requested_completion(body)
    if asked:
        return asked, "max_tokens"
    seen = status.completion_mean(task)
    if seen is not None:
        return int(seen + 0.5), f"mean observed for task {task or 'unknown'}"
    return DEFAULT_COMPLETION, "default"


def _expected_cost(t: Target, s: ModelStatus, prompt: int, body: Mapping[str, Any],
                   task: str | None) -> tuple[Decimal, str]:
    completion, source = expected_completion(body, s, task)
    ratio = s.cached_ratio
    cached = int(prompt * ratio) if ratio else 0
    c = cost(t, prompt, completion, cached)
    if c is None:
        return _UNPRICED, f"cheapest: unpriced, sorted last ({prompt} prompt + {completion} completion tokens)"
    cached_note = f", ~{cached} cached" if cached else ""
    return c, f"cheapest: expected ${c:.6f} ({prompt} prompt{cached_note} + {completion} completion tokens, {source})"


def rank(decision: Decision, body: Mapping[str, Any] | None, health: HealthBoard,
         rr: dict[str, int]) -> tuple[list[Target], list[ModelStatus], list[Why]]:
    """The targets to try in order, their statuses, and why each is where it is (or was passed over)."""
    plan = decision.plan
    cands = plan.candidates
    strategy = plan.strategy
    status = health.status
    reasons: dict[int, str] | None = None  # id(target) → why, when the strategy has something to say
    if len(cands) < 2 or strategy == "ordered":
        ranked: Any = cands
    elif strategy == "cheapest":
        prompt = decision.facts.prompt_tokens
        task = decision.facts.task
        scored = []
        reasons = {}
        for i, t in enumerate(cands):
            c, why = _expected_cost(t, status(t), prompt, body or {}, task)
            scored.append((c, i, t))
            reasons[id(t)] = why
        scored.sort(key=lambda x: (x[0], x[1]))
        ranked = [t for _, _, t in scored]
    elif strategy == "fastest":
        explore = health.explore_samples
        q = 0.95 if plan.by == "p95" else 0.5
        label = "p95" if plan.by == "p95" else "p50"
        reasons = {}

        def speed(t: Target) -> tuple[int, float]:
            s = status(t)
            n = s.samples()
            if n < explore:
                reasons[id(t)] = f"fastest: exploring ({n} recent samples)"  # type: ignore[index]
                return (0, float(n))
            v = s.percentile(q) or 0.0
            reasons[id(t)] = f"fastest: {label} {v:.1f} ms over {n} samples"  # type: ignore[index]
            return (1, v)
        ranked = sorted(cands, key=speed)
    elif strategy == "least_busy":
        ranked = sorted(cands, key=lambda t: status(t).in_flight)
        reasons = {id(t): f"least busy: {status(t).in_flight} in flight" for t in cands}
    elif strategy == "round_robin":
        n = rr.get(decision.rule, 0)
        rr[decision.rule] = n + 1
        k = n % len(cands)
        ranked = cands[k:] + cands[:k]
    else:
        ranked = cands
    targets: list[Target] = []
    statuses: list[ModelStatus] = []
    why: list[Why] = []
    blocked: list[tuple[Target, ModelStatus, str]] | None = None
    role = strategy
    for group in (ranked, plan.fallback):
        for t in group:
            s = status(t)
            # De-duplicated by deployment (ModelStatus identity): a second alias of a deployment that just
            # failed would only fail again, and the identity test is cheaper than Target equality.
            if s in statuses or (blocked is not None and any(s is b for _, b, _ in blocked)):
                continue
            if s.state != CLOSED and not s.is_available():
                blocked = blocked or []
                blocked.append((t, s, f"circuit {s.circuit()}: tried last"))
                continue
            if s.throttled_until and (left := s.throttled_for()) > 0:
                blocked = blocked or []
                blocked.append((t, s, f"rate-limited by the upstream for {left:.1f} s more: tried last"))
                continue
            targets.append(t)
            statuses.append(s)
            why.append((t, reasons.get(id(t), role) if reasons is not None else role))
        role = "fallback"
        reasons = None
    if blocked:
        for t, s, note in blocked:
            targets.append(t)
            statuses.append(s)
            why.append((t, note))
    return targets, statuses, why


def fitting(targets: list[Target], statuses: list[ModelStatus], why: list[Why], prompt_tokens: int,
            body: Mapping[str, Any]) -> tuple[list[Target], list[ModelStatus], list[Why]]:
    """Context-window fallback: the targets whose ``context`` holds the prompt estimate plus the requested
    completion (a target without a declared context always fits); the others are marked in ``why``. None
    left: 400 context_length_exceeded, as OpenAI answers it."""
    need = prompt_tokens + requested_completion(body)
    keep_t: list[Target] = []
    keep_s: list[ModelStatus] = []
    out: list[Why] = []
    largest = 0
    for t, s, w in zip(targets, statuses, why):
        if t.context is None or t.context >= need:
            keep_t.append(t)
            keep_s.append(s)
            out.append(w)
        else:
            largest = max(largest, t.context)
            out.append((t, f"passed over: context {t.context} < {need} tokens (prompt ~{prompt_tokens} + completion)"))
    if not keep_t:
        err = InvalidRequest(
            f"This model's maximum context length is {largest} tokens. However, you requested about {need} "
            f"tokens (~{prompt_tokens} in the messages, {need - prompt_tokens} in the completion). Please "
            "reduce the length of the messages or completion.", param="messages", code="context_length_exceeded")
        err.why = tuple(out)  # type: ignore[attr-defined]
        raise err
    return keep_t, keep_s, out


def completion_settler(health: HealthBoard) -> Any:
    """A Recorder settler that feeds `cheapest`'s expectations: each answered chat request's completion
    length (the upstream's usage, not an estimate) under its task, on the deployment that served it."""

    def settle(s: Any) -> None:
        usage, target, d = s.usage, s.target, s.decision
        if usage is None or target is None or d is None or s.status >= 400 or usage.estimated:
            return
        if s.route.endswith("/embeddings"):
            return
        health.status(target).observe_completion(d.facts.task, usage.completion_tokens, usage.prompt_tokens,
                                                 usage.cached_tokens)

    return settle
