"""Executor: ordering by strategy and health, retries with backoff and Retry-After, failover, streams
(failover before the first chunk only, errors and cancellation after it) and health bookkeeping.

Part one scripts an in-test Adapter exhaustively; part two runs the real adapters against the real fake
upstream servers (tests/gateway/fakes.py) for each way an upstream can fail.
"""
from __future__ import annotations

import asyncio
import gc
import random
import socket
from decimal import Decimal
from typing import Any, AsyncIterator, Iterable

import pytest

from dsl.ast import NOSPAN, Provider
from dsl.decision import Decision, Facts, Plan, Target
from gateway.errors import (InvalidRequest, NotFound, UpstreamConnect, UpstreamError,
                            UpstreamTimeout)
from gateway.health import HealthBoard
from gateway.providers import make_adapter
from gateway.providers.base import REQUEST_SENT, Adapter
from gateway.router import Attempt, Executor, Outcome, StreamOutcome
from tests.gateway.fakes import Behaviour, FakeUpstream, validate_chat, validate_chunk

A = Target("alpha", "p1", "up-alpha")
B = Target("beta", "p2", "up-beta")
C = Target("gamma", "p1", "up-gamma")
BODY = {"model": "whatever-the-client-said", "messages": [{"role": "user", "content": "hi"}]}


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def decision(*candidates: Target, fallback: Iterable[Target] = (), strategy: str = "ordered", retries: int = 1,
             timeout: Decimal | None = None, retry_on: tuple[int, ...] = (), rule: str = "r",
             error: str | None = None) -> Decision:
    plan = Plan(strategy, tuple(candidates), tuple(fallback), retries, timeout, retry_on)
    return Decision(rule=rule, rule_span=NOSPAN, plan=plan, policy_version="test", facts=Facts(), error=error)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def status_err(status: int, *, retry_after: float | None = None, message: str = "nope",
               retryable: bool | None = None) -> UpstreamError:
    """What the adapters' common.status_error makes of an upstream status."""
    client = {400: 400, 413: 413, 422: 400, 429: 429, 503: 503}.get(status, 502)
    code = {400: "invalid_request", 404: "upstream_model_not_found", 413: "request_too_large",
            422: "invalid_request", 429: "rate_limit_exceeded", 503: "upstream_unavailable"}.get(status, "upstream_error")
    return UpstreamError(message, upstream_status=status, status=client, code=code, retry_after=retry_after,
                         retryable=retryable, failover=status == 413)


def reply(text: str = "ok") -> dict:
    return {"id": "x", "object": "chat.completion", "model": "upstream-name",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}]}


def chunk(text: str) -> dict:
    return {"id": "x", "object": "chat.completion.chunk", "model": "upstream-name",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}


class Hang:
    """A stream item that blocks until cancelled (a client that disconnects mid-stream)."""


class Scripted(Adapter):
    """Answers each call on an upstream with the next scripted outcome for it (the last one repeats).

    An outcome is a dict (the reply), an exception (raised), or for streams a list of chunks in which an
    exception is raised at its position and a ``Hang`` blocks. Records every call and every stream closed.
    """

    def __init__(self, name: str, script: dict[str, list[Any]]) -> None:
        super().__init__(Provider(name, "mock"))
        self.script = {k: list(v) for k, v in script.items()}
        self.calls: list[tuple[str, str, dict, float | None]] = []  # (method, upstream, body, timeout)
        self.closed: list[str] = []  # upstreams whose stream generator finished or was closed

    def _next(self, method: str, target: Target, body: dict, timeout: float | None) -> Any:
        self.calls.append((method, target.upstream, body, timeout))
        REQUEST_SENT.set(True)  # as an HTTP adapter does: what follows is the upstream's answer
        queue = self.script[target.upstream]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        out = self._next("chat", target, body, timeout)
        if isinstance(out, BaseException):
            raise out
        return dict(out)

    async def embed(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        out = self._next("embed", target, body, timeout)
        if isinstance(out, BaseException):
            raise out
        return dict(out)

    async def chat_stream(self, target: Target, body: dict, *, timeout: float | None = None) -> AsyncIterator[dict]:
        out = self._next("stream", target, body, timeout)
        try:
            await asyncio.sleep(0)
            if isinstance(out, BaseException):
                raise out
            for item in out:
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Hang):
                    await asyncio.Event().wait()
                yield dict(item)
        finally:
            self.closed.append(target.upstream)


