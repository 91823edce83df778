"""The x-ratelimit-* response headers, in OpenAI's formats:

    x-ratelimit-limit-requests: 60          x-ratelimit-limit-tokens: 150000
    x-ratelimit-remaining-requests: 59      x-ratelimit-remaining-tokens: 149984
    x-ratelimit-reset-requests: 1s          x-ratelimit-reset-tokens: 6m0s

Reset is the time until the limit is back to its full capacity (GCRA: the theoretical arrival time minus
now), as a Go-style duration ("17ms", "1.5s", "6m0s"). When several limits apply (a key's and its team's),
the one with the fewest units remaining is shown.
"""
from __future__ import annotations

from typing import Sequence

from .core import RateLine

_NAMES = {
    "requests": (b"x-ratelimit-limit-requests", b"x-ratelimit-remaining-requests", b"x-ratelimit-reset-requests"),
    "tokens": (b"x-ratelimit-limit-tokens", b"x-ratelimit-remaining-tokens", b"x-ratelimit-reset-tokens"),
}


def duration(seconds: float) -> str:
    """Go's time.Duration text, at millisecond precision: 0s, 17ms, 1.5s, 6m0s."""
    ms = int(round(max(seconds, 0.0) * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    minutes, ms = divmod(ms, 60_000)
    secs = f"{ms / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def rate_headers(lines: Sequence[RateLine], views: Sequence[tuple[int, float]]) -> tuple[tuple[bytes, bytes], ...]:
    tightest: dict[str, tuple[RateLine, int, float]] = {}
    for line, (remaining, reset) in zip(lines, views):
        best = tightest.get(line.unit)
        if best is None or remaining < best[1]:
            tightest[line.unit] = (line, remaining, reset)
    out: list[tuple[bytes, bytes]] = []
    for unit in ("requests", "tokens"):
        hit = tightest.get(unit)
        if hit is not None:
            limit_h, remaining_h, reset_h = _NAMES[unit]
            line, remaining, reset = hit
            out += ((limit_h, b"%d" % line.limit), (remaining_h, b"%d" % remaining),
                    (reset_h, duration(reset).encode()))
    return tuple(out)


__all__ = ["duration", "rate_headers"]
