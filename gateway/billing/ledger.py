"""The ledger: one row per request — success or failure, streams and WebSocket included — written in
batches off the request path, and never lost.

The recording step hands every finished request to `Ledger.record` (a settler): it builds the row (its
cost at the prices of the policy version that decided it) and appends it to an in-memory queue; nothing
on the request path waits on the database. One writer task flushes the queue every ``flush_interval``
seconds or ``batch_rows`` rows, in a worker thread, as one multi-row INSERT in one transaction.

When the database is down, what a flush cannot write goes to an append-only spill file (JSON lines,
fsynced per batch) in ``spill_dir``: the batch that failed, then at each flush interval whatever was
queued meanwhile; when it is only slow, rows wait in the queue (bounded by ``max_queue``; past that the
oldest batch spills). The writer replays spill files once the database answers again; every row carries its own
id (made once, when the request is recorded), and rows are inserted "on conflict do nothing", so a row
replayed twice — a crash between a replay's insert and the file's removal — is still stored once. Each
process spills to a file of its own, held under an exclusive lock; at start, and whenever it replays, a
writer also takes over the files of processes that are gone (their lock is free).

On shutdown (`aclose`) the queue is flushed, or spilled when the database is unreachable. What a kill -9
can lose: the rows still in the queue, at most ``flush_interval`` seconds of requests (rows already
spilled are on disk). Lower ``flush_interval`` to bound it further.
"""
from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import secrets
import threading
import time
from collections import deque
from datetime import datetime, timezone
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any, Iterable, Optional

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..ids import hex24
from .pricing import cost as price_of

log = logging.getLogger("open_router.ledger")

SPILL_PREFIX = "ledger-spill-"


class LedgerRow(SQLModel, table=True):
    """One request as billed. The schema is migration 0002_ledger's; this model reads and exports it."""

    __tablename__ = "ledger"

    id: str = Field(primary_key=True, max_length=32)
    request_id: str = Field(max_length=128)
    ts: datetime
    route: str
    key_id: Optional[str] = None
    team: Optional[str] = None
    project: Optional[str] = None
    app: Optional[str] = None
    cost_center: Optional[str] = None
    user: Optional[str] = None
    requested_model: Optional[str] = None
    model: Optional[str] = None
    upstream: Optional[str] = None
    provider: Optional[str] = None
    rule: Optional[str] = None
    arm: Optional[str] = None
    attempts: int = 0
    status: int
    error_code: Optional[str] = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_pico: int = 0  # the cost in 1e-12 of the currency unit: exact on SQLite too (see `to_pico`)
    currency: str = "USD"
    priced: bool = True
    usage_estimated: bool = False
    latency_ms: float = 0.0
    ttft_ms: Optional[float] = None
    stream: bool = False
    policy_version: Optional[str] = None


TABLE: sa.Table = LedgerRow.__table__  # type: ignore[attr-defined]
COLUMNS = tuple(c.name for c in TABLE.columns)
PICO = Decimal(10) ** 12


def to_pico(amount: Decimal) -> int:
    """``amount`` in 1e-12 units, rounded half to even (the ledger's one rounding; a price per 1M tokens
    times a token count has at most the price's decimals + 6, so realistic prices are exact)."""
    return int((amount * PICO).to_integral_value(rounding=ROUND_HALF_EVEN))


def from_pico(n: int | None) -> Decimal:
    return Decimal(n or 0).scaleb(-12)


def row_for(s: Any, *, currency: str = "USD", now: float | None = None) -> dict[str, Any]:
    """The ledger row of a finished request (a gateway.record.Served)."""
    d = s.decision
    p = s.principal
    t = s.target
    if t is None and s.attempts:
        t = s.attempts[-1].target  # failed: the last target tried (its usage, if any, is billed)
    usage = s.final_usage()
    prompt = completion = cached = reasoning = 0
    estimated = False
    if usage is not None:
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        cached, reasoning, estimated = usage.cached_tokens, usage.reasoning_tokens, usage.estimated
    amount = Decimal(0)
    priced = True
    if usage is not None and t is not None:
        c = price_of(t, prompt, completion, cached)
        if c is None:
            priced = False
        else:
            amount = c
    body = s.body or {}
    user = body.get("user") if isinstance(body.get("user"), str) else None
    err = s.error
    total = (now if now is not None else time.perf_counter()) - s.t0
    return {
        "id": hex24(),
        "request_id": s.request_id,
        "ts": datetime.now(timezone.utc),
        "route": s.route,
        "key_id": p.key_id if p else None,
        "team": p.team if p else None,
        "project": p.project if p else None,
        "app": p.app if p else None,
        "cost_center": p.cost_center if p else None,
        "user": user[:256] if user else None,
        "requested_model": (d.facts.model or "")[:256] or None if d else None,
        "model": t.model if t else None,
        "upstream": t.upstream if t else None,
        "provider": t.provider if t else None,
        "rule": d.rule if d else None,
        "arm": d.arm if d else None,
        "attempts": len(s.attempts),
        "status": s.status,
        "error_code": (getattr(err, "code", None) or type(err).__name__)[:100] if err is not None else None,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached,
        "reasoning_tokens": reasoning,
        "cost": from_pico(to_pico(amount)),  # as stored
        "currency": currency,
        "priced": priced,
        "usage_estimated": estimated,
        "latency_ms": round(total * 1000.0, 3),
        "ttft_ms": None if s.ttft is None else round(s.ttft * 1000.0, 3),
        "stream": bool(s.stream),
        "policy_version": d.policy_version if d else None,
    }


