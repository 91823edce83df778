"""The limits half of the command line: `open-router budgets status` (GET /admin/budgets of a running
gateway, as a table or JSON) and the start-up check of `serve` (a malformed Redis URL, or Redis
unreachable while failing closed: one line and exit 2).

    open-router budgets status [--url http://127.0.0.1:8080] [--json]     # admin key: OPEN_ROUTER_ADMIN_KEY
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any


def register(sub: Any) -> None:
    budgets = sub.add_parser("budgets", help="budget status of a running gateway",
                             description="Show budgets: spent, reserved, cap, remaining, reset, state.")
    bsub = budgets.add_subparsers(dest="budgets_command", required=True, metavar="ACTION")
    status = bsub.add_parser("status", help="each budget of the live policy (GET /admin/budgets)")
    status.add_argument("--url", default=os.environ.get("OPEN_ROUTER_URL", "http://127.0.0.1:8080"),
                        help="the gateway (default: $OPEN_ROUTER_URL or http://127.0.0.1:8080)")
    status.add_argument("--json", action="store_true", help="the endpoint's JSON as it is")
    status.set_defaults(func=cmd_budgets_status)


def cmd_budgets_status(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    admin = os.environ.get("OPEN_ROUTER_ADMIN_KEY")
    if not admin:
        print("open-router: set OPEN_ROUTER_ADMIN_KEY to the gateway's admin key", file=sys.stderr)
        return 2
    req = urllib.request.Request(args.url.rstrip("/") + "/admin/budgets",
                                 headers={"authorization": f"Bearer {admin}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except Exception:
            message = exc.reason
        print(f"open-router: {args.url} answered {exc.code}: {message}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"open-router: cannot reach {args.url}: {getattr(exc, 'reason', exc)}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(body, indent=2))
        return 0
    a = body.get("admission") or {}
    print(f"store {a.get('store')} ({'shared' if a.get('shared') else 'per process'}, "
          f"{'healthy' if a.get('healthy') else 'UNAVAILABLE'}, fail {a.get('fail')}); "
          f"policy {body.get('policy_version')}")
    print(f"{'SCOPE':<12} {'SUBJECT':<18} {'PERIOD':<6} {'CAP':>12} {'SPENT':>14} {'RESERVED':>12} "
          f"{'REMAINING':>14} {'RESETS (UTC)':<21} STATE")
    for b in body.get("data", []):
        print(f"{b['scope']:<12} {b['subject']:<18} {b['period']:<6} {b['cap'] + ' ' + b['currency']:>12} "
              f"{_money(b['spent']):>14} {_money(b['reserved']):>12} {_money(b['remaining']):>14} "
              f"{b['resets_at']:<21} {b['state']}")
    return 0


def _money(text: str) -> str:
    from decimal import Decimal

    from ..billing.pricing import to_cents

    return str(to_cents(Decimal(text)))


def check_store(settings: Any) -> bool:
    """Before serving: the Redis URL parses, and Redis answers (when failing closed). Prints one line."""
    if not settings.redis:
        return True
    from ..settings import mask_url

    try:
        import redis

        client = redis.Redis.from_url(settings.redis, socket_connect_timeout=2, socket_timeout=2)
    except Exception as exc:
        print(f"open-router: invalid --redis URL {mask_url(settings.redis)}: {exc}", file=sys.stderr)
        return False
    try:
        client.ping()
    except Exception as exc:
        if settings.budget_fail_open:
            print(f"open-router: Redis at {mask_url(settings.redis)} is unreachable ({type(exc).__name__}); "
                  f"budgets fail open until it answers", file=sys.stderr)
            return True
        print(f"open-router: Redis at {mask_url(settings.redis)} is unreachable ({type(exc).__name__}): budgets "
              f"and rate limits fail closed, so not serving (OPEN_ROUTER_BUDGET_FAIL_OPEN=1 to serve anyway)",
              file=sys.stderr)
        return False
    finally:
        client.close()
    return True


__all__ = ["check_store", "cmd_budgets_status", "register"]
