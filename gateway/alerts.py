"""Webhook alerts: JSON events (schemas/alert.schema.json) POSTed to the operator's webhook, off the
request path, retried with backoff, each logged and counted.

    sender = AlertSender(url, metrics=counter)      # url: OPEN_ROUTER_ALERT_WEBHOOK (a secret: never logged)
    sender.emit(event)                              # never blocks, never raises; queued for the sender task

Deduplication (once per threshold per period, across workers and replicas) is the caller's: it claims
the event's id in the shared store (Redis SET NX, a SQLite unique row) before emitting. A receiver that is
down costs retries on the sender task only; a full queue drops the newest event (logged and counted).
Budget thresholds and blocks come from gateway/limits; other alerts (model status) can reuse `emit`.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

log = logging.getLogger("open_router.alerts")

RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds between attempts (then the event is given up)
TIMEOUT = 5.0  # seconds per attempt
QUEUE_SIZE = 1000
SCHEMA_VERSION = 1


class AlertSender:
    """One background task per process draining a bounded queue to the webhook."""

    def __init__(self, url: str | None, *, counter: Any = None, delays: tuple[float, ...] = RETRY_DELAYS,
                 timeout: float = TIMEOUT) -> None:
        self.url = url
        self.counter = counter  # observe.Counter labelled (type, outcome), or None
        self.delays = delays
        self.timeout = timeout
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: Any = None

    def _count(self, event: dict[str, Any], outcome: str) -> None:
        if self.counter is not None:
            self.counter.inc((str(event.get("type")), outcome))

    def emit(self, event: dict[str, Any]) -> None:
        """Log, count and queue ``event`` (a dict per the schema, without ``sent_at``)."""
        log.warning("alert %s: %s", event.get("type"), event.get("summary", ""))
        self._count(event, "raised")
        if not self.url:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._queue is None:
            self._queue = asyncio.Queue(QUEUE_SIZE)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            log.error("alert queue full: dropping %s", event.get("id"))
            self._count(event, "dropped")

    async def _run(self) -> None:
        import aiohttp

        assert self._queue is not None
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self._session = session
            while True:
                event = await self._queue.get()
                try:
                    await self._deliver(session, event)
                finally:
                    self._queue.task_done()

    async def _deliver(self, session: Any, event: dict[str, Any]) -> None:
        body = json.dumps({**event, "sent_at": round(time.time(), 3)}, separators=(",", ":")).encode()
        headers = {"content-type": "application/json", "x-open-router-alert-id": str(event.get("id"))}
        for attempt, delay in enumerate((0.0, *self.delays)):
            if delay:
                await asyncio.sleep(delay)
            try:
                async with session.post(self.url, data=body, headers=headers) as resp:
                    if resp.status < 300:
                        self._count(event, "sent")
                        return
                    why = f"HTTP {resp.status}"
                    if 400 <= resp.status < 500 and resp.status not in (408, 429):
                        break  # the receiver refuses this event: retrying will not help
            except Exception as exc:  # refused, reset, timed out: the receiver is down
                why = type(exc).__name__
            log.info("alert %s: attempt %d failed (%s)", event.get("id"), attempt + 1, why)
        log.error("alert %s not delivered: the webhook did not accept it", event.get("id"))
        self._count(event, "failed")

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (bounded) for queued events to be delivered or given up (tests, shutdown)."""
        if self._queue is not None:
            try:
                await asyncio.wait_for(self._queue.join(), timeout)
            except TimeoutError:
                pass

    async def aclose(self) -> None:
        await self.drain(1.0)
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass


__all__ = ["AlertSender", "RETRY_DELAYS", "SCHEMA_VERSION"]
