"""Usage reports over the ledger: requests, tokens by kind, cost, error rate and latency percentiles per
group, with totals — what `open-router usage report`, GET /admin/usage and GET /v1/usage answer.

Periods are UTC: ``--period 2026-11`` (a month) or ``2026-11-03`` (a day), or ``--from D --to D`` (dates
or ISO times; ``to`` is exclusive for times, inclusive for dates). Costs are summed exactly and rounded
once: the total to cents (half to even), and the groups' cents by largest remainder so they add up to the
total exactly. Groups are also split by currency.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping

import sqlalchemy as sa

from .allocation import largest_remainder
from .ledger import TABLE, from_pico
from .pricing import to_cents

# Report dimension (as the CLI and the API spell it) → ledger column.
GROUPS: Mapping[str, str] = {
    "team": "team", "project": "project", "app": "app", "cost-center": "cost_center",
    "cost_center": "cost_center", "model": "model", "provider": "provider", "key": "key_id", "user": "user",
    "rule": "rule", "arm": "arm",
}
FILTERS = ("team", "project", "app", "cost_center", "model", "provider", "key_id", "user", "rule")
_PERIOD = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


class ReportError(ValueError):
    """Bad report parameters; str() is one line fit for a person (the CLI exits 2, the API answers 400)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Period:
    start: datetime | None  # inclusive, UTC; None: from the first row
    end: datetime | None  # exclusive, UTC; None: up to now

    def as_json(self) -> dict[str, str | None]:
        return {"from": self.start.isoformat() if self.start else None,
                "to": self.end.isoformat() if self.end else None}


def _when(value: str, param: str, *, end: bool) -> datetime:
    try:
        if "T" not in value and len(value) == 10:
            d = date.fromisoformat(value)
            return datetime.combine(d + timedelta(days=1) if end else d, time(), timezone.utc)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ReportError(f"'{value}' is not a date (YYYY-MM-DD) or an ISO time", param) from None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def parse_period(period: str | None = None, start: str | None = None, end: str | None = None) -> Period:
    if period is not None and (start is not None or end is not None):
        raise ReportError("give --period, or --from/--to, not both", "period")
    if period is not None:
        m = _PERIOD.fullmatch(period.strip())
        if not m:
            raise ReportError(f"'{period}' is not a period: use YYYY-MM (a month) or YYYY-MM-DD (a day)", "period")
        y, mo, d = int(m[1]), int(m[2]), m[3]
        try:
            if d is None:
                first = datetime(y, mo, 1, tzinfo=timezone.utc)
                nxt = datetime(y + (mo == 12), mo % 12 + 1, 1, tzinfo=timezone.utc)
                return Period(first, nxt)
            day = datetime(y, mo, int(d), tzinfo=timezone.utc)
        except ValueError:
            raise ReportError(f"'{period}' is not a calendar month or day", "period") from None
        return Period(day, day + timedelta(days=1))
    p = Period(_when(start, "from", end=False) if start else None, _when(end, "to", end=True) if end else None)
    if p.start and p.end and p.start >= p.end:
        raise ReportError(f"--from ({start}) is not before --to ({end})", "from")
    return p


def parse_by(by: str | Iterable[str] | None) -> list[str]:
    keys = [k.strip() for k in (by.split(",") if isinstance(by, str) else (by or [])) if k.strip()]
    for k in keys:
        if k not in GROUPS:
            raise ReportError(f"cannot group by '{k}': use {', '.join(sorted(set(GROUPS) - {'cost_center'}))}",
                              "by")
    return keys


