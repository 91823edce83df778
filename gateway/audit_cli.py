"""`open-router audit verify [--db URL]`: walk the audit trail's hash chain; exit 0 when whole, 1 when a
row was altered, removed or reordered (naming the first bad row), 2 when the database cannot be read."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    audit = sub.add_parser("audit", help="the audit trail", description="Check the audit trail.")
    asub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = asub.add_parser("verify", help="check the hash chain of the audit log")
    verify.add_argument("--db", metavar="URL")
    verify.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    from .audit import AuditLog
    from .db import describe_error, make_engine, upgrade
    from .settings import Settings, SettingsError, mask_url

    try:
        url = Settings.load(os.environ, db=args.db).db
    except SettingsError as exc:
        print(f"open-router: {exc}", file=sys.stderr)
        return 2
    try:
        engine = make_engine(url)
        upgrade(engine)
        ok, n, bad, why = AuditLog(engine).verify()
    except Exception as exc:
        print(f"open-router: cannot read the audit log in {mask_url(url)}: {describe_error(exc)}", file=sys.stderr)
        return 2
    if ok:
        print(f"audit log intact: {n} row(s)")
        return 0
    print(f"audit log BROKEN at row {bad}: {why} ({n} row(s) checked)")
    return 1
