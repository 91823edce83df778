"""`open-router experiments report RULE [--period …] [--baseline ARM] [--db URL] [--format text|json]`: the A/B
report of one rule's arms from the ledger (gateway/billing/experiments.py). Bad parameters exit 2."""
from __future__ import annotations

import argparse
import json
from typing import Any

from .cli import _engine, _fail, _period_args


def register(sub: Any) -> None:
    exp = sub.add_parser("experiments", help="A/B reports of a split's or ramp's arms, from the ledger",
                         description="Per arm: requests, error rate, latency, TTFT, cost and tokens per request, "
                                     "with 95 % intervals, and each arm's difference from the baseline.")
    esub = exp.add_subparsers(dest="experiments_command", required=True, metavar="ACTION")
    rep = esub.add_parser("report", help="one rule's arms compared")
    rep.add_argument("rule", help="the route name (the ledger's `rule` column)")
    _period_args(rep)
    rep.add_argument("--baseline", help="the arm the others are compared with (default: the most requested)")
    rep.add_argument("--db", help="the ledger database URL (default: the gateway's)")
    rep.add_argument("--format", choices=("text", "json"), default="text")
    rep.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from .experiments import experiment_report, render_text
    from .reports import ReportError, parse_period

    try:
        period = parse_period(args.period, args.start, args.end)
    except ReportError as exc:
        return _fail(str(exc))
    engine = _engine(args.db)
    try:
        data = experiment_report(engine, args.rule, period, args.baseline)
    finally:
        engine.dispose()
    print(json.dumps(data, indent=2) if args.format == "json" else render_text(data))
    return 0
