"""What the pydantic models of gateway/schema.py cannot say about a request body: that it can be sent on.

    check_encodable(body)              # every string UTF-8 encodable, every number finite → or InvalidRequest
    raw_needs_scan(raw)                # False: the bytes hold no \\uD800-\\uDFFF escape (the usual case)
    check_schema(schema, param)        # a JSON Schema object, bounded in size and depth, sound per the
                                       # draft-07 meta-schema (jsonschema) → or InvalidRequest naming param
    check_metadata(value)              # OpenAI's bounds: 16 keys, keys ≤ 64 chars, string values ≤ 512 chars

A lone surrogate (``"\\ud800"``) is valid JSON text but not Unicode: Python decodes it, then cannot encode it
for the upstream. A number like ``1e999`` parses to infinity, which JSON cannot carry. Both are the client's
fault and answered as a 400 naming the parameter (``messages[0].content``), before a provider ever sees them.

The walks are iterative (a body may nest as deep as the JSON parser allows) and run only when the cheap
test fails: `parse_json` checks the raw bytes with one regex and one ``parse_float`` hook; a dict that did
not come from it is encoded once with the C encoder (``allow_nan=False``).

Schemas: jsonschema's meta-schema validation costs tens of microseconds per subschema in pure Python, so
a schema is first bounded (``MAX_SCHEMA_NODES`` JSON values, ``MAX_SCHEMA_DEPTH`` levels; per request
``MAX_REQUEST_SCHEMA_NODES``), then checked once per distinct schema: verdicts are kept in a bounded LRU
keyed by a digest of the schema's JSON, so an agent sending the same tools on every turn pays a hash. The
draft-07 meta-schema is used whatever ``$schema`` says: it checks what a provider translation relies on
(subschemas are objects or booleans, ``required`` is an array of strings, ``enum`` an array, ``type`` a
known type) and ignores newer keywords (``$defs``, ``prefixItems``) rather than rejecting them, at a
quarter of the 2020-12 meta-schema's cost.
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections import OrderedDict
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match

from .errors import InvalidRequest

MAX_SCHEMA_NODES = 4096  # JSON values in one tool's parameters / one response_format schema
MAX_SCHEMA_DEPTH = 32  # nesting of objects and arrays inside one schema
MAX_REQUEST_SCHEMA_NODES = 8192  # all schemas of one request together (~100 ms of meta-schema work uncached)
METADATA_KEYS, METADATA_KEY_CHARS, METADATA_VALUE_CHARS = 16, 64, 512
_CACHE_SIZE = 1024

_META = Draft7Validator(Draft7Validator.META_SCHEMA)
# The cache key: the schema's JSON in the order it came (a client sends its tools the same way each turn;
# a reordered schema is only a cache miss).
_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_STRICT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)
# A JSON escape of a UTF-16 surrogate; a valid pair matches too (then the scan finds nothing).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_verdicts: OrderedDict[bytes, tuple[str | None, int]] = OrderedDict()  # digest → (error or None, nodes)


# --------------------------------------------------------------------------- encodability


def raw_needs_scan(raw: bytes) -> bool:
    """Could the decoded text hold a lone surrogate? Only through a ``\\uD8xx``..``\\uDFxx`` escape."""
    return _SURROGATE_ESCAPE.search(raw) is not None


def path_text(path: tuple[Any, ...]) -> str | None:
    """('messages', 0, 'content') → "messages[0].content"; () → None."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or None


def _bad_string(s: str) -> int | None:
    if s.isascii():
        return None
    try:
        s.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def find_unsendable(value: Any) -> tuple[tuple[Any, ...], str] | None:
    """The path of the first string that is not Unicode (a lone surrogate, in a value or a key) or number
    that is not finite, with what is wrong with it; None when the whole value can be sent."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        v, path = stack.pop()
        if isinstance(v, str):
            at = _bad_string(v)
            if at is not None:
                return path, f"the string holds a lone surrogate (U+{ord(v[at]):04X} at position {at}), " \
                             "which is not valid Unicode"
        elif isinstance(v, float):
            if not math.isfinite(v):
                return path, f"{v} is not a finite number (JSON has no infinity or NaN)"
        elif isinstance(v, dict):
            for k, item in reversed(v.items()):
                at = _bad_string(k) if isinstance(k, str) else None
                if at is not None:
                    return path, f"a key holds a lone surrogate (U+{ord(k[at]):04X} at position {at}), " \
                                 "which is not valid Unicode"
                stack.append((item, (*path, k)))
        elif isinstance(v, list):
            for i in range(len(v) - 1, -1, -1):
                stack.append((v[i], (*path, i)))
        elif v is _NON_FINITE:
            return path, "the number is not finite (it overflows to infinity)"
    return None


class _NonFiniteMark:
    """Stands in for a float literal that overflowed (``1e999``) while `parse_json` locates it."""

    __slots__ = ()


_NON_FINITE = _NonFiniteMark()


def unsendable_error(found: tuple[tuple[Any, ...], str]) -> InvalidRequest:
    path, what = found
    param = path_text(path)
    where = f"'{param}'" if param else "the request body"
    return InvalidRequest(f"Invalid value for {where}: {what}.", param=param, code="invalid_value")


def check_encodable(body: Any) -> None:
    """Raise InvalidRequest (naming the parameter) unless ``body`` encodes as strict UTF-8 JSON."""
    try:
        _STRICT.encode(body).encode("utf-8")
        return
    except (ValueError, UnicodeEncodeError, TypeError):
        pass
    found = find_unsendable(body)
    if found is not None:
        raise unsendable_error(found)


def mark_non_finite(literal: str) -> Any:
    """``parse_float`` for `parse_json`'s second pass: the float, or a mark where it is not finite."""
    v = float(literal)
    return v if math.isfinite(v) else _NON_FINITE


