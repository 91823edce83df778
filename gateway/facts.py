"""Facts for the policy: what the principal, the validated body and the headers say about one request.

Built by ``dsl.facts.facts_from_request``, the same function `open-router decide` uses, so the CLI and the
gateway can never disagree on a request's facts (see there: the prompt-token estimate, header cleaning,
tags). What stays here is the gateway's side: the principal, and the optional task classifier.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable

from dsl.classify import Classification, classify
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

Classifier = Callable[[dict], "Classification | str | None"]


def load_classifier() -> Classifier | None:
    """The task classifier: ``dsl.classify.classify`` (the one `open-router decide` uses)."""
    return classify


class FactsBuilder:
    """Builds Facts; holds the task classifier (looked up once per app, not per request) and counts its
    failures: a classifier that raises (or gives up on a body) leaves the task unknown, never the request."""

    def __init__(self, classifier: Classifier | None = None) -> None:
        self.classifier = classifier
        self.classified = 0
        self.unknown = 0  # bodies the classifier could not read, or crashes: task unknown, request served

    def _classify(self, body: dict) -> Classification | None:
        if self.classifier is None:
            return None
        self.classified += 1
        try:
            c = self.classifier(body)
        except Exception:  # a classifier bug must not fail the request; routing just lacks the task
            c = None
        if isinstance(c, str):  # a classifier that names only the task
            c = Classification(task=c)
        if c is None or c.task is None:
            self.unknown += 1
            return None
        return c

    def chat(self, principal: Principal, body: dict, headers: Iterable[tuple[str, str]], request_id: str,
             now: datetime | None = None) -> Facts:
        return facts_from_request(
            body, kind="chat",
            team=principal.team, project=principal.project, app=principal.app,
            cost_center=principal.cost_center, key=principal.key_id,
            headers=headers, request_id=request_id, now=now, classification=self._classify(body),
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
