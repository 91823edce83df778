"""What a request needs of a model, and the plan cut down to the targets that have it.

    need = needs(body, embeddings=False)       # frozenset: "tools", "vision", "json" / {"embeddings"}
    decision = restrict(decision, body, embeddings=False, kind_of=lambda provider: "openai")

A request needs ``embeddings`` on /v1/embeddings; ``tools`` when it sends tools (or legacy functions);
``vision`` when a message carries an image part; ``json`` for ``response_format`` json_schema. A target
serves it when its model declares those capabilities (``supports ...`` in the policy) — or declares none
at all: a model with no ``supports`` clause is taken to serve everything (its capabilities are unknown,
and policies written before capabilities were enforced keep working). dsl/check_capabilities.py holds the
same rule for `check`'s warning.

An embeddings request that asks for ``dimensions`` also needs a model that can give that many: the
model's known maximum (text-embedding-3-small 1536, text-embedding-3-large 3072, ...; looked up by the
upstream name, then by the alias, so a mock serving "text-embedding-3-small" is held to OpenAI's bound),
else its provider kind's default (DEFAULT_MAX_DIMENSIONS). The policy language has no per-model dimensions yet; when it
does, a declared value should replace the table.

`restrict` keeps the candidates and fallbacks that serve the request, in order, and adds one trace step
per target dropped (so the decision log and `decide` say why a target was never tried); with none left
it raises: 404 model_not_found when no target can embed (OpenAI's answer for a chat model on
/v1/embeddings), else 400 naming the parameter that needs the missing capability.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Mapping

from dsl.decision import Decision, Target, TraceStep

from .errors import InvalidRequest, NotFound

# Embedding dimensions by upstream model name (OpenAI's and Google's published maxima).
KNOWN_MAX_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
    "text-embedding-004": 768,
    "text-embedding-005": 768,
    "text-multilingual-embedding-002": 768,
    "gemini-embedding-001": 3072,
    "embedding-001": 768,
}
# By provider kind, for models not in the table: the largest any model of that API returns.
DEFAULT_MAX_DIMENSIONS = {"openai": 3072, "azure": 3072, "gemini": 3072, "mock": 3072}
FALLBACK_MAX_DIMENSIONS = 3072

WHAT = {"tools": "tools", "vision": "image input", "json": "JSON schema output", "embeddings": "embeddings"}


def serves(target: Target, capability: str) -> bool:
    """Does ``target``'s model have ``capability``? A model that declares none is taken to have all."""
    caps = target.capabilities
    return not caps or capability in caps


def max_dimensions(target: Target, kind: str | None) -> int:
    """The most embedding dimensions ``target`` can return."""
    known = KNOWN_MAX_DIMENSIONS.get(target.upstream) or KNOWN_MAX_DIMENSIONS.get(target.model)
    if known is not None:
        return known
    return DEFAULT_MAX_DIMENSIONS.get(kind or "", FALLBACK_MAX_DIMENSIONS)


def _image_param(messages: Any) -> str | None:
    """The param of the first image part of a message, or None."""
    for i, m in enumerate(messages or ()):
        content = m.get("content") if isinstance(m, Mapping) else None
        if isinstance(content, list):
            for j, part in enumerate(content):
                if isinstance(part, Mapping) and part.get("type") == "image_url":
                    return f"messages[{i}].content[{j}]"
    return None


def needs(body: Mapping[str, Any], *, embeddings: bool) -> dict[str, str]:
    """Capability → the parameter that needs it."""
    if embeddings:
        return {"embeddings": "model"}
    out: dict[str, str] = {}
    if body.get("tools"):
        out["tools"] = "tools"
    elif body.get("functions"):
        out["tools"] = "functions"
    image = _image_param(body.get("messages"))
    if image is not None:
        out["vision"] = image
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") == "json_schema":
        out["json"] = "response_format"
    return out


def restrict(decision: Decision, body: Mapping[str, Any], *, embeddings: bool,
             kind_of: Callable[[str], str | None] = lambda provider: None) -> Decision:
    """``decision`` with only the targets that serve ``body`` (itself when all do); raises when none does."""
    if decision.error is not None:
        return decision
    need = needs(body, embeddings=embeddings)
    dims = body.get("dimensions") if embeddings else None
    if not need and dims is None:
        return decision
    plan = decision.plan
    dropped: list[tuple[Target, str]] = []
    missing: dict[str, str] = {}  # capability → param, of the ones some target lacked
    best_dims = 0

    def keep(t: Target) -> bool:
        nonlocal best_dims
        for cap, param in need.items():
            if not serves(t, cap):
                missing.setdefault(cap, param)
                dropped.append((t, f"supports {cap}"))
                return False
        if dims is not None:
            limit = max_dimensions(t, kind_of(t.provider))
            if dims > limit:
                best_dims = max(best_dims, limit)
                dropped.append((t, f"dimensions {dims} <= {limit}"))
                return False
        return True

    candidates = tuple(t for t in plan.candidates if keep(t))
    fallback = tuple(t for t in plan.fallback if keep(t))
    if not dropped:
        return decision
    if not candidates and not fallback:
        raise _none_left(decision, missing, dims, best_dims)
    steps = tuple(TraceStep(decision.rule, f"{test} (`{t.model}` left out)", False, decision.rule_span)
                  for t, test in dropped)
    passed = tuple((t.model, f"lacks {test}") for t, test in dropped)
    return replace(decision, plan=replace(plan, candidates=candidates, fallback=fallback),
                   trace=decision.trace + steps, passed=decision.passed + passed)


def _none_left(decision: Decision, missing: dict[str, str], dims: Any, best_dims: int) -> Exception:
    asked = decision.facts.model
    name = f"`{asked}`" if isinstance(asked, str) and len(asked) <= 256 else "requested"
    if "embeddings" in missing:
        return NotFound(f"The model {name} does not support embeddings: no model this request can be routed "
                        "to declares `supports embeddings`.", param="model", code="model_not_found")
    if not missing:
        return InvalidRequest(f"Invalid value for 'dimensions': {dims} is above the maximum of {best_dims} "
                              f"for the model {name}.", param="dimensions", code="invalid_value")
    cap, param = next(iter(missing.items()))
    return InvalidRequest(f"The model {name} does not support {WHAT.get(cap, cap)} ('{param}'): no model this "
                          f"request can be routed to declares `supports {cap}`.", param=param,
                          code="unsupported_parameter")


__all__ = ["DEFAULT_MAX_DIMENSIONS", "KNOWN_MAX_DIMENSIONS", "max_dimensions", "needs", "restrict", "serves"]
