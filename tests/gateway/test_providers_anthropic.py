"""Anthropic adapter: OpenAI → Messages translation (and a property over random conversations),
responses and SSE streams back to OpenAI's shape, against the fake Anthropic server."""
from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsl.decision import Target
from gateway.errors import InvalidRequest, UpstreamError
from gateway.providers import make_adapter
from gateway.providers.anthropic import to_anthropic, translate_messages
from tests.gateway.fakes import (Behaviour, FakeUpstream, assemble, collect, run, validate_chat, validate_chunk)

T = Target("sonnet", "claude", "claude-sonnet-4-5")
PNG = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream("anthropic", key="sk-ant-secret-9") as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(request):
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").clear()


def call(fake, method, body, **kw):
    async def go():
        adapter = make_adapter(fake.provider(), fake.env)
        try:
            if method == "stream":
                return await collect(adapter.chat_stream(T, body, **kw))
            return await getattr(adapter, method)(T, body, **kw)
        finally:
            await adapter.aclose()
    return run(go())


CONVERSATION = {
    "model": "claude-sonnet-4-5",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use metric units."}]},
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"},
                                     {"type": "image_url", "image_url": {"url": PNG}},
                                     {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
            {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
        {"role": "user", "content": "Thanks, which is warmer?"},
    ],
    "tools": [{"type": "function", "function": {"name": "weather", "description": "Current weather",
                                                "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                                                               "required": ["city"]}}}],
    "tool_choice": {"type": "function", "function": {"name": "weather"}},
    "parallel_tool_calls": False,
    "max_completion_tokens": 300,
    "stop": "END",
    "temperature": 1.5,
    "top_p": 0.9,
    "user": "user-42",
}


def test_request_translation(fake):
    reply = call(fake, "chat", CONVERSATION)
    validate_chat(reply)
    req = fake.last
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == "sk-ant-secret-9" and req.headers["anthropic-version"] == "2023-06-01"
    sent = req.json
    assert sent["model"] == "claude-sonnet-4-5" and sent["max_tokens"] == 300
    assert sent["system"] == "Be brief.\n\nUse metric units."
    assert sent["stop_sequences"] == ["END"] and sent["temperature"] == 1.0
    assert "top_p" not in sent  # Claude 4.5 models refuse temperature and top_p together
    assert sent["metadata"] == {"user_id": "user-42"}
    assert sent["tools"] == [{"name": "weather", "description": "Current weather",
                              "input_schema": CONVERSATION["tools"][0]["function"]["parameters"]}]
    assert sent["tool_choice"] == {"type": "tool", "name": "weather", "disable_parallel_tool_use": True}
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["user", "assistant", "user"]
    first = sent["messages"][0]["content"]
    assert first[0] == {"type": "text", "text": "Weather in Paris and Rome?"}
    assert first[1]["source"] == {"type": "base64", "media_type": "image/png", "data": PNG.split(",", 1)[1]}
    assert first[2]["source"] == {"type": "url", "url": "https://example.com/a.jpg"}
    uses = sent["messages"][1]["content"]
    assert [(u["type"], u["id"], u["input"]) for u in uses] == [("tool_use", "call_1", {"city": "Paris"}),
                                                                  ("tool_use", "call_2", {"city": "Rome"})]
    last = sent["messages"][2]["content"]
    assert last[0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"}
    assert last[1] == {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21C"}]}
    assert last[2] == {"type": "text", "text": "Thanks, which is warmer?"}


@pytest.mark.parametrize("choice, expected", [
    ("auto", {"type": "auto"}), ("none", {"type": "none"}), ("required", {"type": "any"}), (None, None)])
def test_tool_choice(choice, expected):
    body = {"messages": [{"role": "user", "content": "x"}], "tools": CONVERSATION["tools"]}
    if choice is not None:
        body["tool_choice"] = choice
    assert to_anthropic(body, "m").get("tool_choice") == expected
    assert to_anthropic({"messages": []}, "m")["max_tokens"] == 4096


@pytest.mark.parametrize("sampling, expected", [
    ({"temperature": 0.3, "top_p": 0.9}, {"temperature": 0.3}),
    ({"temperature": 0, "top_p": 0.5}, {"temperature": 0.0}),
    ({"top_p": 0.5}, {"top_p": 0.5}),
    ({"temperature": 0.7}, {"temperature": 0.7}),
    ({"temperature": None, "top_p": 0.5}, {"top_p": 0.5}),
    ({}, {}),
])
def test_temperature_and_top_p_are_never_sent_together(sampling, expected):
    sent = to_anthropic({"messages": [{"role": "user", "content": "x"}], **sampling}, "claude-sonnet-4-5")
    assert {k: sent[k] for k in ("temperature", "top_p") if k in sent} == expected


def test_n_greater_than_one_is_refused():
    with pytest.raises(InvalidRequest):
        to_anthropic({"messages": [{"role": "user", "content": "x"}], "n": 2}, "m")


def test_response_text_and_usage(fake):
    fake.queue(Behaviour(text="Rome is warmer.", usage=(40, 5)))
    reply = call(fake, "chat", {"messages": [{"role": "user", "content": "hi"}]})
    validate_chat(reply)
    assert reply["id"].startswith("chatcmpl-")
    msg = reply["choices"][0]
    assert msg["message"]["content"] == "Rome is warmer." and msg["finish_reason"] == "stop"
    assert reply["usage"] == {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45}


@pytest.mark.parametrize("native, finish", [("max_tokens", "length"), ("stop_sequence", "stop"),
                                            ("end_turn", "stop")])
def test_stop_reasons(fake, native, finish):
    fake.queue(Behaviour(finish=native))
    assert call(fake, "chat", {"messages": [{"role": "user", "content": "hi"}]})["choices"][0]["finish_reason"] == finish


def test_stream_error_event_after_content_raises_midway(fake):
    fake.queue(Behaviour(error_event={"type": "api_error", "message": "Internal"}, stream_cut_after=5))
    got = []

    async def go():
        adapter = make_adapter(fake.provider(), fake.env)
        try:
            async for c in adapter.chat_stream(T, {"messages": [{"role": "user", "content": "hi"}]}):
                got.append(c)
        finally:
            await adapter.aclose()
    with pytest.raises(UpstreamError, match="Internal"):
        run(go())
    assert len(got) == 2


def test_response_tool_use(fake):
    fake.queue(Behaviour(text="Let me check.", tool_calls=[("weather", {"city": "Oslo"}), ("time", {})]))
    reply = call(fake, "chat", {"messages": [{"role": "user", "content": "hi"}]})
    validate_chat(reply)
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "Let me check."
    calls = choice["message"]["tool_calls"]
    assert [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("function", "weather", {"city": "Oslo"}), ("function", "time", {})]
    assert all(c["id"].startswith("toolu_") for c in calls)


def test_stream_text_with_usage(fake):
    fake.queue(Behaviour(text="one two three four", usage=(12, 4)))
    chunks = call(fake, "stream", {"messages": [{"role": "user", "content": "hi"}],
                                   "stream_options": {"include_usage": True}})
    for c in chunks:
        validate_chunk(c)
    assert fake.last.json["stream"] is True
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "one "}
    assert len({c["id"] for c in chunks}) == 1
    folded = assemble(chunks)
    assert folded[0]["content"] == "one two three four" and folded[0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and folded["usage"] == {"prompt_tokens": 12, "completion_tokens": 4,
                                                                  "total_tokens": 16}


def test_stream_tool_use_argument_deltas(fake):
    fake.queue(Behaviour(text="Checking", tool_calls=[("weather", {"city": "Lisbon", "days": 3}), ("clock", {"tz": "UTC"})]))
    chunks = call(fake, "stream", {"messages": [{"role": "user", "content": "hi"}]})
    for c in chunks:
        validate_chunk(c)
    folded = assemble(chunks)
    assert folded["usage"] is None  # not asked for
    calls = folded[0]["tool_calls"]
    assert calls[0]["name"] == "weather" and json.loads(calls[0]["arguments"]) == {"city": "Lisbon", "days": 3}
    assert calls[1]["name"] == "clock" and json.loads(calls[1]["arguments"]) == {"tz": "UTC"}
    assert calls[0]["id"].startswith("toolu_") and folded[0]["finish_reason"] == "tool_calls"
    arg_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")
                  and "id" not in c["choices"][0]["delta"]["tool_calls"][0]]
    assert len(arg_chunks) >= 4  # arguments arrive in pieces, not whole


def test_stream_error_event_before_content_raises_first(fake):
    # After message_start and a ping, but before any content: nothing was yielded, so failover is possible.
    fake.queue(Behaviour(error_event={"type": "overloaded_error", "message": "Overloaded"}, stream_cut_after=2))
    got = []

    async def go():
        adapter = make_adapter(fake.provider(), fake.env)
        try:
            async for c in adapter.chat_stream(T, {"messages": [{"role": "user", "content": "hi"}]}):
                got.append(c)
        finally:
            await adapter.aclose()
    with pytest.raises(UpstreamError) as info:
        run(go())
    assert got == [] and info.value.retryable and info.value.status == 503


# --------------------------------------------------------------------------- property: translation keeps everything

_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


@st.composite
def conversations(draw):
    """Random OpenAI histories: system/user/assistant (text, parts, tool calls) and tool results."""
    messages, pending, n = [], [], 0
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["system", "user", "user_parts", "assistant", "assistant_tools", "tool"]))
        if kind == "system":
            messages.append({"role": "system", "content": draw(_text)})
        elif kind == "user":
            messages.append({"role": "user", "content": draw(_text)})
        elif kind == "user_parts":
            messages.append({"role": "user", "content": [{"type": "text", "text": t}
                                                         for t in draw(st.lists(_text, min_size=1, max_size=3))]})
        elif kind == "assistant":
            messages.append({"role": "assistant", "content": draw(_text)})
        elif kind == "assistant_tools":
            calls = []
            for _ in range(draw(st.integers(1, 3))):
                n += 1
                calls.append({"id": f"call_{n}", "type": "function",
                              "function": {"name": "f", "arguments": json.dumps({"v": draw(_text)})}})
            pending = [c["id"] for c in calls]
            messages.append({"role": "assistant", "content": draw(st.one_of(st.none(), _text)), "tool_calls": calls})
        elif pending:
            messages.append({"role": "tool", "tool_call_id": pending.pop(0), "content": draw(_text)})
    return messages


def _texts(blocks):
    for b in blocks:
        if b["type"] == "text":
            yield b["text"]
        elif b["type"] == "tool_result":
            yield b["content"]


@given(conversations())
def test_translation_keeps_texts_and_ids_and_alternates(messages):
    system, turns = translate_messages(messages)
    roles = [t["role"] for t in turns]
    assert all(a != b for a, b in zip(roles, roles[1:])), roles
    assert all(t["content"] for t in turns)

    sent_texts = [x for t in turns for x in _texts(t["content"])] + ([system] if system else [])
    joined = "\x00".join(sent_texts)
    for m in messages:
        if m["role"] == "system":
            assert m["content"] in system
        else:
            for part in ([m["content"]] if isinstance(m.get("content"), str) else
                         [p["text"] for p in m.get("content") or ()]):
                assert part in joined

    sent_uses = [(b["id"], b["input"]) for t in turns if t["role"] == "assistant" for b in t["content"]
                 if b["type"] == "tool_use"]
    want_uses = [(c["id"], json.loads(c["function"]["arguments"])) for m in messages for c in m.get("tool_calls") or ()]
    assert sent_uses == want_uses
    sent_results = [b["tool_use_id"] for t in turns if t["role"] == "user" for b in t["content"]
                    if b["type"] == "tool_result"]
    assert sent_results == [m["tool_call_id"] for m in messages if m["role"] == "tool"]
    for t in turns:  # tool results lead their user turn
        kinds = [b["type"] for b in t["content"]]
        if "tool_result" in kinds:
            assert kinds == sorted(kinds, key=lambda k: k != "tool_result")


# --------------------------------------------------------------------------- response_format

WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
                  "required": ["city", "temp"], "additionalProperties": False}
JSON_SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "weather_report", "strict": True,
                                                             "description": "Today's weather",
                                                             "schema": WEATHER_SCHEMA}}