def to_json(row: dict[str, Any]) -> dict[str, Any]:
    """A row as JSON values (cost as a decimal string, time as ISO 8601): spill files and exports. Takes
    a queued row (``cost``) or a stored one (``cost_pico``)."""
    out = dict(row)
    if "cost_pico" in out:
        out["cost"] = from_pico(out.pop("cost_pico"))
    out["cost"] = str(out["cost"])
    ts = row["ts"]
    if isinstance(ts, datetime):
        out["ts"] = (ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)).isoformat()  # SQLite hands back naive UTC
    return out


def from_json(obj: dict[str, Any]) -> dict[str, Any]:
    row = {c: obj.get(c) for c in COLUMNS if c != "cost_pico"}
    row["cost"] = Decimal(str(obj.get("cost") or "0"))
    ts = obj.get("ts")
    row["ts"] = datetime.fromisoformat(ts) if isinstance(ts, str) else ts
    return row


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)


def _sqlite_ts(ts: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (UTC, no offset), so its reads and comparisons agree."""
    return _aware(ts).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


class Ledger:
    """The batched writer. One per process; `start` it on the serving loop, `aclose` it at shutdown."""

    def __init__(self, engine: sa.Engine, spill_dir: Path | str, *, flush_interval: float = 0.25,
                 batch_rows: int = 1000, max_queue: int = 100_000, currency: str = "USD") -> None:
        self.engine = engine
        self.spill_dir = Path(spill_dir)
        self.flush_interval = flush_interval
        self.batch_rows = batch_rows
        self.max_queue = max_queue
        self.currency = currency
        self.queue: deque[dict[str, Any]] = deque()
        self.written = 0  # rows stored in the database by this process
        self.spilled = 0  # rows that went to a spill file
        self.replayed = 0  # rows stored from spill files
        self.failures = 0  # flushes the database refused
        self.last_error: dict[str, Any] | None = None  # the last refused flush: error type and when (no URL)
        self.healthy = True
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lock = threading.Lock()
        self._mine: list[tuple[Any, Path]] = []
        self._current: tuple[Any, Path] | None = None
        self._sql, self._params = self._insert_statement()

    def _insert_statement(self) -> tuple[str, Any]:
        """One INSERT for the driver's executemany (SQLAlchemy's per-row parameter processing cost ~30 µs
        a row; the driver's own executemany a few), and the function turning a row into its parameters."""
        name = self.engine.dialect.name
        cols = ", ".join(f'"{c}"' for c in COLUMNS)
        if name == "sqlite":
            sql = f"INSERT INTO ledger ({cols}) VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT (id) DO NOTHING"
            ts_of = _sqlite_ts
        elif name == "postgresql":
            sql = f"INSERT INTO ledger ({cols}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) ON CONFLICT (id) DO NOTHING"
            ts_of = _aware
        else:  # pragma: no cover - the gateway runs on SQLite or PostgreSQL
            raise ValueError(f"the ledger needs SQLite or PostgreSQL, not {name}")
        picks = [(c, c == "cost_pico", c == "ts") for c in COLUMNS]

        def params(row: dict[str, Any]) -> tuple[Any, ...]:
            return tuple(to_pico(row["cost"]) if is_cost else ts_of(row["ts"]) if is_ts else row[c]
                         for c, is_cost, is_ts in picks)

        return sql, params

    # ------------------------------------------------------------------ the request path

    def record(self, s: Any) -> None:
        """The settler: queue the row of a finished request (no I/O)."""
        self.add(row_for(s, currency=self.currency))

    def add(self, row: dict[str, Any]) -> None:
        q = self.queue
        q.append(row)
        if len(q) >= self.batch_rows and self._wake is not None:
            self._wake.set()
        if len(q) > self.max_queue:
            # The database has been away long enough to fill the queue: the oldest batch goes to disk
            # now (a blocking write, rare, bounded by batch_rows) rather than memory growing.
            self._spill_rows([q.popleft() for _ in range(min(self.batch_rows, len(q)))])

    # ------------------------------------------------------------------ the writer

    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="ledger-writer")

    async def _run(self) -> None:
        assert self._wake is not None
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Write what is queued (and, while the database answers, what was spilled)."""
        if not self.healthy or self._has_spill():
            if not await asyncio.to_thread(self._replay):
                # Still down: what is queued goes to disk now (fsynced), so an outage does not widen
                # what a kill -9 can lose beyond one flush interval.
                rows = [self.queue.popleft() for _ in range(len(self.queue))]
                if rows:
                    await asyncio.to_thread(self._spill_rows, rows)
                return
        while self.queue:
            batch = [self.queue.popleft() for _ in range(min(self.batch_rows, len(self.queue)))]
            ok = await asyncio.to_thread(self._write, batch)
            if not ok:
                await asyncio.to_thread(self._spill_rows, batch)
                return

    def _write(self, batch: list[dict[str, Any]]) -> bool:
        try:
            params = [self._params(r) for r in batch]
            with self.engine.begin() as conn:
                conn.exec_driver_sql(self._sql, params)
        except Exception as exc:
            self.failures += 1
            self.last_error = {"error": type(exc).__name__, "at": time.time(), "rows": len(batch)}
            if self.healthy:
                log.error("ledger: the database refused a batch of %d rows (%s); rows go to %s until it "
                          "returns", len(batch), type(exc).__name__, self.spill_dir)
            self.healthy = False
            return False
        self.written += len(batch)
        if not self.healthy:
            log.warning("ledger: the database is back")
        self.healthy = True
        return True

    # ------------------------------------------------------------------ spill files
    # Files this process holds (each under an exclusive lock) are in ``_mine``; new rows are appended to
    # ``_current``. A replay (in a worker thread) detaches the files it takes under ``_lock``, so rows that
    # spill meanwhile (on the loop thread) go to a new file, never into one being replayed.

    def _spill_rows(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = "".join(json.dumps(to_json(r), separators=(",", ":"), default=str) + "\n" for r in rows)
        with self._lock:
            if self._current is None:
                self.spill_dir.mkdir(parents=True, exist_ok=True)
                path = self.spill_dir / f"{SPILL_PREFIX}{os.getpid()}-{secrets.token_hex(4)}.jsonl"
                f = open(path, "a", encoding="utf-8")
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._current = (f, path)
                self._mine.append(self._current)
            f = self._current[0]
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        self.spilled += len(rows)

    def _has_spill(self) -> bool:
        return bool(self._mine) or any(True for _ in self._orphans())

    def _orphans(self) -> Iterable[Path]:
        if not self.spill_dir.is_dir():
            return []
        mine = {path for _, path in self._mine}
        return sorted(p for p in self.spill_dir.glob(SPILL_PREFIX + "*.jsonl") if p not in mine)

    def _replay(self) -> bool:
        """Store every spill file this process may take (its own, and those of processes that are gone);
        True when nothing is left to replay."""
        with self._lock:
            held = list(self._mine)
            self._current = None
        for f, path in held:
            if not self._replay_file(path):
                return False
            path.unlink(missing_ok=True)
            with self._lock:
                self._mine.remove((f, path))
            f.close()  # the lock goes with it
        for path in self._orphans():
            try:
                f = open(path, "r+", encoding="utf-8")
            except FileNotFoundError:
                continue  # another process took it
            try:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is alive and replays it itself
                if not path.exists():
                    continue
                if not self._replay_file(path):
                    return False
                path.unlink(missing_ok=True)
            finally:
                f.close()
        return True

    def _replay_file(self, path: Path) -> bool:
        rows: list[dict[str, Any]] = []
        bad = 0
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    rows.append(from_json(json.loads(line)))
                except (ValueError, TypeError):
                    bad += 1  # a torn last line from a crash mid-write
        if bad:
            log.error("ledger: %d unreadable line(s) in %s were skipped", bad, path)
        for i in range(0, len(rows), self.batch_rows):
            if not self._write(rows[i:i + self.batch_rows]):
                return False
        self.replayed += len(rows)
        if rows:
            log.warning("ledger: replayed %d spilled row(s) from %s", len(rows), path.name)
        return True

    # ------------------------------------------------------------------ shutdown

    async def aclose(self) -> None:
        """Stop the writer and flush what is queued (spilled, when the database is unreachable)."""
        self._closing = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            try:
                await self._task
            except Exception:
                log.exception("ledger writer failed")
        await self.flush()
        if self.queue:  # the database is still away: nothing may be lost
            rows = list(self.queue)
            self.queue.clear()
            await asyncio.to_thread(self._spill_rows, rows)
        with self._lock:
            for f, _ in self._mine:
                f.close()  # left for the next start (or another process) to replay
            self._mine.clear()
            self._current = None

    def status(self) -> dict[str, Any]:
        return {"queued": len(self.queue), "written": self.written, "spilled": self.spilled,
                "replayed": self.replayed, "failed_flushes": self.failures, "healthy": self.healthy,
                "spill_files": len(list(self._orphans())) + len(self._mine), "last_flush_error": self.last_error}


__all__ = ["COLUMNS", "Ledger", "LedgerRow", "PICO", "TABLE", "from_json", "from_pico", "row_for", "to_json",
           "to_pico"]
