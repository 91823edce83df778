"""Every adapter's streams hold to OpenAI's chunk contract (tests/gateway/stream_contract.py) for the shapes
the real providers send: Azure's prompt-filter chunk and Asynchronous Filter annotations, Gemini's repeated
finishReason and function calls fused with their finish, compatible servers that fuse the finish with the
last delta — and Azure's non-streamed filter fields are dropped."""
from __future__ import annotations

import json
from typing import Any

import pytest

from dsl.ast import Provider
from dsl.decision import Target
from gateway.providers import make_adapter
from gateway.providers.stream import ChunkStream, strip_filters
from tests.gateway.fakes import Behaviour, FakeUpstream, collect, fixture, run, validate_chat
from tests.gateway.stream_contract import check_stream, fold

T = Target("alias", "p", "dep-1")
MSG = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
CALLS = [("get_weather", {"city": "Paris"})]


@pytest.fixture(scope="module", params=["openai", "azure", "anthropic", "gemini"])
def fake(request):
    with FakeUpstream(request.param, key=f"key-{request.param}-0123456789") as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(request):
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").clear()


def stream(fake: FakeUpstream | None, behaviour: Behaviour | None = None, **body: Any) -> list[dict]:
    async def go() -> list[dict]:
        provider = fake.provider() if fake else Provider(name="mock", kind="mock", base_url="mock://")
        adapter = make_adapter(provider, fake.env if fake else {})
        try:
            return await collect(adapter.chat_stream(T, {"model": "x", "messages": MSG, **body}))
        finally:
            await adapter.aclose()

    if behaviour is not None:
        fake.queue(behaviour)
    return run(go())


def complete(fake: FakeUpstream, behaviour: Behaviour, **body: Any) -> dict:
    async def go() -> dict:
        adapter = make_adapter(fake.provider(), fake.env)
        try:
            return await adapter.chat(T, {"model": "x", "messages": MSG, **body})
        finally:
            await adapter.aclose()

    fake.queue(behaviour)
    return run(go())


# --------------------------------------------------------------------------- every adapter, every shape

SHAPES = {
    "openai": [Behaviour(), Behaviour(fused_finish=True)],
    "azure": [Behaviour(filters=True), Behaviour(filters=True, fused_finish=True)],
    "anthropic": [Behaviour()],
    "gemini": [Behaviour(), Behaviour(fused_finish=True), Behaviour(repeat_finish=True)],
}


@pytest.mark.parametrize("tools", [False, True])
@pytest.mark.parametrize("usage", [False, True])
def test_every_shape_of_every_adapter_is_an_openai_stream(fake: FakeUpstream, tools: bool, usage: bool) -> None:
    text = "Sunny and warm in Paris today."
    for shape in SHAPES[fake.kind]:
        b = Behaviour(**{**shape.__dict__, "text": None if tools else text, "tool_calls": CALLS if tools else None})
        body: dict[str, Any] = {"tools": TOOLS} if tools else {}
        if usage:
            body["stream_options"] = {"include_usage": True}
        chunks = stream(fake, b, **body)
        assert check_stream(chunks) == {0: "tool_calls" if tools else "stop"}, shape
        got_text, calls = fold(chunks)
        if tools:
            assert [(n, json.loads(a)) for n, a in calls] == CALLS
        else:
            assert got_text == text and calls == []
        assert (chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0) == usage


@pytest.mark.parametrize("body", [{}, {"tools": TOOLS}, {"n": 2}, {"n": 2, "stream_options": {"include_usage": True}}])
def test_mock_streams_are_openai_streams(body: dict) -> None:
    chunks = stream(None, **body)
    finishes = check_stream(chunks)
    n = body.get("n", 1)
    assert finishes == {i: "tool_calls" if "tools" in body else "stop" for i in range(n)}
    if "tools" in body:
        assert json.loads(fold(chunks)[1][0][1]).keys() == {"city"}


# --------------------------------------------------------------------------- Azure's filter shapes


@pytest.fixture
def azure():
    with FakeUpstream("azure", key="az-key-0123456789") as f:
        yield f


def test_azure_async_filter_stream_is_one_stream_without_filter_chunks(azure: FakeUpstream) -> None:
    shape = fixture("azure_filters.json")["async_filter"]
    chunks = stream(azure, Behaviour(events=[(None, e) for e in shape["events"]]))
    assert check_stream(chunks) == {0: "stop"}
    # Azure's id and timestamp (from its first content chunk), not the filter chunks' "" and 0.
    assert {c["id"] for c in chunks} == {"chatcmpl-A0zureStream01"}
    assert {c["created"] for c in chunks} == {1724000000}
    assert fold(chunks)[0] == shape["text"]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}]


def test_azure_blocking_annotation_after_the_finish_becomes_content_filter(azure: FakeUpstream) -> None:
    shape = fixture("azure_filters.json")["async_filter_blocked"]
    chunks = stream(azure, Behaviour(events=[(None, e) for e in shape["events"]]))
    assert check_stream(chunks) == {0: "content_filter"}


def test_azure_default_filter_tool_call_stream(azure: FakeUpstream) -> None:
    shape = fixture("azure_filters.json")["default_filter_tool_call"]
    chunks = stream(azure, Behaviour(events=[(None, e) for e in shape["events"]]), tools=TOOLS)
    assert check_stream(chunks) == {0: "tool_calls"}
    assert [(n, json.loads(a)) for n, a in fold(chunks)[1]] == CALLS


