"""The bill for a period: one line per provider and model, one section per cost center (direct usage,
its share of the shared costs, total), and the total — the document finance forwards.

Cost centers and shared costs come from the policy (``cost_center`` and ``shared`` declarations); a
policy without them bills direct usage only. Every figure is in whole cents and reconciles: the model
lines add up to the direct total, the cost-center totals add up to the bill's total, which is the direct
usage plus the flat shared costs (see allocation.py for the rounding).
"""
from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .allocation import UNASSIGNED, SharedCost, allocate, largest_remainder
from .ledger import TABLE, from_pico
from .pricing import to_cents
from .reports import Period, _where


def allocation_rules(ps: Any) -> tuple[list[str], list[SharedCost], str | None]:
    """(declared cost centers, shared costs, the policy's currency) from a dsl PolicySet."""
    from dsl import ast as A

    centers: list[str] = []
    shared: list[SharedCost] = []
    currency: str | None = None
    cc_type = getattr(A, "CostCenter", None)
    sh_type = getattr(A, "Shared", None)
    for f in getattr(ps, "files", ()):
        for d in f.decls:
            if cc_type is not None and isinstance(d, cc_type):
                centers.append(d.name)
            elif sh_type is not None and isinstance(d, sh_type):
                pct = dict(d.percentages) if d.percentages else None
                shared.append(SharedCost(d.name, d.amount, (d.scope, d.subject) if d.scope else None, pct,
                                         d.period))
                currency = currency or d.currency
            elif isinstance(d, A.Budget):
                currency = currency or d.currency
    return centers, shared, currency


class BillError(ValueError):
    """A bill that cannot be made as asked (one line for a person)."""


def periods_in(period: Period, per: str) -> Decimal:
    """How many ``per`` periods (day, week, month) the bill's period spans: whole calendar months count
    1 each, a part of a month its share of that month's days."""
    if period.start is None or period.end is None:
        raise BillError("the policy declares flat shared costs: give the bill a bounded period "
                        "(--period YYYY-MM, or --from and --to)")
    days = Decimal((period.end - period.start).total_seconds()) / Decimal(86400)
    if per == "day":
        return days
    if per == "week":
        return days / Decimal(7)
    total = Decimal(0)
    cur = period.start
    while cur < period.end:
        first = cur.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        nxt = first.replace(year=first.year + (first.month == 12), month=first.month % 12 + 1)
        stop = min(nxt, period.end)
        total += Decimal((stop - cur).total_seconds()) / Decimal((nxt - first).total_seconds())
        cur = stop
    return total


