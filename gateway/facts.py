"""Facts for the policy: what the principal, the validated body and the headers say about one request.

Built by ``dsl.facts.facts_from_request``, the same function `open-router decide` uses, so the CLI and the
gateway can never disagree on a request's facts (see there: the prompt-token estimate, header cleaning,
tags). What stays here is the gateway's side: the principal, and the optional task classifier.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable

from dsl.decision import Facts
from dsl.facts import (  # noqa: F401 - re-exported: the gateway's names for them
    MAX_TAGS,
    SECRET_HEADERS,
    TAGS_HEADER,
    clean_headers,
    estimate_chat_tokens,
    estimate_embedding_tokens,
    facts_from_request,
    parse_tags,
)

from .auth import Principal

Classifier = Callable[[dict], "str | None"]


def load_classifier() -> Classifier | None:
    """The task classifier: ``dsl.classify.classify`` (the one `open-router decide` uses), as body -> task."""
    from dsl.classify import classify

    return lambda body: classify(body).task


class FactsBuilder:
    """Builds Facts; holds the optional task classifier (looked up once per app, not per request)."""

    def __init__(self, classifier: Classifier | None = None) -> None:
        self.classifier = classifier

    def _task(self, body: dict) -> str | None:
        if self.classifier is None:
            return None
        try:
            return self.classifier(body)
        except Exception:  # a classifier bug must not fail the request; routing just lacks the task
            return None

    def chat(self, principal: Principal, body: dict, headers: Iterable[tuple[str, str]], request_id: str,
             now: datetime | None = None) -> Facts:
        return facts_from_request(
            body, kind="chat",
            team=principal.team, project=principal.project, app=principal.app,
            cost_center=principal.cost_center, key=principal.key_id,
            headers=headers, request_id=request_id, now=now, task=self._task(body),
        )

    def embeddings(self, principal: Principal, body: dict, headers: Iterable[tuple[str, str]],
                   request_id: str, now: datetime | None = None) -> Facts:
        # The classifier reads chat bodies; embeddings route by model, so no task.
        return facts_from_request(
            body, kind="embeddings",
            team=principal.team, project=principal.project, app=principal.app,
            cost_center=principal.cost_center, key=principal.key_id,
            headers=headers, request_id=request_id, now=now,
        )
