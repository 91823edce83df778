"""The official SDK's stream helper (``client.chat.completions.stream``: ``content.done``,
``tool_calls.function.arguments.done``, ``chunk`` events, ``get_final_completion``) and plain iteration,
sync and async, against a gateway in front of every adapter — fake OpenAI, Azure, Anthropic and Gemini
upstreams sending the shapes the real providers send (Azure's filter chunks, Gemini's repeated and fused
finishes, a compatible server's fused finish), and the built-in mock. Every chunk is held to OpenAI's
stream contract (tests/gateway/stream_contract.py); a provider refusing the gateway's key fails over."""
from __future__ import annotations

import asyncio
import json
from typing import Any, Iterator

import openai
import pytest

from tests.gateway.conftest import GatewayServer, policy_dir
from tests.gateway.fakes import Behaviour, FakeUpstream, contract_validator
from tests.gateway.stream_contract import check_stream, fold

MSG = [{"role": "user", "content": "What is the weather in Paris?"}]
# Strict, because the SDK's helper auto-parses only strict function tools (and refuses others).
TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Weather for a city", "strict": True,
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                   "additionalProperties": False}}}]
TEXT = ("The quick answer: Paris is warm and mostly sunny today, with a light breeze from the south-west, "
        "a high of twenty-four degrees in the afternoon, and clear skies expected through the evening.")
KINDS = ("openai", "azure", "anthropic", "gemini")
# How each fake answers: the shapes its provider really sends.
SHAPE = {"openai": {"fused_finish": True}, "azure": {"filters": True}, "anthropic": {},
         "gemini": {"repeat_finish": True, "fused_finish": True}}
MODELS = {"oai": "openai", "az": "azure", "claude": "anthropic", "gem": "gemini", "mocked": None}


class Upstreams:
    def __init__(self) -> None:
        self.fakes = {k: FakeUpstream(k, key=f"key-{k}-0123456789").start() for k in KINDS}

    def policy(self) -> str:
        f = self.fakes
        return f"""
provider up-openai     kind openai     base_url "{f['openai'].base_url}"     key env({f['openai'].key_env})
provider up-azure      kind azure      base_url "{f['azure'].base_url}"      key env({f['azure'].key_env})
provider up-anthropic  kind anthropic  base_url "{f['anthropic'].base_url}"  key env({f['anthropic'].key_env})
provider up-gemini     kind gemini     base_url "{f['gemini'].base_url}"     key env({f['gemini'].key_env})
provider local         kind mock

model oai     = up-openai/"gpt-4o-mini"           price 0  supports tools, json
model az      = up-azure/"gpt-4o-deployment"      price 0  supports tools, json
model claude  = up-anthropic/"claude-sonnet-4-5"  price 0  supports tools
model gem     = up-gemini/"gemini-2.0-flash"      price 0  supports tools
model mocked  = local/"mock-1"                    price 0  supports tools

route gem-then-oai
  when model == "gem-then-oai"
  use gem
  fallback oai
  retries 2

default
  use requested
"""

    @property
    def env(self) -> dict[str, str]:
        return {k: v for f in self.fakes.values() for k, v in f.env.items()}

    def answer(self, **behaviour: Any) -> None:
        for kind, fake in self.fakes.items():
            fake.clear()
            fake.default = Behaviour(**{**SHAPE[kind], **behaviour})

    def stop(self) -> None:
        for fake in self.fakes.values():
            fake.stop()


@pytest.fixture(scope="module")
def upstreams() -> Iterator[Upstreams]:
    u = Upstreams()
    yield u
    u.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstreams: Upstreams) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("e2e-stream-helpers")
    with GatewayServer(policies=policy_dir(tmp, upstreams.policy()), db_url=f"sqlite:///{tmp / 'keys.db'}",
                       env=upstreams.env) as server:
        yield server


def sync_client(gw: GatewayServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url + "/v1", api_key=gw.key, timeout=30, max_retries=0)


def async_client(gw: GatewayServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.base_url + "/v1", api_key=gw.key, timeout=30, max_retries=0)


def request(model: str, tools: bool) -> dict[str, Any]:
    kw: dict[str, Any] = {"model": model, "messages": MSG, "stream_options": {"include_usage": True}}
    if tools:
        kw["tools"] = TOOLS
    return kw


