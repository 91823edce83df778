"""Authentication: tokens from headers, principals from the key store."""
from __future__ import annotations

import asyncio

import pytest

from gateway.auth import Authenticator, Principal, token_from
from gateway.errors import AuthError
from gateway.keys import KeyStore


@pytest.fixture
def db(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'keys.db'}"


def test_authenticator_and_headers(db: str) -> None:
    store = KeyStore(db)
    rec, secret = store.create("eng", project="p", app="a", cost_center="c")
    auth = Authenticator(store)
    p = asyncio.run(auth.authenticate({"authorization": f"Bearer {secret}"}))
    assert p == Principal(rec.id, "eng", "p", "a", "c")
    assert token_from({"api-key": secret}) == secret
    assert token_from({"authorization": "bearer  " + secret}) == secret
    assert token_from({"authorization": "Basic abc"}) == ""
    assert token_from({}) is None
    for headers in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer sk-or-nope"}):
        with pytest.raises(AuthError) as info:
            asyncio.run(auth.authenticate(headers))
        assert info.value.status == 401 and "sk-or-nope" not in info.value.message