ASK = [{"role": "user", "content": "Weather in Paris as JSON"}]


def test_response_format_json_schema_is_a_forced_tool():
    sent = to_anthropic({"messages": ASK, "response_format": JSON_SCHEMA_FORMAT}, "m")
    assert sent["tools"] == [{"name": "weather_report", "description": "Today's weather",
                              "input_schema": WEATHER_SCHEMA}]
    assert sent["tool_choice"] == {"type": "tool", "name": "weather_report"}


def test_response_format_json_object_is_a_forced_tool_taking_any_object():
    sent = to_anthropic({"messages": ASK, "response_format": {"type": "json_object"}}, "m")
    assert [(t["name"], t["input_schema"]) for t in sent["tools"]] == [("json_response", {"type": "object"})]
    assert sent["tool_choice"] == {"type": "tool", "name": "json_response"}


def test_response_format_text_changes_nothing():
    sent = to_anthropic({"messages": ASK, "response_format": {"type": "text"}}, "m")
    assert "tools" not in sent and "tool_choice" not in sent


@pytest.mark.parametrize("fmt", [JSON_SCHEMA_FORMAT, {"type": "json_object"}])
def test_response_format_with_tools_is_a_400(fmt):
    body = {"messages": ASK, "response_format": fmt, "tools": CONVERSATION["tools"]}
    with pytest.raises(InvalidRequest) as info:
        to_anthropic(body, "m")
    err = info.value
    assert (err.status, err.param) == (400, "response_format")
    assert "response_format with tools is not supported for Anthropic models" in err.message