# --------------------------------------------------------------------------- JSON Schemas


def _measure(schema: Any, param: str) -> int:
    """Count the JSON values of ``schema`` (≤ MAX_SCHEMA_NODES) and bound its depth; raises."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(schema, 1)]
    while stack:
        v, depth = stack.pop()
        nodes += 1
        if nodes > MAX_SCHEMA_NODES:
            raise InvalidRequest(f"Invalid value for '{param}': the schema has more than {MAX_SCHEMA_NODES} "
                                 "JSON values, the limit.", param=param, code="invalid_value")
        if isinstance(v, dict):
            children: Any = v.values()
        elif isinstance(v, list):
            children = v
        else:
            continue
        if depth >= MAX_SCHEMA_DEPTH and children:
            raise InvalidRequest(f"Invalid value for '{param}': the schema nests deeper than {MAX_SCHEMA_DEPTH} "
                                 "levels, the limit.", param=param, code="invalid_value")
        stack.extend((c, depth + 1) for c in children)
    return nodes


def _over_budget(param: str) -> InvalidRequest:
    return InvalidRequest(f"Invalid value for '{param}': the request's schemas together have more than "
                          f"{MAX_REQUEST_SCHEMA_NODES} JSON values, the limit.", param=param, code="invalid_value")


def _verdict(schema: dict, param: str, budget: int) -> tuple[str | None, int]:
    """(what is wrong with ``schema`` per the meta-schema or None, its JSON values); remembered per schema.
    A schema over the size or depth bounds raises (and is not remembered)."""
    key = hashlib.sha256(_CANONICAL.encode(schema).encode("utf-8")).digest()
    hit = _verdicts.get(key)
    if hit is not None:
        _verdicts.move_to_end(key)
        return hit
    nodes = _measure(schema, param)
    if nodes > budget:
        raise _over_budget(param)  # before the costly part
    error = best_match(_META.iter_errors(schema))
    text = None
    if error is not None:
        where = path_text(tuple(error.absolute_path))
        text = (f"{where}: " if where else "") + _clip(error.message)
    hit = _verdicts[key] = (text, nodes)
    if len(_verdicts) > _CACHE_SIZE:
        _verdicts.popitem(last=False)
    return hit


def _clip(text: str) -> str:
    return text if len(text) <= 200 else text[:197] + "..."


def check_schema(schema: Any, param: str, *, budget: int = MAX_REQUEST_SCHEMA_NODES,
                 object_root: bool = False) -> int:
    """Check one JSON Schema; returns the nodes it used of the request's ``budget``. ``object_root``: the
    schema must describe an object (a function's parameters), as OpenAI requires."""
    if not isinstance(schema, dict):
        raise InvalidRequest(f"Invalid value for '{param}': a JSON Schema object is expected.", param=param,
                             code="invalid_value")
    problem, nodes = _verdict(schema, param, budget)
    if nodes > budget:
        raise _over_budget(param)
    if object_root:
        kind = schema.get("type")
        if kind is not None and kind != "object":
            raise InvalidRequest(f"Invalid schema for '{param}': schema must be a JSON Schema of 'type: \"object\"'"
                                 f", got 'type: {_clip(json.dumps(kind))}'.", param=param, code="invalid_value")
    if problem is not None:
        raise InvalidRequest(f"Invalid schema for '{param}': {problem}.", param=param, code="invalid_value")
    return nodes


# --------------------------------------------------------------------------- metadata


def check_metadata(value: Any) -> None:
    """OpenAI's ``metadata``: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return
    if not isinstance(value, dict):
        raise InvalidRequest("Invalid type for 'metadata': expected an object of string values.",
                             param="metadata", code="invalid_type")
    if len(value) > METADATA_KEYS:
        raise InvalidRequest(f"Invalid 'metadata': too many keys ({len(value)}); at most {METADATA_KEYS} are "
                             "allowed.", param="metadata", code="invalid_value")
    for k, v in value.items():
        if len(k) > METADATA_KEY_CHARS:
            raise InvalidRequest(f"Invalid 'metadata': a key is {len(k)} characters long; keys are at most "
                                 f"{METADATA_KEY_CHARS}.", param="metadata", code="invalid_value")
        if not isinstance(v, str):
            raise InvalidRequest(f"Invalid type for 'metadata.{k}': expected a string.",
                                 param=f"metadata.{k}", code="invalid_type")
        if len(v) > METADATA_VALUE_CHARS:
            raise InvalidRequest(f"Invalid 'metadata.{k}': the value is {len(v)} characters long; values are "
                                 f"at most {METADATA_VALUE_CHARS}.", param=f"metadata.{k}", code="invalid_value")
