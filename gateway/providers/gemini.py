"""Adapter for Google's Gemini API (generativelanguage v1beta): OpenAI chat requests →
``models/{model}:generateContent`` / ``:streamGenerateContent?alt=sse``, embeddings → ``:batchEmbedContents``.

The key goes in the ``x-goog-api-key`` header, never in the URL, so it cannot leak through a logged URL.
Tool results are matched to their function by name: Gemini's functionResponse carries the function name,
not a call id, so the name is looked up from the assistant tool call with the same id earlier in the history.

Thought signatures: Gemini 3 puts an opaque ``thoughtSignature`` on functionCall parts and refuses (400) a
later turn whose functionCall comes back without it. OpenAI's format has no place for it and the gateway
keeps no state, so it rides in the tool call id the client echoes: ``call_<24 hex>_ts<URL-safe base64 of
the signature>``; translating the history restores it, unchanged, on the functionCall part.
"""
from __future__ import annotations

import base64
import binascii
import re
from typing import Any, AsyncIterator, Mapping
from urllib.parse import quote

from dsl.decision import Target
from gateway.errors import InvalidRequest

from . import common
from .base import HTTPAdapter
from .stream import ChunkStream

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}

# JSON Schema keywords Gemini's Schema (an OpenAPI subset) rejects.
_UNSUPPORTED_SCHEMA_KEYS = frozenset({"$schema", "$id", "additionalProperties", "strict"})
# Where a schema holds subschemas: a map of name → schema (the names are data: a property may be called
# "strict"), a list of schemas, or one schema (a list too, for the old tuple form of ``items``).
# Every other keyword's value (enum, const, default, examples, required, ...) is data and left alone.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})
_SCHEMA_LISTS = frozenset({"anyOf", "allOf", "oneOf", "prefixItems"})
_SCHEMA_ONE = frozenset({"items", "additionalItems", "not", "if", "then", "else", "contains", "propertyNames",
                         "unevaluatedItems", "unevaluatedProperties"})


def clean_schema(schema: Any) -> Any:
    """A JSON Schema without the keywords Gemini rejects, removed only where they are keywords."""
    if not isinstance(schema, Mapping):
        return schema  # true / false schemas, or something Gemini will judge for itself
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _UNSUPPORTED_SCHEMA_KEYS:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, Mapping):
            value = {name: clean_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [clean_schema(sub) for sub in value]
        elif key in _SCHEMA_ONE:
            value = [clean_schema(sub) for sub in value] if isinstance(value, list) else clean_schema(value)
        out[key] = value
    return out


# --------------------------------------------------------------------------- thought signatures in call ids

_SIGNED_ID = re.compile(r"^call_[0-9a-f]{24}_ts([A-Za-z0-9_-]+)$")


def signed_call_id(signature: str | None) -> str:
    """A fresh tool call id, carrying ``signature`` (a functionCall's thoughtSignature) when there is one."""
    call_id = common.tool_call_id()
    if not signature:
        return call_id
    return f"{call_id}_ts{base64.urlsafe_b64encode(signature.encode()).decode().rstrip('=')}"


def call_id_signature(call_id: Any) -> str | None:
    """The thoughtSignature carried by a tool call id from `signed_call_id`, or None."""
    m = _SIGNED_ID.match(call_id) if isinstance(call_id, str) else None
    if m is None:
        return None
    data = m.group(1)
    try:
        return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4)).decode()
    except (binascii.Error, ValueError):
        return None  # not one of ours after all


# --------------------------------------------------------------------------- request


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            if part.get("text"):
                parts.append({"text": part["text"]})
        elif kind == "refusal":
            if part.get("refusal"):
                parts.append({"text": part["refusal"]})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else image
            if not isinstance(url, str) or not url:
                raise InvalidRequest("image_url part without a url", param="messages")
            parsed = common.parse_data_url(url)
            if parsed is not None:
                parts.append({"inlineData": {"mimeType": parsed[0], "data": parsed[1]}})
            else:
                parts.append({"fileData": {"fileUri": url}})
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            parts.append({"inlineData": {"mimeType": f"audio/{audio.get('format', 'wav')}",
                                         "data": audio.get("data", "")}})
        else:
            raise InvalidRequest(f"content part type {kind!r} is not supported by Gemini models", param="messages")
    return parts


