"""`check`'s capability warning: routes that can send embeddings requests to models that cannot embed.

    W175  a route meant for embeddings (its condition asks for an embedding model by name, or it names a
          model that `supports embeddings`) that can also send them to a model declaring capabilities
          without `embeddings`; the gateway leaves such a model out of an embeddings request's plan, so
          the request fails over past it or, with nothing left, gets 404 model_not_found

A model is taken to embed when it declares `supports embeddings` or declares no capability at all (its
capabilities are unknown): the rule the gateway applies at request time (gateway/capabilities.py). A
`choose ... where supports embeddings` already filters, so its models are not judged. Routes that merely
could receive an embeddings request (any route can: `model == "gpt-4o"` on /v1/embeddings) are not
warned about; answering those with 404 is right.

Pure policy analysis: takes the PolicySet, returns Diagnostics; dsl/check.py's `check` calls it.
"""
from __future__ import annotations

from typing import Iterator

from . import ast as A
from .errors import Diagnostic, source_line

CODE = "W175"
EMBEDDINGS = "embeddings"


def _embeds(m: A.Model) -> bool:
    return not m.capabilities or EMBEDDINGS in m.capabilities


def _declared_embedder(m: A.Model) -> bool:
    return EMBEDDINGS in m.capabilities


def _asked_models(cond: A.Cond | None, negated: bool = False) -> Iterator[str]:
    """The model names a condition asks for positively (``model == "x"``, ``model in [...]``)."""
    if cond is None:
        return
    if isinstance(cond, A.Not):
        yield from _asked_models(cond.item, not negated)
    elif isinstance(cond, (A.And, A.Or)):
        for item in cond.items:
            yield from _asked_models(item, negated)
    elif negated:
        return
    elif isinstance(cond, A.Compare) and cond.fact.name == "model" and cond.op == "==":
        yield str(cond.value)
    elif isinstance(cond, A.In) and cond.fact.name == "model" and not cond.negated:
        yield from (str(v) for v in cond.values)
    elif isinstance(cond, A.Matches) and cond.fact.name == "model":
        yield cond.pattern


def _targets(r: A.Route) -> Iterator[tuple[str, A.Span]]:
    """(model alias, where it is named) for every model the route can send a request to."""
    a = r.action
    if isinstance(a, A.Use):
        if a.model != A.REQUESTED:
            yield a.model, a.span
    elif isinstance(a, A.Split):
        for arm in a.arms:
            yield arm.model, arm.span
    elif isinstance(a, A.Choose):
        if not any(f.what == "supports" and f.value == EMBEDDINGS for f in a.filters):
            for name in a.models:
                yield name, a.span
    elif isinstance(a, A.Ramp):
        yield a.model, a.span
        yield a.rest, a.span
    for name in r.fallback:
        yield name, r.span


def check_capabilities(ps: A.PolicySet) -> list[Diagnostic]:
    """W175 for every (route, model) pair where an embeddings route can reach a model that cannot embed."""
    models = {m.name: m for m in ps.of(A.Model)}
    embedders = {m.name for m in models.values() if _declared_embedder(m)}
    embedder_upstreams = {m.upstream for m in models.values() if _declared_embedder(m)}
    sources = {f.path: f.source for f in ps.files}
    out: list[Diagnostic] = []
    for r in ps.of(A.Route):
        targets = [(name, span) for name, span in _targets(r) if name in models]
        asked = list(_asked_models(r.when))
        for_embeddings = (any(name in embedders for name, _ in targets)
                          or any(a in embedders or a in embedder_upstreams or "embed" in a.lower() for a in asked))
        if not for_embeddings:
            continue
        seen: set[str] = set()
        for name, span in targets:
            m = models[name]
            if name in seen or _embeds(m):
                continue
            seen.add(name)
            who = "the default route" if r.is_default else f"route `{r.name}`"
            out.append(Diagnostic(
                CODE, "warning",
                f"{who} can send embeddings requests to `{name}`, which does not support embeddings",
                span, source_line(sources.get(span.file, ""), span.line),
                f"add `supports embeddings` to `{name}` if it embeds, or route embeddings to a model that does"))
    return out


__all__ = ["CODE", "check_capabilities"]
