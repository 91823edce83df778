"""The sticky draw through the HTTP API: the OpenAI `user` field is what a `split sticky by user` hashes on,
verbatim, so a user lands in the same arm through the gateway as in the golden values of
tests/dsl/test_sticky_golden.py (a change here reshuffles users on upgrade just the same)."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.dsl.test_sticky_golden import GOLDEN_TENTHS_A, TENTHS, USERS
from tests.gateway.conftest import GatewayServer, policy_dir

# The golden route `tenths-a`, under the same name (the name is part of the hash), for the key's team.
POLICY = "provider p kind mock\n" + "".join(f'model m{i} = p/"m{i}"\n' for i in range(10)) + f"""
route tenths-a
  when team == "eng"
  split sticky by user {TENTHS}

default
  use m0
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    tmp: Path = tmp_path_factory.mktemp("sticky-http")
    with GatewayServer(policies=policy_dir(tmp, POLICY), db_url=f"sqlite:///{tmp / 'keys.db'}") as s:
        yield s


def test_the_user_field_draws_the_golden_arm_through_the_gateway(server: GatewayServer) -> None:
    served = []
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {server.key}"}) as c:
        for user in USERS:
            r = c.post("/v1/chat/completions",
                       json={"model": "anything", "user": user, "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code == 200, r.text
            assert r.headers["x-open-router-rule"] == "tenths-a"
            served.append(r.headers["x-open-router-model"])
    assert served == GOLDEN_TENTHS_A
