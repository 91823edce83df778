"""The adapter registry: one adapter class per provider kind the policy language knows, and no other."""
from __future__ import annotations

import pytest

from dsl.ast import PROVIDER_KINDS, Provider
from gateway.providers import ADAPTERS, make_adapter


def test_the_registry_kinds_are_the_language_kinds() -> None:
    assert sorted(ADAPTERS) == sorted(PROVIDER_KINDS)
    for kind, cls in ADAPTERS.items():
        assert cls.kind == kind


@pytest.mark.parametrize("kind", PROVIDER_KINDS)
def test_make_adapter_builds_the_kind_declared(kind: str) -> None:
    adapter = make_adapter(Provider("p", kind, base_url="http://127.0.0.1:9"), {}, limit=3)
    assert type(adapter) is ADAPTERS[kind]
    assert adapter.options.limit == 3


def test_an_unknown_kind_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown kind 'grpc'"):
        make_adapter(Provider("p", "grpc"), {})
