"""Deterministic JSON for the mock provider's ``response_format`` answers: a small object for
``json_object``, and an instance of the caller's schema for ``json_schema``.

    instance(schema, seed)         # the same (schema, seed) always gives the same value

Supported: ``type`` (object, array, string, number, integer, boolean, null, or a list of them — the first
that is not "null" wins), ``enum``, ``const``, ``properties`` / ``required`` / ``additionalProperties``,
``items`` / ``prefixItems`` / ``minItems`` / ``maxItems``, ``minimum`` / ``maximum`` and their exclusive
forms, ``multipleOf``, ``minLength`` / ``maxLength``, a few string ``format`` s, ``anyOf`` / ``oneOf``
(the first branch), ``allOf`` (merged), and ``$ref`` to ``#/$defs/…``, ``#/definitions/…`` or any JSON
pointer into the same schema. Not attempted: ``pattern``, ``not``, ``uniqueItems``, ``if``/``then``,
``dependentRequired``.

The work is bounded whatever the schema: below depth ``MAX_DEPTH`` (``$ref`` cycles included) or after
``MAX_NODES`` values, a subschema gets its minimal value (an enum's first member, ``{}``, ``[]``, ``""``,
the lower bound, ``false``, ``null``) and optional properties and extra array items are left out. A
schema that can only be satisfied by more than that (``minItems: 10**9``) gets a value that does not
satisfy it rather than unbounded work.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Mapping

MAX_DEPTH = 8
MAX_NODES = 1000
MAX_REF_HOPS = 32  # a $ref to a $ref to ... is followed this far
MAX_ALLOF = 16  # branches of one allOf merged
MAX_ALLOF_NESTING = 4  # allOf inside allOf (through $ref, say) merged this deep
TYPES = ("object", "array", "string", "number", "integer", "boolean", "null")


def _h(*parts: str) -> int:
    """A deterministic 64-bit number from the parts."""
    digest = hashlib.sha256("\x00".join(parts).encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big")


def json_object(reply: str, seed: str) -> dict[str, Any]:
    """The mock's answer to ``response_format: {"type": "json_object"}``: the plain reply, wrapped."""
    return {"reply": reply, "digest": f"{_h(seed, reply):016x}"[:8]}


def instance(schema: Any, seed: str) -> Any:
    """A deterministic value valid against ``schema`` (within the limits the module docstring lists)."""
    return _Gen(schema if isinstance(schema, Mapping) else {}, seed).value(schema, "", 0)


