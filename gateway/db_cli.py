"""`open-router db upgrade|current`: the schema migrations of the key and ledger database.

    open-router db upgrade [--db URL]    # to the newest schema (serve does this at start too)
    open-router db current [--db URL]    # the revision the database is at, and the newest one
"""
from __future__ import annotations

import argparse
import sys
from typing import Any


def register(sub: Any) -> None:
    db = sub.add_parser("db", help="database schema migrations",
                        description="Upgrade the key and ledger database to the newest schema.")
    dsub = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    up = dsub.add_parser("upgrade", help="apply every pending migration")
    up.add_argument("--db", metavar="URL")
    up.set_defaults(func=cmd_upgrade)
    cur = dsub.add_parser("current", help="print the database's revision and the newest one")
    cur.add_argument("--db", metavar="URL")
    cur.set_defaults(func=cmd_current)


def _engine(args: argparse.Namespace) -> tuple[Any, str]:
    from .db import describe_error, make_engine
    from .server_cli import _settings
    from .settings import mask_url, scrub

    url = _settings(db=args.db).db
    try:
        return make_engine(url), url
    except Exception as exc:
        print(f"open-router: cannot open the database {mask_url(url)}: {scrub(describe_error(exc), url)}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_upgrade(args: argparse.Namespace) -> int:
    from .db import current_revision, describe_error, upgrade
    from .settings import mask_url, scrub

    engine, url = _engine(args)
    try:
        before = current_revision(engine)
        upgrade(engine)
        after = current_revision(engine)
    except Exception as exc:
        print(f"open-router: cannot upgrade {mask_url(url)}: {scrub(describe_error(exc), url)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"{mask_url(url)}: {before or 'empty'} -> {after}" if before != after
          else f"{mask_url(url)}: already at {after}")
    return 0


def cmd_current(args: argparse.Namespace) -> int:
    from .db import current_revision, describe_error, head_revision
    from .settings import mask_url, scrub

    engine, url = _engine(args)
    try:
        rev = current_revision(engine)
    except Exception as exc:
        print(f"open-router: cannot read {mask_url(url)}: {scrub(describe_error(exc), url)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    head = head_revision()
    print(f"{mask_url(url)}: at {rev or 'empty'}; newest {head}{'' if rev == head else ' (run: open-router db upgrade)'}")
    return 0
