"""Decoding a request body: UTF-8 JSON holding an object, every string Unicode and every number finite;
anything else is an OpenAI-shaped 400 (gateway/schema.py validates the object itself)."""
from __future__ import annotations

import json
from typing import Any

from . import schema_guard as guard
from .errors import InvalidRequest

__all__ = ["json_kind", "parse_json"]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class _Overflow(Exception):
    """A float literal that is not finite (``1e999``): `parse_json` looks for where it is."""


def _finite_float(literal: str) -> float:
    v = float(literal)
    if v - v != 0.0:  # inf - inf is nan, nan - nan is nan
        raise _Overflow
    return v


def parse_json(raw: bytes) -> dict[str, Any]:
    """Decode a request body: UTF-8 JSON holding an object, every string of it Unicode (no lone
    surrogate) and every number finite. Anything else → InvalidRequest (naming the parameter where
    one is to blame)."""
    if not raw:
        raise InvalidRequest("The request body is empty; expected a JSON object.", code="invalid_json")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid UTF-8 (byte {exc.start}).",
                             code="invalid_encoding") from None
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite_float)
    except _Overflow:
        value = json.loads(text, parse_constant=_no_constants, parse_float=guard.mark_non_finite)
        raise guard.unsendable_error(guard.find_unsendable(value) or ((), "a number is not finite")) from None
    except RecursionError:
        raise InvalidRequest("The request body is nested too deeply.", code="invalid_json") from None
    except ValueError as exc:
        raise InvalidRequest(f"We could not parse the JSON body of your request: {exc}.",
                             code="invalid_json") from None
    if not isinstance(value, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {json_kind(value)}.",
                             code="invalid_json")
    if guard.raw_needs_scan(raw):
        found = guard.find_unsendable(value)
        if found is not None:
            raise guard.unsendable_error(found)
    return value


def json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