class _Gen:
    def __init__(self, root: Mapping[str, Any], seed: str) -> None:
        self.root = root
        self.seed = seed
        self.nodes = 0

    @property
    def exhausted(self) -> bool:
        return self.nodes >= MAX_NODES

    # ------------------------------------------------------------------ schema plumbing

    def resolve(self, schema: Any, nesting: int = 0) -> Mapping[str, Any]:
        """``schema`` with ``$ref`` followed (within this schema only) and ``allOf`` merged in (nested
        ``allOf`` to depth ``MAX_ALLOF_NESTING``; every merged branch counts as a node)."""
        hops = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and hops < MAX_REF_HOPS:
            hops += 1
            target = self._pointer(schema["$ref"])
            if target is None:
                break
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**target, **rest} if rest else target
        if not isinstance(schema, Mapping):
            return {}
        if isinstance(schema.get("allOf"), list) and schema["allOf"]:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            for sub in schema["allOf"][:MAX_ALLOF]:
                self.nodes += 1
                if nesting >= MAX_ALLOF_NESTING or self.exhausted:
                    break
                sub = self.resolve(sub, nesting + 1)
                for key, val in sub.items():
                    if key == "properties" and isinstance(val, Mapping):
                        merged["properties"] = {**(merged.get("properties") or {}), **val}
                    elif key == "required" and isinstance(val, list):
                        merged["required"] = list(dict.fromkeys([*(merged.get("required") or []), *val]))
                    else:
                        merged.setdefault(key, val)
            return merged
        return schema

    def _pointer(self, ref: str) -> Mapping[str, Any] | None:
        if ref == "#":
            return self.root
        if not ref.startswith("#/"):
            return None  # a remote or anchor reference: not followed
        node: Any = self.root
        for part in ref[2:].split("/")[:32]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node if isinstance(node, Mapping) else None

    @staticmethod
    def kind(schema: Mapping[str, Any]) -> str | None:
        t = schema.get("type")
        if isinstance(t, list):
            named = [k for k in t if k in TYPES]
            return next((k for k in named if k != "null"), "null" if named else None)
        if t in TYPES:
            return t
        if "properties" in schema or "required" in schema or "additionalProperties" in schema:
            return "object"
        if "items" in schema or "prefixItems" in schema or "minItems" in schema:
            return "array"
        return None

    # ------------------------------------------------------------------ values

    def value(self, schema: Any, name: str, depth: int) -> Any:
        self.nodes += 1
        s = self.resolve(schema)
        for _ in range(MAX_REF_HOPS):  # anyOf / oneOf: the first branch (which may branch again)
            branch = "anyOf" if isinstance(s.get("anyOf"), list) and s["anyOf"] else \
                "oneOf" if isinstance(s.get("oneOf"), list) and s["oneOf"] else None
            if branch is None:
                break
            rest = {k: v for k, v in s.items() if k not in ("anyOf", "oneOf")}
            s = {**rest, **self.resolve(s[branch][0])}
        if "const" in s:
            return s["const"]
        if isinstance(s.get("enum"), list) and s["enum"]:
            return s["enum"][0]
        kind = self.kind(s)
        if depth >= MAX_DEPTH or self.exhausted:
            return self.minimal(s, kind)
        key = f"{name}@{depth}:{self.nodes}"
        if kind == "object":
            return self.object(s, depth)
        if kind == "array":
            return self.array(s, name, depth)
        if kind == "string":
            return self.string(s, name or "value", key)
        if kind == "integer":
            return self.integer(s, key)
        if kind == "number":
            return self.number(s, key)
        if kind == "boolean":
            return _h(self.seed, key) % 2 == 0
        if kind == "null":
            return None
        return {}  # no type to go on: {} satisfies every type-specific keyword

    def minimal(self, s: Mapping[str, Any], kind: str | None) -> Any:
        if kind == "array":
            return []
        if kind == "string":
            return "x" * _count(s.get("minLength"), 0, 64)
        if kind == "integer":
            lo, hi = _int_bounds(s)
            return lo if lo is not None else (hi if hi is not None and hi < 0 else 0)
        if kind == "number":
            lo, hi, _, _ = _bounds(s)
            return lo if lo is not None and lo > 0 else (hi if hi is not None and hi < 0 else 0)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return {}

    def object(self, s: Mapping[str, Any], depth: int) -> dict[str, Any]:
        props = s.get("properties") if isinstance(s.get("properties"), Mapping) else {}
        required = [r for r in s.get("required") or () if isinstance(r, str)]
        extra = s.get("additionalProperties")
        out: dict[str, Any] = {}
        for name in required:
            if name not in out:
                sub = props.get(name, extra if isinstance(extra, Mapping) else {})
                out[name] = self.value(sub, name, depth + 1)
        for name, sub in props.items():
            if self.exhausted:
                break
            if name not in out:
                out[name] = self.value(sub, name, depth + 1)
        return out

    def array(self, s: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        prefix = s.get("prefixItems") if isinstance(s.get("prefixItems"), list) else []
        items = s.get("items")
        lo = _count(s.get("minItems"), 0, MAX_NODES)
        hi = _count(s.get("maxItems"), MAX_NODES, MAX_NODES)
        if items is False:
            hi = min(hi, len(prefix))
        n = min(hi, max(lo, len(prefix), 1 if items is not False else 0))
        out: list[Any] = []
        for i in range(n):
            if self.exhausted and i >= lo:
                break
            sub = prefix[i] if i < len(prefix) else (items if isinstance(items, Mapping) else {})
            out.append(self.value(sub, f"{name}[{i}]", depth + 1))
        return out

    def string(self, s: Mapping[str, Any], name: str, key: str) -> str:
        h = _h(self.seed, key)
        fmt = s.get("format")
        if fmt == "date-time":
            text = f"2025-{h % 12 + 1:02d}-{h % 28 + 1:02d}T{h % 24:02d}:{h % 60:02d}:00Z"
        elif fmt == "date":
            text = f"2025-{h % 12 + 1:02d}-{h % 28 + 1:02d}"
        elif fmt == "time":
            text = f"{h % 24:02d}:{h % 60:02d}:00Z"
        elif fmt == "email":
            text = f"user-{h % 0xFFFFFF:06x}@example.com"
        elif fmt in ("uri", "url"):
            text = f"https://example.com/{h % 0xFFFFFF:06x}"
        elif fmt == "uuid":
            x = f"{h:016x}{_h(self.seed, key, 'uuid'):016x}"
            text = f"{x[:8]}-{x[8:12]}-4{x[13:16]}-8{x[17:20]}-{x[20:32]}"
        else:
            text = f"{name[:40]}-{h % 0xFFFFFFFF:08x}"
        lo = _count(s.get("minLength"), 0, 4096)
        hi = _count(s.get("maxLength"), 4096, 4096)
        if len(text) < lo:
            text += "x" * (lo - len(text))
        return text[: max(hi, 0)]

    def integer(self, s: Mapping[str, Any], key: str) -> int:
        lo, hi = _int_bounds(s)
        if lo is None and hi is None:
            lo, hi = 0, 99
        elif lo is None:
            lo = hi - 99  # type: ignore[operator]
        elif hi is None:
            hi = lo + 99
        step = s.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first = -(-lo // step) * step  # the first multiple >= lo
            if first > hi:  # type: ignore[operator]
                return first  # no multiple in range: the bound gives way
            count = (hi - first) // step + 1  # type: ignore[operator]
            return first + (_h(self.seed, key) % count) * step
        if hi < lo:  # type: ignore[operator]
            return lo
        return lo + _h(self.seed, key) % (hi - lo + 1)  # type: ignore[operator]

    def number(self, s: Mapping[str, Any], key: str) -> float | int:
        lo, hi, lo_x, hi_x = _bounds(s)
        step = s.get("multipleOf")
        if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
            return self._multiple(float(step), lo, hi, lo_x, hi_x, key)
        frac = (_h(self.seed, key) % 1000) / 1000  # in [0, 1)
        if lo is not None and hi is not None:
            if hi <= lo:
                return lo
            value = round(lo + (hi - lo) * (0.05 + 0.9 * frac), 6)
            return value if lo < value < hi or (value == lo and not lo_x) or (value == hi and not hi_x) \
                else (lo + hi) / 2
        if lo is not None:
            return round(lo + 1 + frac * 99, 2)
        if hi is not None:
            return round(hi - 1 - frac * 99, 2)
        return round(frac * 100, 2)

    def _multiple(self, step: float, lo: float | None, hi: float | None, lo_x: bool, hi_x: bool,
                  key: str) -> float | int:
        def ok(v: float) -> bool:
            q = v / step
            return (q == int(q) and (lo is None or v > lo or (v == lo and not lo_x))
                    and (hi is None or v < hi or (v == hi and not hi_x)))

        start = math.ceil(lo / step) if lo is not None else 0
        if ok(0.0) and lo is None:
            start = _h(self.seed, key) % 10
        for k in range(start, start + 64):
            v = k * step
            v = int(v) if float(v).is_integer() else v
            if ok(v):
                return v
        return 0 if ok(0.0) else (lo if lo is not None else 0)


def _count(value: Any, default: int, cap: int) -> int:
    """A non-negative integer keyword (minItems, maxLength, ...), capped; ``default`` when absent."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return default
    return max(0, min(int(value), cap))


def _bounds(s: Mapping[str, Any]) -> tuple[float | None, float | None, bool, bool]:
    """(lower, upper, lower exclusive?, upper exclusive?) from minimum/maximum and their exclusive forms."""

    def num(k: str) -> float | None:
        v = s.get(k)
        return v if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    lo, hi, lo_x, hi_x = num("minimum"), num("maximum"), False, False
    xlo, xhi = num("exclusiveMinimum"), num("exclusiveMaximum")
    if xlo is not None and (lo is None or xlo >= lo):
        lo, lo_x = xlo, True
    if xhi is not None and (hi is None or xhi <= hi):
        hi, hi_x = xhi, True
    return lo, hi, lo_x, hi_x


def _int_bounds(s: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The inclusive integer range the bounds allow (either end may be open)."""
    lo, hi, lo_x, hi_x = _bounds(s)
    ilo = None if lo is None else (math.floor(lo) + 1 if lo_x else math.ceil(lo))
    ihi = None if hi is None else (math.ceil(hi) - 1 if hi_x else math.floor(hi))
    return ilo, ihi