def _function_response(content: Any) -> dict[str, Any]:
    # Gemini wants an object; a tool's JSON object answer goes through as it is, anything else is wrapped.
    text = common.text_of(content)
    try:
        value = common.loads(text)
    except ValueError:
        return {"content": text}
    return value if isinstance(value, dict) else {"content": value}


def translate_messages(messages: list[Mapping[str, Any]]) -> tuple[dict | None, list[dict[str, Any]]]:
    """OpenAI messages → (systemInstruction, contents)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        common.append_turn(contents, role, "parts", parts)

    for index, msg in enumerate(messages):
        role = msg.get("role")
        if role in ("system", "developer"):
            text = common.text_of(msg.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", _parts(msg.get("content")))
        elif role == "assistant":
            parts = _parts(msg.get("content"))
            legacy = msg.get("function_call")  # the deprecated form: a call answered by a `function` message
            if isinstance(legacy, Mapping):
                parts.append({"functionCall": {"name": legacy.get("name", ""),
                                               "args": common.parse_arguments(legacy.get("arguments"))}})
            for tc in common.function_calls({**msg, "function_call": None}, index, "Gemini models"):
                fn = tc.get("function") or {}
                name = fn.get("name", "")
                if tc.get("id"):
                    names[tc["id"]] = name
                part: dict[str, Any] = {"functionCall": {"name": name,
                                                         "args": common.parse_arguments(fn.get("arguments"))}}
                signature = call_id_signature(tc.get("id"))
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
            add("model", parts)
        elif role == "tool":
            name = names.get(msg.get("tool_call_id") or "") or msg.get("name") or ""
            if not name:
                raise InvalidRequest("a tool message must answer a tool call earlier in the conversation",
                                     param="messages")
            add("user", [{"functionResponse": {"name": name, "response": _function_response(msg.get("content"))}}])
        elif role == "function":  # the deprecated single-function form
            add("user", [{"functionResponse": {"name": msg.get("name", ""),
                                               "response": _function_response(msg.get("content"))}}])
        else:
            raise InvalidRequest(f"message role {role!r} is not supported by Gemini models", param="messages")
    return ({"parts": system} if system else None), contents


def _tool_config(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        cfg: dict[str, Any] = {"mode": "AUTO"}
    elif choice == "none":
        cfg = {"mode": "NONE"}
    elif choice == "required":
        cfg = {"mode": "ANY"}
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        cfg = {"mode": "ANY", "allowedFunctionNames": [choice["function"].get("name", "")]}
    else:
        raise InvalidRequest(f"tool_choice {choice!r} is not supported by Gemini models", param="tool_choice")
    return {"functionCallingConfig": cfg}


def to_gemini(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat completion request → a Gemini GenerateContentRequest."""
    system, contents = translate_messages(body.get("messages") or [])
    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = system
    tools, tool_choice = common.function_tools(body, "Gemini models")
    if tools:
        decls = []
        for fn in tools:
            decl: dict[str, Any] = {"name": fn.get("name", "")}
            if fn.get("description"):
                decl["description"] = fn["description"]
            if fn.get("parameters"):
                decl["parameters"] = clean_schema(fn["parameters"])
            decls.append(decl)
        out["tools"] = [{"functionDeclarations": decls}]
        cfg = _tool_config(tool_choice)
        if cfg:
            out["toolConfig"] = cfg
    gen: dict[str, Any] = {}
    for src, dst in (("temperature", "temperature"), ("top_p", "topP"), ("seed", "seed"),
                     ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty")):
        if body.get(src) is not None:
            gen[dst] = body[src]
    mt = common.max_tokens(body)
    if mt is not None:
        gen["maxOutputTokens"] = mt
    stops = common.stop_list(body)
    if stops:
        gen["stopSequences"] = stops
    if (body.get("n") or 1) > 1:
        gen["candidateCount"] = body["n"]
    fmt = body.get("response_format")
    if isinstance(fmt, Mapping) and fmt.get("type") in ("json_object", "json_schema"):
        gen["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        if schema:
            gen["responseSchema"] = clean_schema(schema)
    if gen:
        out["generationConfig"] = gen
    return out


# --------------------------------------------------------------------------- response


def gemini_usage(meta: Any) -> dict[str, int] | None:
    if not meta or not isinstance(meta, Mapping):
        return None
    prompt = common.count(meta.get("promptTokenCount"))
    # Thinking tokens are billed as output.
    completion = common.count(meta.get("candidatesTokenCount")) + common.count(meta.get("thoughtsTokenCount"))
    total = common.count(meta.get("totalTokenCount")) or prompt + completion
    return common.usage(prompt, completion, total)


def _candidate_parts(cand: Mapping[str, Any]) -> tuple[str, list[tuple[str, dict, str | None]]]:
    """(text, [(function name, args, thoughtSignature)]) of one candidate; a wrong-shaped one raises
    common.ShapeError."""
    texts, calls = [], []
    content = common.obj(cand.get("content"), "a candidate's content")
    for part in common.objs(content.get("parts"), "a candidate's parts"):
        if part.get("thought"):
            continue  # thought summaries are not the answer
        if "text" in part:
            texts.append(common.string(part["text"], "a part's text"))
        elif "functionCall" in part:
            fc = common.obj(part["functionCall"], "a functionCall")
            calls.append((common.string(fc.get("name"), "a functionCall name"),
                          dict(common.obj(fc.get("args"), "a functionCall's args")),
                          common.string(part.get("thoughtSignature"), "a thoughtSignature") or None))
    return "".join(texts), calls


def _finish(cand: Mapping[str, Any], has_calls: bool) -> str | None:
    reason = cand.get("finishReason")
    if reason is None or reason == "FINISH_REASON_UNSPECIFIED":
        return None
    if has_calls and reason == "STOP":
        return "tool_calls"
    return FINISH_REASONS.get(str(reason), "stop")


def from_gemini(resp: Mapping[str, Any], model: str) -> dict[str, Any]:
    """A Gemini GenerateContentResponse → an OpenAI ChatCompletion."""
    choices = []
    for i, cand in enumerate(common.objs(resp.get("candidates"), "candidates")):
        text, calls = _candidate_parts(cand)
        tool_calls = [common.tool_call(signed_call_id(signature), name, common.dumps(args).decode())
                      for name, args, signature in calls]
        finish = _finish(cand, bool(calls)) or ("tool_calls" if calls else "stop")
        content = text if (text or not calls) else None
        index = cand.get("index", i)
        if not isinstance(index, int):
            raise common.ShapeError("a candidate's index is not a number")
        choices.append(common.choice(index, common.message(content, tool_calls or None), finish))
    if not choices:
        # The prompt itself was blocked (promptFeedback.blockReason): no candidates at all.
        choices.append(common.choice(0, common.message(""), "content_filter"))
    cid = common.completion_id(common.string(resp.get("responseId"), "the responseId"))
    return common.completion(cid, common.string(resp.get("modelVersion"), "the modelVersion") or model, choices,
                             gemini_usage(resp.get("usageMetadata")) or common.usage(0, 0))


class GeminiAdapter(HTTPAdapter):
    kind = "gemini"
    default_base_url = "https://generativelanguage.googleapis.com/v1beta"

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._urls: dict[tuple[str, str], str] = {}

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-goog-api-key": key}

    def _url(self, upstream: str, method: str) -> str:
        url = self._urls.get((upstream, method))
        if url is None:
            name = upstream if upstream.startswith(("models/", "tunedModels/")) else f"models/{upstream}"
            url = f"{self.base_url}/{quote(name, safe='/')}:{method}"
            self._urls[(upstream, method)] = url
        return url

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        result = await self.post_json(self._url(target.upstream, "generateContent"), to_gemini(body),
                                      timeout=timeout)
        try:
            return from_gemini(result, target.upstream)
        except common.ShapeError as exc:
            raise common.bad_payload(self.name, str(exc)) from None

    async def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        url = self._url(target.upstream, "streamGenerateContent?alt=sse")
        include_usage = common.wants_usage(body)
        cid, created, model = common.completion_id(), common.now(), target.upstream
        # Gemini may repeat finishReason on every chunk and fuses a function call with its finish: the
        # ChunkStream sends each choice's finish once, on a chunk of its own, at the end.
        out_stream = ChunkStream(cid, created, model)
        started: set[int] = set()  # candidate indexes that already got their role chunk
        tool_counts: dict[int, int] = {}
        finished: set[int] = set()
        last_usage: dict[str, int] | None = None
        try:
            async for _event, data in self.post_sse(url, to_gemini(body), timeout=timeout):
                obj = self.decode_event(data)
                if isinstance(obj, list):  # a JSON-array stream (alt=sse ignored): same objects
                    obj = obj[0] if obj else {}
                if not isinstance(obj, dict):
                    raise common.bad_payload(self.name, "a stream event is not an object")
                if "error" in obj:
                    err = obj["error"] if isinstance(obj["error"], Mapping) else {}
                    status = err.get("code") if isinstance(err.get("code"), int) else 502
                    raise common.status_error(self.name, status, data.encode(), {}, self._secrets)
                if obj.get("responseId"):
                    cid = common.completion_id(common.string(obj["responseId"], "the responseId"))
                model = common.string(obj.get("modelVersion"), "the modelVersion") or model
                last_usage = gemini_usage(obj.get("usageMetadata")) or last_usage
                candidates = common.objs(obj.get("candidates"), "candidates")
                if not candidates and common.obj(obj.get("promptFeedback"), "promptFeedback").get("blockReason"):
                    sent = out_stream.push(common.chunk(
                        cid, created, model, [common.delta_choice(0, {"role": "assistant", "content": ""},
                                                                  "content_filter")]))
                    if sent is not None:
                        yield sent
                    finished.add(0)
                    continue
                out = []
                for i, cand in enumerate(candidates):
                    idx = cand.get("index", i)
                    if not isinstance(idx, int):
                        raise common.ShapeError("a candidate's index is not a number")
                    text, calls = _candidate_parts(cand)
                    delta: dict[str, Any] = {}
                    if idx not in started:
                        started.add(idx)
                        delta["role"] = "assistant"
                    if text or "role" in delta:
                        delta["content"] = text
                    if calls:
                        # Gemini sends each function call whole, never split across events.
                        base = tool_counts.get(idx, 0)
                        delta["tool_calls"] = [
                            {"index": base + k, "id": signed_call_id(signature), "type": "function",
                             "function": {"name": name, "arguments": common.dumps(args).decode()}}
                            for k, (name, args, signature) in enumerate(calls)]
                        tool_counts[idx] = base + len(calls)
                    finish = _finish(cand, tool_counts.get(idx, 0) > 0)
                    if finish:
                        finished.add(idx)
                    if delta or finish:
                        out.append(common.delta_choice(idx, delta, finish))
                if out:
                    sent = out_stream.push(common.chunk(cid, created, model, out))
                    if sent is not None:
                        yield sent
        except common.ShapeError as exc:
            raise common.bad_payload(self.name, f"{exc} in a stream event") from None
        if not finished:
            raise self.stream_cut("the stream ended before a finish reason")
        if include_usage:
            out_stream.push(common.chunk(cid, created, model, [], last_usage or common.usage(0, 0)))
        for sent in out_stream.end():
            yield sent

    async def embed(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
            raise InvalidRequest("Gemini embeddings take a string or a list of strings", param="input")
        name = target.upstream if target.upstream.startswith("models/") else f"models/{target.upstream}"
        dims = body.get("dimensions")
        requests = []
        for text in inputs:
            req: dict[str, Any] = {"model": name, "content": {"parts": [{"text": text}]}}
            if dims:
                req["outputDimensionality"] = dims
            requests.append(req)
        result = await self.post_json(self._url(target.upstream, "batchEmbedContents"), {"requests": requests},
                                      timeout=timeout)
        embeddings = result.get("embeddings")
        if not isinstance(embeddings, list) or len(embeddings) != len(inputs):
            raise common.bad_payload(self.name, "embeddings missing from the answer")
        vectors = []
        for e in embeddings:
            values = e.get("values") if isinstance(e, Mapping) else None
            if not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       for v in values):
                raise common.bad_payload(self.name, "an embedding without a list of numbers")
            vectors.append([float(v) for v in values])
        tokens = sum(common.estimate_tokens(t) for t in inputs)  # Gemini does not report embedding usage
        return common.embedding_list(target.upstream, vectors, tokens, base64_out=common.wants_base64(body))
