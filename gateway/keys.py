"""Virtual keys: create / list / revoke in SQL (SQLAlchemy Core), and the hot-path lookup by hash with a
short-lived in-process cache.

A secret looks like ``sk-or-<43 urlsafe chars>``. Only its SHA-256 (hex) and a short display prefix are
stored; the secret is returned once, by ``create``. (An unsalted hash is enough: the secret carries 256
random bits, so there is nothing to brute-force.)

The lookup cache maps hash → (expiry, KeyRecord | None) for ``ttl`` seconds, so a key revoked by another
process (the CLI, another replica) stops working within ``ttl``; ``revoke`` through this store evicts at
once. The database calls are synchronous; ``lookup_async`` (what the Authenticator calls) answers a cache
hit at once and runs a miss in a worker thread, on every database: a point query is cheap, but a slow
network round trip, or a SQLite file locked by a writer in another process (the busy timeout waits up to
BUSY_TIMEOUT seconds), must stall that one request, never the event loop. A database still locked or down
after that raises KeyStoreUnavailable (503).

SQLite databases run in WAL mode (gateway/db.py sets ``journal_mode=WAL`` on every connection; it persists
in the file): readers never wait for a writer, so `open-router keys create` or an admin write in another
process does not hold up lookups at all. The schema is Alembic's (gateway/migrations/), brought up to date
when a store is opened with ``create=True``.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import sqlalchemy as sa

from .db import BUSY_TIMEOUT, engine_url, make_engine, upgrade  # noqa: F401 - BUSY_TIMEOUT: the docstring's
from .errors import GatewayError

log = logging.getLogger("open_router.keys")

SECRET_PREFIX = "sk-or-"
SECRET_RE = re.compile(r"sk-or-[A-Za-z0-9_-]{43}")
DISPLAY_CHARS = 4  # random characters of the secret kept for display, after the fixed prefix
CACHE_MAX = 50_000  # entries before the cache is dropped wholesale (bounded memory under bad-key floods)

metadata = sa.MetaData()

virtual_keys = sa.Table(
    "virtual_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("team", sa.String(200), nullable=False),
    sa.Column("project", sa.String(200), nullable=True),
    sa.Column("app", sa.String(200), nullable=True),
    sa.Column("cost_center", sa.String(200), nullable=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


class KeyStoreError(GatewayError):
    """A key-store operation that cannot be done (unknown key, bad input); str() is fit for a user. A
    GatewayError: uncaught, it answers 400 (the admin API turns an unknown key into its own 404)."""

    status = 400
    type = "invalid_request_error"
    code = "invalid_key_request"


class KeyStoreUnavailable(KeyStoreError):
    """The database could not be reached or stayed locked: 503, and the request may be retried. The
    message is the same for every cause (never the driver's text, which may name hosts); the cause is
    logged."""

    status = 503
    type = "server_error"
    code = "key_store_unavailable"

    def __init__(self, message: str = "The key store is unavailable (busy or unreachable); retry shortly.",
                 **kw: Any) -> None:
        super().__init__(message, **kw)


@contextmanager
def _unavailable(what: str) -> Iterator[None]:
    """Database failures (unreachable, locked past the busy timeout, pool exhausted) → KeyStoreUnavailable."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
        # One line at ERROR (a CLI without logging set up prints it as it is: never a traceback); the
        # traceback is for an operator who turns on DEBUG.
        log.error("key store: %s failed: %s", what, type(exc).__name__)
        log.debug("key store: %s failed", what, exc_info=exc)
        raise KeyStoreUnavailable() from exc


@dataclass(frozen=True)
class KeyRecord:
    """One virtual key as stored (never the secret)."""

    id: str
    prefix: str
    team: str
    project: str | None
    app: str | None
    cost_center: str | None
    created_at: datetime
    revoked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "virtual_key",
            "prefix": self.prefix,
            "team": self.team,
            "project": self.project,
            "app": self.app,
            "cost_center": self.cost_center,
            "created_at": int(self.created_at.timestamp()),
            "revoked_at": None if self.revoked_at is None else int(self.revoked_at.timestamp()),
        }


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)  # 32 bytes → 43 urlsafe characters


def _aware(dt: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes even for timezone=True columns; they were written as UTC.
    if dt is not None and dt.tzinfo is None:
        return dt.replace(tzinfo=timezone.utc)
    return dt


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row.id, prefix=row.prefix, team=row.team, project=row.project, app=row.app,
        cost_center=row.cost_center, created_at=_aware(row.created_at), revoked_at=_aware(row.revoked_at),
    )


