"""`open-router usage report|bill`: the ledger as a report per group, and as the one bill finance forwards.

    open-router usage report --by team[,model…] [--period 2026-11 | --from D --to D]
                             [--team T …] [--format table|csv|json] [--db URL]
    open-router usage bill --period 2026-11 [--policies DIR] [--format text|json] [--db URL]
    open-router usage export [--period …] [--db URL]      # JSON lines, schemas/ledger-row.schema.json

Bad parameters (an unknown --by key, a malformed period, --from after --to) print one line and exit 2.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from typing import Any

TABLE_COLUMNS = ("requests", "errors", "error_rate", "prompt_tokens", "completion_tokens", "cached_tokens",
                 "cost", "latency_p50_ms", "latency_p95_ms")


def register(sub: Any) -> None:
    usage = sub.add_parser("usage", help="usage reports and the bill, from the ledger",
                           description="Report what the ledger recorded: per group, or as one bill.")
    usub = usage.add_subparsers(dest="usage_command", required=True, metavar="ACTION")
    rep = usub.add_parser("report", help="requests, tokens, cost, errors and latency per group")
    rep.add_argument("--by", default="", help="comma-separated: team, project, app, cost-center, model, "
                                              "provider, key, user, rule, arm")
    _period_args(rep)
    for name in ("team", "project", "app", "model", "provider", "user"):
        rep.add_argument(f"--{name}", help=f"only this {name}")
    rep.add_argument("--cost-center", dest="cost_center", help="only this cost center")
    rep.add_argument("--key", dest="key_id", help="only this key id")
    rep.add_argument("--format", choices=("table", "csv", "json"), default="table")
    rep.add_argument("--db", metavar="URL")
    rep.set_defaults(func=cmd_report)
    exp = usub.add_parser("export", help="the ledger's rows as JSON lines (schemas/ledger-row.schema.json)")
    _period_args(exp)
    exp.add_argument("--db", metavar="URL")
    exp.set_defaults(func=cmd_export)
    bill = usub.add_parser("bill", help="one bill: per provider and model, per cost center, the total")
    _period_args(bill)
    bill.add_argument("--policies", metavar="DIR", help="the policy whose cost centers and shared costs "
                                                        "apply (default: policies/)")
    bill.add_argument("--format", choices=("text", "json"), default="text")
    bill.add_argument("--db", metavar="URL")
    bill.set_defaults(func=cmd_bill)


def _period_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--period", help="YYYY-MM (a month) or YYYY-MM-DD (a day), UTC")
    p.add_argument("--from", dest="start", metavar="D", help="from this date or ISO time (inclusive)")
    p.add_argument("--to", dest="end", metavar="D", help="to this date (inclusive) or ISO time (exclusive)")


def _fail(message: str) -> int:
    print(f"open-router: {message}", file=sys.stderr)
    return 2


def _engine(db: str | None) -> Any:
    from ..db import describe_error, make_engine, upgrade
    from ..server_cli import _settings
    from ..settings import mask_url, scrub

    url = _settings(db=db).db
    try:
        engine = make_engine(url)
        upgrade(engine)
    except Exception as exc:
        print(f"open-router: cannot open the ledger database {mask_url(url)}: {scrub(describe_error(exc), url)}",
              file=sys.stderr)
        raise SystemExit(2) from None
    return engine


def cmd_report(args: argparse.Namespace) -> int:
    from .reports import ReportError, parse_by, parse_period, report

    try:
        by = parse_by(args.by)
        period = parse_period(args.period, args.start, args.end)
    except ReportError as exc:
        return _fail(str(exc))
    filters = {k: getattr(args, k) for k in ("team", "project", "app", "cost_center", "model", "provider",
                                             "key_id", "user") if getattr(args, k)}
    engine = _engine(args.db)
    try:
        data = report(engine, by, period, filters)
    finally:
        engine.dispose()
    if args.format == "json":
        print(json.dumps(data, indent=2))
    elif args.format == "csv":
        print(_csv(data), end="")
    else:
        print(_table(data))
    return 0


def _rows(data: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    head = [*data["by"], "currency", *TABLE_COLUMNS]
    rows = [[_cell(g.get(h)) for h in head] for g in data["groups"]]
    n = len(data["by"])
    for t in data["totals"]:
        label = (["TOTAL"] + [""] * (n - 1)) if n else []
        rows.append(label + [_cell(t.get(h)) for h in head[n:]])
    return head, rows


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1 else f"{v:.1f}"
    return str(v)


def _table(data: dict[str, Any]) -> str:
    head, rows = _rows(data)
    if not data["groups"]:
        return f"no requests in the ledger for {data['period']['from'] or 'the start'} – {data['period']['to'] or 'now'}"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _csv(data: dict[str, Any]) -> str:
    out = io.StringIO()
    w = csv.writer(out)
    head = [*data["by"], "currency", "requests", "errors", "error_rate", "prompt_tokens", "completion_tokens",
            "cached_tokens", "reasoning_tokens", "cost", "cost_exact", "latency_p50_ms", "latency_p95_ms"]
    w.writerow(head)
    for g in data["groups"]:
        w.writerow(["" if g.get(h) is None else g.get(h) for h in head])
    return out.getvalue()


def cmd_export(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from .ledger import TABLE, to_json
    from .reports import ReportError, _where, parse_period

    try:
        period = parse_period(args.period, args.start, args.end)
    except ReportError as exc:
        return _fail(str(exc))
    engine = _engine(args.db)
    try:
        with engine.connect() as conn:
            q = sa.select(TABLE).where(*_where(period, {})).order_by(TABLE.c.ts, TABLE.c.id)
            for row in conn.execute(q).yield_per(5000):
                print(json.dumps(to_json(dict(row._mapping)), separators=(",", ":"), default=str))
    finally:
        engine.dispose()
    return 0


def cmd_bill(args: argparse.Namespace) -> int:
    from .bill import make_bill, render_bill
    from .reports import ReportError, parse_period

    try:
        period = parse_period(args.period, args.start, args.end)
    except ReportError as exc:
        return _fail(str(exc))
    from dsl import PolicyError

    from ..policy import load_policy_dir
    from ..server_cli import _settings

    policies = _settings(policies=args.policies).policies
    try:
        ps = load_policy_dir(policies).policy_set
    except (PolicyError, OSError) as exc:
        return _fail(f"the policy in {policies} does not load: {str(exc).splitlines()[0] if str(exc) else exc}")
    from .bill import BillError

    engine = _engine(args.db)
    try:
        bill = make_bill(engine, period, ps)
    except BillError as exc:
        return _fail(str(exc))
    finally:
        engine.dispose()
    print(json.dumps(bill, indent=2) if args.format == "json" else render_bill(bill))
    return 0