def check_events(events: list[Any], final: Any, model: str, tools: bool) -> None:
    """What a client of the helper relies on: the events, once each, with the whole text / arguments."""
    chunks = [e.chunk.to_dict() for e in events if e.type == "chunk"]
    finishes = check_stream(chunks)
    assert finishes == {0: "tool_calls" if tools else "stop"}
    text, calls = fold(chunks)
    done = [e for e in events if e.type == "content.done"]
    args_done = [e for e in events if e.type == "tool_calls.function.arguments.done"]
    choice = final.choices[0]
    assert choice.finish_reason == finishes[0]
    if tools:
        assert done == [] and len(args_done) == 1 and len(calls) == 1
        event = args_done[0]
        assert event.name == "get_weather" and event.index == 0
        assert event.parsed_arguments == json.loads(event.arguments) == json.loads(calls[0][1])
        if model == "mocked":
            assert set(event.parsed_arguments) == {"city"}
        else:
            assert event.parsed_arguments == {"city": "Paris"}
        assert choice.message.tool_calls[0].function.parsed_arguments == event.parsed_arguments
    else:
        assert len(done) == 1 and args_done == []
        assert done[0].content == text == choice.message.content
        if model == "mocked":
            assert text.startswith("Mock reply to: What is the weather")
        else:
            assert text == TEXT
        deltas = "".join(e.delta for e in events if e.type == "content.delta")
        assert deltas == text
    assert final.usage is not None and final.usage.total_tokens > 0


def check_plain(chunks: list[Any], model: str, tools: bool) -> None:
    raw = [c.to_dict() for c in chunks]
    assert check_stream(raw) == {0: "tool_calls" if tools else "stop"}
    text, calls = fold(raw)
    if tools:
        assert len(calls) == 1 and calls[0][0] == "get_weather" and "city" in json.loads(calls[0][1])
    else:
        assert text == TEXT or (model == "mocked" and text.startswith("Mock reply to:"))


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("model", list(MODELS))
def test_sync_stream_helper_and_iteration(gateway: GatewayServer, upstreams: Upstreams, model: str,
                                          tools: bool) -> None:
    upstreams.answer(**({"tool_calls": [("get_weather", {"city": "Paris"})]} if tools else {"text": TEXT}))
    client = sync_client(gateway)
    with client.chat.completions.stream(**request(model, tools)) as stream:
        events = list(stream)
        final = stream.get_final_completion()
    check_events(events, final, model, tools)
    check_plain(list(client.chat.completions.create(stream=True, **request(model, tools))), model, tools)


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tools"])
@pytest.mark.parametrize("model", list(MODELS))
def test_async_stream_helper_and_iteration(gateway: GatewayServer, upstreams: Upstreams, model: str,
                                           tools: bool) -> None:
    upstreams.answer(**({"tool_calls": [("get_weather", {"city": "Paris"})]} if tools else {"text": TEXT}))

    async def go() -> tuple[list[Any], Any, list[Any]]:
        async with async_client(gateway) as client:
            async with client.chat.completions.stream(**request(model, tools)) as stream:
                events = [e async for e in stream]
                final = await stream.get_final_completion()
            plain = await client.chat.completions.create(stream=True, **request(model, tools))
            return events, final, [c async for c in plain]

    events, final, plain = asyncio.run(go())
    check_events(events, final, model, tools)
    check_plain(plain, model, tools)


# --------------------------------------------------------------------------- the gateway's key refused


@pytest.mark.parametrize("stream", [False, True])
def test_a_refused_gemini_key_fails_over_and_never_reaches_the_client(gateway: GatewayServer, upstreams: Upstreams,
                                                                      stream: bool) -> None:
    upstreams.answer(text=TEXT)
    upstreams.fakes["gemini"].default = Behaviour(credential_error="invalid")  # 400 API_KEY_INVALID
    client = sync_client(gateway)
    if stream:
        raw = client.chat.completions.with_raw_response.create(model="gem-then-oai", messages=MSG, stream=True)
        assert fold([c.to_dict() for c in raw.parse()])[0] == TEXT
    else:
        raw = client.chat.completions.with_raw_response.create(model="gem-then-oai", messages=MSG)
        assert raw.parse().choices[0].message.content == TEXT
    assert raw.headers["x-open-router-attempts"] == "2" and raw.headers["x-open-router-model"] == "oai"
    assert len(upstreams.fakes["gemini"].requests) == 1  # not retried on the refused target


def test_a_refused_key_everywhere_is_the_gateways_502(gateway: GatewayServer, upstreams: Upstreams) -> None:
    upstreams.answer(text=TEXT)
    upstreams.fakes["gemini"].default = Behaviour(credential_error="invalid")
    upstreams.fakes["openai"].default = Behaviour(credential_error="invalid")
    with pytest.raises(openai.InternalServerError) as info:
        sync_client(gateway).chat.completions.create(model="gem-then-oai", messages=MSG)
    body = info.value.response.json()
    contract_validator("ErrorResponse").validate(body)
    assert info.value.status_code == 502 and body["error"]["code"] == "upstream_auth_failed"
    assert "API key not valid" not in json.dumps(body) and "key-" not in json.dumps(body)
    upstreams.answer()
