"""Edges between the client's request and what the upstream is sent or sends back, end to end through a
real gateway in front of the fake upstreams: which token limit wins when a client sends both names, and
an OpenAI-kind stream that stops cleanly without finishing."""
from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import Behaviour

from .conftest import Fakes

MSG = [{"role": "user", "content": "hello"}]


def post(gw: GatewayServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(gw.base_url + "/v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {gw.key}"})


# --------------------------------------------------------------------------- max_tokens and max_completion_tokens


def test_both_token_limits_openai_upstream_gets_both_as_sent(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    r = post(fake_gateway, {"model": "oai", "messages": MSG, "max_tokens": 5, "max_completion_tokens": 7})
    assert r.status_code == 200, r.text
    sent = fresh.openai.last.json
    assert (sent["max_tokens"], sent["max_completion_tokens"]) == (5, 7)


def test_both_token_limits_anthropic_upstream_gets_max_completion_tokens(fake_gateway: GatewayServer,
                                                                         fresh: Fakes) -> None:
    # max_completion_tokens is the current OpenAI name and max_tokens the deprecated one: the newer wins.
    r = post(fake_gateway, {"model": "claude", "messages": MSG, "max_tokens": 5, "max_completion_tokens": 7})
    assert r.status_code == 200, r.text
    assert fresh.anthropic.last.json["max_tokens"] == 7
    assert "max_completion_tokens" not in fresh.anthropic.last.json


def test_both_token_limits_gemini_upstream_gets_max_completion_tokens(fake_gateway: GatewayServer,
                                                                      fresh: Fakes) -> None:
    r = post(fake_gateway, {"model": "gem", "messages": MSG, "max_tokens": 5, "max_completion_tokens": 7})
    assert r.status_code == 200, r.text
    assert fresh.gemini.last.json["generationConfig"]["maxOutputTokens"] == 7


# --------------------------------------------------------------------------- a stream that stops without finishing

BASE = {"id": "chatcmpl-eof", "object": "chat.completion.chunk", "created": 1_700_000_000, "model": "gpt-4o-mini"}


def chunk(delta: dict, finish: str | None = None) -> tuple[None, dict]:
    return (None, {**BASE, "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})


UNFINISHED = [chunk({"role": "assistant", "content": ""}), chunk({"content": "Half an ans"})]  # then a clean EOF


def sse_events(raw: str) -> list[str]:
    return [e[len("data: "):] for e in raw.split("\n\n") if e.startswith("data: ")]


def test_openai_stream_closed_without_done_or_finish_is_interrupted(fake_gateway: GatewayServer,
                                                                    fresh: Fakes) -> None:
    # The upstream closes the response cleanly (no reset) after some content, with neither a finish_reason
    # nor [DONE]: the answer is cut, and a client must not be able to mistake it for a complete one.
    fresh.openai.queue(Behaviour(events=UNFINISHED))
    with httpx.stream("POST", fake_gateway.base_url + "/v1/chat/completions", timeout=30,
                      json={"model": "oai", "messages": MSG, "stream": True},
                      headers={"Authorization": f"Bearer {fake_gateway.key}"}) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    events = sse_events(raw)
    assert "[DONE]" not in events
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Half an ans"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    last = json.loads(events[-1])
    assert set(last) == {"error"} and last["error"]["code"] == "stream_interrupted"
    assert len(fresh.openai.requests) == 1  # after the first chunk there is no failover


def test_openai_sdk_raises_on_a_stream_closed_without_done(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.openai.queue(Behaviour(events=UNFINISHED))
    client = openai.OpenAI(base_url=fake_gateway.base_url + "/v1", api_key=fake_gateway.key, timeout=30,
                           max_retries=0)
    got: list[str] = []
    with pytest.raises(openai.APIError):
        for c in client.chat.completions.create(model="oai", messages=MSG, stream=True):  # type: ignore[arg-type]
            got.append(c.choices[0].delta.content or "")
    assert "".join(got) == "Half an ans"


def test_openai_stream_with_finish_reason_but_no_done_is_complete(fake_gateway: GatewayServer,
                                                                  fresh: Fakes) -> None:
    # The contrast: a finish_reason says the answer is whole, and some OpenAI-compatible servers omit
    # [DONE]; the gateway then ends the stream properly itself.
    fresh.openai.queue(Behaviour(events=UNFINISHED + [chunk({}, "stop")]))
    with httpx.stream("POST", fake_gateway.base_url + "/v1/chat/completions", timeout=30,
                      json={"model": "oai", "messages": MSG, "stream": True},
                      headers={"Authorization": f"Bearer {fake_gateway.key}"}) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    events = sse_events(raw)
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "stop"
    assert not any("error" in json.loads(e) for e in events[:-1])
