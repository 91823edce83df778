"""The official `openai` SDK (sync and async) against a running gateway: the default mock policy, and fake
OpenAI / Anthropic / Gemini upstreams. Every body is held to OpenAI's published contracts; failures
surface as the SDK's own exception classes; failover shows in x-open-router-attempts."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import Behaviour, contract_validator, validate_chat, validate_chunk, validate_embeddings

from .conftest import Fakes

MSG = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]


def sync_client(gw: GatewayServer, key: str | None = None, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=key or gw.key, timeout=30, **kw)


def async_client(gw: GatewayServer, key: str | None = None, **kw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url + "/v1", api_key=key or gw.key, timeout=30, **kw)


def raw_chat(client: openai.OpenAI, **kw: Any) -> tuple[Any, dict, Any]:
    """(parsed completion, raw JSON, httpx response) — the JSON is checked against the contract."""
    raw = client.chat.completions.with_raw_response.create(**kw)
    body = raw.http_response.json()
    validate_chat(body)
    assert raw.headers["x-request-id"] and raw.headers["x-open-router-policy"]
    return raw.parse(), body, raw.http_response


def stream_chunks(client: openai.OpenAI, **kw: Any) -> list[Any]:
    chunks = list(client.chat.completions.create(stream=True, **kw))
    for c in chunks:
        validate_chunk(c.to_dict())
    return chunks


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


# --------------------------------------------------------------------------- the default (mock) policy


def test_mock_chat_sync(mock_gateway: GatewayServer) -> None:
    client = sync_client(mock_gateway)
    completion, body, resp = raw_chat(client, model="gpt-4o", messages=MSG)
    assert completion.choices[0].message.content.startswith("Mock reply to: What is the weather")
    assert resp.headers["x-open-router-model"] == "gpt-4o"
    assert resp.headers["x-open-router-rule"] == "premium"
    assert resp.headers["x-open-router-attempts"] == "1"


def test_mock_stream_with_usage(mock_gateway: GatewayServer) -> None:
    chunks = stream_chunks(sync_client(mock_gateway), model="gpt-4o-mini", messages=MSG,
                           stream_options={"include_usage": True})
    assert text_of(chunks).startswith("Mock reply to:")
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_mock_tools(mock_gateway: GatewayServer) -> None:
    completion, _, _ = raw_chat(sync_client(mock_gateway), model="gpt-4o-mini", messages=MSG, tools=TOOLS)
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    assert completion.choices[0].finish_reason == "tool_calls"


def test_mock_embeddings_and_models(mock_gateway: GatewayServer) -> None:
    client = sync_client(mock_gateway)
    # The published contract describes the float form; the SDK asks for base64 unless told otherwise.
    raw = client.embeddings.with_raw_response.create(model="text-embedding-3-small", input=["a", "b"],
                                                     encoding_format="float")
    validate_embeddings(raw.http_response.json())
    emb = raw.parse()
    assert len(emb.data) == 2 and len(emb.data[0].embedding) > 0
    default = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])  # base64 on the wire
    for got, want in zip(default.data, emb.data, strict=True):
        assert got.embedding == pytest.approx(want.embedding, rel=1e-6)
    raw = client.models.with_raw_response.list()
    contract_validator("ListModelsResponse").validate(raw.http_response.json())
    assert {m.id for m in raw.parse()} == {"gpt-4o", "gpt-4o-mini", "text-embedding-3-small"}
    assert client.models.retrieve("gpt-4o").owned_by == "mock"


def test_mock_async_client(mock_gateway: GatewayServer) -> None:
    async def go() -> None:
        async with async_client(mock_gateway) as client:
            completion = await client.chat.completions.create(model="gpt-4o-mini", messages=MSG)
            validate_chat(completion.to_dict())
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MSG, stream=True,
                                                          stream_options={"include_usage": True})
            chunks = [c async for c in stream]
            for c in chunks:
                validate_chunk(c.to_dict())
            assert text_of(chunks) == completion.choices[0].message.content
            emb = await client.embeddings.create(model="text-embedding-3-small", input="x")
            validate_embeddings(emb.to_dict())
            models = await client.models.list()
            assert len(models.data) == 3
            with pytest.raises(openai.NotFoundError):
                await client.models.retrieve("nope")

    asyncio.run(go())


def test_mock_sdk_error_classes(mock_gateway: GatewayServer) -> None:
    bad = sync_client(mock_gateway, key="sk-or-" + "x" * 43)
    with pytest.raises(openai.AuthenticationError) as auth:
        bad.chat.completions.create(model="gpt-4o", messages=MSG)
    contract_validator("ErrorResponse").validate(auth.value.response.json())

    client = sync_client(mock_gateway)
    with pytest.raises(openai.BadRequestError) as bad_req:
        client.chat.completions.create(model="gpt-4o", messages=MSG, temperature=5)
    assert bad_req.value.param == "temperature"
    with pytest.raises(openai.BadRequestError) as bad_role:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "wizard", "content": "x"}])
    assert bad_role.value.param == "messages[0].role"
    with pytest.raises(openai.NotFoundError) as nf:
        client.models.retrieve("gpt-17")
    assert nf.value.code == "model_not_found"


# --------------------------------------------------------------------------- fake upstreams


@pytest.mark.parametrize("model, fake", [("oai", "openai"), ("claude", "anthropic"), ("gem", "gemini")])
def test_fakes_chat_stream_and_tools(fake_gateway: GatewayServer, fresh: Fakes, model: str, fake: str) -> None:
    upstream = getattr(fresh, fake)
    upstream.default = Behaviour(text="Sunny in Paris.")
    client = sync_client(fake_gateway)

    completion, _, resp = raw_chat(client, model=model, messages=MSG)
    assert completion.choices[0].message.content == "Sunny in Paris."
    assert completion.model == model and resp.headers["x-open-router-model"] == model
    assert completion.usage.total_tokens > 0

    chunks = stream_chunks(client, model=model, messages=MSG, stream_options={"include_usage": True})
    assert text_of(chunks) == "Sunny in Paris."
    assert any(c.usage is not None and c.usage.total_tokens > 0 for c in chunks)

    upstream.default = Behaviour(tool_calls=[("get_weather", {"city": "Paris"})])
    completion, _, _ = raw_chat(client, model=model, messages=MSG, tools=TOOLS, tool_choice="auto")
    call = completion.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    assert completion.choices[0].finish_reason == "tool_calls"

    chunks = stream_chunks(client, model=model, messages=MSG, tools=TOOLS)
    args = "".join(tc.function.arguments or "" for c in chunks if c.choices
                   for tc in (c.choices[0].delta.tool_calls or []))
    assert json.loads(args) == {"city": "Paris"}


@pytest.mark.parametrize("model", ["oai-embed", "gem-embed"])
def test_fakes_embeddings(fake_gateway: GatewayServer, fresh: Fakes, model: str) -> None:
    raw = sync_client(fake_gateway).embeddings.with_raw_response.create(model=model, input=["one", "two"],
                                                                        encoding_format="float")
    validate_embeddings(raw.http_response.json())
    assert [d.index for d in raw.parse().data] == [0, 1]


def test_fakes_async_stream(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.anthropic.default = Behaviour(text="async hello")

    async def go() -> str:
        async with async_client(fake_gateway) as client:
            stream = await client.chat.completions.create(model="claude", messages=MSG, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

    assert asyncio.run(go()) == "async hello"


def test_failover_is_visible_in_attempts(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.anthropic.queue(Behaviour(status=500))
    fresh.openai.default = Behaviour(text="from openai")
    completion, _, resp = raw_chat(sync_client(fake_gateway), model="claude-then-oai", messages=MSG)
    assert completion.choices[0].message.content == "from openai"
    assert resp.headers["x-open-router-attempts"] == "2"
    assert resp.headers["x-open-router-model"] == "oai" and resp.headers["x-open-router-rule"] == "failover"


def test_stream_failover_before_the_first_chunk(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.anthropic.queue(Behaviour(status=503))
    fresh.openai.default = Behaviour(text="streamed from openai")
    raw = sync_client(fake_gateway).chat.completions.with_raw_response.create(
        model="claude-then-oai", messages=MSG, stream=True)
    assert raw.headers["x-open-router-attempts"] == "2"
    assert text_of(list(raw.parse())) == "streamed from openai"


def test_upstream_429_after_retries_is_rate_limit_error(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.openai.queue(Behaviour(status=429), Behaviour(status=429))
    with pytest.raises(openai.RateLimitError) as info:
        sync_client(fake_gateway, max_retries=0).chat.completions.create(model="oai-once", messages=MSG)
    contract_validator("ErrorResponse").validate(info.value.response.json())
    assert info.value.response.headers["x-open-router-attempts"] == "2"
    assert len(fresh.openai.requests) == 2


def test_upstream_500s_exhausted_is_internal_server_error(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.anthropic.default = Behaviour(status=500)
    fresh.openai.default = Behaviour(status=500)
    with pytest.raises(openai.InternalServerError) as info:
        sync_client(fake_gateway, max_retries=0).chat.completions.create(model="claude-then-oai", messages=MSG)
    body = info.value.response.json()
    contract_validator("ErrorResponse").validate(body)
    assert "sk-fake" not in json.dumps(body) and "127.0.0.1" not in json.dumps(body)
    assert info.value.response.headers["x-open-router-attempts"] == "2"


def test_unknown_model_is_not_found(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        sync_client(fake_gateway).chat.completions.create(model="gpt-99", messages=MSG)
    assert info.value.code == "model_not_found" and info.value.param == "model"
    assert info.value.response.headers["x-open-router-rule"] == "default"


@pytest.mark.parametrize("kind, model", [("openai", "oai"), ("gemini", "gem")])
def test_stream_cut_after_first_chunk_makes_the_sdk_raise(fake_gateway: GatewayServer, fresh: Fakes, kind: str,
                                                          model: str) -> None:
    getattr(fresh, kind).default = Behaviour(text="this answer will be cut off mid-way", stream_cut_after=2)
    received: list[Any] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in sync_client(fake_gateway).chat.completions.create(model=model, messages=MSG, stream=True):
            received.append(chunk)
    assert received, "the first chunk should have arrived before the error"
    assert "stream" in str(info.value.message).lower() or "broke" in str(info.value.message).lower()


def test_stream_cut_async(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    # message_start, content_block_start, then text deltas: the cut lands after the first OpenAI chunk.
    fresh.anthropic.default = Behaviour(text="this answer will be cut off mid-way", stream_cut_after=5)

    async def go() -> list[Any]:
        received: list[Any] = []
        async with async_client(fake_gateway) as client:
            stream = await client.chat.completions.create(model="claude", messages=MSG, stream=True)
            with pytest.raises(openai.APIError):
                async for chunk in stream:
                    received.append(chunk)
        return received

    assert asyncio.run(go())
