"""Provider adapters: one per wire format (OpenAI-compatible, Azure, Anthropic, Gemini) plus the offline
mock, all speaking OpenAI's shape to the gateway. Start at `make_adapter`; see `base` for the protocol.
"""
from __future__ import annotations

from .base import Adapter, AdapterOptions, HTTPAdapter, make_adapter

__all__ = ["Adapter", "AdapterOptions", "HTTPAdapter", "make_adapter"]
