"""Adapter for Anthropic's Messages API: OpenAI chat requests → ``POST /v1/messages`` and the reply
(and its SSE event stream) back to OpenAI's shape.

Translation rules worth knowing:
- system/developer messages become the top-level ``system`` string;
- turns are merged so roles strictly alternate (Anthropic requires it), and tool results — OpenAI's
  ``role: tool`` messages — become ``tool_result`` blocks at the start of a user turn;
- ``tool_choice: none`` keeps the tools (a history with tool_use blocks needs them) and sends
  ``{"type": "none"}``; ``parallel_tool_calls: false`` → ``disable_parallel_tool_use``;
- temperature is clamped to Anthropic's 0..1 range (OpenAI allows up to 2); with both temperature and
  top_p only temperature is sent (recent Claude models refuse the pair);
- ``response_format`` json_schema / json_object (which Messages has no field for) becomes one forced tool
  whose input_schema is the schema; its input comes back as the message content (a JSON string),
  finish_reason "stop", no tool_calls — streamed too. Together with the client's own tools it is a 400.
"""
from __future__ import annotations

from typing import Any, AsyncIterator, Mapping

from dsl.decision import Target
from gateway.errors import InvalidRequest, UpstreamError

from . import common
from .base import HTTPAdapter

API_VERSION = "2023-06-01"
WHO = "Anthropic models"
DEFAULT_MAX_TOKENS = 4096

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic's error types (in bodies and stream `error` events) → the HTTP status they stand for.
ERROR_TYPE_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}


# --------------------------------------------------------------------------- request


def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, Mapping) else image
    if not isinstance(url, str) or not url:
        raise InvalidRequest("image_url part without a url", param="messages")
    parsed = common.parse_data_url(url)
    if parsed is not None:
        mime, data = parsed
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            if part.get("text"):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "refusal":
            if part.get("refusal"):
                blocks.append({"type": "text", "text": part["refusal"]})
        elif kind == "image_url":
            blocks.append(_image_block(part))
        else:
            raise InvalidRequest(f"content part type {kind!r} is not supported by Anthropic models",
                                 param="messages")
    return blocks


def _tool_result(msg: Mapping[str, Any]) -> dict[str, Any]:
    call_id = msg.get("tool_call_id")
    if not call_id:
        raise InvalidRequest("a tool message needs tool_call_id", param="messages")
    content = msg.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    if isinstance(content, str):
        block["content"] = content
    elif content:
        block["content"] = [b for b in _content_blocks(content) if b["type"] in ("text", "image")]
    return block