def _percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    # Nearest rank: a value that occurred, never an interpolation between two.
    k = max(0, min(len(sorted_values) - 1, int(-(-q * len(sorted_values) // 1)) - 1))
    return round(sorted_values[k], 3)


def _where(period: Period, filters: Mapping[str, str | None]) -> list[Any]:
    c = TABLE.c
    cond: list[Any] = []
    if period.start is not None:
        cond.append(c.ts >= period.start)
    if period.end is not None:
        cond.append(c.ts < period.end)
    for name, value in filters.items():
        if value is not None:
            cond.append(c[name] == value)
    return cond


def report(engine: sa.Engine, by: Iterable[str] = (), period: Period = Period(None, None),
           filters: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """The report as JSON-ready data: ``groups`` (one object per group: its dimensions as values, then
    the figures) and ``totals``."""
    keys = parse_by(list(by))
    filters = dict(filters or {})
    for name in filters:
        if name not in FILTERS:
            raise ReportError(f"cannot filter on '{name}'", name)
    cols = [GROUPS[k] for k in keys] + ["currency"]
    c = TABLE.c
    group_cols = [c[n] for n in cols]
    q = (sa.select(*group_cols, c.status, c.cost_pico, c.prompt_tokens, c.completion_tokens, c.cached_tokens,
                   c.reasoning_tokens, c.latency_ms, c.priced, c.usage_estimated)
         .where(*_where(period, filters)))
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    latencies: dict[tuple[Any, ...], list[float]] = {}
    with engine.connect() as conn:
        for row in conn.execute(q).yield_per(5000):
            gk = tuple(row[i] for i in range(len(cols)))
            g = groups.get(gk)
            if g is None:
                g = groups[gk] = {"requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                  "cached_tokens": 0, "reasoning_tokens": 0, "cost": Decimal(0),
                                  "unpriced_requests": 0, "estimated_requests": 0}
                latencies[gk] = []
            g["requests"] += 1
            g["errors"] += row.status >= 400
            g["prompt_tokens"] += row.prompt_tokens
            g["completion_tokens"] += row.completion_tokens
            g["cached_tokens"] += row.cached_tokens
            g["reasoning_tokens"] += row.reasoning_tokens
            g["cost"] += from_pico(row.cost_pico)
            g["unpriced_requests"] += not row.priced
            g["estimated_requests"] += bool(row.usage_estimated)
            latencies[gk].append(row.latency_ms)
    return _shape(keys, cols, period, groups, latencies)


def _shape(keys: list[str], cols: list[str], period: Period, groups: dict[tuple[Any, ...], dict[str, Any]],
           latencies: dict[tuple[Any, ...], list[float]]) -> dict[str, Any]:
    by_currency: dict[str, list[tuple[Any, ...]]] = {}
    for gk in groups:
        by_currency.setdefault(gk[-1], []).append(gk)
    out_groups: list[dict[str, Any]] = []
    totals: list[dict[str, Any]] = []
    for currency in sorted(by_currency):
        members = sorted(by_currency[currency], key=lambda gk: tuple("" if v is None else str(v) for v in gk))
        exact = sum((groups[gk]["cost"] for gk in members), Decimal(0))
        label = {gk: "|".join("" if v is None else str(v) for v in gk) for gk in members}
        cents = largest_remainder(exact, {label[gk]: groups[gk]["cost"] for gk in members}) if exact > 0 else {}
        tot = {"currency": currency, "requests": 0, "errors": 0, "prompt_tokens": 0, "completion_tokens": 0,
               "cached_tokens": 0, "reasoning_tokens": 0, "unpriced_requests": 0, "estimated_requests": 0}
        every: list[float] = []
        for gk in members:
            g = groups[gk]
            lat = sorted(latencies[gk])
            every.extend(lat)
            item: dict[str, Any] = {keys[i] if keys[i] != "cost_center" else "cost-center": gk[i]
                                    for i in range(len(keys))}
            item.update({
                "currency": currency, "requests": g["requests"], "errors": g["errors"],
                "error_rate": round(g["errors"] / g["requests"], 6),
                "prompt_tokens": g["prompt_tokens"], "completion_tokens": g["completion_tokens"],
                "cached_tokens": g["cached_tokens"], "reasoning_tokens": g["reasoning_tokens"],
                "cost": str(cents.get(label[gk], Decimal("0.00"))), "cost_exact": str(g["cost"]),
                "unpriced_requests": g["unpriced_requests"], "estimated_requests": g["estimated_requests"],
                "latency_p50_ms": _percentile(lat, 0.50), "latency_p95_ms": _percentile(lat, 0.95),
            })
            out_groups.append(item)
            for k in ("requests", "errors", "prompt_tokens", "completion_tokens", "cached_tokens",
                      "reasoning_tokens", "unpriced_requests", "estimated_requests"):
                tot[k] += g[k]
        every.sort()
        tot.update({"error_rate": round(tot["errors"] / tot["requests"], 6) if tot["requests"] else 0.0,
                    "cost": str(to_cents(exact)), "cost_exact": str(exact),
                    "latency_p50_ms": _percentile(every, 0.50), "latency_p95_ms": _percentile(every, 0.95)})
        totals.append(tot)
    return {"object": "usage.report", "by": [k if k != "cost_center" else "cost-center" for k in keys],
            "period": period.as_json(), "groups": out_groups, "totals": totals}


def spend(engine: sa.Engine, scope_column: str, subject: str, since: datetime) -> Decimal:
    """A scope's exact spend since ``since`` (budgets rebuild from it at start)."""
    c = TABLE.c
    q = sa.select(sa.func.coalesce(sa.func.sum(c.cost_pico), 0)).where(c[scope_column] == subject, c.ts >= since)
    with engine.connect() as conn:
        return from_pico(conn.execute(q).scalar_one())


__all__ = ["FILTERS", "GROUPS", "Period", "ReportError", "parse_by", "parse_period", "report", "spend"]
