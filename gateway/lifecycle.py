"""The server's life: starting → ready → draining, the requests in flight, readiness, and cutting the
streams still open when a drain runs out of time.

SIGTERM (see gateway/server_cli.py) makes Hypercorn stop accepting and wait for the connections in
flight; `Lifecycle.begin_drain` marks the server draining (GET /readyz answers 503 so load balancers
stop sending) and, from then on, every stream relay races its next upstream chunk with the ``cut``
event. At the deadline (``--drain-timeout``) or on a second SIGTERM, `cut` is set and each stream still
open ends with an OpenAI-shaped error event (503 ``server_shutting_down``), never a silent close. The
drain finishes before Hypercorn's lifespan shutdown, so every ``after_serving`` hook (the ledger
flush among them) runs after the last request was recorded.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Awaitable, TypeVar

from quart import Quart

from .errors import GatewayError

log = logging.getLogger("open_router.lifecycle")
T = TypeVar("T")
READY_CACHE = 1.0  # seconds a database probe's answer is reused (a probe every scrape is cheap, not free)
PROBE_TIMEOUT = 2.0


class ShuttingDown(GatewayError):
    status = 503
    type = "server_error"
    code = "server_shutting_down"


class Lifecycle:
    """State of this process. Everything runs on the loop thread."""

    def __init__(self) -> None:
        self.state = "starting"
        self.in_flight = 0
        self.draining = False
        self.drain_started: float | None = None
        self._cut: asyncio.Event | None = None
        self._probe: tuple[float, bool, str | None, Any] | None = None

    # ------------------------------------------------------------------ states

    def ready(self) -> None:
        if not self.draining:
            self.state = "ready"

    @property
    def cut(self) -> asyncio.Event:
        if self._cut is None:
            self._cut = asyncio.Event()
        return self._cut

    def begin_drain(self) -> None:
        if not self.draining:
            self.draining, self.state, self.drain_started = True, "draining", time.time()
            _ = self.cut  # made on the loop, before any relay waits on it

    def cut_streams(self, why: str) -> None:
        if not self.cut.is_set():
            log.warning("cutting the streams still open (%s): %d request(s) in flight", why, self.in_flight)
            self.cut.set()

    async def race(self, step: Awaitable[T]) -> T:
        """``step`` (a stream's next chunk), unless the streams are cut first: then ShuttingDown."""
        cut = self.cut
        if cut.is_set():
            if asyncio.iscoroutine(step):
                step.close()
            raise ShuttingDown("The gateway is shutting down; the stream was cut. Retry the request.")
        task = asyncio.ensure_future(step)
        waiter = asyncio.ensure_future(cut.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            task.cancel()
            raise
        finally:
            waiter.cancel()
        if task.done():
            return task.result()
        task.cancel()
        try:
            await task
        except BaseException:
            pass
        raise ShuttingDown("The gateway is shutting down; the stream was cut. Retry the request.")

    # ------------------------------------------------------------------ readiness

    async def readiness(self, keys: Any, admission: Any = None) -> tuple[bool, dict[str, Any]]:
        """(ready?, what was checked): not while starting or draining, nor while the database is down, nor
        while Redis (``--redis``: the budget and rate-limit counters) is down — unless the budgets fail open,
        when an unreachable Redis is reported but does not take the process out of rotation."""
        checks: dict[str, Any] = {"state": self.state, "in_flight": self.in_flight}
        if self.state != "ready":
            return False, checks
        now = time.monotonic()
        probe = self._probe
        if probe is None or now - probe[0] > READY_CACHE:
            (ok, err), redis = await asyncio.gather(_probe_db(keys), _probe_redis(admission))
            probe = self._probe = (now, ok, err, redis)
        checks["database"] = "ok" if probe[1] else f"unreachable: {probe[2]}"
        ready = probe[1]
        redis = probe[3]
        if redis is not None:
            redis_ok, why, fail_open = redis
            checks["redis"] = "ok" if redis_ok else f"unreachable: {why}" + (" (budgets fail open)" if fail_open else "")
            ready = ready and (redis_ok or fail_open)
        return ready, checks


async def _probe_db(keys: Any) -> tuple[bool, str | None]:
    engine = getattr(keys, "engine", None)
    if engine is None:
        return True, None

    def ping() -> None:
        from sqlalchemy import text

        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await asyncio.wait_for(asyncio.to_thread(ping), PROBE_TIMEOUT)
    except asyncio.TimeoutError:
        return False, "timed out"
    except Exception as exc:  # which driver error it is matters less than that it failed; never the URL
        return False, type(exc).__name__
    return True, None


async def _probe_redis(admission: Any) -> tuple[bool, str | None, bool] | None:
    """(reachable?, why not, fail open?) of the admission's Redis store; None when it uses no Redis."""
    store = getattr(admission, "store", None)
    if getattr(store, "kind", None) != "redis":
        return None
    fail_open = bool(getattr(admission, "fail_open", False))
    try:
        await asyncio.wait_for(store.ping(), PROBE_TIMEOUT)
    except asyncio.TimeoutError:
        return False, "timed out", fail_open
    except Exception as exc:  # StoreError says which Redis error, never the URL
        return False, str(exc) or type(exc).__name__, fail_open
    return True, None, fail_open


class CountingQuart(Quart):
    """The gateway's Quart app: counts the HTTP requests and WebSockets in flight
    (``Lifecycle.in_flight``), one integer up and down per request, whatever answers it."""

    lifecycle: Lifecycle

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self.asgi_app(scope, receive, send)
        life = self.lifecycle
        life.in_flight += 1
        try:
            await self.asgi_app(scope, receive, send)
        finally:
            life.in_flight -= 1


__all__ = ["CountingQuart", "Lifecycle", "ShuttingDown"]
