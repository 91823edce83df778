"""Provider adapters: one per wire format (OpenAI-compatible, Azure, Anthropic, Gemini) plus the offline
mock, all speaking OpenAI's shape to the gateway. Start at `make_adapter` (the registry, by provider
kind); see `base` for the protocol.
"""
from __future__ import annotations

from .base import Adapter, AdapterOptions, HTTPAdapter
from .registry import ADAPTERS, make_adapter

__all__ = ["ADAPTERS", "Adapter", "AdapterOptions", "HTTPAdapter", "make_adapter"]
