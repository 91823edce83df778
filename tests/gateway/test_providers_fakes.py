"""The fake upstreams themselves: behaviour queue, defaults, recording, and use from async code —
the contract other test suites (executor failover, end-to-end) build on."""
from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from dsl.decision import Target
from gateway.errors import UpstreamError
from gateway.providers import make_adapter
from tests.gateway.fakes import Behaviour, FakeUpstream, error_body, fake_upstream, run  # noqa: F401 (fixture)


def post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_queue_then_default_and_recording(fake_upstream):
    fake = fake_upstream("openai", name="primary")
    fake.queue(Behaviour(status=503), Behaviour(text="second"))
    url = fake.base_url + "/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    assert post(url, body)[0] == 503
    assert post(url, body)[1]["choices"][0]["message"]["content"] == "second"
    assert post(url, body)[1]["choices"][0]["message"]["content"] == "Hello from primary."
    assert fake.pending == 0 and len(fake.requests) == 3 and fake.last.json == body
    fake.default = Behaviour(status=429, retry_after=3)
    assert post(url, body)[0] == 429
    fake.clear()
    assert fake.requests == []


def test_key_is_enforced_in_each_kind_format(fake_upstream):
    fake = fake_upstream("anthropic", key="k1")
    status, body = post(fake.base_url + "/v1/messages", {"messages": []}, {"x-api-key": "wrong"})
    assert status == 401 and body == error_body("anthropic", 401, "invalid api key")
    status, _ = post(fake.base_url + "/v1/messages", {"messages": []},
                     {"x-api-key": "k1", "anthropic-version": "2023-06-01"})
    assert status == 200


def test_unknown_route_is_404(fake_upstream):
    fake = fake_upstream("gemini")
    assert post(fake.origin + "/nope", {})[0] == 404


def test_async_use_and_failover_shape():
    """From async code: two fakes, the first failing — what an executor's failover test looks like."""
    async def go():
        async with FakeUpstream("openai", name="a") as a, FakeUpstream("anthropic", name="b") as b:
            a.default = Behaviour(status=503)
            first, second = make_adapter(a.provider()), make_adapter(b.provider())
            body = {"model": "x", "messages": [{"role": "user", "content": "hi"}]}
            try:
                with pytest.raises(UpstreamError) as info:
                    await first.chat(Target("m", "a", "gpt"), body)
                assert info.value.retryable
                reply = await second.chat(Target("m", "b", "claude"), body)
            finally:
                await asyncio.gather(first.aclose(), second.aclose())
            return reply, len(a.requests), len(b.requests)
    reply, na, nb = run(go())
    assert reply["choices"][0]["message"]["content"] == "Hello from b." and (na, nb) == (1, 1)
