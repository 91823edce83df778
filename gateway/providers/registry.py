"""The adapter classes by provider kind, and `make_adapter`, which builds the one a provider declares.

Each adapter class names its wire format in ``kind``; the registry is keyed by it, and a test holds its
kinds equal to the policy language's provider kinds (``dsl.ast.PROVIDER_KINDS``).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Mapping

from dsl.ast import Provider

from .anthropic import AnthropicAdapter
from .azure import AzureAdapter
from .base import Adapter, AdapterOptions
from .gemini import GeminiAdapter
from .mock import MockAdapter
from .openai import OpenAIAdapter

ADAPTERS: Mapping[str, type[Adapter]] = {
    cls.kind: cls for cls in (OpenAIAdapter, AzureAdapter, AnthropicAdapter, GeminiAdapter, MockAdapter)
}


def make_adapter(provider: Provider, env: Mapping[str, str] | None = None, *,
                 options: AdapterOptions | None = None, **overrides: Any) -> Adapter:
    """The adapter for ``provider.kind``; ``overrides`` are AdapterOptions fields (limit=, connect_timeout=, ...)."""
    cls = ADAPTERS.get(provider.kind)
    if cls is None:
        raise ValueError(f"provider {provider.name!r}: unknown kind {provider.kind!r} "
                         f"(known: {', '.join(sorted(ADAPTERS))})")
    opts = options or AdapterOptions()
    if overrides:
        opts = replace(opts, **overrides)
    return cls(provider, env=env if env is not None else {}, options=opts)


__all__ = ["ADAPTERS", "make_adapter"]
