"""Retry-After at its edges, through the real OpenAI adapter against the fake upstream and an Executor built
as the app builds it (its default wait limit): a Retry-After exactly at the limit is waited, just past it
fails over at once, and an HTTP date counts as the seconds until that date. The sleep is recorded, never
slept, so nothing here depends on timing."""
from __future__ import annotations

import asyncio
import random
import time
from email.utils import formatdate
from typing import Iterator

import pytest

from dsl import Decision, Facts, Plan, Target
from dsl.ast import NOSPAN
from gateway.health import HealthBoard
from gateway.providers import make_adapter
from gateway.router import Executor, Outcome
from tests.gateway.fakes import Behaviour, FakeUpstream

A = Target("alpha", "first", "gpt-a")
B = Target("beta", "second", "gpt-b")
BODY = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}]}
LIMIT = 10.0  # Executor's default max_retry_after, which the app uses


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture(scope="module")
def fakes() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    with FakeUpstream("openai", key="sk-first") as first, FakeUpstream("openai", key="sk-second") as second:
        yield first, second


@pytest.fixture
def first(fakes: tuple[FakeUpstream, FakeUpstream]) -> Iterator[FakeUpstream]:
    for f in fakes:
        f.clear()
        f.default = Behaviour()
    yield fakes[0]


@pytest.fixture
def second(fakes: tuple[FakeUpstream, FakeUpstream], first: FakeUpstream) -> FakeUpstream:
    return fakes[1]


def chat(first: FakeUpstream, second: FakeUpstream, sleep: Recorder, retries: int = 1) -> Outcome:
    plan = Plan("ordered", (A,), (B,), retries)
    d = Decision(rule="r", rule_span=NOSPAN, plan=plan, policy_version="t", facts=Facts())

    async def go() -> Outcome:
        # Both fakes are OpenAI-kind and read the same env var name: one env per adapter.
        adapters = {"first": make_adapter(first.provider("first"), first.env),
                    "second": make_adapter(second.provider("second"), second.env)}
        ex = Executor(adapters, HealthBoard(), rng=random.Random(0), sleep=sleep)
        try:
            return await ex.chat(d, dict(BODY))
        finally:
            for a in adapters.values():
                await a.aclose()

    return asyncio.run(go())


def test_the_default_limit_is_what_these_tests_assume() -> None:
    # If the limit moves, the edge tests below must move with it (they are about the edge, not the number).
    assert Executor({}, HealthBoard()).max_retry_after == LIMIT


@pytest.mark.parametrize("header", ["10", "10.0"])
def test_retry_after_exactly_at_the_limit_is_waited_on_the_same_target(first: FakeUpstream, second: FakeUpstream,
                                                                       header: str) -> None:
    first.queue(Behaviour(status=429, retry_after=header))
    sleep = Recorder()
    out = chat(first, second, sleep)
    assert out.target == A
    assert [a.outcome for a in out.attempts] == ["rate_limit_exceeded", "ok"]
    assert sleep.waits == [LIMIT]
    assert second.requests == []


def test_retry_after_just_past_the_limit_fails_over_at_once(first: FakeUpstream, second: FakeUpstream) -> None:
    first.queue(Behaviour(status=429, retry_after="10.001"))
    sleep = Recorder()
    out = chat(first, second, sleep, retries=3)
    assert out.target == B and sleep.waits == []
    assert len(first.requests) == 1 and len(second.requests) == 1


def http_date_in(seconds: int) -> tuple[str, float]:
    """An HTTP date about ``seconds`` ahead, on a whole second (dates have no fractions), and its epoch."""
    when = float(int(time.time()) + seconds)
    return formatdate(when, usegmt=True), when


def test_retry_after_as_a_future_http_date_is_waited_like_its_seconds(first: FakeUpstream,
                                                                     second: FakeUpstream) -> None:
    header, when = http_date_in(6)
    first.queue(Behaviour(status=503, retry_after=header))
    sleep = Recorder()
    before = time.time()
    out = chat(first, second, sleep)
    after = time.time()
    assert out.target == A and second.requests == []
    assert len(sleep.waits) == 1
    # The seconds from the moment the header was read to the date: bounded by the clock readings around
    # the call, so the check holds however slow the machine is.
    assert when - after - 0.01 <= sleep.waits[0] <= when - before + 0.01


def test_retry_after_as_an_http_date_past_the_limit_fails_over_at_once(first: FakeUpstream,
                                                                       second: FakeUpstream) -> None:
    header, _ = http_date_in(120)
    first.queue(Behaviour(status=429, retry_after=header))
    sleep = Recorder()
    out = chat(first, second, sleep, retries=3)
    assert out.target == B and sleep.waits == []


def test_retry_after_as_a_past_http_date_means_retry_now(first: FakeUpstream, second: FakeUpstream) -> None:
    header, _ = http_date_in(-3600)
    first.queue(Behaviour(status=503, retry_after=header))
    sleep = Recorder()
    out = chat(first, second, sleep)
    assert out.target == A and second.requests == []
    # Zero from the date, so the jittered backoff alone (at most its 0.05 s base on a first retry).
    assert len(sleep.waits) == 1 and 0.0 <= sleep.waits[0] <= 0.05
