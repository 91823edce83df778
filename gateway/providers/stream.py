"""`ChunkStream`: holds an adapter's chunks to OpenAI's stream contract, whatever the upstream sent.

What OpenAI sends, and what the official SDK's stream helper (``client.chat.completions.stream``) relies on:

- every chunk has ``object: "chat.completion.chunk"`` and the same ``id``, ``created`` and ``model``;
- a choice's ``finish_reason`` comes exactly once, on a chunk of its own (``delta: {}``) after the choice's
  last content — the helper fires ``content.done`` on the first finish it sees, and
  ``tool_calls.function.arguments.done`` for the last call only when the finish comes after it;
- the usage chunk (``choices: []``) comes last.

Upstreams break each of these: Gemini may repeat ``finishReason: STOP`` on every chunk and sends a function
call in the same chunk as its finish; OpenAI-compatible servers fuse the finish with the last delta; Azure
opens with a ``choices: []`` chunk of ``prompt_filter_results`` and, in its Asynchronous Filter mode, sends
annotation chunks (``content_filter_results`` / ``content_filter_offsets``, no delta, ``id: ""``,
``object: ""``, ``created: 0``) after the finish.

So the finish of every choice is held (the latest one wins; a content-filter verdict sticks) and sent by
`end` on a chunk of its own, before any held usage chunk; Azure's filter fields are dropped, and a chunk
that carries nothing else (a filter-only chunk) is dropped whole, its verdict kept as the finish
``content_filter`` when it blocked something (where OpenAI says it). The stream's id, created and model are
those of the first chunk sent (the upstream's when it gave them, else the adapter's) and every later chunk
is rewritten to them.
"""
from __future__ import annotations

from typing import Any, Mapping

from . import common

# Azure OpenAI's content-filter fields: on a choice, and on the chunk / completion (the prompt's verdict).
CHOICE_FILTER_KEYS = ("content_filter_results", "content_filter_offsets")
PROMPT_FILTER_KEYS = ("prompt_filter_results", "prompt_annotations")


def filter_blocked(results: Any) -> bool:
    """Does an Azure ``content_filter_results`` object say something was filtered (any category)?"""
    if not isinstance(results, Mapping):
        return False
    return any(isinstance(v, Mapping) and v.get("filtered") is True for v in results.values())


def strip_filters(completion: dict[str, Any]) -> dict[str, Any]:
    """A non-streamed completion without Azure's filter fields (OpenAI's schema has none of them); a choice
    whose content the filter blocked gets the finish OpenAI uses for it, ``content_filter``."""
    for key in PROMPT_FILTER_KEYS:
        completion.pop(key, None)
    for ch in completion.get("choices") or ():
        if isinstance(ch, dict):
            blocked = False
            for key in CHOICE_FILTER_KEYS:
                blocked = filter_blocked(ch.pop(key, None)) or blocked
            if blocked:
                ch["finish_reason"] = "content_filter"
    return completion


def _carries(ch: Mapping[str, Any]) -> bool:
    """Is there anything in this choice entry besides its index and (held) finish?"""
    if ch.get("logprobs"):
        return True
    delta = ch.get("delta")
    if not isinstance(delta, Mapping):
        return False
    for key, value in delta.items():
        if value is None or (key == "content" and value == "") or (key == "tool_calls" and not value):
            continue
        return True
    return False


class ChunkStream:
    """Feed it the upstream's chunks (`push`), then `end` once the upstream stream is over."""

    __slots__ = ("id", "created", "model", "_started", "_finish", "_tail")

    def __init__(self, cid: str, created: int, model: str = "") -> None:
        self.id = cid
        self.created = created
        self.model = model
        self._started = False
        self._finish: dict[int, str] = {}  # choice index → the finish_reason to send at the end
        self._tail: list[dict[str, Any]] = []  # usage-only chunks, sent after the finishes

    @property
    def finished(self) -> bool:
        """Has any choice had a finish_reason (so the upstream's stream ran to its end)?"""
        return bool(self._finish)

    def push(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The chunk to send for the upstream chunk ``obj`` (rewritten in place), or None when nothing of it
        is left to send now. ``obj["choices"]`` must be a list of choice objects (``normalise_chunk``)."""
        for key in PROMPT_FILTER_KEYS:
            obj.pop(key, None)
        choices = obj.get("choices") or []
        kept = []
        for ch in choices:
            reason = ch.get("finish_reason")
            blocked = False
            for key in CHOICE_FILTER_KEYS:
                if key in ch:
                    blocked = filter_blocked(ch.pop(key)) or blocked
            if blocked:
                reason = "content_filter"
            if reason:
                index = ch.get("index", 0)
                if self._finish.get(index) != "content_filter":
                    self._finish[index] = reason
                ch["finish_reason"] = None
            if _carries(ch):
                kept.append(ch)
        obj["choices"] = kept
        if not kept:
            if obj.get("usage"):
                self._tail.append(obj)
            return None
        return self._stamp(obj)

    def end(self) -> list[dict[str, Any]]:
        """The chunks that close the stream: one finish chunk per choice (index order), then held usage."""
        out = [self._stamp(common.chunk(self.id, self.created, self.model, [common.delta_choice(i, {}, r)]))
               for i, r in sorted(self._finish.items())]
        out += [self._stamp(obj) for obj in self._tail]
        self._finish, self._tail = {}, []
        return out

    def _stamp(self, obj: dict[str, Any]) -> dict[str, Any]:
        if not self._started:
            self._started = True
            if isinstance(obj.get("id"), str) and obj["id"]:
                self.id = obj["id"]
            created = obj.get("created")
            if isinstance(created, int) and not isinstance(created, bool) and created > 0:
                self.created = created
            if isinstance(obj.get("model"), str) and obj["model"]:
                self.model = obj["model"]
        elif not self.model and isinstance(obj.get("model"), str):
            self.model = obj["model"]
        obj["id"] = self.id
        obj["object"] = "chat.completion.chunk"
        obj["created"] = self.created
        obj["model"] = self.model
        return obj
