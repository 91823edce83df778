"""Shared by the limits tests: a priced mock policy, `open-router serve` as a subprocess, a stand-in for the
the gateway's ledger flushed on demand, a webhook receiver, and a burst of
concurrent requests through the official async openai SDK."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gateway.billing.ledger import from_pico
from gateway.limits.ledger import LEDGER

REPO = Path(__file__).resolve().parents[3]
OPEN_ROUTER = [sys.executable, "-m", "gateway.cli"]
PRICE = Decimal(1000)  # per 1M tokens, in and out: a token costs 0.001
ADMIN = "limits-admin"


def policy(tmp: Path, extra: str, latency_ms: int = 20) -> Path:
    d = tmp / "policies"
    d.mkdir(exist_ok=True)
    (d / "main.policy").write_text(f"""
provider mock kind mock base_url "mock://?latency_ms={latency_ms}"
model big   = mock/"mock-large" price in {PRICE} out {PRICE} per 1M
model small = mock/"mock-small" price in 1 out 1 per 1M
{extra}
default
  use big
""")
    return d


def cost_of(usage: Any, price: Decimal = PRICE) -> Decimal:
    return (usage.prompt_tokens + usage.completion_tokens) * price / Decimal(1_000_000)


@dataclass
class Burst:
    ok: list[Any] = field(default_factory=list)  # ChatCompletion
    refused: list[Any] = field(default_factory=list)  # openai.APIStatusError
    other: list[BaseException] = field(default_factory=list)

    def codes(self) -> set[str]:
        return {str(getattr(e, "code", None)) for e in self.refused}


def burst(base_urls: list[str], key: str, n: int, *, max_tokens: int = 20, model: str = "big",
          content: str = "hi") -> Burst:
    """``n`` concurrent chat requests spread over ``base_urls`` (all at once)."""
    import openai

    async def main() -> Burst:
        clients = [openai.AsyncOpenAI(base_url=u + "/v1", api_key=key, max_retries=0, timeout=60)
                   for u in base_urls]
        out = Burst()

        async def one(i: int) -> None:
            try:
                r = await clients[i % len(clients)].chat.completions.create(
                    model=model, max_tokens=max_tokens, messages=[{"role": "user", "content": content}])
                out.ok.append(r)
            except openai.APIStatusError as exc:
                out.refused.append(exc)
            except BaseException as exc:
                out.other.append(exc)

        try:
            await asyncio.gather(*(one(i) for i in range(n)))
        finally:
            for c in clients:
                await c.close()
        return out

    return asyncio.run(main())


def flushed(server: Any) -> None:
    """Wait until the gateway's own ledger writer (gateway/billing/ledger.py) has stored every request
    recorded so far."""
    asyncio.run_coroutine_threadsafe(server.gw.ledger.flush(), server._loop).result(15)


def ledger_sum(db_url: str) -> Decimal:
    from gateway.db import make_engine

    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            return from_pico(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(LEDGER.c.cost_pico), 0))).scalar())
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Serve:
    """`open-router serve` in a subprocess; waits for its banner."""

    def __init__(self, policies: Path, db: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        full_env = {**os.environ, "OPEN_ROUTER_ADMIN_KEY": ADMIN, "OPEN_ROUTER_LOG_LEVEL": "WARNING",
                    "OPEN_ROUTER_DECISION_LOG": "false", **(env or {})}
        self.proc = subprocess.Popen(
            [*OPEN_ROUTER, "serve", "--policies", str(policies), "--port", str(self.port), "--db", db, *args],
            cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening" not in line:
            self.proc.kill()
            raise RuntimeError(f"serve did not start: {line!r} {self.proc.stderr.read()}")  # type: ignore[union-attr]

    def budgets(self) -> dict[str, Any]:
        import httpx

        r = httpx.get(self.base_url + "/admin/budgets", headers={"authorization": f"Bearer {ADMIN}"}, timeout=10)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Serve:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def admin_budgets(base_url: str) -> dict[str, Any]:
    import httpx

    r = httpx.get(base_url + "/admin/budgets", headers={"authorization": "Bearer test-admin-key"}, timeout=10)
    r.raise_for_status()
    return r.json()


class Receiver:
    """A webhook receiver on 127.0.0.1 (aiohttp, in a thread) recording every JSON body it is POSTed."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from aiohttp import web

        async def hook(request: web.Request) -> web.Response:
            self.bodies.append(json.loads(await request.read()))
            return web.Response(status=204)

        async def main() -> None:
            app = web.Application()
            app.router.add_post("/hook", hook)
            runner = web.AppRunner(app)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        self._loop.run_until_complete(main())

    def __enter__(self) -> Receiver:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and a moment for a duplicate to show up
        return list(self.bodies)
