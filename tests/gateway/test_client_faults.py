"""A client's request that an adapter cannot translate is the client's fault, never the deployment's:
the executor answers 400 invalid_request_error, fails over to another target that may take it, and moves
no breaker and no error rate (gateway/router.py, providers.base.REQUEST_SENT)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dsl.ast import Provider, Span
from dsl.decision import Decision, Facts, Plan, Target
from gateway.errors import InvalidRequest
from gateway.health import HealthBoard
from gateway.providers import make_adapter
from gateway.providers.base import Adapter
from gateway.router import Executor

A = Target("alpha", "p1", "up-alpha")
B = Target("beta", "p2", "up-beta")
SPAN = Span("t.policy", 1, 1, 1, 1)


def decision(*cands: Target, fallback: tuple[Target, ...] = (), retries: int = 2) -> Decision:
    return Decision("r", SPAN, Plan("ordered", cands, fallback, retries=retries), "v1", Facts(model="alpha"))


class Choking(Adapter):
    """Fails while building the upstream request (nothing is sent), like a translation bug on odd input."""

    def __init__(self, name: str) -> None:
        super().__init__(Provider(name, "mock"))
        self.calls = 0

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        self.calls += 1
        return {"schema": body["tools"][0]["function"]["parameters"]["properties"]["a"]["type"]}


class Fine(Adapter):
    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        return {"id": "x", "object": "chat.completion", "created": 1, "model": target.upstream,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}


def run(coro: Any) -> Any:
    return asyncio.new_event_loop().run_until_complete(coro)


BODY = {"model": "alpha", "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"properties": {"a": "string"}}}}]}


def test_a_translation_failure_is_a_400_that_never_opens_a_circuit() -> None:
    health = HealthBoard(failure_threshold=2)
    choking = Choking("p1")
    ex = Executor({"p1": choking}, health)
    for _ in range(5):
        with pytest.raises(InvalidRequest) as info:
            run(ex.chat(decision(A), BODY))
        err = info.value
        assert (err.status, err.type, err.code) == (400, "invalid_request_error", "invalid_request")
        assert "TypeError" in err.message and "string indices" not in err.message
    s = health.status(A)
    assert (s.circuit(), s.failures, s.error_rate, s.client_errors) == ("closed", 0, 0.0, 5)
    assert choking.calls == 5  # never retried on the same target


def test_a_translation_failure_fails_over_to_a_provider_that_can_take_it() -> None:
    health = HealthBoard()
    ex = Executor({"p1": Choking("p1"), "p2": Fine(Provider("p2", "mock"))}, health)
    out = run(ex.chat(decision(A, fallback=(B,)), BODY))
    assert out.target == B and [a.outcome for a in out.attempts] == ["invalid_request", "ok"]
    assert health.status(A).failures == 0


def test_a_real_openai_adapter_refuses_an_unencodable_body_without_blaming_the_deployment() -> None:
    """Past validation (a caller of the executor that skipped it), a lone surrogate fails in the JSON
    encoder before anything is sent: 400, the circuit untouched, and nothing reaches the network."""
    adapter = make_adapter(Provider("p1", "openai", base_url="http://127.0.0.1:9/v1"), {})
    health = HealthBoard(failure_threshold=1)
    ex = Executor({"p1": adapter}, health)
    body = {"model": "alpha", "messages": [{"role": "user", "content": "\ud800"}]}
    for _ in range(3):
        with pytest.raises(InvalidRequest):
            run(ex.chat(decision(A), body))
    assert health.status(A).circuit() == "closed" and health.status(A).failures == 0


def test_the_mock_never_chokes_on_odd_schemas() -> None:
    mock = make_adapter(Provider("m", "mock"), {})
    for params in ({"properties": {"a": True}, "required": ["a"]}, {"required": "a"}, {"properties": [],
                   "required": ["a", 5]}, {"type": "object", "properties": {"a": {"enum": {}}}, "required": ["a"]},
                   _deep(50)):
        body = {"messages": [{"role": "user", "content": "x"}],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": params}}]}
        out = run(mock.chat(A, body))
        assert out["choices"][0]["finish_reason"] == "tool_calls"


def _deep(n: int) -> dict:
    s: dict = {"type": "string"}
    for _ in range(n):
        s = {"type": "object", "properties": {"a": s}, "required": ["a"]}
    return s


def test_the_mock_refuses_dimensions_beyond_its_maximum() -> None:
    mock = make_adapter(Provider("m", "mock"), {})
    with pytest.raises(InvalidRequest) as info:
        run(mock.embed(A, {"input": "x", "dimensions": 10**7}))
    assert info.value.param == "dimensions" and "3072" in info.value.message
    out = run(mock.embed(A, {"input": ["a", "b"], "dimensions": 3072}))
    assert [len(d["embedding"]) for d in out["data"]] == [3072, 3072]
    norm = sum(v * v for v in out["data"][0]["embedding"])
    assert abs(norm - 1.0) < 1e-9 and out["data"][0]["embedding"] != out["data"][1]["embedding"]

