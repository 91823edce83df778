"""Adapter for OpenAI and any OpenAI-compatible server (vLLM, llama.cpp, Ollama, Together, ...):
the body goes through as the client sent it; answers are only filled in where compatible servers omit
fields the OpenAI contract requires.
"""
from __future__ import annotations

import struct
from typing import Any, AsyncIterator

from dsl.decision import Target

from . import common
from .base import HTTPAdapter
from .stream import ChunkStream

# OpenAI refuses a tool call id longer than this (string_above_max_length).
MAX_TOOL_CALL_ID = 40


def normalise_completion(obj: dict[str, Any]) -> dict[str, Any]:
    """Fill the fields OpenAI always sends but compatible servers sometimes leave out (a wrong-shaped
    completion raises common.ShapeError)."""
    obj.setdefault("object", "chat.completion")
    if not obj.get("id"):
        obj["id"] = common.completion_id()
    if not isinstance(obj.get("created"), int):
        obj["created"] = common.now()
    obj.setdefault("model", "")
    for i, ch in enumerate(common.objs(obj.get("choices"), "choices")):
        ch.setdefault("index", i)
        ch.setdefault("logprobs", None)
        if ch.get("finish_reason") is None:
            ch["finish_reason"] = "stop"
        msg = ch.get("message")
        if msg is not None and not isinstance(msg, dict):
            raise common.ShapeError("a choice's message is not an object")
        if isinstance(msg, dict):
            msg.setdefault("role", "assistant")
            msg.setdefault("content", None)
            msg.setdefault("refusal", None)
    return obj


def normalise_chunk(obj: dict[str, Any], cid: str, created: int) -> dict[str, Any]:
    """Give a chunk the fields OpenAI always sends (an empty ``object``, ``id`` or ``created``, as Azure's
    filter chunks have, counts as missing); `ChunkStream` then makes them one per stream."""
    obj["object"] = "chat.completion.chunk"
    if not obj.get("id"):
        obj["id"] = cid
    if not isinstance(obj.get("created"), int) or not obj["created"]:
        obj["created"] = created
    obj.setdefault("model", "")
    if obj.get("choices") is None:
        obj["choices"] = []
    for ch in common.objs(obj["choices"], "choices"):
        ch.setdefault("finish_reason", None)
        if not isinstance(ch.setdefault("delta", {}), dict):
            raise common.ShapeError("a choice's delta is not an object")
    return obj


class OpenAIAdapter(HTTPAdapter):
    kind = "openai"
    default_base_url = "https://api.openai.com/v1"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._chat_url = f"{self.base_url}/chat/completions"
        self._embed_url = f"{self.base_url}/embeddings"

    # Azure overrides these three.
    def chat_url(self, target: Target) -> str:
        return self._chat_url

    def embed_url(self, target: Target) -> str:
        return self._embed_url

    def prepare(self, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("model") != target.upstream:
            body = {**body, "model": target.upstream}
        return body

    def prepare_chat(self, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        body = self.prepare(target, body)
        messages = common.short_tool_ids(body.get("messages"), MAX_TOOL_CALL_ID)
        if messages is not body.get("messages"):
            body = {**body, "messages": messages}
        return body

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        body = self.prepare_chat(target, body)
        if body.get("stream") or "stream_options" in body:
            # stream_options without stream is a 400 at OpenAI.
            body = {k: v for k, v in body.items() if k not in ("stream", "stream_options")}
        result = await self.post_json(self.chat_url(target), body, timeout=timeout)
        if "choices" not in result:
            raise common.bad_payload(self.name, "no choices in the completion")
        try:
            return normalise_completion(result)
        except common.ShapeError as exc:
            raise common.bad_payload(self.name, str(exc)) from None

    async def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        body = self.prepare_chat(target, body)
        if body.get("stream") is not True:
            body = {**body, "stream": True}
        out = ChunkStream(common.completion_id(), common.now())
        async for _event, data in self.post_sse(self.chat_url(target), body, timeout=timeout):
            if data == "[DONE]":
                break
            obj = self.decode_event(data)
            if not isinstance(obj, dict):
                raise common.bad_payload(self.name, "a stream event is not an object")
            if "error" in obj and "choices" not in obj:
                # OpenAI reports failures after the headers as an error object in the stream.
                raise common.status_error(self.name, 502, data.encode(), {}, self._secrets)
            try:
                if obj.get("object") == "chat.completion":
                    # A server that ignored stream=true and answered one whole completion.
                    for ch in normalise_completion(obj)["choices"]:
                        msg = ch.get("message") or {}
                        delta = {k: msg[k] for k in ("role", "content", "tool_calls") if msg.get(k) is not None}
                        for i, tc in enumerate(common.objs(delta.get("tool_calls"), "tool_calls")):
                            tc.setdefault("index", i)
                        ch["delta"] = delta
                        ch.pop("message", None)
                    if "usage" in obj:
                        # The usage goes last, on a chunk of its own, as OpenAI sends it.
                        usage = obj.pop("usage")
                        out.push(common.chunk(obj["id"], obj["created"], obj.get("model", ""), [], usage))
                    obj["object"] = "chat.completion.chunk"
                    sent = out.push(obj)
                    if sent is not None:
                        yield sent
                    break
                normalise_chunk(obj, out.id, out.created)
            except common.ShapeError as exc:
                raise common.bad_payload(self.name, f"{exc} in a stream event") from None
            sent = out.push(obj)
            if sent is not None:
                yield sent
        else:
            if not out.finished:
                raise self.stream_cut("the stream ended before [DONE]")
        for sent in out.end():
            yield sent

    async def embed(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        result = await self.post_json(self.embed_url(target), self.prepare(target, body), timeout=timeout)
        if not isinstance(result.get("data"), list):
            raise common.bad_payload(self.name, "no data in the embeddings answer")
        if not all(isinstance(d, dict) for d in result["data"]):
            raise common.bad_payload(self.name, "an embedding entry is not an object")
        try:
            common.conform_embeddings(result["data"], body)
        except (common.ShapeError, TypeError, ValueError, OverflowError, struct.error):
            raise common.bad_payload(self.name, "an embedding that is neither numbers nor base64") from None
        result.setdefault("object", "list")
        result.setdefault("model", target.upstream)
        result.setdefault("usage", {"prompt_tokens": 0, "total_tokens": 0})
        return result
