"""Gemini adapter: OpenAI → generateContent translation, responses, SSE streams and embeddings,
against the fake Gemini server."""
from __future__ import annotations

import json

import pytest

from dsl.decision import Target
from gateway.providers import make_adapter
from gateway.providers.gemini import to_gemini
from tests.gateway.fakes import (Behaviour, FakeUpstream, assemble, collect, floats_of, run, validate_chat,
                                 validate_chunk, validate_embeddings)

T = Target("flash", "google", "gemini-2.0-flash")
JPEG = "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQAAAQABAAD"


@pytest.fixture(scope="module")
def fake():
    with FakeUpstream("gemini", key="AIza-secret-gem") as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(request):
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").clear()


def call(fake, method, body, target=T, **kw):
    async def go():
        adapter = make_adapter(fake.provider(), fake.env)
        try:
            if method == "stream":
                return await collect(adapter.chat_stream(target, body, **kw))
            return await getattr(adapter, method)(target, body, **kw)
        finally:
            await adapter.aclose()
    return run(go())


CONVERSATION = {
    "model": "gemini-2.0-flash",
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "What is in the picture, and the weather?"},
                                     {"type": "image_url", "image_url": {"url": JPEG}}]},
        {"role": "assistant", "content": "Checking.", "tool_calls": [
            {"id": "call_9", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_9", "content": '{"temp": 3}'},
        {"role": "user", "content": "And tomorrow?"},
    ],
    "tools": [{"type": "function", "function": {
        "name": "weather", "description": "Weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                       "additionalProperties": False}}}],
    "tool_choice": "required",
    "temperature": 0.2, "top_p": 0.8, "max_tokens": 100, "stop": ["END"], "n": 2, "seed": 7,
    "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
}


def test_request_translation(fake):
    reply = call(fake, "chat", CONVERSATION)
    validate_chat(reply)
    req = fake.last
    assert req.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "AIza-secret-gem" and "key" not in req.query
    sent = req.json
    assert sent["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert [c["role"] for c in sent["contents"]] == ["user", "model", "user"]
    assert sent["contents"][0]["parts"][1] == {"inlineData": {"mimeType": "image/jpeg",
                                                              "data": JPEG.split(",", 1)[1]}}
    assert sent["contents"][1]["parts"] == [{"text": "Checking."},
                                            {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}}]
    assert sent["contents"][2]["parts"] == [{"functionResponse": {"name": "weather", "response": {"temp": 3}}},
                                            {"text": "And tomorrow?"}]
    decl = sent["tools"][0]["functionDeclarations"][0]
    assert decl["name"] == "weather" and "additionalProperties" not in decl["parameters"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert sent["generationConfig"] == {"temperature": 0.2, "topP": 0.8, "seed": 7, "maxOutputTokens": 100,
                                        "stopSequences": ["END"], "candidateCount": 2,
                                        "responseMimeType": "application/json",
                                        "responseSchema": {"type": "object"}}
    assert len(reply["choices"]) == 2


def test_clean_schema_strips_keywords_but_never_property_names():
    from gateway.providers.gemini import clean_schema
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "urn:x", "type": "object",
        "additionalProperties": False, "strict": True,
        "properties": {
            "strict": {"type": "boolean", "description": "a parameter named strict"},
            "additionalProperties": {"type": "string"},
            "$id": {"type": "string"},
            "nested": {"type": "object", "additionalProperties": False, "strict": True,
                       "properties": {"strict": {"type": "integer", "$schema": "x"}}},
            "list": {"type": "array", "items": {"type": "object", "additionalProperties": {"type": "string"},
                                                "properties": {"$schema": {"type": "string"}}}},
            "either": {"anyOf": [{"type": "string", "strict": True}, {"type": "null"}]},
            "config": {"type": "object", "default": {"strict": True, "additionalProperties": 1},
                       "enum": [{"strict": False}]},
        },
        "required": ["strict", "additionalProperties"],
        "$defs": {"strict": {"type": "string", "additionalProperties": False}},
    }
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "strict": {"type": "boolean", "description": "a parameter named strict"},
            "additionalProperties": {"type": "string"},
            "$id": {"type": "string"},
            "nested": {"type": "object", "properties": {"strict": {"type": "integer"}}},
            "list": {"type": "array", "items": {"type": "object", "properties": {"$schema": {"type": "string"}}}},
            "either": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "config": {"type": "object", "default": {"strict": True, "additionalProperties": 1},
                       "enum": [{"strict": False}]},  # data, not schema: left as it is
        },
        "required": ["strict", "additionalProperties"],
        "$defs": {"strict": {"type": "string"}},
    }


def test_tool_parameter_named_strict_reaches_gemini(fake):
    params = {"type": "object", "additionalProperties": False,
              "properties": {"strict": {"type": "boolean"}, "query": {"type": "string"}},
              "required": ["strict", "query"]}
    call(fake, "chat", {"messages": [{"role": "user", "content": "search"}],
                        "tools": [{"type": "function", "function": {"name": "search", "strict": True,
                                                                    "parameters": params}}]})
    sent = fake.last.json["tools"][0]["functionDeclarations"][0]["parameters"]
    assert sent == {"type": "object", "properties": {"strict": {"type": "boolean"}, "query": {"type": "string"}},
                    "required": ["strict", "query"]}


def test_tool_choice_named_function_and_text_tool_result():
    body = {"messages": [{"role": "assistant", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "plain text"}],
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}}}
    out = to_gemini(body)
    assert out["toolConfig"] == {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}}
    assert out["contents"][1]["parts"][0]["functionResponse"] == {"name": "f", "response": {"content": "plain text"}}
    assert to_gemini({"messages": [], "tool_choice": "none", "tools": body["tools"]})["toolConfig"] == {
        "functionCallingConfig": {"mode": "NONE"}}