class KeyStore:
    """The key table plus the lookup cache. One per app (or per CLI command)."""

    def __init__(self, url: str, *, ttl: float = 1.0, create: bool = True,
                 clock: Callable[[], float] = time.monotonic, engine: sa.Engine | None = None) -> None:
        self.url = engine_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        # Lookups and admin writes run in worker threads: one file, many threads (gateway.db's engine).
        self.engine = engine if engine is not None else make_engine(self.url)
        self.ttl = ttl
        self.clock = clock
        self._cache: dict[str, tuple[float, KeyRecord | None]] = {}
        if create:
            with _unavailable("migrate"):
                upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # ------------------------------------------------------------------ admin operations (sync)

    def create(self, team: str, project: str | None = None, app: str | None = None,
               cost_center: str | None = None) -> tuple[KeyRecord, str]:
        """A new key; returns (record, secret). The secret is not kept anywhere."""
        team = (team or "").strip()
        if not team:
            raise KeyStoreError("a key needs a team")
        secret = new_secret()
        record = KeyRecord(
            id="key_" + secrets.token_hex(6),
            prefix=secret[: len(SECRET_PREFIX) + DISPLAY_CHARS],
            team=team, project=project or None, app=app or None, cost_center=cost_center or None,
            created_at=datetime.now(timezone.utc),
        )
        with _unavailable("create"), self.engine.begin() as conn:
            conn.execute(virtual_keys.insert().values(
                id=record.id, secret_sha256=hash_secret(secret), prefix=record.prefix, team=record.team,
                project=record.project, app=record.app, cost_center=record.cost_center,
                created_at=record.created_at, revoked_at=None,
            ))
        self._cache.pop(hash_secret(secret), None)  # a cached "unknown" for this secret is now wrong
        return record, secret

    def list(self, *, include_revoked: bool = True) -> list[KeyRecord]:
        q = sa.select(virtual_keys).order_by(virtual_keys.c.created_at, virtual_keys.c.id)
        if not include_revoked:
            q = q.where(virtual_keys.c.revoked_at.is_(None))
        with _unavailable("list"), self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(q)]

    def get(self, key_id: str) -> KeyRecord | None:
        with _unavailable("get"), self.engine.connect() as conn:
            row = conn.execute(sa.select(virtual_keys).where(virtual_keys.c.id == key_id)).first()
        return None if row is None else _record(row)

    def subjects(self) -> dict[str, set[str]]:
        """Scope → the subjects the active (unrevoked) keys carry: their ids under "key", and every team,
        project, app and cost center they name. What dsl.check.check_budget_subjects judges a policy's
        budgets and limits against (W192: one for a subject no key carries)."""
        c = virtual_keys.c
        out: dict[str, set[str]] = {"key": set(), "team": set(), "project": set(), "app": set(),
                                    "cost_center": set()}
        q = sa.select(c.id, c.team, c.project, c.app, c.cost_center).where(c.revoked_at.is_(None))
        with _unavailable("subjects"), self.engine.connect() as conn:
            for row in conn.execute(q):
                for scope, value in (("key", row.id), ("team", row.team), ("project", row.project),
                                     ("app", row.app), ("cost_center", row.cost_center)):
                    if value is not None:
                        out[scope].add(value)
        return out

    def revoke(self, key_id: str) -> KeyRecord:
        """Revoke ``key_id`` (idempotent) and evict it from this process's cache at once."""
        now = datetime.now(timezone.utc)
        with _unavailable("revoke"), self.engine.begin() as conn:
            conn.execute(virtual_keys.update()
                         .where(virtual_keys.c.id == key_id, virtual_keys.c.revoked_at.is_(None))
                         .values(revoked_at=now))
            row = conn.execute(sa.select(virtual_keys).where(virtual_keys.c.id == key_id)).first()
        if row is None:
            raise KeyStoreError(f"no key with id {key_id!r}")
        self.evict(key_id)
        return _record(row)

    def evict(self, key_id: str) -> None:
        # Revokes are rare: a scan of the cache is cheaper than keeping a reverse index on every lookup.
        for h, (_, rec) in list(self._cache.items()):
            if rec is not None and rec.id == key_id:
                self._cache.pop(h, None)

    # ------------------------------------------------------------------ hot path

    def _query(self, digest: str) -> KeyRecord | None:
        with _unavailable("lookup"), self.engine.connect() as conn:
            row = conn.execute(
                sa.select(virtual_keys).where(virtual_keys.c.secret_sha256 == digest,
                                              virtual_keys.c.revoked_at.is_(None))
            ).first()
        return None if row is None else _record(row)

    def _cached(self, digest: str, now: float) -> tuple[bool, KeyRecord | None]:
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return True, hit[1]
        return False, None

    def _store(self, digest: str, rec: KeyRecord | None, now: float) -> None:
        if len(self._cache) >= CACHE_MAX:
            self._cache.clear()
        self._cache[digest] = (now + self.ttl, rec)

    def lookup(self, secret: str) -> KeyRecord | None:
        """The live key for ``secret``, or None (unknown, malformed or revoked). Sync; may query the DB."""
        if not SECRET_RE.fullmatch(secret):
            return None  # never a DB round trip for something that cannot be a key
        digest = hash_secret(secret)
        now = self.clock()
        found, rec = self._cached(digest, now)
        if found:
            return rec
        rec = self._query(digest)
        self._store(digest, rec, now)
        return rec

    async def lookup_async(self, secret: str) -> KeyRecord | None:
        """``lookup`` for the event loop: a cache hit returns at once; a miss queries in a worker thread, so
        a slow or locked database holds up this request only."""
        if not SECRET_RE.fullmatch(secret):
            return None
        digest = hash_secret(secret)
        now = self.clock()
        found, rec = self._cached(digest, now)
        if found:
            return rec
        rec = await asyncio.to_thread(self._query, digest)
        self._store(digest, rec, now)
        return rec
