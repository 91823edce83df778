"""Adapter for Azure OpenAI: OpenAI's wire format behind per-deployment URLs
(``{base_url}/openai/deployments/{deployment}/chat/completions?api-version=...``) and an ``api-key`` header.
The model's ``upstream`` name is the deployment; the body carries no ``model``.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import quote

from dsl.decision import Target

from .openai import OpenAIAdapter
from .stream import strip_filters

# The latest generally available data-plane inference version (Azure OpenAI REST reference).
DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAIAdapter):
    kind = "azure"
    default_base_url = None  # every Azure resource has its own endpoint

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.api_version = self.provider.api_version or DEFAULT_API_VERSION
        self._urls: dict[tuple[str, str], str] = {}

    def auth_headers(self, key: str) -> dict[str, str]:
        return {"api-key": key}

    def _url(self, target: Target, op: str) -> str:
        url = self._urls.get((target.upstream, op))
        if url is None:
            base = self.require_base_url()
            url = (f"{base}/openai/deployments/{quote(target.upstream, safe='')}/{op}"
                   f"?api-version={quote(self.api_version, safe='')}")
            self._urls[(target.upstream, op)] = url
        return url

    def chat_url(self, target: Target) -> str:
        return self._url(target, "chat/completions")

    def embed_url(self, target: Target) -> str:
        return self._url(target, "embeddings")

    def prepare(self, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        if "model" in body:
            body = {k: v for k, v in body.items() if k != "model"}
        return body

    async def chat(self, target: Target, body: dict, *, timeout: float | None = None) -> dict:
        # Azure's content-filter annotations have no place in OpenAI's schema: dropped (a choice the filter
        # blocked keeps finish_reason "content_filter"); streams do the same in ChunkStream.
        result = strip_filters(await super().chat(target, body, timeout=timeout))
        if not result.get("model"):
            result["model"] = target.upstream
        return result
