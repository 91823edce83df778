"""Budget periods: calendar days, ISO weeks (Monday) and months, aligned in UTC.

``bounds(period, now)`` gives the period that holds ``now`` as (start, end) unix seconds and a label for
counter keys (``2025-06-01``). Cached per UTC day, so the hot path pays one dict lookup.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import lru_cache

DAY = 86400


def bounds(period: str, now: float) -> tuple[float, float, str]:
    """(start, end, label) of the ``period`` ("day", "week", "month") that holds unix time ``now``."""
    return _bounds(period, int(now // DAY))


@lru_cache(maxsize=256)
def _bounds(period: str, day: int) -> tuple[float, float, str]:
    d = datetime.fromtimestamp(day * DAY, timezone.utc)
    if period == "day":
        start, end = d, d + timedelta(days=1)
    elif period == "week":
        start = d - timedelta(days=d.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start = d.replace(day=1)
        end = (start.replace(year=start.year + 1, month=1) if start.month == 12
               else start.replace(month=start.month + 1))
    else:
        raise ValueError(f"unknown budget period {period!r}")
    return start.timestamp(), end.timestamp(), start.date().isoformat()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z")


__all__ = ["bounds", "iso"]