def test_response_format_json_schema_answer_is_the_content(fake):
    fake.queue(Behaviour(tool_calls=[("weather_report", {"city": "Paris", "temp": 18.5})]))
    reply = call(fake, "chat", {"messages": ASK, "response_format": JSON_SCHEMA_FORMAT})
    validate_chat(reply)
    sent = fake.last.json
    assert sent["tool_choice"] == {"type": "tool", "name": "weather_report"}
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert json.loads(choice["message"]["content"]) == {"city": "Paris", "temp": 18.5}


def test_response_format_json_object_answer_is_the_content(fake):
    fake.queue(Behaviour(tool_calls=[("json_response", {"ok": True})], finish="max_tokens"))
    reply = call(fake, "chat", {"messages": ASK, "response_format": {"type": "json_object"}})
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "length"  # cut short stays visible
    assert json.loads(choice["message"]["content"]) == {"ok": True} and "tool_calls" not in choice["message"]


def test_response_format_stream_turns_input_json_deltas_into_content(fake):
    fake.queue(Behaviour(tool_calls=[("weather_report", {"city": "Paris", "temp": 18.5})], usage=(9, 7)))
    chunks = call(fake, "stream", {"messages": ASK, "response_format": JSON_SCHEMA_FORMAT,
                                   "stream_options": {"include_usage": True}})
    for c in chunks:
        validate_chunk(c)
    assert fake.last.json["tool_choice"] == {"type": "tool", "name": "weather_report"}
    folded = assemble(chunks)
    assert folded[0]["role"] == "assistant" and folded[0]["tool_calls"] == {}
    assert json.loads(folded[0]["content"]) == {"city": "Paris", "temp": 18.5}
    assert folded[0]["finish_reason"] == "stop" and folded["usage"]["completion_tokens"] == 7
    assert sum(1 for c in chunks for ch in c["choices"] if ch["delta"].get("content")) >= 2  # streamed, not whole


def test_response_format_stream_empty_input_is_an_empty_object(fake):
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "model": "m", "usage": {}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
            "type": "tool_use", "id": "toolu_1", "name": "json_response", "input": {}}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                 "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    fake.queue(Behaviour(events=events))
    folded = assemble(call(fake, "stream", {"messages": ASK, "response_format": {"type": "json_object"}}))
    assert folded[0]["content"] == "{}" and folded[0]["finish_reason"] == "stop" and folded[0]["tool_calls"] == {}