class Recorder:
    """An injected `sleep` that records the waits instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def setup(script: dict[str, list[Any]], *, seed: int = 7, clock: Clock | None = None, **kw: Any
          ) -> tuple[Executor, dict[str, Scripted], HealthBoard, Recorder]:
    by_provider: dict[str, dict[str, list[Any]]] = {}
    for t in (A, B, C):
        if t.upstream in script:
            by_provider.setdefault(t.provider, {})[t.upstream] = script[t.upstream]
    adapters = {name: Scripted(name, s) for name, s in by_provider.items()}
    health = HealthBoard(clock=clock or Clock(), **{k: kw.pop(k) for k in ("failure_threshold", "cooldown")
                                                     if k in kw})
    sleep = Recorder()
    ex = Executor(adapters, health, rng=random.Random(seed), sleep=sleep, **kw)
    return ex, adapters, health, sleep


def tried(adapters: dict[str, Scripted]) -> list[str]:
    calls = [c for a in adapters.values() for c in a.calls]
    return [c[1] for c in calls]


def expected_backoffs(seed: int, n: int, base: float = 0.05, cap: float = 2.0) -> list[float]:
    rng = random.Random(seed)
    return [min(cap, base * 2 ** i) * rng.random() for i in range(n)]


# =============================================================================== part one: scripted


def test_decision_error_is_model_not_found() -> None:
    ex, _, _, _ = setup({"up-alpha": [reply()]})
    d = decision(error="model_not_found: the model `x` is not served by this gateway")
    with pytest.raises(NotFound) as info:
        run(ex.chat(d, BODY))
    err = info.value
    assert (err.status, err.code, err.param) == (404, "model_not_found", "model")
    assert err.message == "the model `x` is not served by this gateway"


def test_success_rewrites_model_both_ways_and_passes_the_timeout() -> None:
    ex, adapters, health, sleep = setup({"up-alpha": [reply("hi")]})
    body = dict(BODY)
    out = run(ex.chat(decision(A, timeout=Decimal("2.5")), body))
    assert isinstance(out, Outcome)
    assert out.response["model"] == "alpha" and out.target == A
    assert [(a.target, a.outcome, a.upstream_status) for a in out.attempts] == [(A, "ok", None)]
    method, upstream, sent, timeout = adapters["p1"].calls[0]
    assert (method, upstream, sent["model"], timeout) == ("chat", "up-alpha", "up-alpha", 2.5)
    assert type(timeout) is float
    assert body == BODY  # the client's body is not mutated
    s = health.status(A)
    assert (s.requests, s.failures, s.in_flight) == (1, 0, 0) and s.latency_ewma_ms is not None
    assert sleep.waits == []


def test_no_timeout_means_the_adapters_default() -> None:
    ex, adapters, _, _ = setup({"up-alpha": [reply()]})
    run(ex.chat(decision(A), BODY))
    assert adapters["p1"].calls[0][3] is None


def test_outcome_and_attempt_are_frozen() -> None:
    ex, _, _, _ = setup({"up-alpha": [reply()]})
    out = run(ex.chat(decision(A), BODY))
    with pytest.raises(AttributeError):
        out.target = B  # type: ignore[misc]
    with pytest.raises(AttributeError):
        out.attempts[0].outcome = "x"  # type: ignore[misc]
    assert isinstance(out.attempts, tuple) and isinstance(out.attempts[0], Attempt)


def test_retryable_failure_is_retried_on_the_same_target_with_jittered_backoff() -> None:
    ex, adapters, health, sleep = setup({"up-alpha": [status_err(503), reply()]}, seed=3)
    out = run(ex.chat(decision(A, fallback=[B], retries=1), BODY))
    assert out.target == A
    assert [a.outcome for a in out.attempts] == ["upstream_unavailable", "ok"]
    assert out.attempts[0].upstream_status == 503
    assert sleep.waits == expected_backoffs(3, 1)
    s = health.status(A)
    assert (s.requests, s.failures, s.in_flight, s.last_error) == (2, 1, 0, "upstream_unavailable")


def test_backoff_doubles_and_is_capped() -> None:
    ex, _, _, sleep = setup({"up-alpha": [UpstreamConnect("reset")] * 5 + [reply()]},
                            seed=11, backoff_base=0.5, backoff_max=1.5)
    out = run(ex.chat(decision(A, retries=5), BODY))
    assert len(out.attempts) == 6
    assert sleep.waits == expected_backoffs(11, 5, base=0.5, cap=1.5)
    assert max(sleep.waits) <= 1.5


def test_exhausted_retries_fail_over_to_the_next_target() -> None:
    ex, adapters, _, sleep = setup({"up-alpha": [UpstreamTimeout("slow")], "up-beta": [reply()]})
    out = run(ex.chat(decision(A, fallback=[B], retries=2), BODY))
    assert out.target == B and out.response["model"] == "beta"
    assert [(a.target.model, a.outcome) for a in out.attempts] == [
        ("alpha", "upstream_timeout"), ("alpha", "upstream_timeout"), ("alpha", "upstream_timeout"), ("beta", "ok")]
    assert len(sleep.waits) == 2  # between the three attempts on alpha; none before moving to beta
    assert adapters["p2"].calls[0][2]["model"] == "up-beta"


def test_retry_after_within_limit_waits_at_least_that_long() -> None:
    ex, _, _, sleep = setup({"up-alpha": [status_err(429, retry_after=3.0), reply()]})
    out = run(ex.chat(decision(A, fallback=[B]), BODY))
    assert out.target == A
    assert sleep.waits == [3.0]


def test_retry_after_shorter_than_backoff_keeps_the_backoff() -> None:
    ex, _, _, sleep = setup({"up-alpha": [status_err(503, retry_after=0.0), reply()]}, seed=5,
                            backoff_base=1.0)
    run(ex.chat(decision(A), BODY))
    assert sleep.waits == expected_backoffs(5, 1, base=1.0)


def test_retry_after_beyond_limit_moves_on_at_once() -> None:
    ex, adapters, _, sleep = setup({"up-alpha": [status_err(429, retry_after=30.0)], "up-beta": [reply()]},
                                   max_retry_after=10.0)
    out = run(ex.chat(decision(A, fallback=[B], retries=3), BODY))
    assert out.target == B
    assert tried(adapters) == ["up-alpha", "up-beta"]
    assert sleep.waits == []


def test_all_failed_keeps_the_last_status_and_counts_attempts() -> None:
    secret = "https://internal.example/v1/chat?key=sk-live-123"
    ex, _, _, _ = setup({"up-alpha": [status_err(503)], "up-beta": [status_err(429, message=f"slow down {secret}")]})
    with pytest.raises(UpstreamError) as info:
        run(ex.chat(decision(A, fallback=[B], retries=1), BODY))
    err = info.value
    assert (err.status, err.code, err.upstream_status) == (429, "rate_limit_exceeded", 429)
    assert err.message.startswith("all 4 attempts on 2 targets failed")
    assert "internal.example" not in err.message and "sk-live" not in err.message
    assert [a.outcome for a in err.attempts] == ["upstream_unavailable"] * 2 + ["rate_limit_exceeded"] * 2
    assert err.body()["error"]["code"] == "rate_limit_exceeded"


def test_all_timed_out_is_a_504() -> None:
    ex, _, _, _ = setup({"up-alpha": [UpstreamTimeout("slow")]})
    with pytest.raises(UpstreamTimeout) as info:
        run(ex.chat(decision(A, retries=0), BODY))
    assert info.value.status == 504
    assert info.value.message.startswith("all 1 attempt on 1 target failed")


@pytest.mark.parametrize("status", [400, 422])
def test_client_error_stops_the_walk_as_it_is(status: int) -> None:
    err = status_err(status, message="messages[0].content must be a string")
    ex, adapters, health, sleep = setup({"up-alpha": [err], "up-beta": [reply()]})
    with pytest.raises(UpstreamError) as info:
        run(ex.chat(decision(A, fallback=[B], retries=3), BODY))
    assert info.value is err
    assert info.value.message == "messages[0].content must be a string"
    assert [a.outcome for a in info.value.attempts] == [err.code]
    assert tried(adapters) == ["up-alpha"] and sleep.waits == []
    assert health.status(A).failures == 0 and health.status(A).client_errors == 1


def test_upstream_model_not_found_moves_to_the_next_target_without_repeating() -> None:
    ex, adapters, health, sleep = setup({"up-alpha": [status_err(404)], "up-beta": [reply()]})
    out = run(ex.chat(decision(A, fallback=[B], retries=3), BODY))
    assert out.target == B and tried(adapters) == ["up-alpha", "up-beta"] and sleep.waits == []
    assert [(a.outcome, a.upstream_status) for a in out.attempts] == [("upstream_model_not_found", 404), ("ok", None)]
    assert health.status(A).failures == 1  # the deployment is broken, not the request


def test_upstream_413_moves_to_the_next_target_without_repeating() -> None:
    ex, adapters, health, sleep = setup({"up-alpha": [status_err(413)], "up-beta": [reply()]})
    out = run(ex.chat(decision(A, fallback=[B], retries=3), BODY))
    assert out.target == B and tried(adapters) == ["up-alpha", "up-beta"] and sleep.waits == []
    assert [a.outcome for a in out.attempts] == ["request_too_large", "ok"]
    assert health.status(A).failures == 0 and health.status(A).client_errors == 1  # no breaker verdict


def test_upstream_413_everywhere_reaches_the_client_as_413() -> None:
    ex, adapters, _, _ = setup({"up-alpha": [status_err(413)], "up-beta": [status_err(413)]})
    with pytest.raises(UpstreamError) as info:
        run(ex.chat(decision(A, fallback=[B], retries=3), BODY))
    assert (info.value.status, info.value.code) == (413, "request_too_large")
    assert info.value.message.startswith("all 2 attempts on 2 targets failed")
    assert tried(adapters) == ["up-alpha", "up-beta"]


def test_adapter_invalid_request_stops_the_walk() -> None:
    ex, adapters, _, _ = setup({"up-alpha": [InvalidRequest("cannot send audio to this provider")],
                                "up-beta": [reply()]})
    with pytest.raises(InvalidRequest):
        run(ex.chat(decision(A, fallback=[B]), BODY))
    assert tried(adapters) == ["up-alpha"]


def test_client_error_in_retry_on_is_retried_and_failed_over() -> None:
    ex, adapters, health, sleep = setup({"up-alpha": [status_err(400)], "up-beta": [reply()]})
    out = run(ex.chat(decision(A, fallback=[B], retries=1, retry_on=(400,)), BODY))
    assert out.target == B
    assert tried(adapters) == ["up-alpha", "up-alpha", "up-beta"]
    assert len(sleep.waits) == 1
    assert health.status(A).failures == 0  # still the request's fault, as far as health goes


def test_retryable_client_side_error_fails_over_without_repeating() -> None:
    # What the base adapter raises for a provider without embeddings: another target may serve it.
    unsupported = UpstreamError("no embeddings here", status=400, type="invalid_request_error",
                                code="embeddings_unsupported", retryable=True)
    ex, adapters, _, sleep = setup({"up-alpha": [unsupported], "up-beta": [{"object": "list", "data": []}]})
    out = run(ex.embed(decision(A, fallback=[B], retries=2), {"input": "x"}))
    assert out.target == B and out.response["model"] == "beta"
    assert [c[0] for c in adapters["p1"].calls] == ["embed"]
    assert sleep.waits == []


def test_gateway_side_non_retryable_error_moves_on_without_repeating() -> None:
    bad_key = UpstreamError("provider rejected the gateway's credentials", upstream_status=401, status=502,
                            code="upstream_auth_failed", retryable=False)
    ex, adapters, health, sleep = setup({"up-alpha": [bad_key], "up-beta": [reply()]})
    out = run(ex.chat(decision(A, fallback=[B], retries=3), BODY))
    assert out.target == B
    assert tried(adapters) == ["up-alpha", "up-beta"] and sleep.waits == []
    assert health.status(A).failures == 1


def test_missing_adapter_moves_on() -> None:
    ex, adapters, _, _ = setup({"up-beta": [reply()]})
    out = run(ex.chat(decision(A, fallback=[B]), BODY))
    assert out.target == B
    assert [a.outcome for a in out.attempts] == ["provider_unavailable", "ok"]


def test_adapter_factory_is_accepted() -> None:
    scripted = Scripted("p1", {"up-alpha": [reply()]})
    seen: list[str] = []

    def factory(name: str) -> Adapter:
        seen.append(name)
        return scripted

    ex = Executor(factory, HealthBoard())
    assert run(ex.chat(decision(A), BODY)).target == A
    assert seen == ["p1"]


def test_unexpected_adapter_exception_is_a_bad_response_that_fails_over(caplog: pytest.LogCaptureFixture) -> None:
    boom = AttributeError("'str' object has no attribute 'get' sk-secret-in-data")
    ex, adapters, health, sleep = setup({"up-alpha": [boom], "up-beta": [reply()]})
    with caplog.at_level("WARNING", logger="open_router.router"):
        out = run(ex.chat(decision(A, fallback=[B], retries=1), BODY))
    assert out.target == B
    assert [(a.outcome, a.upstream_status) for a in out.attempts] == [
        ("upstream_bad_response", None), ("upstream_bad_response", None), ("ok", None)]
    assert tried(adapters) == ["up-alpha", "up-alpha", "up-beta"] and len(sleep.waits) == 1  # retryable
    s = health.status(A)
    assert (s.failures, s.in_flight, s.last_error) == (2, 0, "upstream_bad_response")
    records = [r for r in caplog.records if r.name == "open_router.router"]
    assert len(records) == 2 and all(r.levelname == "WARNING" and r.exc_info[1] is boom for r in records)
    assert all("sk-secret" not in r.getMessage() and "AttributeError" in r.getMessage() for r in records)


def test_unexpected_adapter_exception_everywhere_is_a_502_without_its_text() -> None:
    ex, _, _, _ = setup({"up-alpha": [KeyError("sk-secret")], "up-beta": [TypeError("sk-secret")]})
    with pytest.raises(UpstreamError) as info:
        run(ex.chat(decision(A, fallback=[B], retries=0), BODY))
    err = info.value
    assert (err.status, err.code, err.retryable) == (502, "upstream_bad_response", True)
    assert "sk-secret" not in err.message and "could not translate" in err.message
    assert [a.outcome for a in err.attempts] == ["upstream_bad_response", "upstream_bad_response"]


def test_unexpected_exception_before_the_first_stream_chunk_fails_over() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[AttributeError("nope")]], "up-beta": [[chunk("x")]]})

    async def go() -> tuple[StreamOutcome, list[dict]]:
        out = await ex.stream(decision(A, fallback=[B], retries=0), BODY)
        return out, await drain(out)

    out, chunks = run(go())
    assert out.target == B and [c["model"] for c in chunks] == ["beta"]
    assert [a.outcome for a in out.attempts] == ["upstream_bad_response", "ok"]
    assert adapters["p1"].closed == ["up-alpha"] and health.in_flight(A) == 0


# ------------------------------------------------------------------------------- ordering


def test_order_appends_fallback_without_duplicates() -> None:
    ex, _, _, _ = setup({})
    assert ex.order(decision(A, B, A, fallback=[B, C, C])) == [A, B, C]


def test_order_dedups_aliases_of_one_deployment() -> None:
    ex, _, _, _ = setup({})
    same_as_a = Target("alpha-again", A.provider, A.upstream)
    assert ex.order(decision(A, fallback=[same_as_a, B])) == [A, B]


def test_dropped_stream_releases_in_flight_when_collected() -> None:
    ex, _, health, _ = setup({"up-alpha": [[chunk("a"), chunk("b")]]})

    async def go() -> None:
        out = await ex.stream(decision(A), BODY)
        assert health.in_flight(A) == 1
        rest = out.rest
        del out
        del rest  # never iterated nor closed: the safety net in StreamRest.__del__
        gc.collect()
        assert health.in_flight(A) == 0

    run(go())


def test_round_robin_rotates_per_rule() -> None:
    ex, adapters, _, _ = setup({"up-alpha": [reply()], "up-beta": [reply()], "up-gamma": [reply()]})
    served = [run(ex.chat(decision(A, B, C, strategy="round_robin", rule="rr"), BODY)).target.model
              for _ in range(4)]
    assert served == ["alpha", "beta", "gamma", "alpha"]
    # Another rule has its own counter.
    assert run(ex.chat(decision(A, B, C, strategy="round_robin", rule="other"), BODY)).target == A
    assert ex.order(decision(A, B, C, strategy="round_robin", rule="rr")) == [B, C, A]


def test_fastest_tries_unknown_first_then_lowest_latency() -> None:
    ex, _, health, _ = setup({})
    d = decision(A, B, C, strategy="fastest")
    health.success(A, 300.0)
    health.success(C, 50.0)
    assert ex.order(d) == [B, C, A]  # B never measured: it gets tried
    health.success(B, 120.0)
    assert ex.order(d) == [C, B, A]


def test_fastest_after_real_calls() -> None:
    ex, _, health, _ = setup({"up-alpha": [reply()], "up-beta": [reply()]})
    d = decision(A, B, strategy="fastest")
    run(ex.chat(d, BODY))  # both unknown: A first, by the given order
    health.success(A, 500.0)  # A turns out slow
    health.success(B, 5.0)
    assert run(ex.chat(d, BODY)).target == B


def test_least_busy_prefers_fewest_in_flight() -> None:
    ex, _, health, _ = setup({})
    d = decision(A, B, C, strategy="least_busy")
    held = [health.start(A), health.start(A), health.start(B)]
    assert ex.order(d) == [C, B, A]
    for t in held:
        t.release()
    assert ex.order(d) == [A, B, C]


def test_open_circuit_goes_last_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    ex, adapters, health, _ = setup({"up-alpha": [status_err(503)] * 3 + [reply("back")], "up-beta": [reply()]},
                                    clock=clock, failure_threshold=3, cooldown=10.0)
    d = decision(A, fallback=[B], retries=2)
    out = run(ex.chat(d, BODY))  # three failures on A open its circuit; B serves
    assert out.target == B and health.status(A).circuit() == "open"
    assert ex.order(d) == [B, A]
    adapters["p1"].calls.clear()
    assert run(ex.chat(d, BODY)).target == B
    assert adapters["p1"].calls == []  # A not even tried while B works
    clock.t += 10.0
    assert ex.order(d) == [A, B]  # half-open: A gets its probe
    out = run(ex.chat(d, BODY))
    assert out.target == A and out.response["choices"][0]["message"]["content"] == "back"
    assert health.status(A).circuit() == "closed"


def test_open_circuit_target_is_still_tried_when_all_else_fails() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [reply("last resort")], "up-beta": [status_err(503)]},
                                    failure_threshold=1)
    health.failure(A, status_err(503))
    out = run(ex.chat(decision(A, fallback=[B], retries=0), BODY))
    assert out.target == A
    assert [a.target for a in out.attempts] == [B, A]


def test_repeated_failures_through_the_executor_open_the_circuit() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [UpstreamConnect("refused")], "up-beta": [reply()]})
    d = decision(A, fallback=[B], retries=0)
    for _ in range(5):
        assert run(ex.chat(d, BODY)).target == B
    assert health.status(A).circuit() == "open"
    adapters["p1"].calls.clear()
    run(ex.chat(d, BODY))
    assert adapters["p1"].calls == []


# ------------------------------------------------------------------------------- streams


async def drain(out: StreamOutcome) -> list[dict]:
    return [out.first] + [c async for c in out.rest]


def test_stream_first_then_rest_with_the_alias_and_in_flight_until_done() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[chunk("a"), chunk("b"), chunk("c")]]})

    async def go() -> list[dict]:
        out = await ex.stream(decision(A), BODY)
        assert isinstance(out, StreamOutcome) and out.target == A
        assert [a.outcome for a in out.attempts] == ["ok"]
        assert health.in_flight(A) == 1  # held until the stream ends
        return await drain(out)

    chunks = run(go())
    assert [c["choices"][0]["delta"]["content"] for c in chunks] == ["a", "b", "c"]
    assert {c["model"] for c in chunks} == {"alpha"}
    s = health.status(A)
    assert (s.in_flight, s.requests, s.failures) == (0, 1, 0) and s.latency_ewma_ms is not None
    assert adapters["p1"].calls[0][2]["model"] == "up-alpha"


@pytest.mark.parametrize("before_first", [
    status_err(503),
    UpstreamConnect("the connection was reset"),
    UpstreamTimeout("timed out waiting for data"),
])
def test_stream_error_before_first_chunk_fails_over(before_first: Exception) -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[before_first]], "up-beta": [[chunk("x"), chunk("y")]]})

    async def go() -> tuple[StreamOutcome, list[dict]]:
        out = await ex.stream(decision(A, fallback=[B], retries=0), BODY)
        return out, await drain(out)

    out, chunks = run(go())
    assert out.target == B and [c["model"] for c in chunks] == ["beta", "beta"]
    assert [a.outcome for a in out.attempts] == [before_first.code, "ok"]
    assert adapters["p1"].closed == ["up-alpha"]
    assert health.in_flight(A) == 0 and health.status(A).failures == 1


def test_empty_stream_counts_as_a_failure_before_first_chunk() -> None:
    ex, _, _, _ = setup({"up-alpha": [[]], "up-beta": [[chunk("x")]]})

    async def go() -> StreamOutcome:
        out = await ex.stream(decision(A, fallback=[B], retries=0), BODY)
        await drain(out)
        return out

    out = run(go())
    assert out.target == B and out.attempts[0].outcome == "upstream_bad_response"


def test_stream_error_after_first_chunk_raises_from_rest_after_the_delivered_chunks() -> None:
    cut = UpstreamConnect("provider 'p1': the response broke off mid-way")
    ex, adapters, health, _ = setup({"up-alpha": [[chunk("a"), chunk("b"), cut]], "up-beta": [[chunk("z")]]})
    got: list[str] = []

    async def go() -> None:
        out = await ex.stream(decision(A, fallback=[B]), BODY)
        got.append(out.first["choices"][0]["delta"]["content"])
        async for c in out.rest:
            got.append(c["choices"][0]["delta"]["content"])

    with pytest.raises(UpstreamConnect) as info:
        run(go())
    err = info.value
    assert got == ["a", "b"]  # no silent truncation, and no failover after the first chunk
    assert (err.status, err.code) == (502, "stream_interrupted")
    assert "after 2 chunks" in err.message and "broke off" in err.message
    assert adapters.get("p2") is None or adapters["p2"].calls == []
    s = health.status(A)
    assert (s.in_flight, s.failures, s.last_error) == (0, 1, "upstream_unreachable")


def test_stream_rest_aclose_closes_upstream_and_releases() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[chunk("a"), chunk("b"), chunk("c")]]})

    async def go() -> None:
        out = await ex.stream(decision(A), BODY)
        assert await out.rest.__anext__() is not None
        assert health.in_flight(A) == 1
        await out.rest.aclose()
        assert adapters["p1"].closed == ["up-alpha"]
        assert health.in_flight(A) == 0
        await out.rest.aclose()  # idempotent
        assert [c async for c in out.rest] == []

    run(go())
    s = health.status(A)
    assert (s.in_flight, s.requests, s.failures) == (0, 0, 0)  # no verdict: the client left


def test_stream_rest_as_context_manager_releases() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[chunk("a"), chunk("b")]]})

    async def go() -> None:
        out = await ex.stream(decision(A), BODY)
        async with out.rest:
            pass
        assert health.in_flight(A) == 0 and adapters["p1"].closed == ["up-alpha"]

    run(go())


def test_cancelling_a_consumer_mid_stream_closes_upstream_and_releases() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[chunk("a"), chunk("b"), Hang()]]})
    got: list[dict] = []

    async def consume() -> None:
        out = await ex.stream(decision(A), BODY)
        got.append(out.first)
        async for c in out.rest:
            got.append(c)

    async def go() -> None:
        task = asyncio.create_task(consume())
        while len(got) < 2:
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        assert health.in_flight(A) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert health.in_flight(A) == 0
        assert adapters["p1"].closed == ["up-alpha"]

    run(go())
    assert health.status(A).failures == 0


def test_cancelling_before_the_first_chunk_closes_upstream_and_releases() -> None:
    ex, adapters, health, _ = setup({"up-alpha": [[Hang()]]})

    async def go() -> None:
        task = asyncio.create_task(ex.stream(decision(A), BODY))
        while not adapters["p1"].calls:
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        assert health.in_flight(A) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert health.in_flight(A) == 0 and adapters["p1"].closed == ["up-alpha"]

    run(go())
    assert health.status(A).failures == 0


def test_cancelling_a_chat_call_releases_in_flight() -> None:
    class Slow(Scripted):
        async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
            self.calls.append(("chat", target.upstream, body, timeout))
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    health = HealthBoard()
    adapter = Slow("p1", {"up-alpha": [reply()]})
    ex = Executor({"p1": adapter}, health)

    async def go() -> None:
        task = asyncio.create_task(ex.chat(decision(A), BODY))
        while not adapter.calls:
            await asyncio.sleep(0)
        assert health.in_flight(A) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert health.in_flight(A) == 0

    run(go())
    s = health.status(A)
    assert (s.requests, s.failures) == (0, 0)


def test_cancelling_during_backoff_leaves_nothing_in_flight() -> None:
    health = HealthBoard()
    adapter = Scripted("p1", {"up-alpha": [status_err(503), reply()]})
    ex = Executor({"p1": adapter}, health, backoff_base=100.0, backoff_max=100.0,
                  rng=random.Random(1))  # real asyncio.sleep: a long wait we cancel

    async def go() -> None:
        task = asyncio.create_task(ex.chat(decision(A), BODY))
        while not adapter.calls:
            await asyncio.sleep(0)
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    run(go())
    assert health.in_flight(A) == 0 and health.status(A).failures == 1


# =============================================================================== part two: real adapters, fakes

RA = Target("alpha", "oa", "gpt-a")  # OpenAI-compatible fake
RA2 = Target("alpha-mini", "oa", "gpt-a-mini")  # same fake, another deployment
RB = Target("beta", "an", "claude-b")  # Anthropic fake
RD = Target("delta", "dead", "gpt-d")  # nothing listens there


@pytest.fixture(scope="module")
def fakes() -> Any:
    with FakeUpstream("openai", key="sk-oa-secret-123") as oa, FakeUpstream("anthropic", key="an-secret-456") as an:
        yield oa, an


@pytest.fixture
def oa(fakes: Any) -> FakeUpstream:
    return fakes[0]


@pytest.fixture
def an(fakes: Any) -> FakeUpstream:
    return fakes[1]


@pytest.fixture(autouse=True)
def _reset_fakes(request: Any) -> None:
    if "fakes" in request.fixturenames:
        for fake in request.getfixturevalue("fakes"):
            fake.clear()
            fake.default = Behaviour()


@pytest.fixture(scope="module")
def dead_port() -> int:
    with socket.socket() as s:  # bound then closed: connections to it are refused
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Real:
    """Real adapters (made inside each event loop) behind an Executor whose sleep is recorded."""

    def __init__(self, oa: FakeUpstream, an: FakeUpstream, dead_port: int, *, health: HealthBoard | None = None,
                 **kw: Any) -> None:
        self.providers = {
            "oa": oa.provider("oa"),
            "an": an.provider("an"),
            "dead": Provider("dead", "openai", base_url=f"http://127.0.0.1:{dead_port}/v1"),
        }
        self.env = {**oa.env, **an.env}
        self.health = health or HealthBoard()
        self.sleep = Recorder()
        self.kw = kw

    async def session(self, fn: Any) -> Any:
        adapters = {name: make_adapter(p, self.env) for name, p in self.providers.items()}
        ex = Executor(adapters, self.health, rng=random.Random(0), sleep=self.sleep, **self.kw)
        try:
            return await fn(ex)
        finally:
            for a in adapters.values():
                await a.aclose()

    def chat(self, d: Decision, body: dict = BODY) -> Outcome:
        return run(self.session(lambda ex: ex.chat(d, body)))

    def embed(self, d: Decision, body: dict) -> Outcome:
        return run(self.session(lambda ex: ex.embed(d, body)))

    def stream(self, d: Decision, body: dict = BODY) -> tuple[StreamOutcome, list[dict]]:
        async def go(ex: Executor) -> tuple[StreamOutcome, list[dict]]:
            out = await ex.stream(d, body)
            return out, await drain(out)
        return run(self.session(go))


def models_sent(fake: FakeUpstream) -> list[str]:
    return [r.json["model"] for r in fake.requests]


def test_real_success_through_openai_and_anthropic(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA))
    validate_chat(out.response)
    assert out.response["model"] == "alpha" and models_sent(oa) == ["gpt-a"]
    out = r.chat(decision(RB))
    validate_chat(out.response)
    assert out.response["model"] == "beta" and models_sent(an) == ["claude-b"]
    snap = {row["upstream"]: row for row in r.health.snapshot()}
    assert snap["gpt-a"]["requests"] == 1 and snap["claude-b"]["circuit"] == "closed"


def test_real_503_fails_over_to_the_next_target(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(status=503)
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=1))
    assert out.target == RB
    assert [(a.outcome, a.upstream_status) for a in out.attempts] == [
        ("upstream_unavailable", 503), ("upstream_unavailable", 503), ("ok", None)]
    assert models_sent(oa) == ["gpt-a", "gpt-a"] and models_sent(an) == ["claude-b"]
    assert len(r.sleep.waits) == 1


def test_real_429_with_retry_after_waits_then_retries(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.queue(Behaviour(status=429, retry_after=2))
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB]))
    assert out.target == RA and [a.outcome for a in out.attempts] == ["rate_limit_exceeded", "ok"]
    assert r.sleep.waits == [2.0]
    assert an.requests == []


def test_real_429_with_long_retry_after_moves_on(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.queue(Behaviour(status=429, retry_after=120))
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=3))
    assert out.target == RB and r.sleep.waits == []
    assert len(oa.requests) == 1


def test_real_429_everywhere_stays_429(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(status=429, retry_after=120)
    an.default = Behaviour(status=429, retry_after=120)
    r = Real(oa, an, dead_port)
    with pytest.raises(UpstreamError) as info:
        r.chat(decision(RA, fallback=[RB]))
    err = info.value
    assert (err.status, err.code) == (429, "rate_limit_exceeded")
    assert err.message.startswith("all 2 attempts on 2 targets failed")
    assert err.retry_after == 120.0
    assert err.headers() == {"retry-after": "120"}  # the client learns when to come back


def test_real_503_with_fractional_retry_after_reaches_the_client_rounded_up(oa: FakeUpstream, an: FakeUpstream,
                                                                            dead_port: int) -> None:
    oa.default = Behaviour(status=503, retry_after_ms=1200)
    r = Real(oa, an, dead_port)
    with pytest.raises(UpstreamError) as info:
        r.chat(decision(RA, retries=0))
    assert (info.value.status, info.value.headers()) == (503, {"retry-after": "2"})


def test_real_connection_refused_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RD, fallback=[RA], retries=1))
    assert out.target == RA
    assert [a.outcome for a in out.attempts] == ["upstream_unreachable", "upstream_unreachable", "ok"]
    assert r.health.status(RD).failures == 2


def test_real_connection_refused_everywhere_is_a_502_without_urls(oa: FakeUpstream, an: FakeUpstream,
                                                                  dead_port: int) -> None:
    r = Real(oa, an, dead_port)
    with pytest.raises(UpstreamConnect) as info:
        r.chat(decision(RD, retries=0))
    err = info.value
    assert err.status == 502 and "://" not in err.message
    assert "127.0.0.1" not in err.message and str(dead_port) not in err.message
    assert err.message.startswith("all 1 attempt on 1 target failed")


def test_real_reset_is_retried_on_the_same_target(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.queue(Behaviour(reset=True))
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB]))
    assert out.target == RA and [a.outcome for a in out.attempts] == ["upstream_unreachable", "ok"]
    assert an.requests == []


def test_real_reset_every_time_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(reset=True)
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=1))
    assert out.target == RB and len(oa.requests) == 2


def test_real_read_timeout_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    # The plan's timeout also bounds the fallback's call, so it must leave a loaded machine ample time for
    # that one (1 s, not 0.2 s); the first target never answers within any timeout (the fake's handler is
    # cancelled when the adapter gives up), so the test waits exactly the timeout and no longer.
    oa.default = Behaviour(delay=60.0)
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=0, timeout=Decimal("1")))
    assert out.target == RB
    assert [a.outcome for a in out.attempts] == ["upstream_timeout", "ok"]


def test_real_timeout_everywhere_is_a_504(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(delay=60.0)  # never in time, however late the timer fires
    r = Real(oa, an, dead_port)
    with pytest.raises(UpstreamTimeout) as info:
        r.chat(decision(RA, retries=0, timeout=Decimal("0.2")))
    assert info.value.status == 504 and info.value.code == "upstream_timeout"


def test_real_malformed_json_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(malformed=True)
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=0))
    assert out.target == RB and out.attempts[0].outcome == "upstream_bad_response"


@pytest.mark.parametrize("body", [{"content": ["oops"]}, {"content": [{"type": "text", "text": 7}]},
                                  {"content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}]}])
def test_real_wrong_shaped_answer_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int, body: dict) -> None:
    an.default = Behaviour(body={"type": "message", "stop_reason": "end_turn", **body})
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RB, fallback=[RA], retries=0))
    assert out.target == RA and [a.outcome for a in out.attempts] == ["upstream_bad_response", "ok"]


def test_real_404_model_missing_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    an.default = Behaviour(status=404, message="model: claude-b")
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RB, fallback=[RA], retries=2))
    assert out.target == RA and models_sent(an) == ["claude-b"] and r.sleep.waits == []
    assert [(a.outcome, a.upstream_status) for a in out.attempts] == [("upstream_model_not_found", 404), ("ok", None)]
    with pytest.raises(UpstreamError) as info:
        r.chat(decision(RB, retries=2))
    assert (info.value.status, info.value.code) == (502, "upstream_model_not_found")


def test_real_413_fails_over_and_is_413_when_every_target_refuses(oa: FakeUpstream, an: FakeUpstream,
                                                                   dead_port: int) -> None:
    oa.default = Behaviour(status=413, message="too long for this model")
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=2))
    assert out.target == RB and models_sent(oa) == ["gpt-a"]
    an.default = Behaviour(status=413)
    with pytest.raises(UpstreamError) as info:
        r.chat(decision(RA, fallback=[RB], retries=2))
    assert (info.value.status, info.value.code) == (413, "request_too_large")
    assert [a.upstream_status for a in info.value.attempts] == [413, 413]


def test_real_400_is_neither_retried_nor_failed_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.queue(Behaviour(status=400, message="messages: field required"))
    r = Real(oa, an, dead_port)
    with pytest.raises(UpstreamError) as info:
        r.chat(decision(RA, fallback=[RB], retries=3))
    err = info.value
    assert (err.status, err.type, err.upstream_status) == (400, "invalid_request_error", 400)
    assert "messages: field required" in err.message
    assert len(oa.requests) == 1 and an.requests == [] and r.sleep.waits == []
    assert r.health.status(RA).circuit() == "closed" and r.health.status(RA).failures == 0


def test_real_400_in_retry_on_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(status=400)
    r = Real(oa, an, dead_port)
    out = r.chat(decision(RA, fallback=[RB], retries=1, retry_on=(400,)))
    assert out.target == RB and len(oa.requests) == 2 and len(an.requests) == 1


def test_real_embeddings_fail_over_past_a_provider_without_them(oa: FakeUpstream, an: FakeUpstream,
                                                                  dead_port: int) -> None:
    r = Real(oa, an, dead_port)
    out = r.embed(decision(RB, fallback=[RA]), {"model": "e", "input": ["hello", "world"]})
    assert out.target == RA and out.response["model"] == "alpha" and len(out.response["data"]) == 2
    assert out.attempts[0].outcome == "embeddings_unsupported"


def test_real_stream_success(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    r = Real(oa, an, dead_port)
    for target, fake in ((RA, oa), (RB, an)):
        out, chunks = r.stream(decision(target))
        for c in chunks:
            validate_chunk(c)
        assert {c["model"] for c in chunks} == {target.model}
        text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
        assert text == f"Hello from {fake.name}."
        assert r.health.in_flight(target) == 0 and r.health.status(target).requests == 1


def test_real_stream_cut_before_first_chunk_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(stream_cut_after=0)
    r = Real(oa, an, dead_port)
    out, chunks = r.stream(decision(RA, fallback=[RB], retries=0))
    assert out.target == RB and {c["model"] for c in chunks} == {"beta"}
    assert out.attempts[0].outcome == "upstream_unreachable"


@pytest.mark.parametrize("behaviour", [Behaviour(status=503), Behaviour(malformed=True), Behaviour(reset=True)])
def test_real_stream_error_before_first_chunk_fails_over(oa: FakeUpstream, an: FakeUpstream, dead_port: int,
                                                         behaviour: Behaviour) -> None:
    oa.default = behaviour
    r = Real(oa, an, dead_port)
    out, _ = r.stream(decision(RA, fallback=[RB], retries=0))
    assert out.target == RB and r.health.in_flight(RA) == 0


def test_real_stream_cut_after_first_chunk_raises_after_the_delivered_chunks(oa: FakeUpstream, an: FakeUpstream,
                                                                           dead_port: int) -> None:
    oa.default = Behaviour(stream_cut_after=3, text="one two three four five")
    r = Real(oa, an, dead_port)
    got: list[dict] = []

    async def go(ex: Executor) -> None:
        out = await ex.stream(decision(RA, fallback=[RB]), BODY)
        got.append(out.first)
        async for c in out.rest:
            got.append(c)

    with pytest.raises(UpstreamConnect) as info:
        run(r.session(go))
    assert info.value.code == "stream_interrupted" and info.value.status == 502
    assert len(got) == 3 and {c["model"] for c in got} == {"alpha"}
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in got) == "one two "
    assert an.requests == [] and len(oa.requests) == 1
    assert r.health.in_flight(RA) == 0 and r.health.status(RA).failures == 1


def test_real_stream_in_stream_error_event_after_first_chunk(oa: FakeUpstream, an: FakeUpstream,
                                                              dead_port: int) -> None:
    oa.default = Behaviour(error_event={"message": "overloaded", "type": "server_error"}, stream_cut_after=2)
    r = Real(oa, an, dead_port)
    with pytest.raises(UpstreamConnect) as info:
        r.stream(decision(RA, fallback=[RB]))
    assert info.value.code == "stream_interrupted" and "overloaded" in info.value.message


def test_real_cancel_mid_stream_releases_in_flight(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(chunk_delay=5.0, text="slow slow slow")
    r = Real(oa, an, dead_port)
    got: list[dict] = []

    async def go(ex: Executor) -> None:
        async def consume() -> None:
            out = await ex.stream(decision(RA), BODY)
            got.append(out.first)
            async for c in out.rest:
                got.append(c)

        task = asyncio.create_task(consume())
        while not got:
            await asyncio.sleep(0.01)
        assert r.health.in_flight(RA) == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert r.health.in_flight(RA) == 0

    run(r.session(go))
    assert r.health.status(RA).failures == 0


def test_real_rest_aclose_releases_in_flight(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    oa.default = Behaviour(chunk_delay=5.0)
    r = Real(oa, an, dead_port)

    async def go(ex: Executor) -> None:
        out = await ex.stream(decision(RA), BODY)
        assert r.health.in_flight(RA) == 1
        await out.rest.aclose()
        assert r.health.in_flight(RA) == 0

    run(r.session(go))


def test_real_round_robin_rotates(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    r = Real(oa, an, dead_port)

    async def go(ex: Executor) -> list[str]:
        d = decision(RA, RB, RA2, strategy="round_robin", rule="spread")
        return [(await ex.chat(d, BODY)).target.model for _ in range(6)]

    assert run(r.session(go)) == ["alpha", "beta", "alpha-mini"] * 2
    assert models_sent(oa) == ["gpt-a", "gpt-a-mini"] * 2 and models_sent(an) == ["claude-b"] * 2


def test_real_fastest_after_latencies_are_recorded(oa: FakeUpstream, an: FakeUpstream, dead_port: int) -> None:
    an.default = Behaviour(delay=0.3)
    r = Real(oa, an, dead_port)
    d = decision(RB, RA, strategy="fastest")

    async def go(ex: Executor) -> list[str]:
        served = [(await ex.chat(d, BODY)).target.model for _ in range(2)]  # unknown latencies go first
        return served

    assert run(r.session(go)) == ["beta", "alpha"]
    lat_b, lat_a = r.health.latency(RB), r.health.latency(RA)
    assert lat_b is not None and lat_a is not None and lat_b >= 300.0
    ex = Executor({}, r.health)
    assert ex.order(d) == sorted([RB, RA], key=lambda t: r.health.latency(t) or 0.0)


def test_real_open_circuit_moves_target_last_then_half_opens(oa: FakeUpstream, an: FakeUpstream,
                                                             dead_port: int) -> None:
    clock = Clock()
    health = HealthBoard(failure_threshold=2, cooldown=10.0, clock=clock)
    r = Real(oa, an, dead_port, health=health)
    an.default = Behaviour(status=503)
    d = decision(RB, fallback=[RA], retries=1)
    assert r.chat(d).target == RA  # two 503s open beta's circuit
    assert health.status(RB).circuit() == "open" and len(an.requests) == 2
    assert r.chat(d).target == RA and len(an.requests) == 2  # beta skipped while open
    an.default = Behaviour()
    clock.t += 10.0
    out = r.chat(d)  # half-open: beta gets the probe, succeeds, closes
    assert out.target == RB and [a.target for a in out.attempts] == [RB]
    assert health.status(RB).circuit() == "closed"
