"""The built-in ``mock`` provider: no network, deterministic OpenAI-shaped replies, streams, tool calls
and embeddings, so the default policy works offline and tests need no upstream.

Behaviour, all derived from the request (same request → same content; ids and timestamps still vary):
- reply ``"Mock reply to: <first 60 chars of the last user message>"``; choice i > 0 appends ``" (choice i+1)"``;
- with tools (and tool_choice not "none"), a call to the first tool — or the one tool_choice names, or
  the first of its ``allowed_tools`` — unless the last message is already a tool (or legacy function)
  result (then a text reply, so agent loops end); arguments fill the schema's required properties
  deterministically (strings, numbers, booleans, enums), whatever shape the schema has; a ``custom``
  tool gets a ``custom`` call whose input is a short text; legacy ``functions`` (no tools) get a
  ``function_call`` message (finish_reason "function_call");
- ``response_format``: ``json_object`` gets ``{"reply": <the reply above>, "digest": <8 hex>}``,
  ``json_schema`` a deterministic instance of its schema (gateway/providers/mock_json.py: bounded work
  whatever the schema); both as JSON text, streamed in pieces that join back to it;
- ``max_tokens`` truncates (finish_reason "length"), ``stop`` cuts at the first stop string (JSON too,
  as upstreams do);
- ``logprobs: true``: each choice's content split into word/punctuation tokens, each with a deterministic
  logprob, its UTF-8 bytes and ``top_logprobs`` entries (the token itself first, then alternatives of
  decreasing probability, summing below 1); streamed one token a chunk, each chunk carrying its token's
  entry. A tool-call choice has ``logprobs: null`` (no content tokens);
- usage is a ~4-characters-a-token estimate;
- embeddings: unit vectors of ``dimensions`` (default 16, at most MAX_DIMENSIONS) from a SHAKE-256 of
  each input (base64 of little-endian float32s with ``encoding_format: "base64"``).

Bounded work: every answer is bounded by the request's validated bounds (n ≤ 128 choices of a short reply,
json_schema instances bounded by mock_json, ≤ 2048 embedding inputs × ≤ MAX_DIMENSIONS), and a request
whose answer is large (many choices, logprobs, schema instances, long prompts, many embedding values) is
built in a worker thread (asyncio.to_thread), so the event loop keeps serving other requests meanwhile.

Latency is configured in the provider's base_url query string (nothing else is read from it)::

    provider local kind mock base_url "mock://?ttfb_ms=5&latency_ms=20&dims=32"

``ttfb_ms`` delays the answer (or the first stream chunk); ``latency_ms`` is spread over the rest of a
stream (added in full to a non-streamed answer); ``dims`` sets the default embedding size.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import struct
from typing import Any, AsyncIterator, Mapping
from urllib.parse import parse_qs, urlsplit

from dsl.decision import Target

from gateway.errors import InvalidRequest

from . import common, mock_json
from .base import Adapter

PREFIX = "Mock reply to: "
DEFAULT_DIMS = 16
MAX_DIMENSIONS = 3072  # as OpenAI's largest embedding model
MAX_ARGUMENT_DEPTH = 8  # nested objects filled in a tool call's arguments
OFF_LOOP_VALUES = 50_000  # embedding values computed on the loop at most; more go to a thread
OFF_LOOP_PROMPT_CHARS = 256 * 1024  # a longer conversation is hashed and counted in a thread
# A token: a word with its leading space, a run of punctuation with its leading space, or whitespace.
_TOKEN_RE = re.compile(r" ?\w+| ?[^\w\s]+|\s+")
# Stand-ins for the runner-up tokens in top_logprobs (20 at most are asked for: 19 besides the token).
_ALTERNATIVES = (" the", " a", " and", " of", " to", " in", " is", " it", " that", " for", ",", ".", ":",
                 " \"", "\"", " {", "}", " [", "]", " 0", " 1", " yes", " no", " mock", " reply")


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


def _fake_value(name: str, schema: Any, seed: str, depth: int = 0) -> Any:
    if not isinstance(schema, Mapping):
        schema = {}  # `true`, or anything else a schema should not be
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
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
        return mock_arguments(schema, seed, depth + 1)
    return f"{name}-{_digest(name, seed).hex()[:8]}"


def mock_arguments(schema: Any, seed: str, depth: int = 0) -> dict[str, Any]:
    """Deterministic arguments satisfying the required properties of a (simple) JSON schema. Never fails,
    whatever the schema's shape; objects nest MAX_ARGUMENT_DEPTH deep at most."""
    if not isinstance(schema, Mapping) or depth > MAX_ARGUMENT_DEPTH:
        return {}
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        props = {}
    required = schema.get("required")
    if not isinstance(required, list):
        return {}
    return {name: _fake_value(name, props.get(name), seed, depth) for name in required if isinstance(name, str)}


