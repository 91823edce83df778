"""Facts for the policy: what the principal, the validated body and the headers say about one request.

Cheap by design (it runs on every request): the prompt-token estimate is characters / 4 over the message
text, headers are lower-cased once, and credentials (authorization, api-key, cookie, ...) never become
facts, so a decision log or a `decide` trace can never carry them.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Mapping

from dsl.decision import Facts

from .auth import Principal

# Headers that carry credentials or session state: never facts, never logged.
SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "api-key", "x-api-key", "cookie", "set-cookie",
    "x-goog-api-key", "anthropic-api-key", "openai-api-key",
})
TAGS_HEADER = "x-open-router-tags"
MAX_TAGS = 32

Classifier = Callable[[dict], "str | None"]


def load_classifier() -> Classifier | None:
    """``gateway.classify.classify`` when that module exists (it arrives with a later issue), else None."""
    try:
        from .classify import classify  # type: ignore[attr-defined]
    except ImportError:
        return None
    return classify


def _text_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    n = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                text = part.get("text")
                if isinstance(text, str):
                    n += len(text)
    return n


def estimate_chat_tokens(body: Mapping[str, Any]) -> int:
    chars = 0
    for msg in body.get("messages") or ():
        if isinstance(msg, dict):
            chars += _text_chars(msg.get("content"))
    return (chars + 3) // 4


def estimate_embedding_tokens(body: Mapping[str, Any]) -> int:
    value = body.get("input")
    if isinstance(value, str):
        return (len(value) + 3) // 4
    if isinstance(value, list) and value:
        first = value[0]
        if isinstance(first, str):
            return (sum(len(s) for s in value if isinstance(s, str)) + 3) // 4
        if isinstance(first, int):
            return len(value)  # already token ids
        if isinstance(first, list):
            return sum(len(v) for v in value if isinstance(v, list))
    return 0


def clean_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Lower-cased header map without credentials (repeated headers: the last wins)."""
    out: dict[str, str] = {}
    for name, value in headers:
        low = name.lower()
        if low not in SECRET_HEADERS:
            out[low] = value
    return out


def parse_tags(value: str | None) -> frozenset[str]:
    if not value:
        return frozenset()
    tags = [t.strip().lower() for t in value.split(",")]
    return frozenset([t for t in tags if t][:MAX_TAGS])


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
        hdrs = clean_headers(headers)
        user = body.get("user")
        return Facts(
            model=body.get("model"),
            team=principal.team, project=principal.project, app=principal.app,
            cost_center=principal.cost_center, key=principal.key_id,
            user=user if isinstance(user, str) else None,
            task=self._task(body),
            headers=hdrs,
            tags=parse_tags(hdrs.get(TAGS_HEADER)),
            prompt_tokens=estimate_chat_tokens(body),
            stream=body.get("stream") is True,
            tools=bool(body.get("tools")),
            now=now or datetime.now(timezone.utc),
            request_id=request_id,
        )

    def embeddings(self, principal: Principal, body: dict, headers: Iterable[tuple[str, str]],
                   request_id: str, now: datetime | None = None) -> Facts:
        hdrs = clean_headers(headers)
        user = body.get("user")
        return Facts(
            model=body.get("model"),
            team=principal.team, project=principal.project, app=principal.app,
            cost_center=principal.cost_center, key=principal.key_id,
            user=user if isinstance(user, str) else None,
            task=None,  # the classifier reads chat bodies; route embeddings by model
            headers=hdrs,
            tags=parse_tags(hdrs.get(TAGS_HEADER)),
            prompt_tokens=estimate_embedding_tokens(body),
            now=now or datetime.now(timezone.utc),
            request_id=request_id,
        )
