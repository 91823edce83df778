"""The `open-router` command: policy tools (check, fmt, explain, decide) and the gateway (serve, keys, db, usage)."""
from __future__ import annotations

import argparse
import sys


def build_parser() -> argparse.ArgumentParser:
    from dsl import cli as dsl_cli

    ap = argparse.ArgumentParser(prog="open-router", description="Open-Router: an OpenAI-compatible LLM gateway.")
    ap.add_argument("--version", action="version", version=f"open-router {_version()}")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    dsl_cli.register(sub)
    try:
        from . import server_cli
    except ImportError:  # the server half is optional while it is being built
        server_cli = None  # type: ignore[assignment]
    if server_cli is not None:
        server_cli.register(sub)
        from . import db_cli
        from .billing import cli as billing_cli

        db_cli.register(sub)
        billing_cli.register(sub)
        from .billing import experiments_cli

        experiments_cli.register(sub)
        from . import audit_cli

        audit_cli.register(sub)
    return ap


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("open-router")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
