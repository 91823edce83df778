"""Concrete requests inside a region of the condition algebra (dsl/regions.py): witnesses the semantic diff
decides under both policies, so that "this reordering changes decisions" is shown by a request, not
guessed. A region with an opaque test (`matches`) has no witness here.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterator

from . import ast as A
from .decision import Facts
from .regions import Discrete, Intervals, Region

__all__ = ["witness", "witnesses"]

_BASE = datetime(2026, 1, 5, 12, 0, tzinfo=timezone.utc)  # a Monday noon
_OTHER = "zz-none-of-these"


def _pick(s: Any) -> object:
    if isinstance(s, Intervals):
        return s.ivals[0][0] if s.ivals else None
    if not s.co:
        vals = sorted((v for v in s.vals if v is not None), key=str)
        return vals[0] if vals else None
    if None not in s.vals:
        return _OTHER if _OTHER not in s.vals else _OTHER + "-2"
    return _OTHER


def witnesses(region: Region) -> Iterator[Facts]:
    """A few requests in ``region`` that differ in the facts it leaves free (prompt length, time, date), so
    that one of them may slip past routes the region says nothing about."""
    seen = []
    for tokens in (None, 1000, 100000):
        for when in (None, (2027, 6, 2, 3)):
            r = dict(region)
            extra: dict[str, Any] = {}
            if tokens is not None and ("fact", "prompt_tokens", None) not in r:
                extra["prompt_tokens"] = tokens
            if when is not None and not any(k[:2] in (("fact", "date"), ("fact", "time"), ("fact", "weekday"))
                                            for k in r):
                extra["now"] = datetime(*when, tzinfo=timezone.utc)
            f = witness(r, **extra)
            if f is not None and f not in seen:
                seen.append(f)
                yield f


def witness(region: Region, **extra: Any) -> Facts | None:
    """One request in ``region`` (a fact → value-set map), or None when it has opaque tests or its time
    facts cannot be met together."""
    kw: dict[str, Any] = {}
    headers: dict[str, str] = {}
    tags: set[str] = set()
    day: int | None = None
    minutes = _BASE.hour * 60
    weekday: str | None = None
    for key, s in region.items():
        if key[0] == "~":
            return None
        _, name, param = key
        v = _pick(s)
        if name == "header":
            if v is not None:
                headers[str(param)] = str(v) if v != _OTHER or s.co else ""
        elif name == "tag":
            if v is True:
                tags.add(str(param))
        elif name in ("stream", "tools"):
            kw[name] = bool(v)
        elif name == "prompt_tokens":
            kw[name] = int(v)  # type: ignore[arg-type]
        elif name == "time":
            minutes = int(v)  # type: ignore[arg-type]
        elif name == "date":
            day = int(v)  # type: ignore[arg-type]
        elif name == "weekday":
            weekday = str(v) if v is not None else None
        else:
            kw[name] = v
    start = date.fromordinal(day) if day is not None else _BASE.date()
    for shift in _days(region, start, weekday):
        now = datetime.combine(shift, datetime.min.time(), tzinfo=timezone.utc) + timedelta(minutes=minutes)
        fields = {**kw, "headers": headers, "tags": frozenset(tags), "now": now, "request_id": "witness", **extra}
        return Facts(**fields)
    return None


def _days(region: Region, start: date, weekday: str | None) -> Iterator[date]:
    allowed = region.get(("fact", "date", None))
    for k in range(7):
        d = start + timedelta(days=k)
        if weekday is not None and A.WEEKDAYS[d.weekday()] != weekday:
            continue
        if isinstance(allowed, Intervals) and not any(a <= d.toordinal() <= b for a, b in allowed.ivals):
            continue
        yield d