def mock_tokens(text: str) -> list[str]:
    """The mock's tokenisation of a reply: pieces that join back to ``text``."""
    return _TOKEN_RE.findall(text)


def mock_logprobs(tokens: list[str], top: int, seed: str) -> list[dict[str, Any]]:
    """OpenAI ``ChatCompletionTokenLogprob`` entries for ``tokens``, deterministic in (tokens, seed).

    The token's own probability is in [0.5, 1), so it heads its ``top`` alternatives; the runners-up share
    what is left, halving each time."""
    out = []
    for pos, token in enumerate(tokens):
        h = _digest(seed, str(pos), token)
        logprob = -(0.001 + int.from_bytes(h[:2], "big") % 690 / 1000)
        rest = math.log(1.0 - math.exp(logprob))
        tops = [{"token": token, "logprob": round(logprob, 6), "bytes": list(token.encode("utf-8"))}] if top else []
        k = h[2]
        while len(tops) < top:
            alt = _ALTERNATIVES[k % len(_ALTERNATIVES)]
            k += 1
            if alt != token and all(t["token"] != alt for t in tops):
                tops.append({"token": alt, "logprob": round(rest - len(tops) * math.log(2), 6),
                             "bytes": list(alt.encode("utf-8"))})
        out.append({"token": token, "logprob": round(logprob, 6), "bytes": list(token.encode("utf-8")),
                    "top_logprobs": tops})
    return out


def reply_text(body: Mapping[str, Any], messages: list[Mapping[str, Any]], index: int, seed: str) -> str:
    """Choice ``index``'s content before stop and max_tokens: the plain reply, or JSON for response_format."""
    text = PREFIX + _last_user_text(messages)[:60]
    if index:
        text += f" (choice {index + 1})"
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, Mapping) else None
    if kind == "json_object":
        return json.dumps(mock_json.json_object(text, seed), ensure_ascii=False)
    if kind == "json_schema":
        spec = fmt.get("json_schema")  # type: ignore[union-attr]  # (kind is set, so fmt is a mapping)
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        return json.dumps(mock_json.instance(schema, f"{seed}:{index}"), ensure_ascii=False)
    return text


