"""`open-router serve --workers N`: N worker processes answering on one port.

Each worker binds its own listening socket to the same address with SO_REUSEPORT, so the kernel spreads
new connections across the workers' accept queues (evenly, by connection hash) instead of waking every
worker on one shared queue. The parent binds the port first (without listening: it takes no
connections) so ``--port 0`` resolves to one port that every worker then joins, forks the workers before
anything opens a connection or a thread, waits until each says it is serving, prints the banner, and on
SIGTERM / SIGINT passes SIGTERM on to the workers (each drains) and exits 0 when they have. A worker that
dies stops the others (exit 1): a half-sized gateway would be silently slower.

Per worker: the event loop, the key cache, metrics (GET /metrics answers for the worker that took the
connection) and health. Shared: budgets and rate limits (a SQLite counter file, or Redis), the database.
"""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any, Callable


def _reuseport_socket(host: str, port: int, listen: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host.strip("[]"), port))
    if listen:
        sock.listen(1024)
    return sock


def serve_workers(settings: Any, loaded: Any, make_app: Callable[[Any, Any], Any],
                  serve: Callable[[Any, socket.socket], Any]) -> int:
    """Fork ``settings.workers`` processes; each builds its app with ``make_app`` and runs ``serve(app,
    sock)`` (server_cli's Hypercorn runner, passed in so this module needs nothing of the CLI's)."""
    if not hasattr(socket, "SO_REUSEPORT"):
        print("open-router: --workers needs SO_REUSEPORT (Linux, BSD, macOS)", file=sys.stderr)
        return 2
    try:
        anchor = _reuseport_socket(settings.host, settings.port, listen=False)
    except OSError as exc:
        print(f"open-router: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    port = anchor.getsockname()[1]
    ready_r, ready_w = os.pipe()
    children: list[int] = []
    for i in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # the worker
            os.close(ready_r)
            anchor.close()
            code = 1
            try:
                code = _worker(settings, loaded, make_app, serve, port, ready_w)
            except BaseException as exc:  # anything: the parent sees the exit code
                print(f"open-router: worker {i} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
            finally:
                for stream in (sys.stdout, sys.stderr):
                    try:
                        stream.flush()
                    except Exception:
                        pass
                os._exit(code)
        children.append(pid)
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    os.close(ready_w)
    got = b""
    while len(got) < len(children):
        chunk = os.read(ready_r, 64)
        if not chunk:
            break  # every worker closed its end: some died before serving
        got += chunk
    os.close(ready_r)
    if len(got) < len(children):
        print("open-router: a worker did not start; stopping", file=sys.stderr)
        stop()
    else:
        routes = len(loaded.policy.routes)
        print(f"Open-Router listening on http://{settings.host}:{port} (policy {loaded.version}, {routes} "
              f"route{'s' if routes != 1 else ''}, {len(children)} workers)", flush=True)
    code = 0 if len(got) == len(children) else 1
    alive = set(children)
    while alive:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        alive.discard(pid)
        if not stopping:
            print(f"open-router: worker {pid} exited ({status}); stopping the others", file=sys.stderr)
            code = 1
            stop()
    anchor.close()
    return code


def _worker(settings: Any, loaded: Any, make_app: Callable[[Any, Any], Any],
            _serve: Callable[[Any, socket.socket], Any], port: int, ready_w: int) -> int:
    app = make_app(settings, loaded)
    sock = _reuseport_socket(settings.host, port, listen=True)

    @app.before_serving
    async def _ready() -> None:
        os.write(ready_w, b"1")
        os.close(ready_w)

    try:
        import uvloop
    except ImportError:
        uvloop = None  # type: ignore[assignment]
    runner = uvloop.run if uvloop is not None else asyncio.run
    runner(_serve(app, sock))
    return 0


__all__ = ["serve_workers"]
