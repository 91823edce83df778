"""Budgets and rate limits: the Admission the pipeline's admit / settle stages run (admission.py), over
one of three stores holding the counters:

    memory   one process: exact, no I/O (memory.py)                    the default with one worker
    shm      the worker processes of one machine: a memory-mapped      the default with --workers N > 1
             counter file under flock, on the loop, µs per call (shm.py)
    sqlite   the same sharing through a SQLite file, one IMMEDIATE transaction per call, off the event
             loop (sqlite.py): slower (bench/bench_workers.py), kept as limits_store=sqlite
    redis    replicas: one Lua script call per request (redis_store.py) --redis URL

    admission = from_settings(settings)        # what create_app plugs in
    await admission.status(policy.budgets)     # GET /admin/budgets
    await admission.status_for(principal, policy.budgets)   # a key's own budgets (GET /v1/usage)
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .admission import LimitsAdmission, StoreError, Ticket, applies
from .core import BudgetLine, Hold, RateLine, Result
from .memory import MemoryStore


def store_kind(settings: Any) -> str:
    kind = settings.limits_store
    if kind == "auto":
        kind = "redis" if settings.redis else ("shm" if settings.workers > 1 else "memory")
    return kind


def sqlite_path(settings: Any) -> Path:
    """Where the SQLite counters live: the setting, else beside a SQLite database file, else the cwd."""
    if settings.limits_path:
        return Path(settings.limits_path)
    db = settings.db
    if db.startswith("sqlite:///") and db != "sqlite:///:memory:":
        p = Path(db[len("sqlite:///"):])
        return p.with_name(p.stem + "-limits.db")
    return Path("open-router-limits.db")


def shm_path(settings: Any) -> Path:
    """The shared-memory counter file: the limits_path setting, else beside the SQLite counter file's place
    with the suffix .shm."""
    if settings.limits_path:
        return Path(settings.limits_path)
    return sqlite_path(settings).with_suffix(".shm")


def make_store(settings: Any) -> Any:
    kind = store_kind(settings)
    if kind == "redis":
        if not settings.redis:
            raise ValueError("limits_store=redis needs --redis URL")
        from .redis_store import RedisStore

        return RedisStore(settings.redis, prefix=settings.redis_prefix)
    if kind == "sqlite":
        from .sqlite import SQLiteStore

        return SQLiteStore(sqlite_path(settings))
    if kind == "shm":
        from .shm import ShmStore

        return ShmStore(shm_path(settings))
    return MemoryStore()


def from_settings(settings: Any, store: Any = None) -> LimitsAdmission:
    from ..alerts import AlertSender
    from .ledger import LedgerSums

    alerts = AlertSender(settings.alert_webhook)
    return LimitsAdmission(store if store is not None else make_store(settings), ledger=LedgerSums(settings.db),
                           alerts=alerts, fail_open=settings.budget_fail_open,
                           completion_cap=settings.default_completion_cap,
                           reservation_ttl=settings.reservation_ttl)


__all__ = [
    "BudgetLine", "Hold", "LimitsAdmission", "MemoryStore", "RateLine", "Result", "StoreError", "Ticket",
    "applies", "from_settings", "make_store", "shm_path", "sqlite_path", "store_kind",
]