def mock_embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector of ``dims`` values for ``text``."""
    words = struct.unpack(f">{dims}I", hashlib.shake_256(text.encode("utf-8", "replace")).digest(4 * dims))
    scale = 2.0 / 0xFFFFFFFF
    values = [w * scale - 1.0 for w in words]
    inv = 1.0 / (math.hypot(*values) or 1.0)
    return [v * inv for v in values]


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

    @staticmethod
    def _heavy(body: Mapping[str, Any]) -> bool:
        """Is this answer worth building off the event loop?"""
        n = body.get("n") or 1
        fmt = body.get("response_format")
        return (n > 8 or body.get("logprobs") is True
                or (isinstance(fmt, Mapping) and fmt.get("type") == "json_schema")
                or len(body.get("messages") or ()) > 256)

    async def _build(self, fn: Any, body: Mapping[str, Any]) -> Any:
        if self._heavy(body):
            return await asyncio.to_thread(fn, body)
        return fn(body)

    def _plan(self, body: Mapping[str, Any]) -> tuple[list[tuple[str | None, list[dict], str]], int, str]:
        """[(content, tool_calls, finish_reason) per choice], prompt tokens, the request's seed. A legacy
        function call comes as content None, [{"function_call": {...}}], "function_call"."""
        messages = body.get("messages") or []
        prompt_tokens = common.estimate_tokens(common.messages_text(messages))
        seed = _digest(common.dumps(messages).decode()).hex()
        tool = self._tool_to_call(body, messages)
        limit = common.max_tokens(body)
        stops = common.stop_list(body)
        out: list[tuple[str | None, list[dict], str]] = []
        for i in range(max(1, int(body.get("n") or 1))):
            if tool is not None:
                call_id = f"call_{_digest(seed, str(i)).hex()[:24]}"
                kind = tool.get("type", "function")
                if kind == "custom":
                    spec = tool.get("custom") or {}
                    name = spec.get("name", "")
                    call = {"id": call_id, "type": "custom",
                            "custom": {"name": name, "input": f"{name}-{_digest(name, seed).hex()[:8]}"}}
                    out.append((None, [call], "tool_calls"))
                elif kind == "legacy":
                    fn = tool.get("function") or {}
                    args = common.dumps(mock_arguments(fn.get("parameters"), seed)).decode()
                    out.append((None, [{"function_call": {"name": fn.get("name", ""), "arguments": args}}],
                                "function_call"))
                else:
                    fn = tool.get("function") or {}
                    args = common.dumps(mock_arguments(fn.get("parameters"), seed)).decode()
                    out.append((None, [common.tool_call(call_id, fn.get("name", ""), args)], "tool_calls"))
                continue
            text = reply_text(body, messages, i, seed)
            finish = "stop"
            for stop in stops:
                cut = text.find(stop)
                if cut >= 0:
                    text = text[:cut]
            if limit is not None and common.estimate_tokens(text) > limit:
                text, finish = text[: max(0, limit) * 4], "length"
            out.append((text, [], finish))
        return out, prompt_tokens, seed

    @staticmethod
    def _tool_to_call(body: Mapping[str, Any], messages: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
        """The tool definition to call (``type`` "function", "custom", or "legacy" for a legacy function),
        or None for a text reply."""
        tools = [t for t in body.get("tools") or () if t.get("type", "function") in ("function", "custom")]
        answered = bool(messages) and messages[-1].get("role") in ("tool", "function")
        if not tools:
            functions = body.get("functions")
            fcall = body.get("function_call")
            if not functions or fcall == "none":
                return None
            if isinstance(fcall, Mapping):
                fn = next((f for f in functions if f.get("name") == fcall.get("name")), functions[0])
            elif answered:
                return None
            else:
                fn = functions[0]
            return {"type": "legacy", "function": fn}
        choice = body.get("tool_choice")
        if choice == "none":
            return None

        def named(ref: Mapping[str, Any]) -> Mapping[str, Any] | None:
            kind = ref.get("type")
            name = (ref.get(kind) or {}).get("name") if isinstance(kind, str) else None
            return next((t for t in tools if t.get("type", "function") == kind
                         and (t.get(kind) or {}).get("name") == name), None)

        if isinstance(choice, Mapping):
            if choice.get("type") == "allowed_tools":
                spec = choice.get("allowed_tools") or {}
                allowed = [t for t in (named(r) for r in spec.get("tools") or () if isinstance(r, Mapping)) if t]
                if not allowed or (spec.get("mode") != "required" and answered):
                    return None
                return allowed[0]
            return named(choice) or tools[0]
        if choice != "required" and answered:
            return None
        return tools[0]

    @staticmethod
    def _completion_tokens(plan: list[tuple[str | None, list[dict], str]]) -> int:
        def call_text(tc: dict) -> str:
            if "custom" in tc:
                return tc["custom"]["name"] + tc["custom"]["input"]
            fn = tc.get("function") or tc["function_call"]
            return fn["name"] + fn["arguments"]
        return sum(common.estimate_tokens(text or "") + sum(common.estimate_tokens(call_text(tc)) for tc in calls)
                   for text, calls, _ in plan)

    @staticmethod
    def _top(body: Mapping[str, Any]) -> int | None:
        """None without ``logprobs: true``, else how many top_logprobs each token gets (0-20)."""
        if body.get("logprobs") is not True:
            return None
        top = body.get("top_logprobs")
        return max(0, min(20, top)) if isinstance(top, int) and not isinstance(top, bool) else 0

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        answer = await self._build(lambda b: self._answer(target, b), body)
        if self.ttfb or self.latency:
            await asyncio.sleep(self.ttfb + self.latency)
        answer["created"] = common.now()
        return answer

    def _answer(self, target: Target, body: Mapping[str, Any]) -> dict:
        plan, prompt_tokens, seed = self._plan(body)
        top = self._top(body)
        choices = []
        for i, (text, calls, finish) in enumerate(plan):
            if calls and "function_call" in calls[0]:
                msg = common.message(None)
                msg["function_call"] = calls[0]["function_call"]
            else:
                msg = common.message(text, calls or None)
            choices.append(common.choice(i, msg, finish))
        if top is not None:
            for i, (ch, (text, calls, _)) in enumerate(zip(choices, plan)):
                if not calls:
                    ch["logprobs"] = {"content": mock_logprobs(mock_tokens(text or ""), top, f"{seed}:{i}"),
                                      "refusal": None}
        return common.completion(common.completion_id(), target.upstream, choices,
                                  common.usage(prompt_tokens, self._completion_tokens(plan)))

    async def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        cid, created, model = common.completion_id(), common.now(), target.upstream
        plan, pieces = await self._build(lambda b: self._pieces(cid, created, model, b), body)
        if self.ttfb:
            await asyncio.sleep(self.ttfb)
        yield common.chunk(cid, created, model,
                           [common.delta_choice(i, {"role": "assistant", "content": ""}) for i in range(len(plan))])
        gap = self.latency / len(pieces) if pieces else 0.0
        for piece in pieces:
            if gap:
                await asyncio.sleep(gap)
            yield piece

    def _pieces(self, cid: str, created: int, model: str,
                body: Mapping[str, Any]) -> tuple[list[tuple[str | None, list[dict], str]], list[dict]]:
        """The plan and every chunk after the first."""
        plan, prompt_tokens, seed = self._plan(body)
        top = self._top(body)
        pieces: list[dict] = []  # chunks after the first, for pacing
        for i, (text, calls, finish) in enumerate(plan):
            if calls and "function_call" in calls[0]:
                fc = calls[0]["function_call"]
                pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"function_call": {
                    "name": fc["name"], "arguments": ""}})]))
                pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"function_call": {
                    "arguments": fc["arguments"]}})]))
            elif calls and calls[0].get("type") == "custom":
                for k, tc in enumerate(calls):
                    pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"tool_calls": [
                        {"index": k, "id": tc["id"], "type": "custom",
                         "custom": {"name": tc["custom"]["name"], "input": tc["custom"]["input"]}}]})]))
            elif calls:
                for k, tc in enumerate(calls):
                    args = tc["function"]["arguments"]
                    half = len(args) // 2
                    pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"tool_calls": [
                        {"index": k, "id": tc["id"], "type": "function",
                         "function": {"name": tc["function"]["name"], "arguments": ""}}]})]))
                    for part in (args[:half], args[half:]):
                        pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"tool_calls": [
                            {"index": k, "function": {"arguments": part}}]})]))
            elif top is not None:
                tokens = mock_tokens(text or "")
                for token, entry in zip(tokens, mock_logprobs(tokens, top, f"{seed}:{i}")):
                    delta = common.delta_choice(i, {"content": token})
                    delta["logprobs"] = {"content": [entry], "refusal": None}
                    pieces.append(common.chunk(cid, created, model, [delta]))
            else:
                for word in _split_words(text or ""):
                    pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {"content": word})]))
            pieces.append(common.chunk(cid, created, model, [common.delta_choice(i, {}, finish)]))
        if common.wants_usage(body):
            pieces.append(common.chunk(cid, created, model, [],
                                       common.usage(prompt_tokens, self._completion_tokens(plan))))
        return plan, pieces

    async def embed(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        inputs = body.get("input")
        if isinstance(inputs, str) or (isinstance(inputs, list) and inputs and isinstance(inputs[0], int)):
            inputs = [inputs]  # one string, or one token array
        if not isinstance(inputs, list):
            inputs = [str(inputs)]
        dims = body.get("dimensions") or self.dims
        if not isinstance(dims, int) or not 1 <= dims <= max(MAX_DIMENSIONS, self.dims):
            raise InvalidRequest(f"Invalid value for 'dimensions': {dims!r} is above the maximum of "
                                 f"{max(MAX_DIMENSIONS, self.dims)} for model {target.upstream!r}.",
                                 param="dimensions", code="invalid_value")

        def build() -> dict:
            texts = [x if isinstance(x, str) else common.dumps(x).decode() for x in inputs]
            vectors = [mock_embedding(t, dims) for t in texts]
            return common.embedding_list(target.upstream, vectors, sum(common.estimate_tokens(t) for t in texts),
                                         base64_out=common.wants_base64(body))

        if self.ttfb or self.latency:
            await asyncio.sleep(self.ttfb + self.latency)
        if len(inputs) * dims > OFF_LOOP_VALUES:
            return await asyncio.to_thread(build)
        return build()


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
