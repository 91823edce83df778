"""OpenAI's chat.completion.chunk stream contract, beyond what the JSON schema can say about one chunk.

`check_stream(chunks)` holds a whole stream (dicts, as adapters yield them or as the SDK's ``to_dict()``
gives them) to what OpenAI sends and the official SDK's stream helper relies on:

- every chunk validates against CreateChatCompletionStreamResponse (the published contract);
- ``object`` is ``chat.completion.chunk`` on every chunk, ``id`` and ``created`` are one non-empty id and
  one positive timestamp for the whole stream;
- each choice gets exactly one finish_reason, on a chunk after all of that choice's content, and on a
  chunk of its own (no content, no tool call in it) whenever the choice has tool calls;
- a usage chunk (``choices: []``) only at the very end, and no chunk that is empty for no reason;
- none of Azure's filter fields survive.
"""
from __future__ import annotations

from typing import Any

from tests.gateway.fakes import validate_chunk

FILTER_KEYS = {"prompt_filter_results", "prompt_annotations", "content_filter_results", "content_filter_offsets"}


def check_stream(chunks: list[dict[str, Any]]) -> dict[int, str]:
    """Assert the contract above; return {choice index: its finish_reason}."""
    assert chunks, "an empty stream"
    for c in chunks:
        validate_chunk(c)
        assert c["object"] == "chat.completion.chunk", c
        assert not FILTER_KEYS & set(c), c
        for ch in c["choices"]:
            assert not FILTER_KEYS & set(ch), c
    assert len({c["id"] for c in chunks}) == 1 and chunks[0]["id"], [c["id"] for c in chunks]
    assert len({c["created"] for c in chunks}) == 1 and chunks[0]["created"] > 0, [c["created"] for c in chunks]
    finishes: dict[int, str] = {}
    has_calls: set[int] = set()
    for pos, c in enumerate(chunks):
        if not c["choices"]:
            assert c.get("usage"), f"chunk {pos} has no choices and no usage: {c}"
            assert all(not later["choices"] for later in chunks[pos:]), "choices after the usage chunk"
            continue
        for ch in c["choices"]:
            i, delta = ch["index"], ch["delta"]
            carries = bool(delta.get("content") or delta.get("tool_calls") or delta.get("refusal"))
            if delta.get("tool_calls"):
                has_calls.add(i)
            assert i not in finishes or not carries, f"choice {i} has content after its finish (chunk {pos})"
            if ch["finish_reason"] is not None:
                assert i not in finishes, f"choice {i} finished twice (chunk {pos})"
                finishes[i] = ch["finish_reason"]
                if i in has_calls:
                    assert not carries, f"choice {i}: the finish shares a chunk with content (chunk {pos})"
    for i in has_calls:
        assert i in finishes, f"choice {i} never finished"
    assert finishes, "no choice finished"
    return finishes


def fold(chunks: list[dict[str, Any]], index: int = 0) -> tuple[str, list[tuple[str, str]]]:
    """(the text, [(name, arguments) per tool call]) of one choice."""
    text, calls = "", {}
    for c in chunks:
        for ch in c["choices"]:
            if ch["index"] != index:
                continue
            text += ch["delta"].get("content") or ""
            for tc in ch["delta"].get("tool_calls") or ():
                slot = calls.setdefault(tc["index"], ["", ""])
                fn = tc.get("function") or {}
                slot[0] += fn.get("name") or ""
                slot[1] += fn.get("arguments") or ""
    return text, [(n, a) for _, (n, a) in sorted(calls.items())]
