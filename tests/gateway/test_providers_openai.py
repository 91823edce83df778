"""OpenAI-compatible and Azure adapters against the fake upstreams: pass-through, URLs, headers, streams."""
from __future__ import annotations

import pytest

from dsl.ast import EnvRef
from dsl.decision import Target
from gateway.providers import make_adapter
from gateway.providers.azure import DEFAULT_API_VERSION
from tests.gateway.fakes import (Behaviour, FakeUpstream, assemble, collect, floats_of, run, validate_chat,
                                 validate_chunk, validate_embeddings)

BODY = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3,
        "some_future_field": {"x": 1}}


@pytest.fixture(scope="module")
def openai_fake():
    with FakeUpstream("openai", key="sk-openai-secret-1") as fake:
        yield fake


@pytest.fixture(scope="module")
def azure_fake():
    with FakeUpstream("azure", key="azure-secret-2") as fake:
        yield fake


@pytest.fixture(autouse=True)
def _clean(request):
    for name in ("openai_fake", "azure_fake"):
        if name in request.fixturenames:
            request.getfixturevalue(name).clear()


def call(fake, method, body, target=None, provider=None, **kw):
    async def go():
        adapter = make_adapter(provider or fake.provider(), fake.env)
        try:
            t = target or Target("alias", fake.name, body.get("model") or "gpt-4o")
            if method == "stream":
                return await collect(adapter.chat_stream(t, body, **kw))
            return await getattr(adapter, method)(t, body, **kw)
        finally:
            await adapter.aclose()
    return run(go())


def test_chat_passes_the_body_through(openai_fake):
    reply = call(openai_fake, "chat", {**BODY, "stream": False})
    validate_chat(reply)
    assert reply["choices"][0]["message"]["content"] == "Hello from fake-openai."
    req = openai_fake.last
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-openai-secret-1"
    assert req.json["some_future_field"] == {"x": 1}  # unknown fields survive
    assert req.json["temperature"] == 0.3 and not req.json.get("stream")


def test_chat_sets_the_upstream_model_and_extra_headers(openai_fake):
    provider = openai_fake.provider(headers=(("OpenAI-Organization", "org-1"), ("X-Secret", EnvRef("FAKE_OPENAI_KEY"))))
    call(openai_fake, "chat", {**BODY, "model": "alias"}, target=Target("alias", "p", "gpt-4o-mini"), provider=provider)
    assert openai_fake.last.json["model"] == "gpt-4o-mini"
    assert openai_fake.last.headers["openai-organization"] == "org-1"
    assert openai_fake.last.headers["x-secret"] == "sk-openai-secret-1"


def test_chat_tool_calls_and_n(openai_fake):
    openai_fake.queue(Behaviour(tool_calls=[("get_weather", {"city": "Paris"})]))
    reply = call(openai_fake, "chat", {**BODY, "n": 2})
    validate_chat(reply)
    assert len(reply["choices"]) == 2
    tc = reply["choices"][0]["message"]["tool_calls"][0]
    assert tc["function"]["name"] == "get_weather" and tc["function"]["arguments"] == '{"city": "Paris"}'
    assert reply["choices"][0]["finish_reason"] == "tool_calls"


def test_compatible_server_missing_fields_are_filled(openai_fake):
    openai_fake.queue(Behaviour(body={"choices": [{"message": {"content": "x"}}], "model": "llama"}))
    reply = call(openai_fake, "chat", BODY)
    validate_chat(reply)
    assert reply["id"].startswith("chatcmpl-") and reply["choices"][0]["message"]["refusal"] is None


def test_stream_text_and_usage_only_when_asked(openai_fake):
    chunks = call(openai_fake, "stream", BODY)
    for c in chunks:
        validate_chunk(c)
    assert openai_fake.last.json["stream"] is True and "stream_options" not in openai_fake.last.json
    folded = assemble(chunks)
    assert folded[0]["content"] == "Hello from fake-openai." and folded[0]["finish_reason"] == "stop"
    assert folded["usage"] is None

    chunks = call(openai_fake, "stream", {**BODY, "stream_options": {"include_usage": True}})
    assert openai_fake.last.json["stream_options"] == {"include_usage": True}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0


def test_stream_tool_call_argument_deltas(openai_fake):
    openai_fake.queue(Behaviour(tool_calls=[("lookup", {"q": "abc", "n": 3})]))
    chunks = call(openai_fake, "stream", BODY)
    for c in chunks:
        validate_chunk(c)
    call0 = assemble(chunks)[0]["tool_calls"][0]
    assert call0["name"] == "lookup" and call0["arguments"] == '{"q": "abc", "n": 3}'
    arg_deltas = [c for c in chunks if c["choices"] and "tool_calls" in c["choices"][0]["delta"]]
    assert len(arg_deltas) >= 3


def test_stream_error_object_in_stream_raises(openai_fake):
    from gateway.errors import UpstreamError
    openai_fake.queue(Behaviour(error_event={"message": "server overloaded", "type": "server_error"}, stream_cut_after=2))
    got = []

    async def go():
        adapter = make_adapter(openai_fake.provider(), openai_fake.env)
        try:
            async for c in adapter.chat_stream(Target("a", "p", "gpt-4o"), BODY):
                got.append(c)
        finally:
            await adapter.aclose()
    with pytest.raises(UpstreamError, match="server overloaded"):
        run(go())
    assert len(got) == 2