def make_bill(engine: sa.Engine, period: Period, ps: Any) -> dict[str, Any]:
    centers, shared, currency = allocation_rules(ps)
    shared = [replace(s, amount=s.amount * periods_in(period, s.period or "month")) if s.amount is not None else s
              for s in shared]
    c = TABLE.c
    where = _where(period, {})
    with engine.connect() as conn:
        models = conn.execute(
            sa.select(c.provider, c.model, c.currency, sa.func.count(), sa.func.sum(c.prompt_tokens),
                      sa.func.sum(c.completion_tokens), sa.func.sum(c.cached_tokens), sa.func.sum(c.cost_pico),
                      sa.func.sum(sa.case((c.priced.is_(False), 1), else_=0)))
            .where(*where).group_by(c.provider, c.model, c.currency)
            .order_by(c.provider, c.model)).all()
        by_cc = conn.execute(sa.select(c.cost_center, sa.func.sum(c.cost_pico)).where(*where)
                             .group_by(c.cost_center)).all()
        scope_usage: dict[tuple[str, str], dict[str, Decimal]] = {}
        for s in shared:
            if s.scope is None:
                continue
            col = {"team": c.team, "project": c.project, "app": c.app, "cost_center": c.cost_center,
                   "key": c.key_id}[s.scope[0]]
            rows = conn.execute(sa.select(c.cost_center, sa.func.sum(c.cost_pico)).where(*where, col == s.scope[1])
                                .group_by(c.cost_center)).all()
            scope_usage[s.scope] = {(cc or UNASSIGNED): from_pico(v) for cc, v in rows}
    currencies = sorted({m[2] for m in models}) or [currency or "USD"]
    exact_total = sum((from_pico(m[7]) for m in models), Decimal(0))
    labels = {f"{m[0]}|{m[1]}|{m[2]}": from_pico(m[7]) for m in models}
    cents = largest_remainder(exact_total, labels) if exact_total > 0 else {}
    lines = [{"provider": m[0], "model": m[1], "currency": m[2], "requests": m[3],
              "prompt_tokens": int(m[4] or 0), "completion_tokens": int(m[5] or 0), "cached_tokens": int(m[6] or 0),
              "cost": str(cents.get(f"{m[0]}|{m[1]}|{m[2]}", Decimal("0.00"))), "unpriced_requests": int(m[8] or 0)}
             for m in models]
    direct = {(cc or UNASSIGNED): from_pico(v) for cc, v in by_cc}
    alloc = allocate(direct, scope_usage, shared, centers)
    sections = [{"cost_center": name, "direct": str(line.direct), "allocated": str(line.allocated),
                 "total": str(line.total), "shares": {k: str(v) for k, v in sorted(line.from_shares.items())}}
                for name, line in sorted(alloc.lines.items())]
    return {
        "object": "usage.bill", "period": period.as_json(), "currency": currencies[0] if len(currencies) == 1
        else currencies, "lines": lines, "direct_total": str(to_cents(exact_total)),
        "shared": [{"name": s.name, "amount": None if s.amount is None else str(to_cents(s.amount)),
                    "scope": None if s.scope is None else f"{s.scope[0]} {s.scope[1]}",
                    "split": "usage" if s.percentages is None else {k: str(v) for k, v in s.percentages.items()}}
                   for s in shared],
        "shared_total": str(alloc.shared_total), "cost_centers": sections, "total": str(alloc.total),
    }


def render_bill(bill: dict[str, Any]) -> str:
    cur = bill["currency"] if isinstance(bill["currency"], str) else "/".join(bill["currency"])
    p = bill["period"]
    out = [f"Open-Router bill, {p['from'] or 'the start'} to {p['to'] or 'now'} ({cur})", ""]
    out.append("Usage by provider and model")
    w = max([len(f"{ln['provider']}/{ln['model']}") for ln in bill["lines"]] + [20])
    for ln in bill["lines"]:
        note = f"  ({ln['unpriced_requests']} unpriced)" if ln["unpriced_requests"] else ""
        out.append(f"  {(str(ln['provider']) + '/' + str(ln['model'])).ljust(w)}  {ln['requests']:>8} requests  "
                   f"{ln['prompt_tokens']:>12} in  {ln['completion_tokens']:>12} out  {ln['cost']:>12}{note}")
    out.append(f"  {'direct usage'.ljust(w)}  {'':>8}           {'':>12}     {'':>12}      {bill['direct_total']:>12}")
    if bill["shared"]:
        out += ["", "Shared costs"]
        for s in bill["shared"]:
            what = s["amount"] if s["amount"] is not None else f"the usage of {s['scope']}"
            split = "in proportion to usage" if s["split"] == "usage" else ", ".join(
                f"{k} {v}%" for k, v in s["split"].items())
            out.append(f"  {s['name']}: {what}, split {split}")
    out += ["", "By cost center                      direct     allocated         total"]
    for sec in bill["cost_centers"]:
        out.append(f"  {sec['cost_center']:<28} {sec['direct']:>10} {sec['allocated']:>13} {sec['total']:>13}")
    out += ["", f"Total: {bill['total']} {cur} (direct usage {bill['direct_total']} + shared costs "
                f"{bill['shared_total']})"]
    return "\n".join(out)


__all__ = ["BillError", "allocation_rules", "make_bill", "periods_in", "render_bill"]
