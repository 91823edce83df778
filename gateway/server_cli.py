"""The server half of the `open-router` command: `serve` and `keys create|list|revoke`.

    open-router serve [--policies DIR] [--host H] [--port P] [--db URL] [--redis URL] [--workers N]
    open-router budgets status [--url URL] [--json]                     # GET /admin/budgets, as a table
    open-router keys create --team T [--project P] [--app A] [--cost-center C] [--db URL]   # key on the last line
    open-router keys list [--db URL] [--json]
    open-router keys revoke KEY_ID [--db URL]

Flags win over OPEN_ROUTER_* environment variables. A bad setting or a policy that does not load prints
its diagnostics on stderr and exits 2.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
from typing import Any


def register(sub: Any) -> None:
    serve = sub.add_parser("serve", help="run the gateway",
                           description="Serve the OpenAI-compatible API with the policies in DIR.")
    serve.add_argument("--policies", metavar="DIR", help="policy directory (default: policies/)")
    serve.add_argument("--host", metavar="H", help="bind address (default: 127.0.0.1)")
    serve.add_argument("--port", metavar="P", help="port (default: 8080; 0 picks a free one)")
    serve.add_argument("--db", metavar="URL", help="key database URL (default: sqlite:///open-router.db)")
    serve.add_argument("--redis", metavar="URL", help="Redis for budgets and rate limits shared by replicas")
    serve.add_argument("--workers", metavar="N", help="worker processes sharing the port (default: 1)")
    serve.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO (default), WARNING, ERROR")
    serve.add_argument("--log-format", metavar="FMT", choices=("text", "json"), help="text (default) or json")
    serve.set_defaults(func=cmd_serve)

    keys = sub.add_parser("keys", help="manage virtual keys", description="Create, list and revoke virtual keys.")
    ksub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")

    create = ksub.add_parser("create", help="create a key (printed once, alone on the last line)")
    create.add_argument("--team", required=True)
    create.add_argument("--project")
    create.add_argument("--app")
    create.add_argument("--cost-center", dest="cost_center")
    create.add_argument("--db", metavar="URL")
    create.set_defaults(func=cmd_keys_create)

    lst = ksub.add_parser("list", help="list keys (never their secrets)")
    lst.add_argument("--db", metavar="URL")
    lst.add_argument("--json", action="store_true", help="one JSON object per line")
    lst.set_defaults(func=cmd_keys_list)

    revoke = ksub.add_parser("revoke", help="revoke a key by id (running gateways stop accepting it within ~1s)")
    revoke.add_argument("key_id", metavar="KEY_ID")
    revoke.add_argument("--db", metavar="URL")
    revoke.set_defaults(func=cmd_keys_revoke)

    from .limits.cli import register as register_budgets

    register_budgets(sub)


def _settings(**flags: Any) -> Any:
    from .settings import Settings, SettingsError

    try:
        return Settings.load(os.environ, **flags)
    except SettingsError as exc:
        print(f"open-router: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


# --------------------------------------------------------------------------- keys


def _store(args: argparse.Namespace) -> Any:
    return _open_store(_settings(db=args.db).db, ttl=0)


def _open_store(db: str, **kw: Any) -> Any:
    """The key store at ``db``, or exit 2 with one line (never the database password)."""
    from .keys import KeyStore
    from .settings import mask_url, scrub

    try:
        return KeyStore(db, **kw)
    except Exception as exc:  # a bad URL or unreachable database: one line, not a traceback
        print(f"open-router: cannot open the key database {mask_url(db)}: {scrub(str(exc), db)}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_keys_create(args: argparse.Namespace) -> int:
    from .keys import KeyStoreError

    store = _store(args)
    try:
        record, secret = store.create(args.team, args.project, args.app, args.cost_center)
    except KeyStoreError as exc:
        print(f"open-router: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
    attrs = ", ".join(f"{k}={v}" for k, v in (("team", record.team), ("project", record.project),
                                               ("app", record.app), ("cost_center", record.cost_center)) if v)
    print(f"created {record.id} ({attrs}); the key is shown once, store it now:")
    print(secret)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        records = store.list()
    finally:
        store.close()
    if args.json:
        for r in records:
            print(json.dumps(r.as_json()))
        return 0
    print(f"{'ID':<17} {'PREFIX':<11} {'TEAM':<16} {'PROJECT':<16} {'APP':<12} {'COST_CENTER':<12} "
          f"{'CREATED (UTC)':<20} STATUS")
    for r in records:
        status = "revoked " + r.revoked_at.strftime("%Y-%m-%d %H:%M") if r.revoked_at else "active"
        print(f"{r.id:<17} {r.prefix + '…':<11} {r.team:<16} {r.project or '-':<16} {r.app or '-':<12} "
              f"{r.cost_center or '-':<12} {r.created_at.strftime('%Y-%m-%d %H:%M:%S'):<20} {status}")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    from .keys import KeyStoreError

    store = _store(args)
    try:
        record = store.revoke(args.key_id)
    except KeyStoreError as exc:
        print(f"open-router: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(f"revoked {record.id}")
    return 0


# --------------------------------------------------------------------------- serve


def _bind(host: str, port: int) -> socket.socket:
    """Bind and listen ourselves, so --port 0 works and the banner can name the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(1024)
    sock.set_inheritable(True)
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(policies=args.policies, host=args.host, port=args.port, db=args.db,
                         redis=args.redis, workers=args.workers,
                         log_level=args.log_level, log_format=args.log_format)
    # Imported after the settings check, so a typo in a flag is reported without loading the server.
    import dsl

    from .app import create_app, load_policy_dir
    from .observe import configure_logging
    from .settings import scrub

    configure_logging(settings.log_level, settings.log_format)
    try:
        loaded = load_policy_dir(settings.policies)
    except dsl.PolicyError as exc:
        _print_policy_error(exc, settings.policies)
        return 2
    except OSError as exc:
        print(f"open-router: cannot read policies in {settings.policies}: {exc}", file=sys.stderr)
        return 2
    for w in loaded.warnings:
        print(w, file=sys.stderr)
    from .limits.cli import check_store

    if not check_store(settings):
        return 2
    if settings.workers > 1:
        from .workers import serve_workers

        _open_store(settings.db, ttl=0).close()  # migrate once, before the workers start
        return serve_workers(settings, loaded, _worker_app, _serve)
    keys = _open_store(settings.db, ttl=settings.key_cache_ttl)
    try:
        app = create_app(settings, policy=loaded, keys=keys)
    except Exception as exc:
        keys.close()
        print(f"open-router: cannot start: {scrub(str(exc), settings.db)}", file=sys.stderr)
        return 2
    for w in app.extensions["open_router"].policies.subject_warnings:  # budgets and limits no key carries (W192), against the key store
        print(w, file=sys.stderr)
    try:
        sock = _bind(settings.host, settings.port)
    except OSError as exc:
        print(f"open-router: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    routes = len(loaded.policy.routes)
    banner = (f"Open-Router listening on http://{settings.host}:{port} "
              f"(policy {loaded.version}, {routes} route{'s' if routes != 1 else ''})")

    @app.before_serving
    async def _announce() -> None:
        # Lifespan startup is done and the socket already listens: connections queue until accepted.
        print(banner, flush=True)

    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    runner = uvloop.run if uvloop is not None else asyncio.run
    runner(_serve(app, sock))
    return 0


def _worker_app(settings: Any, loaded: Any) -> Any:
    """One worker's app (the key store opened in the worker: connections are not shared across a fork)."""
    from .app import create_app

    return create_app(settings, policy=loaded, keys=_open_store(settings.db, ttl=settings.key_cache_ttl))


async def _serve(app: Any, sock: socket.socket) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.fileno()}"]
    config.accesslog = None  # per-request access lines cost CPU; the decision log covers requests
    config.errorlog = logging.getLogger("hypercorn.error")  # through our handlers, once
    config.graceful_timeout = 10.0
    config.keep_alive_timeout = 75.0
    config.include_server_header = False

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    await serve(app, config, shutdown_trigger=stop.wait)


def _print_policy_error(exc: Exception, where: Any) -> None:
    render = getattr(exc, "render", None)
    print(render() if callable(render) else str(exc), file=sys.stderr)
    print(f"open-router: the policy in {where} did not load; not serving", file=sys.stderr)
