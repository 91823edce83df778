"""The built-in ``mock`` provider: no network, deterministic OpenAI-shaped replies, streams, tool calls
and embeddings, so the default policy works offline and tests need no upstream.

Behaviour, all derived from the request (same request → same content; ids and timestamps still vary):
- reply ``"Mock reply to: <first 60 chars of the last user message>"``; choice i > 0 appends ``" (choice i+1)"``;
- with tools (and tool_choice not "none"), a call to the first tool — or the one tool_choice names —
  unless the last message is already a tool result (then a text reply, so agent loops end); arguments
  fill the schema's required properties deterministically (strings, numbers, booleans, enums);
- ``max_tokens`` truncates (finish_reason "length"), ``stop`` cuts at the first stop string;
- usage is a ~4-characters-a-token estimate;
- embeddings: unit vectors of ``dimensions`` (default 16) from a SHA-256 of each input (base64 of
  little-endian float32s with ``encoding_format: "base64"``).

Latency is configured in the provider's base_url query string (nothing else is read from it)::

    provider local kind mock base_url "mock://?ttfb_ms=5&latency_ms=20&dims=32"

``ttfb_ms`` delays the answer (or the first stream chunk); ``latency_ms`` is spread over the rest of a
stream (added in full to a non-streamed answer); ``dims`` sets the default embedding size.
"""
from __future__ import annotations

import asyncio
import hashlib
import math
import struct
from typing import Any, AsyncIterator, Mapping
from urllib.parse import parse_qs, urlsplit

from dsl.decision import Target

from . import common
from .base import Adapter

PREFIX = "Mock reply to: "
DEFAULT_DIMS = 16


def _digest(*items: str) -> bytes:
    h = hashlib.sha256()
    for item in items:
        h.update(item.encode("utf-8", "replace"))
        h.update(b"\x00")
    return h.digest()


def _last_user_text(messages: list[Mapping[str, Any]]) -> str:
    for msg in reversed(messages):
        if msg.get("role") == "user":
            return common.text_of(msg.get("content"))
    return ""


def _fake_value(name: str, schema: Mapping[str, Any], seed: str) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "integer":
        return int.from_bytes(_digest(name, seed)[:2], "big") % 100
    if kind == "number":
        return (int.from_bytes(_digest(name, seed)[:2], "big") % 10000) / 100
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return mock_arguments(schema, seed)
    return f"{name}-{_digest(name, seed).hex()[:8]}"


def mock_arguments(schema: Mapping[str, Any] | None, seed: str) -> dict[str, Any]:
    """Deterministic arguments satisfying the required properties of a (simple) JSON schema."""
    if not isinstance(schema, Mapping):
        return {}
    props = schema.get("properties") or {}
    return {name: _fake_value(name, props.get(name) or {}, seed) for name in schema.get("required") or ()}


