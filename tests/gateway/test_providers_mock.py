"""The offline mock provider: deterministic replies, streams, tool calls, limits and embeddings."""
from __future__ import annotations

import json
import math

import jsonschema
import pytest

from dsl.ast import Provider
from dsl.decision import Target
from gateway.providers import make_adapter
from gateway.providers.mock import MockAdapter
from tests.gateway.fakes import (assemble, collect, floats_of, run, validate_chat, validate_chunk,
                                 validate_embeddings)

T = Target("mock-fast", "mock", "mock-1")
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "scale": {"enum": ["C", "F"]},
                   "lat": {"type": "number"}, "note": {"type": "string"}},
    "required": ["city", "days", "scale", "lat"]}}},
    {"type": "function", "function": {"name": "other", "parameters": {"type": "object", "properties": {}}}}]


def adapter(base_url: str | None = None) -> MockAdapter:
    a = make_adapter(Provider(name="mock", kind="mock", base_url=base_url), {})
    assert isinstance(a, MockAdapter)
    return a


def chat(body, a=None):
    return run((a or adapter()).chat(T, body))


def stream(body, a=None):
    return run(collect((a or adapter()).chat_stream(T, body)))


def user(text: str) -> dict:
    return {"messages": [{"role": "user", "content": text}]}


def test_deterministic_reply():
    body = user("What is the capital of France? Please answer at length, with history and more details.")
    r1, r2 = chat(body), chat(body)
    validate_chat(r1)
    assert r1["choices"] == r2["choices"] and r1["usage"] == r2["usage"]
    assert r1["choices"][0]["message"]["content"] == "Mock reply to: " + body["messages"][0]["content"][:60]
    assert chat(user("something else"))["choices"][0]["message"]["content"] != r1["choices"][0]["message"]["content"]
    assert r1["usage"]["prompt_tokens"] > 0 and r1["usage"]["completion_tokens"] > 0
    assert r1["model"] == "mock-1"


def test_n_max_tokens_and_stop():
    r = chat({**user("hello world"), "n": 3})
    validate_chat(r)
    assert [c["index"] for c in r["choices"]] == [0, 1, 2]
    assert len({c["message"]["content"] for c in r["choices"]}) == 3
    r = chat({**user("hello world"), "max_tokens": 2})
    assert r["choices"][0]["finish_reason"] == "length" and len(r["choices"][0]["message"]["content"]) <= 8
    r = chat({**user("hello world"), "stop": ["world"]})
    assert r["choices"][0]["message"]["content"] == "Mock reply to: hello " and r["choices"][0]["finish_reason"] == "stop"


def test_stream_matches_chat_in_several_chunks():
    body = {**user("tell me a story about dragons"), "stream_options": {"include_usage": True}}
    chunks = stream(body)
    for c in chunks:
        validate_chunk(c)
    folded = assemble(chunks)
    whole = chat(body)
    assert folded[0]["content"] == whole["choices"][0]["message"]["content"]
    assert folded[0]["role"] == "assistant" and folded[0]["finish_reason"] == "stop"
    assert len([c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]) >= 3
    assert folded["usage"] == whole["usage"] and chunks[-1]["choices"] == []
    assert assemble(stream(user("tell me")))["usage"] is None


def test_tool_call_satisfies_the_schema():
    body = {**user("weather in Oslo"), "tools": TOOLS}
    r = chat(body)
    validate_chat(r)
    choice = r["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    tc = choice["message"]["tool_calls"][0]
    assert tc["function"]["name"] == "get_weather"
    args = json.loads(tc["function"]["arguments"])
    jsonschema.validate(args, TOOLS[0]["function"]["parameters"])
    assert chat(body)["choices"][0]["message"]["tool_calls"] == choice["message"]["tool_calls"]  # deterministic

    named = chat({**body, "tool_choice": {"type": "function", "function": {"name": "other"}}})
    assert named["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "other"
    assert chat({**body, "tool_choice": "none"})["choices"][0]["finish_reason"] == "stop"


def test_after_a_tool_result_the_mock_answers_in_text():
    body = {"messages": [{"role": "user", "content": "weather?"},
                         {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                                                               "function": {"name": "get_weather", "arguments": "{}"}}]},
                         {"role": "tool", "tool_call_id": "c1", "content": "sunny"}], "tools": TOOLS}
    assert chat(body)["choices"][0]["finish_reason"] == "stop"
    assert chat({**body, "tool_choice": "required"})["choices"][0]["finish_reason"] == "tool_calls"


def test_stream_tool_call():
    chunks = stream({**user("weather"), "tools": TOOLS})
    for c in chunks:
        validate_chunk(c)
    folded = assemble(chunks)
    call = folded[0]["tool_calls"][0]
    assert call["name"] == "get_weather" and call["id"]
    jsonschema.validate(json.loads(call["arguments"]), TOOLS[0]["function"]["parameters"])
    assert folded[0]["finish_reason"] == "tool_calls"


def test_embeddings_are_deterministic_unit_vectors():
    a = adapter()
    r = run(a.embed(T, {"model": "m", "input": ["a", "b", "a"]}))
    validate_embeddings(r)
    vecs = [d["embedding"] for d in r["data"]]
    assert all(len(v) == 16 for v in vecs) and vecs[0] == vecs[2] and vecs[0] != vecs[1]
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-9) for v in vecs)
    single = run(a.embed(T, {"model": "m", "input": "a", "dimensions": 64}))
    assert len(single["data"]) == 1 and len(single["data"][0]["embedding"]) == 64
    assert len(run(adapter("mock://?dims=32").embed(T, {"input": "x"}))["data"][0]["embedding"]) == 32


def test_embeddings_as_base64_are_little_endian_float32():
    a = adapter()
    floats = run(a.embed(T, {"model": "m", "input": ["a", "b"], "dimensions": 8}))
    b64 = run(a.embed(T, {"model": "m", "input": ["a", "b"], "dimensions": 8, "encoding_format": "base64"}))
    validate_embeddings(floats)  # (the published contract describes only the float form)
    for f, e in zip(floats["data"], b64["data"]):
        assert isinstance(e["embedding"], str)
        assert floats_of(e["embedding"]) == pytest.approx(f["embedding"], rel=1e-6)
    explicit = run(a.embed(T, {"model": "m", "input": "a", "encoding_format": "float"}))
    assert isinstance(explicit["data"][0]["embedding"], list)


def test_latency_settings_are_read_from_the_base_url():
    a = adapter("mock://?latency_ms=20&ttfb_ms=5")
    assert (a.ttfb, a.latency) == (0.005, 0.02)
    validate_chat(run(a.chat(T, user("hi"))))
    assert assemble(run(collect(a.chat_stream(T, user("hi")))))[0]["content"] == "Mock reply to: hi"