def test_embeddings(openai_fake):
    reply = call(openai_fake, "embed", {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4},
                 target=Target("emb", "p", "text-embedding-3-small"))
    validate_embeddings(reply)
    assert openai_fake.last.path == "/v1/embeddings"
    assert [len(d["embedding"]) for d in reply["data"]] == [4, 4]


# --------------------------------------------------------------------------- Azure


def test_azure_deployment_url_api_key_and_no_model(azure_fake):
    t = Target("gpt4", "az", "my-deployment")
    reply = call(azure_fake, "chat", BODY, target=t)
    validate_chat(reply)
    req = azure_fake.last
    assert req.path == "/openai/deployments/my-deployment/chat/completions"
    assert req.query["api-version"] == DEFAULT_API_VERSION
    assert req.headers["api-key"] == "azure-secret-2" and "authorization" not in req.headers
    assert "model" not in req.json


def test_azure_api_version_stream_and_embeddings(azure_fake):
    provider = azure_fake.provider(api_version="2025-01-01-preview")
    t = Target("gpt4", "az", "dep")
    chunks = call(azure_fake, "stream", BODY, target=t, provider=provider)
    assert assemble(chunks)[0]["content"] == "Hello from fake-azure."
    assert azure_fake.last.query["api-version"] == "2025-01-01-preview"
    reply = call(azure_fake, "embed", {"model": "x", "input": "hello"}, target=Target("e", "az", "emb-dep"),
                 provider=provider)
    validate_embeddings(reply)
    assert azure_fake.last.path == "/openai/deployments/emb-dep/embeddings"


@pytest.mark.parametrize("method", ["chat", "stream"])
def test_long_tool_call_ids_are_shortened_consistently(openai_fake, method):
    # A conversation begun on Gemini carries its thought signature in the call ids; OpenAI caps ids at 40.
    long_a, long_b, short = "call_" + "a" * 24 + "_ts" + "Q" * 300, "call_" + "b" * 24 + "_ts" + "R" * 80, "call_1"
    body = {"model": "gpt-4o", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": i, "type": "function", "function": {"name": "weather", "arguments": "{}"}}
            for i in (long_a, long_b, short)]},
        {"role": "tool", "tool_call_id": long_a, "content": "3C"},
        {"role": "tool", "tool_call_id": long_b, "content": "4C"},
        {"role": "tool", "tool_call_id": short, "content": "5C"},
        {"role": "user", "content": "thanks"}]}
    call(openai_fake, method, body)
    sent = openai_fake.last.json["messages"]
    ids = [tc["id"] for tc in sent[1]["tool_calls"]]
    assert [m["tool_call_id"] for m in sent[2:5]] == ids  # each answer still matches its call
    assert all(len(i) <= 40 for i in ids) and len(set(ids)) == 3 and ids[2] == short
    assert body["messages"][1]["tool_calls"][0]["id"] == long_a  # the caller's body is not modified
    call(openai_fake, "chat", body)
    assert [tc["id"] for tc in openai_fake.last.json["messages"][1]["tool_calls"]] == ids  # deterministic


@pytest.mark.parametrize("kind", ["openai", "azure"])
def test_embeddings_base64_is_honoured_even_when_the_server_ignores_it(openai_fake, azure_fake, kind):
    # The fakes answer floats whatever encoding_format says, like many OpenAI-compatible servers.
    fake = openai_fake if kind == "openai" else azure_fake
    t = Target("emb", fake.name, "text-embedding-3-small")
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 4}
    floats = call(fake, "embed", body, target=t)
    b64 = call(fake, "embed", {**body, "encoding_format": "base64"}, target=t)
    assert fake.last.json["encoding_format"] == "base64"  # passed through: a server that knows it answers so
    validate_embeddings(floats)  # (the published contract describes only the float form)
    for f, e in zip(floats["data"], b64["data"]):
        assert isinstance(e["embedding"], str)
        assert floats_of(e["embedding"]) == pytest.approx(f["embedding"], rel=1e-6)


def test_embeddings_base64_from_a_server_that_defaults_to_it_become_floats_when_floats_were_asked(openai_fake):
    import base64
    import struct
    vec = [0.5, -0.25, 0.125]
    encoded = base64.b64encode(struct.pack("<3f", *vec)).decode()
    answer = {"object": "list", "model": "m", "data": [{"object": "embedding", "index": 0, "embedding": encoded}],
              "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    t = Target("emb", openai_fake.name, "m")
    openai_fake.queue(Behaviour(body=answer), Behaviour(body=answer))
    assert call(openai_fake, "embed", {"model": "m", "input": "x"}, target=t)["data"][0]["embedding"] == vec
    assert call(openai_fake, "embed", {"model": "m", "input": "x", "encoding_format": "base64"},
                target=t)["data"][0]["embedding"] == encoded