def mock_embedding(text: str, dims: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        block = _digest(text, str(counter))
        counter += 1
        for (word,) in struct.iter_unpack(">I", block):
            values.append(word / 0xFFFFFFFF * 2.0 - 1.0)
    values = values[:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class MockAdapter(Adapter):
    kind = "mock"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        query = parse_qs(urlsplit(self.provider.base_url or "").query)

        def num(name: str, default: float) -> float:
            try:
                return float(query[name][0])
            except (KeyError, IndexError, ValueError):
                return default

        self.ttfb = num("ttfb_ms", 0.0) / 1000.0
        self.latency = num("latency_ms", 0.0) / 1000.0
        self.dims = int(num("dims", DEFAULT_DIMS)) or DEFAULT_DIMS

    # ----------------------------------------------------------------- the reply

    def _plan(self, body: Mapping[str, Any]) -> tuple[list[tuple[str | None, list[dict], str]], int]:
        """[(content, tool_calls, finish_reason) per choice], prompt tokens."""
        messages = body.get("messages") or []
        prompt_tokens = common.estimate_tokens(common.messages_text(messages))
        seed = _digest(common.dumps(messages).decode()).hex()
        tool = self._tool_to_call(body, messages)
        limit = common.max_tokens(body)
        stops = common.stop_list(body)
        out = []
        for i in range(max(1, int(body.get("n") or 1))):
            if tool is not None:
                fn = tool.get("function") or {}
                args = common.dumps(mock_arguments(fn.get("parameters"), seed)).decode()
                call_id = f"call_{_digest(seed, str(i)).hex()[:24]}"
                out.append((None, [common.tool_call(call_id, fn.get("name", ""), args)], "tool_calls"))
                continue
            text = PREFIX + _last_user_text(messages)[:60]
            if i:
                text += f" (choice {i + 1})"
            finish = "stop"
            for stop in stops:
                cut = text.find(stop)
                if cut >= 0:
                    text = text[:cut]
            if limit is not None and common.estimate_tokens(text) > limit:
                text, finish = text[: max(0, limit) * 4], "length"
            out.append((text, [], finish))
        return out, prompt_tokens

    @staticmethod
    def _tool_to_call(body: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        tools = [t for t in body.get("tools") or () if t.get("type", "function") == "function"]
        choice = body.get("tool_choice")
        if not tools or choice == "none":
            return None
        if isinstance(choice, Mapping):
            wanted = (choice.get("function") or {}).get("name")
            return next((t for t in tools if (t.get("function") or {}).get("name") == wanted), tools[0])
        if choice != "required" and messages and messages[-1].get("role") == "tool":
            return None
        return tools[0]

    @staticmethod
    def _completion_tokens(plan: list[tuple[str | None, list[dict], str]]) -> int:
        return sum(common.estimate_tokens(text or "") +
                   sum(common.estimate_tokens(tc["function"]["name"] + tc["function"]["arguments"]) for tc in calls)
                   for text, calls, _ in plan)

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        plan, prompt_tokens = self._plan(body)
        if self.ttfb or self.latency:
            await asyncio.sleep(self.ttfb + self.latency)
        choices = [common.choice(i, common.message(text, calls or None), finish)
                   for i, (text, calls, finish) in enumerate(plan)]
        return common.completion(common.completion_id(), target.upstream, choices,
                                  common.usage(prompt_tokens, self._completion_tokens(plan)))

    async def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        plan, prompt_tokens = self._plan(body)
        cid, created, model = common.completion_id(), common.now(), target.upstream
        pieces: list[dict] = []  # chunks after the first, for pacing
        for i, (text, calls, finish) in enumerate(plan):
            if calls:
                for k, tc in enumerate(calls):
                    args = tc["function"]["arguments"]
                    half = len(args) // 2
                    pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"tool_calls": [
                        {"index": k, "id": tc["id"], "type": "function",
                         "function": {"name": tc["function"]["name"], "arguments": ""}}]})]))
                    for part in (args[:half], args[half:]):
                        pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"tool_calls": [
                            {"index": k, "function": {"arguments": part}}]})]))
            else:
                for word in _split_words(text or ""):
                    pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"content": word})]))
            pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {}, finish)]))
        if common.wants_usage(body):
            pieces.append(common.chunk(cid, created, model, [],
                                       common.usage(prompt_tokens, self._completion_tokens(plan))))
        if self.ttfb:
            await asyncio.sleep(self.ttfb)
        yield common.chunk(cid, created, model,
                           [common.delta_choice(i, {"role": "assistant", "content": ""}) for i in range(len(plan))])
        gap = self.latency / len(pieces) if pieces else 0.0
        for piece in pieces:
            if gap:
                await asyncio.sleep(gap)
            yield piece

    async def embed(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]  # one string, or one token array
        if not isinstance(inputs, list):
            inputs = [str(inputs)]
        dims = int(body.get("dimensions") or self.dims)
        texts = [x if isinstance(x, str) else common.dumps(x).decode() for x in inputs]
        if self.ttfb or self.latency:
            await asyncio.sleep(self.ttfb + self.latency)
        vectors = [mock_embedding(t, dims) for t in texts]
        return common.embedding_list(target.upstream, vectors, sum(common.estimate_tokens(t) for t in texts),
                                     base64_out=common.wants_base64(body))


def _split_words(text: str) -> list[str]:
    """The reply in word-sized pieces, each keeping its trailing space, so joining them gives the text back."""
    pieces, start = [], 0
    for i, ch in enumerate(text):
        if ch == " ":
            pieces.append(text[start : i + 1])
            start = i + 1
    if start < len(text):
        pieces.append(text[start:])
    return pieces
