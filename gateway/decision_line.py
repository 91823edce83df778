"""The decision-log line of one finished request (schemas/decision-log.schema.json): what a reviewer and
`simulate` need to explain it later — who (key id and scope, never the key), which policy version and
rule, the conditions that decided it, the facts it used, the candidates and why each was passed over,
the attempts, the outcome, tokens, cost and latency.

`line(s, ...)` is built on the recording step (cheap: no formatting of conditions); `complete(record,
policy, facts)` adds the conditions from a traced re-decision of the same facts, run when the line is
written (the next loop turn, off the response's path). With content logging on, the prompt (and a
non-streamed completion) are added after the redaction pass of gateway/redact.py.
"""
from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from .redact import redact, redact_messages

if TYPE_CHECKING:
    from .record import Served

_HEADER_TEST = re.compile(r'header\s+"([^"]+)"')


def line(s: Served, status: int, error: BaseException | None, total: float, fallback_version: str,
         log_content: bool = False) -> dict[str, Any]:
    d = s.decision
    p = s.principal
    record: dict[str, Any] = {
        "ts": round(time.time(), 3),
        "request_id": s.request_id,
        "route": s.route,
        "key": p.key_id if p else None,
        "team": p.team if p else None,
        "project": getattr(p, "project", None) if p else None,
        "app": getattr(p, "app", None) if p else None,
        "cost_center": getattr(p, "cost_center", None) if p else None,
        "policy_version": d.policy_version if d else fallback_version,
        "rule": d.rule if d else None,
        "rule_at": f"{d.rule_span.file}:{d.rule_span.line}:{d.rule_span.col}" if d else None,
        "arm": d.arm if d else None,
        **({"ramp_guard": s.guard} if s.guard else {}),
        "requested": d.facts.model if d else None,
        "model": None if s.model == "-" else s.model,
        "served": s.target.as_json() if s.target is not None else None,
        "stream": s.stream,
        "candidates": _candidates(s),
        # Left out by the decision (a quality bar for the request's task) or by the body's needs (capabilities).
        "passed_over": [{"model": m, "reason": r} for m, r in d.passed] if d else [],
        "attempts": [a.as_json() for a in s.attempts],
        "status": status,
        "latency_ms": round(total * 1000, 3),
        "upstream_ms": round(s.upstream * 1000, 3),
        "ttft_ms": None if s.ttft is None else round(s.ttft * 1000, 3),
    }
    usage = s.final_usage()
    record["usage"] = usage.as_json() if usage is not None else None
    record["cost"], record["currency"] = _cost(s, usage)
    if error is not None:
        record["error"] = getattr(error, "code", None) or type(error).__name__
    if log_content:
        record["content"] = _content(s)
    return record


def complete(record: dict[str, Any], policy: Any, facts: Any) -> dict[str, Any]:
    """Add the conditions that decided the request and the facts they read (when it was decided)."""
    if policy is None or facts is None:
        return record
    try:
        traced = policy.decide(facts, trace=True)
    except Exception:  # the line still goes out, without its conditions
        return record
    conditions = [t.as_json() for t in traced.trace if t.rule != "(dispatch)"]
    read = {h.lower() for c in conditions for h in _HEADER_TEST.findall(c["test"])}
    record["conditions"] = conditions
    record["facts"] = {
        "task": facts.task,
        "complexity": getattr(facts, "complexity", None),
        "task_evidence": list(getattr(facts, "evidence", ())[:3]),
        "prompt_tokens": facts.prompt_tokens,
        "tags": sorted(facts.tags),
        "headers": {k: v for k, v in facts.headers.items() if k in read},
        "stream": facts.stream,
        "tools": facts.tools,
        "user_set": facts.user is not None,
    }
    return record


def _candidates(s: Served) -> list[dict[str, Any]]:
    """Every target of the plan in order, with what became of it."""
    d = s.decision
    if d is None:
        return []
    tried: dict[tuple[str, str], str] = {}
    for a in s.attempts:
        tried[(a.target.provider, a.target.upstream)] = a.outcome
    served = (s.target.provider, s.target.upstream) if s.target is not None and s.status < 400 else None
    ranked: dict[tuple[str, str], str] = {}  # the executor's why: strategy score, circuit, context
    for t, reason in s.why:
        ranked.setdefault((t.provider, t.upstream), reason)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for role, targets in (("candidate", d.plan.candidates), ("fallback", d.plan.fallback)):
        for t in targets:
            k = (t.provider, t.upstream)
            if k in seen:
                continue
            seen.add(k)
            if k == served:
                why = "served"
            elif k in tried:
                why = f"failed: {tried[k]}"
            elif ranked.get(k, "").startswith("passed over"):
                why = ranked[k]
            else:
                why = "not tried: " + ("an earlier target served" if served else "the request ended first")
            entry = {**t.as_json(), "role": role, "outcome": why}
            if ranked.get(k) not in (None, "ordered", "fallback"):  # those say no more than the role
                entry["why"] = ranked[k]
            out.append(entry)
    return out


def _cost(s: Served, usage: Any) -> tuple[str | None, str | None]:
    if usage is None or s.target is None:
        return None, None
    from .billing.pricing import cost

    c = cost(s.target, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
    return (None, None) if c is None else (str(c), "USD")


def _content(s: Served) -> dict[str, Any]:
    body = s.body or {}
    kinds: set[str] = set()
    out: dict[str, Any] = {}
    masked: list[str] = []
    if isinstance(body.get("messages"), list):
        out["messages"], k = redact_messages(body["messages"])
        if k:
            masked.append("messages")
        kinds |= k
    elif "input" in body:
        raw = body["input"]
        text, k = redact(raw if isinstance(raw, str) else " ".join(x for x in raw if isinstance(x, str))
                         if isinstance(raw, list) else "")
        out["input"] = text
        if k:
            masked.append("input")
        kinds |= k
    response = getattr(s, "response", None)
    if isinstance(response, dict):
        texts = []
        for c in response.get("choices") or ():
            msg = c.get("message") if isinstance(c, dict) else None
            if isinstance(msg, dict) and isinstance(msg.get("content"), str):
                texts.append(msg["content"])
        if texts:
            text, k = redact("\n".join(texts))
            out["completion"] = text
            if k:
                masked.append("completion")
            kinds |= k
    out["masked_fields"] = masked
    out["masked_kinds"] = sorted(kinds)
    return out


__all__ = ["complete", "line"]
