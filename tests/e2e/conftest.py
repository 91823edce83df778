"""End-to-end fixtures: a gateway on the default (mock) policy, and a gateway in front of fake OpenAI,
Anthropic and Gemini upstreams (real HTTP servers from tests/gateway/fakes.py). One of each per module."""
from __future__ import annotations

from typing import Iterator

import pytest

from tests.gateway.conftest import GatewayServer, policy_dir
from tests.gateway.fakes import Behaviour, FakeUpstream


@pytest.fixture(scope="module")
def mock_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("e2e-mock")
    with GatewayServer(policies=policy_dir(tmp), db_url=f"sqlite:///{tmp / 'keys.db'}") as server:
        yield server


class Fakes:
    def __init__(self) -> None:
        self.openai = FakeUpstream("openai", key="sk-fake-openai").start()
        self.anthropic = FakeUpstream("anthropic", key="sk-fake-anthropic").start()
        self.gemini = FakeUpstream("gemini", key="fake-gemini-key").start()

    @property
    def all(self) -> tuple[FakeUpstream, ...]:
        return (self.openai, self.anthropic, self.gemini)

    @property
    def env(self) -> dict[str, str]:
        return {**self.openai.env, **self.anthropic.env, **self.gemini.env}

    def reset(self) -> None:
        for f in self.all:
            f.clear()
            f.default = Behaviour()

    def stop(self) -> None:
        for f in self.all:
            f.stop()


def fakes_policy(f: Fakes) -> str:
    return f"""
provider up-openai     kind openai     base_url "{f.openai.base_url}"     key env({f.openai.key_env})
provider up-anthropic  kind anthropic  base_url "{f.anthropic.base_url}"  key env({f.anthropic.key_env})
provider up-gemini     kind gemini     base_url "{f.gemini.base_url}"     key env({f.gemini.key_env})

model oai        = up-openai/"gpt-4o-mini"             price in 0.15 out 0.60 per 1M  supports tools, json
model claude     = up-anthropic/"claude-sonnet-4-5"    price in 3 out 15 per 1M       supports tools
model gem        = up-gemini/"gemini-2.0-flash"        price in 0.10 out 0.40 per 1M  supports tools
model oai-embed  = up-openai/"text-embedding-3-small"  price in 0.02 out 0 per 1M     supports embeddings
model gem-embed  = up-gemini/"text-embedding-004"      price 0                        supports embeddings

route failover
  description "Claude first; when it fails, the OpenAI model."
  when model == "claude-then-oai"
  use claude
  fallback oai
  retries 0

route limited
  when model == "oai-once"
  use oai
  retries 1

default
  use requested
"""


@pytest.fixture(scope="module")
def fakes() -> Iterator[Fakes]:
    f = Fakes()
    yield f
    f.stop()


@pytest.fixture(scope="module")
def fake_gateway(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("e2e-fakes")
    server = GatewayServer(policies=policy_dir(tmp, fakes_policy(fakes)), db_url=f"sqlite:///{tmp / 'keys.db'}",
                           env=fakes.env)
    with server:
        yield server


@pytest.fixture
def fresh(fakes: Fakes) -> Iterator[Fakes]:
    """The fakes with no queued misbehaviour and no recorded requests, before and after the test."""
    fakes.reset()
    yield fakes
    fakes.reset()
