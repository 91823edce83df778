"""Facts from an OpenAI request: the one function both the gateway and `open-router decide` build them with.

``facts_from_request`` is pure (no I/O, no classifier: the caller passes ``task``) and cheap, since the
gateway calls it on every request: str methods only, no regex, one pass over the headers. ``facts_for`` is
the convenient face over it, all keyword arguments, for `open-router decide` and policy tests: it infers the
endpoint, folds tags into their header and asks dsl.classify for the task.

- prompt_tokens: an estimate, characters / 4 rounded up, over the text parts of the chat messages, or
  over an embeddings ``input`` (a list of token ids counts one token per id).
- headers: names lower-cased; credentials (authorization, api-key, cookie, ...) never become facts, so a
  decision log or a `decide` trace can never carry them. A repeated header: the last one wins.
- tags: from the ``x-open-router-tags`` header, comma-separated, trimmed, lower-cased, at most 32.
- stream / tools: chat only (``"stream": true``, a non-empty ``tools``); always false for embeddings.
- user: the request's ``user`` when it is a string.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from .classify import TASK_HEADER, Classification, classify, normalise_task
from .decision import Facts
from .secrets import SECRET_HEADERS  # re-exported: gateway/facts.py imports it from here

TAGS_HEADER = "x-open-router-tags"  # request tags, comma-separated
MAX_TAGS = 32  # the first 32 non-empty entries of the header; the rest are ignored
KINDS = ("chat", "embeddings")

_UTC = timezone.utc
_now = datetime.now


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
    """ceil(characters / 4) over the messages' text (string contents and the text of content parts)."""
    chars = 0
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in messages:
            if isinstance(msg, dict):
                chars += _text_chars(msg.get("content"))
    return (chars + 3) // 4


def estimate_embedding_tokens(body: Mapping[str, Any]) -> int:
    """ceil(characters / 4) over a string input or a list of strings; token-id inputs count one per id."""
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
    for name, value in headers:  # a plain loop: on 3.11 a dict comprehension costs a frame more
        low = name.lower()
        if low not in SECRET_HEADERS:
            out[low] = value
    return out


def parse_tags(value: str | None) -> frozenset[str]:
    """The tags of an ``x-open-router-tags`` value: trimmed, lower-cased, non-empty, the first MAX_TAGS."""
    if not value:
        return frozenset()
    tags = [t for t in value.lower().split(",") if t and not t.isspace()]
    return frozenset([t.strip() for t in tags[:MAX_TAGS]])


def facts_from_request(
    body: Mapping[str, Any],
    *,
    kind: str,
    team: str | None,
    project: str | None,
    app: str | None,
    cost_center: str | None,
    key: str | None,
    headers: Iterable[tuple[str, str]],
    request_id: str,
    now: datetime | None = None,
    task: str | None = None,
    classification: Classification | None = None,
) -> Facts:
    """The Facts of one request. ``kind`` is "chat" (/v1/chat/completions) or "embeddings" (/v1/embeddings);
    the principal (team ... key, the virtual key's id) comes from the caller's key; ``headers`` are the
    request's (name, value) pairs as received; ``now`` defaults to the current UTC time; ``task`` is the
    classifier's answer, which the caller computes (the gateway runs its classifier on chat bodies only), or
    ``classification`` its whole answer (task, complexity, score, evidence). A ``x-open-router-task`` header
    naming a task (or an alias, see dsl.classify.TASK_ALIASES) overrides the classifier's task."""
    if kind == "chat":
        prompt_tokens = estimate_chat_tokens(body)
        stream = body.get("stream") is True
        tools = bool(body.get("tools"))
    elif kind == "embeddings":
        prompt_tokens = estimate_embedding_tokens(body)
        stream = tools = False
    else:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    hdrs = clean_headers(headers)
    tags = hdrs.get(TAGS_HEADER)
    complexity = score = None
    evidence: tuple[str, ...] = ()
    if classification is not None:
        task = task or classification.task
        complexity, score, evidence = classification.complexity, classification.score, classification.evidence
    named = hdrs.get(TASK_HEADER)
    if named is not None:
        override = normalise_task(named)
        if override is not None:
            task = override
            evidence = (f"task {override} from the {TASK_HEADER} header",) + evidence
    model = body.get("model")
    user = body.get("user")
    return Facts(
        model=model if isinstance(model, str) else None,
        team=team, project=project, app=app, cost_center=cost_center, key=key,
        user=user if isinstance(user, str) else None,
        task=task,
        complexity=complexity,
        complexity_score=None if score is None else round(score, 3),
        evidence=evidence,
        headers=hdrs,
        tags=parse_tags(tags) if tags else frozenset(),
        prompt_tokens=prompt_tokens,
        stream=stream,
        tools=tools,
        now=_now(_UTC) if now is None else now,
        request_id=request_id,
    )


def request_kind(body: Mapping[str, Any]) -> str:
    """The endpoint a body is for: embeddings when it has `input` and no `messages`, else chat."""
    return "embeddings" if "input" in body and "messages" not in body else "chat"


def with_tags(headers: Iterable[tuple[str, str]], tags: Iterable[str]) -> list[tuple[str, str]]:
    """``tags`` joined onto the (last) tags header, the one the gateway reads them from, as a client would
    send them; the other headers unchanged."""
    headers = list(headers)
    tags = [t for t in tags if t.strip()]
    if not tags:
        return headers
    sent = None
    for name, value in headers:
        if name.lower() == TAGS_HEADER:
            sent = value
    rest = [(n, v) for n, v in headers if n.lower() != TAGS_HEADER]
    return rest + [(TAGS_HEADER, ",".join(([sent] if sent else []) + tags))]


def facts_for(
    body: Mapping[str, Any],
    *,
    team: str | None = None,
    project: str | None = None,
    app: str | None = None,
    cost_center: str | None = None,
    key: str | None = None,
    user: str | None = None,
    headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
    tags: Iterable[str] = (),
    now: datetime | None = None,
    kind: str | None = None,
    task: str | None = None,
    request_id: str | None = None,
) -> Facts:
    """The Facts the gateway would build for this request from this principal (through the same
    ``facts_from_request``). ``user`` stands in for the body's `user`; ``tags`` are added to the tags header;
    ``kind`` defaults to `request_kind`; ``task`` defaults to dsl.classify's answer on a chat body (as in
    the gateway, embeddings get none; a given ``task`` still gets the classifier's complexity);
    ``request_id`` (what unsticky draws hash) defaults to a random one."""
    if user is not None:
        body = {**body, "user": user}
    kind = kind or request_kind(body)
    classification = classify(body) if kind == "chat" else None
    pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or ())
    return facts_from_request(
        body, kind=kind,
        team=team, project=project, app=app, cost_center=cost_center, key=key,
        headers=with_tags(pairs, tags),
        request_id=request_id or f"local-{uuid.uuid4().hex[:16]}",
        now=now,
        task=task,
        classification=classification,
    )


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 time or date (``Z`` allowed; no offset means UTC) as an aware UTC datetime: the ``now``
    of a request given on the command line or in a policy test. Raises ValueError."""
    text = raw.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        now = datetime.fromisoformat(text)
    except ValueError:
        now = datetime.combine(date.fromisoformat(text), datetime.min.time())  # ValueError when not a date
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(timezone.utc)


__all__ = [
    "parse_instant",
    "KINDS", "MAX_TAGS", "SECRET_HEADERS", "TAGS_HEADER", "clean_headers", "estimate_chat_tokens",
    "estimate_embedding_tokens", "facts_for", "facts_from_request", "parse_tags", "request_kind", "with_tags",
]
