"""The SQLite store: the worker processes of one machine share counters in one SQLite file.

Each operation is one ``BEGIN IMMEDIATE`` transaction (SQLite's write lock, taken up front, so the read
of the counters and the conditional write that follows are one atomic step across processes: no
read-then-write race), run on one dedicated thread per process with its own connection, off the event
loop. WAL with synchronous=NORMAL: a commit is a write to the WAL, no fsync — the counters are rebuilt
from the ledger if the file is lost, so durability of the last few milliseconds is not needed.

Tables (created here; this file is a counter cache, not the gateway's database, so it has no migrations):

    budget(key PK, spent, reserved, expires)     nano-units; expires: when the period's counter can go
    rate(key PK, tat)                             GCRA theoretical arrival time
    hold(rid PK, amount, keys, expires)           a reservation: its amount on each of its budget keys
    claim(key PK, expires)                        alert ids already sent (dedup across workers)
"""
from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

from .core import OK, Hold, Result, StoreError, evaluate

SCHEMA = """
CREATE TABLE IF NOT EXISTS budget (key TEXT PRIMARY KEY, spent INTEGER NOT NULL, reserved INTEGER NOT NULL,
                                   expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS rate (key TEXT PRIMARY KEY, tat REAL NOT NULL);
CREATE TABLE IF NOT EXISTS hold (rid TEXT PRIMARY KEY, amount INTEGER NOT NULL, keys TEXT NOT NULL,
                                 expires REAL NOT NULL);
CREATE INDEX IF NOT EXISTS hold_expires ON hold (expires);
CREATE TABLE IF NOT EXISTS claim (key TEXT PRIMARY KEY, expires REAL NOT NULL);
"""
SWEEP_EVERY = 1.0  # seconds between sweeps of expired reservations (per process)
BUSY_TIMEOUT = 5.0


class SQLiteStore:
    kind = "sqlite"
    shared = True  # every worker process on this machine

    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        self.healthy = True
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="limits-sqlite")
        self._local = threading.local()
        self._next_sweep = 0.0
        for attempt in range(50):  # workers starting together: one switches the file to WAL, the others wait
            try:
                conn = self._connect()
                try:
                    conn.executescript(SCHEMA)
                finally:
                    conn.close()
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise StoreError(f"cannot open the SQLite counter file {self.path}: {exc}") from None
                time.sleep(0.1)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the SQLite counter file {self.path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._txn, fn, args)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {exc}") from None

    def _txn(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            out = fn(conn, *args)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return out

    # ------------------------------------------------------------------ in the transaction

    def _sweep(self, conn: sqlite3.Connection, now: float) -> None:
        rows = conn.execute("DELETE FROM hold WHERE expires <= ? RETURNING amount, keys", (now,)).fetchall()
        for amount, keys in rows:
            if amount:
                for key in keys.split("\n"):
                    conn.execute("UPDATE budget SET reserved = reserved - ? WHERE key = ?", (amount, key))
        conn.execute("DELETE FROM budget WHERE expires <= ?", (now,))
        conn.execute("DELETE FROM claim WHERE expires <= ?", (now,))

    def _reserve(self, conn: sqlite3.Connection, h: Hold, now: float) -> Result:
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_EVERY
            self._sweep(conn, now)
        levels: list[int | None] = []
        for line in h.budgets:
            row = conn.execute("SELECT spent + reserved FROM budget WHERE key = ?", (line.key,)).fetchone()
            levels.append(None if row is None else row[0])
        tats: list[float | None] = []
        for line in h.rates:
            row = conn.execute("SELECT tat FROM rate WHERE key = ?", (line.key,)).fetchone()
            tats.append(None if row is None else row[0])
        result, new_tats = evaluate(h, levels, tats, now)
        if result.status != OK:
            return result
        for line, tat in zip(h.rates, new_tats):
            conn.execute("INSERT INTO rate (key, tat) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET tat = excluded.tat",
                         (line.key, tat))
        amount = h.amounts[result.option] if h.amounts else 0
        if h.budgets:
            for line in h.budgets:
                conn.execute("UPDATE budget SET reserved = reserved + ? WHERE key = ?", (amount, line.key))
            conn.execute("INSERT OR REPLACE INTO hold (rid, amount, keys, expires) VALUES (?, ?, ?, ?)",
                         (h.rid, amount, "\n".join(line.key for line in h.budgets), h.expires))
        return result

    def _settle(self, conn: sqlite3.Connection, h: Hold, amount: int, cost: int, tokens: int | None,
                now: float) -> dict[str, int]:
        held = conn.execute("DELETE FROM hold WHERE rid = ?", (h.rid,)).rowcount > 0
        release = amount if held else 0
        spent: dict[str, int] = {}
        for line in h.budgets:
            row = conn.execute("UPDATE budget SET reserved = reserved - ?, spent = spent + ? WHERE key = ? "
                               "RETURNING spent", (release, cost, line.key)).fetchone()
            if row is not None:
                spent[line.key] = row[0]
        if tokens is not None:
            for line in h.rates:
                if line.unit == "tokens" and tokens != line.cost:
                    conn.execute("UPDATE rate SET tat = max(tat + ?, ?) WHERE key = ?",
                                 ((tokens - line.cost) * line.interval, now, line.key))
        return spent

    @staticmethod
    def _seed(conn: sqlite3.Connection, key: str, spent: int, expires: float) -> None:
        conn.execute("INSERT INTO budget (key, spent, reserved, expires) VALUES (?, ?, 0, ?) "
                     "ON CONFLICT (key) DO UPDATE SET spent = max(spent, excluded.spent)", (key, spent, expires))

    @staticmethod
    def _claim(conn: sqlite3.Connection, key: str, expires: float) -> bool:
        return conn.execute("INSERT OR IGNORE INTO claim (key, expires) VALUES (?, ?)", (key, expires)).rowcount > 0

    @staticmethod
    def _status(conn: sqlite3.Connection, keys: list[str]) -> dict[str, tuple[int, int]]:
        out = {}
        for key in keys:
            row = conn.execute("SELECT spent, reserved FROM budget WHERE key = ?", (key,)).fetchone()
            if row is not None:
                out[key] = (row[0], row[1])
        return out

    # ------------------------------------------------------------------ the async face

    async def reserve(self, h: Hold, now: float) -> Result:
        return await self._run(self._reserve, h, now)

    async def settle(self, h: Hold, amount: int, cost: int, tokens: int | None, now: float) -> dict[str, int]:
        return await self._run(self._settle, h, amount, cost, tokens, now)

    async def seed(self, key: str, spent: int, expires: float) -> None:
        await self._run(self._seed, key, spent, expires)

    async def claim(self, key: str, ttl: float) -> bool:
        return await self._run(self._claim, key, time.time() + ttl)

    async def status(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        return await self._run(self._status, list(keys))

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def aclose(self) -> None:
        def close() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
                self._local.conn = None

        try:
            await asyncio.get_running_loop().run_in_executor(self._pool, close)
        finally:
            self._pool.shutdown(wait=False)


__all__ = ["SQLiteStore"]