def translate_messages(messages: list[Mapping[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """OpenAI messages → (system, Anthropic messages that strictly alternate user/assistant)."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []  # {"role", "content": [blocks]}, merged as they are appended

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        common.append_turn(turns, role, "content", blocks)

    for index, msg in enumerate(messages):
        role = msg.get("role")
        if role in ("system", "developer"):
            text = common.text_of(msg.get("content"))
            if text:
                system.append(text)
        elif role == "user":
            add("user", _content_blocks(msg.get("content")))
        elif role == "assistant":
            blocks = _content_blocks(msg.get("content"))
            for tc in common.function_calls(msg, index, WHO):
                fn = tc.get("function") or {}
                blocks.append({"type": "tool_use", "id": tc.get("id") or common.tool_call_id(),
                               "name": fn.get("name", ""), "input": common.parse_arguments(fn.get("arguments"))})
            add("assistant", blocks)
        elif role == "tool":
            add("user", [_tool_result(msg)])
        elif role == "function":
            raise common.unsupported(WHO, "legacy 'function' messages (use 'tool' messages)",
                                     f"messages[{index}].role")
        else:
            raise InvalidRequest(f"message role {role!r} is not supported by Anthropic models", param="messages")

    for turn in turns:
        # In a user turn Anthropic wants tool_result blocks before any other content.
        if turn["role"] == "user" and len(turn["content"]) > 1:
            blocks = turn["content"]
            results = [b for b in blocks if b["type"] == "tool_result"]
            if results and blocks[: len(results)] != results:
                turn["content"] = results + [b for b in blocks if b["type"] != "tool_result"]
    return ("\n\n".join(system) if system else None), turns


def translate_tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None:
        out: dict[str, Any] | None = None
    elif choice == "auto":
        out = {"type": "auto"}
    elif choice == "none":
        out = {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        out = {"type": "tool", "name": choice["function"].get("name", "")}
    else:
        raise InvalidRequest(f"tool_choice {choice!r} is not supported by Anthropic models", param="tool_choice")
    if parallel is False:
        out = out or {"type": "auto"}
        if out["type"] != "none":
            out["disable_parallel_tool_use"] = True
    return out


JSON_TOOL = "json_response"  # the forced tool's name when the json_schema names none (and for json_object)


def response_tool(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The forced tool that stands in for ``response_format`` json_schema / json_object, or None."""
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise InvalidRequest("response_format must be an object", param="response_format")
    kind = fmt.get("type")
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if spec is None:
            spec = {}
        if not isinstance(spec, Mapping):
            raise InvalidRequest("response_format.json_schema must be an object", param="response_format")
        schema = spec.get("schema")
        if schema is not None and not isinstance(schema, Mapping):
            raise InvalidRequest("response_format.json_schema.schema must be an object", param="response_format")
        tool: dict[str, Any] = {"name": str(spec.get("name") or JSON_TOOL)}
        description = spec.get("description")
        tool["description"] = str(description) if description else "Answer with JSON that matches the schema."
        tool["input_schema"] = dict(schema) if schema else {"type": "object"}
        return tool
    if kind == "json_object":
        return {"name": JSON_TOOL, "description": "Answer with a JSON object.", "input_schema": {"type": "object"}}
    return None  # "text", the default


def to_anthropic(body: Mapping[str, Any], upstream: str, *, stream: bool = False) -> dict[str, Any]:
    """An OpenAI chat completion request → an Anthropic Messages request."""
    if (body.get("n") or 1) > 1:
        raise InvalidRequest("Anthropic models return one choice; n > 1 is not supported", param="n")
    json_tool = response_tool(body)
    system, messages = translate_messages(body.get("messages") or [])
    out: dict[str, Any] = {
        "model": upstream,
        "messages": messages,
        "max_tokens": common.max_tokens(body) or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = system
    tools, tool_choice = common.function_tools(body, WHO)
    if json_tool is not None:
        if body.get("tools"):
            raise InvalidRequest("response_format with tools is not supported for Anthropic models: "
                                 "the JSON answer is itself a forced tool call; drop one of the two",
                                 param="response_format")
        out["tools"] = [json_tool]
        out["tool_choice"] = {"type": "tool", "name": json_tool["name"]}
    elif tools:
        out["tools"] = [
            {
                "name": fn.get("name", ""),
                **({"description": fn["description"]} if fn.get("description") else {}),
                "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
            }
            for fn in tools
        ]
        choice = translate_tool_choice(tool_choice, body.get("parallel_tool_calls"))
        if choice is not None:
            out["tool_choice"] = choice
    stops = common.stop_list(body)
    if stops:
        out["stop_sequences"] = stops
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    elif body.get("top_p") is not None:
        # Not both: Claude Sonnet 4.5, Haiku 4.5 and Opus 4.1+ answer 400 "temperature and top_p cannot
        # both be specified", and Anthropic advises altering only one for the others. Temperature wins.
        out["top_p"] = body["top_p"]
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    if stream:
        out["stream"] = True
    return out


# --------------------------------------------------------------------------- response


def anthropic_usage(u: Any) -> dict[str, int]:
    u = u if isinstance(u, Mapping) else {}
    # Cached input is billed separately by Anthropic but is still prompt the model read.
    prompt = (common.count(u.get("input_tokens")) + common.count(u.get("cache_read_input_tokens"))
              + common.count(u.get("cache_creation_input_tokens")))
    return common.usage(prompt, common.count(u.get("output_tokens")))


def from_anthropic(resp: Mapping[str, Any], json_tool: str | None = None) -> dict[str, Any]:
    """An Anthropic Message → an OpenAI ChatCompletion (a wrong-shaped message raises common.ShapeError).

    ``json_tool``: the name of the forced tool standing in for response_format; its input is the answer.
    """
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    answer: str | None = None
    for block in common.objs(resp.get("content"), "content"):
        kind = block.get("type")
        if kind == "text":
            texts.append(common.string(block.get("text"), "a text block's text"))
        elif kind == "tool_use":
            name = common.string(block.get("name"), "a tool_use name")
            arguments = common.dumps(common.obj(block.get("input"), "a tool_use input")).decode()
            if json_tool is not None and name == json_tool:
                answer = arguments
                continue
            calls.append(common.tool_call(common.string(block.get("id"), "a tool_use id") or common.tool_call_id(),
                                          name, arguments))
    reason = str(resp.get("stop_reason") or "end_turn")
    if json_tool is not None:
        # Only the JSON is the answer (any prose around the forced call would break the client's parse).
        finish = "stop" if reason == "tool_use" else STOP_REASONS.get(reason, "stop")
        msg = common.message(answer or "")
    else:
        finish = STOP_REASONS.get(reason, "stop")
        if calls and finish == "stop":
            finish = "tool_calls"
        msg = common.message("".join(texts) if texts or not calls else None, calls or None)
    mid = common.string(resp.get("id"), "the message id")
    return common.completion(common.completion_id(mid), common.string(resp.get("model"), "the model"),
                             [common.choice(0, msg, finish)],
                             anthropic_usage(resp.get("usage")))


def error_from_event(provider: str, obj: Mapping[str, Any], secrets: tuple[str, ...]) -> UpstreamError:
    err = obj.get("error") if isinstance(obj.get("error"), Mapping) else {}
    status = ERROR_TYPE_STATUS.get(str(err.get("type")), 502)
    return common.status_error(provider, status, common.dumps(obj), {}, secrets)


class AnthropicAdapter(HTTPAdapter):
    kind = "anthropic"
    default_base_url = "https://api.anthropic.com"
    static_headers = {"anthropic-version": API_VERSION}

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._url = f"{self.base_url}/v1/messages"

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"x-api-key": key}


    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        payload = to_anthropic(body, target.upstream)
        result = await self.post_json(self._url, payload, timeout=timeout)
        if result.get("type") == "error":
            raise error_from_event(self.name, result, self._secrets)
        if not isinstance(result.get("content"), list):
            raise common.bad_payload(self.name, "no content in the message")
        json_tool = response_tool(body)
        try:
            return from_anthropic(result, json_tool["name"] if json_tool else None)
        except common.ShapeError as exc:
            raise common.bad_payload(self.name, str(exc)) from None

    async def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        payload = to_anthropic(body, target.upstream, stream=True)
        json_tool = (response_tool(body) or {}).get("name")
        include_usage = common.wants_usage(body)
        cid, created, model = common.completion_id(), common.now(), target.upstream
        tool_index: dict[int, int] = {}  # Anthropic content-block index → OpenAI tool_calls index
        json_blocks: set[int] = set()  # content blocks of the response_format tool: their input is the content
        json_sent = False
        usage_seen: dict[str, Any] = {}
        # The role rides on the first real chunk rather than on message_start: Anthropic can still send an
        # error event (overloaded) right after message_start, and until something is yielded the executor
        # may fail over.
        role_sent = False

        def make(delta: dict[str, Any], finish: str | None = None) -> dict:
            nonlocal role_sent
            if not role_sent:
                role_sent = True
                delta = {"role": "assistant", **delta}
            return common.chunk(cid, created, model, [common.delta_choice(0, delta, finish)])

        try:
            async for event, data in self.post_sse(self._url, payload, timeout=timeout):
                obj = self.decode_event(data)
                if not isinstance(obj, dict):
                    raise common.bad_payload(self.name, "a stream event is not an object")
                kind = obj.get("type") or event
                if kind == "message_start":
                    message = common.obj(obj.get("message"), "message_start's message")
                    if message.get("id"):
                        cid = common.completion_id(common.string(message["id"], "the message id"))
                    model = common.string(message.get("model"), "the model") or model
                    usage_seen.update(common.obj(message.get("usage"), "the usage"))
                elif kind == "content_block_start":
                    block = common.obj(obj.get("content_block"), "a content block")
                    if json_tool is not None:
                        if block.get("type") == "tool_use" and block.get("name") == json_tool:
                            json_blocks.add(obj.get("index", 0))
                        # any prose around the forced call is not part of the JSON answer
                    elif block.get("type") == "tool_use":
                        ti = tool_index[obj.get("index", 0)] = len(tool_index)
                        call_id = common.string(block.get("id"), "a tool_use id") or common.tool_call_id()
                        name = common.string(block.get("name"), "a tool_use name")
                        yield make({"tool_calls": [{"index": ti, "id": call_id, "type": "function",
                                                    "function": {"name": name, "arguments": ""}}]})
                    elif block.get("type") == "text" and block.get("text"):
                        yield make({"content": common.string(block["text"], "a text block's text")})
                elif kind == "content_block_delta":
                    delta = common.obj(obj.get("delta"), "a content block delta")
                    dkind = delta.get("type")
                    if dkind == "text_delta":
                        text = common.string(delta.get("text"), "a text delta")
                        if json_tool is None:
                            yield make({"content": text})
                    elif dkind == "input_json_delta":
                        partial = common.string(delta.get("partial_json"), "an input_json_delta")
                        if obj.get("index", 0) in json_blocks:
                            if partial:
                                json_sent = True
                                yield make({"content": partial})
                            continue
                        ti = tool_index.get(obj.get("index", 0))
                        if ti is not None and partial:
                            yield make({"tool_calls": [{"index": ti, "function": {"arguments": partial}}]})
                    # thinking / signature / citation deltas have no OpenAI equivalent
                elif kind == "content_block_stop":
                    if obj.get("index", 0) in json_blocks and not json_sent:
                        json_sent = True
                        yield make({"content": "{}"})  # an empty input streams no delta; the answer is {}
                elif kind == "message_delta":
                    usage_seen.update({k: v for k, v in common.obj(obj.get("usage"), "the usage").items()
                                       if v is not None})
                    reason = common.obj(obj.get("delta"), "a message delta").get("stop_reason")
                    if reason:
                        if json_tool is not None and reason == "tool_use":
                            finish = "stop"  # the forced call is the answer, not a call for the client
                        else:
                            finish = STOP_REASONS.get(str(reason), "stop")
                        if finish == "stop" and tool_index:
                            finish = "tool_calls"
                        yield make({}, finish)
                elif kind == "message_stop":
                    if include_usage:
                        yield common.chunk(cid, created, model, [], anthropic_usage(usage_seen))
                    return
                elif kind == "error":
                    raise error_from_event(self.name, obj, self._secrets)
                # ping and unknown future events need no chunk
        except common.ShapeError as exc:
            raise common.bad_payload(self.name, f"{exc} in a stream event") from None
        raise self.stream_cut("the stream ended before message_stop")
