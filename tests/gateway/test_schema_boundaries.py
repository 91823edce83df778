"""The exact edges of request validation, which the bounded hypothesis profile in test_schema.py may never
draw: the last accepted and the first rejected value of each bounded parameter, both through
`validate_chat` and through the HTTP API (where the 400 must name the param, OpenAI-style)."""
from __future__ import annotations

from typing import Any, Iterator

import httpx
import pytest

from gateway.errors import InvalidRequest
from gateway.schema import validate_chat
from tests.gateway.conftest import GatewayServer

MSG = [{"role": "user", "content": "hello"}]
BASE: dict[str, Any] = {"model": "gpt-4o-mini", "messages": MSG}

ACCEPTED = [
    ("n", 1), ("n", 128),
    ("temperature", 0), ("temperature", 0.0), ("temperature", 2), ("temperature", 2.0),
    ("max_tokens", 1), ("max_completion_tokens", 1),
]
REJECTED = [
    ("n", 129), ("n", 0),
    ("temperature", 2.0001), ("temperature", -0.0001),
    ("max_tokens", 0), ("max_completion_tokens", 0),
]


@pytest.mark.parametrize("param, value", ACCEPTED, ids=[f"{p}={v!r}" for p, v in ACCEPTED])
def test_edge_values_are_accepted_unchanged(param: str, value: Any) -> None:
    body = {**BASE, param: value}
    assert validate_chat(body) is body
    assert body[param] == value and type(body[param]) is type(value)  # 2 stays an int, 2.0 a float


@pytest.mark.parametrize("param, value", REJECTED, ids=[f"{p}={v!r}" for p, v in REJECTED])
def test_first_values_past_the_edge_are_rejected_naming_the_param(param: str, value: Any) -> None:
    with pytest.raises(InvalidRequest) as info:
        validate_chat({**BASE, param: value})
    assert info.value.status == 400 and info.value.param == param, info.value.message


def test_max_tokens_and_max_completion_tokens_together_are_accepted_as_sent() -> None:
    # Clients migrating between the two names often send both; neither is dropped by validation.
    body = {**BASE, "max_tokens": 5, "max_completion_tokens": 7}
    assert validate_chat(body) is body
    assert (body["max_tokens"], body["max_completion_tokens"]) == (5, 7)


# --------------------------------------------------------------------------- the same edges over HTTP


@pytest.fixture(scope="module")
def client(gateway: GatewayServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=gateway.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {gateway.key}"}) as c:
        yield c


@pytest.mark.parametrize("param, value", [("n", 128), ("temperature", 0), ("temperature", 2)])
def test_http_edge_values_are_served(client: httpx.Client, param: str, value: Any) -> None:
    r = client.post("/v1/chat/completions", json={**BASE, param: value})
    assert r.status_code == 200, r.text
    if param == "n":
        assert len(r.json()["choices"]) == 128


@pytest.mark.parametrize("param, value", [("n", 129), ("temperature", 2.0001), ("temperature", -0.0001)])
def test_http_values_past_the_edge_are_400_naming_the_param(client: httpx.Client, param: str, value: Any) -> None:
    r = client.post("/v1/chat/completions", json={**BASE, param: value})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param