def test_response_text_usage_and_finish(fake):
    fake.queue(Behaviour(text="A cat.", usage=(30, 3)))
    reply = call(fake, "chat", {"messages": [{"role": "user", "content": "hi"}]})
    validate_chat(reply)
    assert reply["choices"][0]["message"]["content"] == "A cat." and reply["choices"][0]["finish_reason"] == "stop"
    assert reply["usage"] == {"prompt_tokens": 30, "completion_tokens": 3, "total_tokens": 33}
    for native, finish in (("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter")):
        fake.queue(Behaviour(finish=native))
        assert call(fake, "chat", {"messages": [{"role": "user", "content": "hi"}]})["choices"][0]["finish_reason"] == finish


def test_response_function_calls(fake):
    fake.queue(Behaviour(tool_calls=[("weather", {"city": "Oslo"}), ("time", {"tz": "CET"})]))
    reply = call(fake, "chat", {"messages": [{"role": "user", "content": "hi"}]})
    validate_chat(reply)
    choice = reply["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    calls = choice["message"]["tool_calls"]
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("weather", {"city": "Oslo"}), ("time", {"tz": "CET"})]
    assert len({c["id"] for c in calls}) == 2


def test_stream_text_and_usage(fake):
    fake.queue(Behaviour(text="one two three", usage=(9, 3)))
    chunks = call(fake, "stream", {"messages": [{"role": "user", "content": "hi"}],
                                   "stream_options": {"include_usage": True}})
    for c in chunks:
        validate_chunk(c)
    assert fake.last.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent" and fake.last.query["alt"] == "sse"
    folded = assemble(chunks)
    assert folded[0]["role"] == "assistant" and folded[0]["content"] == "one two three"
    assert folded[0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and folded["usage"]["total_tokens"] == 12


def test_stream_function_call(fake):
    fake.queue(Behaviour(tool_calls=[("weather", {"city": "Oslo"})]))
    chunks = call(fake, "stream", {"messages": [{"role": "user", "content": "hi"}]})
    for c in chunks:
        validate_chunk(c)
    folded = assemble(chunks)
    assert folded["usage"] is None
    call0 = folded[0]["tool_calls"][0]
    assert call0["name"] == "weather" and json.loads(call0["arguments"]) == {"city": "Oslo"} and call0["id"]
    assert folded[0]["finish_reason"] == "tool_calls"


def test_embeddings(fake):
    t = Target("emb", "google", "text-embedding-004")
    reply = call(fake, "embed", {"model": "text-embedding-004", "input": ["alpha", "beta"], "dimensions": 5}, target=t)
    validate_embeddings(reply)
    assert fake.last.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
    reqs = fake.last.json["requests"]
    assert reqs[0] == {"model": "models/text-embedding-004", "content": {"parts": [{"text": "alpha"}]},
                       "outputDimensionality": 5}
    assert [len(d["embedding"]) for d in reply["data"]] == [5, 5] and reply["usage"]["prompt_tokens"] > 0


def test_embeddings_as_base64(fake):
    t = Target("emb", "google", "text-embedding-004")
    body = {"model": "text-embedding-004", "input": ["alpha", "beta"], "dimensions": 5}
    floats = call(fake, "embed", body, target=t)
    b64 = call(fake, "embed", {**body, "encoding_format": "base64"}, target=t)
    validate_embeddings(floats)  # (the published contract describes only the float form)
    assert "encoding_format" not in json.dumps(fake.last.json)  # Gemini has no such field
    for f, e in zip(floats["data"], b64["data"]):
        assert isinstance(e["embedding"], str)
        assert floats_of(e["embedding"]) == pytest.approx(f["embedding"], rel=1e-6)


# --------------------------------------------------------------------------- thought signatures

SIG = "CiQBcsjafE3+k/9xYz=="  # opaque; standard base64 with + / = as Gemini sends it
WEATHER_TOOL = [{"type": "function", "function": {"name": "weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}]


def _follow_up(calls):
    """The client's next request: the assistant turn as it received it, the tool answers, a question."""
    return {"messages": [
        {"role": "user", "content": "Weather in Oslo and Rome?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]},
        *[{"role": "tool", "tool_call_id": c["id"], "content": '{"temp": 3}'} for c in calls],
        {"role": "user", "content": "Thanks"}], "tools": WEATHER_TOOL}


@pytest.mark.parametrize("method", ["chat", "stream"])
def test_thought_signature_round_trips_through_the_tool_call_id(fake, method):
    from gateway.providers.gemini import call_id_signature
    fake.queue(Behaviour(tool_calls=[("weather", {"city": "Oslo"}), ("weather", {"city": "Rome"})],
                         thought_signature=SIG))
    body = {"messages": [{"role": "user", "content": "Weather in Oslo and Rome?"}], "tools": WEATHER_TOOL}
    if method == "chat":
        reply = call(fake, "chat", body)
        validate_chat(reply)
        calls = [{"id": c["id"], **c["function"]} for c in reply["choices"][0]["message"]["tool_calls"]]
    else:
        chunks = call(fake, "stream", body)
        for c in chunks:
            validate_chunk(c)
        calls = [c for _, c in sorted(assemble(chunks)[0]["tool_calls"].items())]
    assert len(calls) == 2 and calls[0]["id"] != calls[1]["id"]
    assert all(c["id"].startswith("call_") and c["id"].replace("-", "").replace("_", "").isalnum() for c in calls)
    assert call_id_signature(calls[0]["id"]) == SIG and call_id_signature(calls[1]["id"]) is None

    call(fake, "chat", _follow_up(calls))  # the next turn goes back to Gemini
    model_turn = fake.last.json["contents"][1]
    assert model_turn["role"] == "model"
    assert model_turn["parts"] == [
        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}, "thoughtSignature": SIG},  # unchanged
        {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}]
    answers = fake.last.json["contents"][2]["parts"]
    assert [p["functionResponse"]["name"] for p in answers[:2]] == ["weather", "weather"]
    assert answers[2] == {"text": "Thanks"}


def test_ids_without_a_signature_send_none():
    from gateway.providers.gemini import call_id_signature
    for foreign in ("call_1", "toolu_01A", "call_" + "a" * 24, "call_" + "a" * 24 + "_ts!!", None, 7):
        assert call_id_signature(foreign) is None
    out = to_gemini(_follow_up([{"id": "call_abc", "name": "weather", "arguments": "{}"}]))
    assert out["contents"][1]["parts"] == [{"functionCall": {"name": "weather", "args": {}}}]