def test_azure_non_streamed_filter_fields_are_dropped(azure: FakeUpstream) -> None:
    reply = complete(azure, Behaviour(body=fixture("azure_filters.json")["completion"]["body"]))
    validate_chat(reply)
    assert "prompt_filter_results" not in reply and "content_filter_results" not in reply["choices"][0]
    assert reply["choices"][0]["message"]["content"] == "Color is the way light reflects."
    assert reply["choices"][0]["finish_reason"] == "stop"
    generated = complete(azure, Behaviour(filters=True, text="fine"))
    assert "prompt_filter_results" not in generated and "content_filter_results" not in generated["choices"][0]


def test_strip_filters_keeps_a_blocked_choice_visible() -> None:
    done = strip_filters({"prompt_filter_results": [], "choices": [
        {"index": 0, "finish_reason": "stop", "content_filter_results": {"violence": {"filtered": True}}},
        {"index": 1, "finish_reason": "length", "content_filter_results": {"violence": {"filtered": False}}}]})
    assert done == {"choices": [{"index": 0, "finish_reason": "content_filter"},
                                {"index": 1, "finish_reason": "length"}]}


# --------------------------------------------------------------------------- Gemini's finish shapes


@pytest.fixture
def gemini():
    with FakeUpstream("gemini", key="gm-key-0123456789") as f:
        yield f


def test_gemini_repeated_stop_finishes_once_after_all_the_text(gemini: FakeUpstream) -> None:
    shape = fixture("gemini_streams.json")["repeated_stop"]
    chunks = stream(gemini, Behaviour(events=[(None, e) for e in shape["events"]]))
    assert check_stream(chunks) == {0: "stop"}
    assert fold(chunks)[0] == shape["text"] and len(shape["text"]) == 225
    # The first chunk (17 characters) used to carry a finish of its own.
    assert chunks[0]["choices"][0]["delta"]["content"] == shape["text"][:17]
    assert chunks[0]["choices"][0]["finish_reason"] is None


@pytest.mark.parametrize("name", ["fused_tool_call", "text_then_fused_tool_calls"])
def test_gemini_fused_function_call_gets_a_finish_chunk_of_its_own(gemini: FakeUpstream, name: str) -> None:
    shape = fixture("gemini_streams.json")[name]
    chunks = stream(gemini, Behaviour(events=[(None, e) for e in shape["events"]]), tools=TOOLS,
                    stream_options={"include_usage": True})
    assert check_stream(chunks) == {0: "tool_calls"}
    text, calls = fold(chunks)
    assert text == shape.get("text", "") and [[n, json.loads(a)] for n, a in calls] == shape["calls"]
    finish = next(c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"])
    assert finish["choices"][0]["delta"] == {} and chunks[-1]["usage"]["completion_tokens"] > 0


# --------------------------------------------------------------------------- OpenAI-compatible oddities


def test_openai_whole_completion_answer_to_a_stream_is_split_into_chunks() -> None:
    with FakeUpstream("openai") as f:
        # body= answers with application/json: a server that ignored stream=true
        f.queue(Behaviour(body=f._completion({}, Behaviour(tool_calls=CALLS), "m")))
        chunks = stream(f, tools=TOOLS, stream_options={"include_usage": True})
    assert check_stream(chunks) == {0: "tool_calls"}
    assert [(n, json.loads(a)) for n, a in fold(chunks)[1]] == CALLS
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


# --------------------------------------------------------------------------- ChunkStream itself


def raw(cid: str, created: int, choices: list[dict], **extra: Any) -> dict:
    return {"id": cid, "object": "", "created": created, "model": extra.pop("model", ""), "choices": choices,
            **extra}


def delta(i: int, d: dict, finish: str | None = None, **extra: Any) -> dict:
    return {"index": i, "delta": d, "finish_reason": finish, "logprobs": None, **extra}


def test_chunk_stream_holds_finishes_and_usage_to_the_end() -> None:
    s = ChunkStream("chatcmpl-ours", 111, "m")
    out = [s.push(raw("up-1", 222, [delta(0, {"role": "assistant", "content": "a"}, "stop"),
                                    delta(1, {"role": "assistant", "content": "b"})]))]
    out.append(s.push(raw("", 0, [], usage={"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3})))
    out.append(s.push(raw("up-2", 333, [delta(1, {"content": "c"}, "length")])))
    out.append(s.push(raw("up-3", 444, [delta(0, {}, "stop")])))  # a repeated finish: nothing to send
    assert out[1] is None and out[3] is None
    out = [c for c in out if c] + s.end()
    assert [c["id"] for c in out] == ["up-1"] * 5 and {c["created"] for c in out} == {222}
    assert [c["choices"] for c in out[2:4]] == [[delta(0, {}, "stop")], [delta(1, {}, "length")]]
    assert out[-1]["choices"] == [] and out[-1]["usage"]["total_tokens"] == 3
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in out)
    assert s.end() == []


def test_chunk_stream_uses_its_own_id_when_the_upstream_gives_none_and_a_filter_verdict_sticks() -> None:
    s = ChunkStream("chatcmpl-ours", 111)
    first = s.push(raw("", 0, [delta(0, {"content": "x"}, content_filter_results={})], model="up-model"))
    assert first is not None and first["id"] == "chatcmpl-ours" and first["created"] == 111
    assert "content_filter_results" not in first["choices"][0]
    assert s.push(raw("later-id", 999, [{"index": 0, "finish_reason": None,
                                         "content_filter_results": {"sexual": {"filtered": True}}}])) is None
    assert s.push(raw("later-id", 999, [delta(0, {}, "stop")])) is None
    (end,) = s.end()
    assert end["id"] == "chatcmpl-ours" and end["model"] == "up-model"
    assert end["choices"][0]["finish_reason"] == "content_filter"
