"""The database the gateway shares between virtual keys and the ledger: engines (SQLite by default,
PostgreSQL through psycopg 3) and versioned schema migrations (Alembic, gateway/migrations/).

    engine = make_engine("sqlite:///open-router.db")    # WAL and a busy timeout on SQLite files
    upgrade(engine)                                      # to the newest schema; idempotent

`upgrade` runs at `serve` start and by `open-router db upgrade`. A database made before migrations existed
(the virtual_keys table from `create_all`, no alembic_version) is stamped at the first revision, whose
schema it has, and upgraded from there.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa

log = logging.getLogger("open_router.db")

BUSY_TIMEOUT = 5.0  # seconds a SQLite statement waits for another connection's lock
MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001_virtual_keys"


def engine_url(url: str) -> str:
    """Normalise a database URL: plain ``postgresql://`` means psycopg (v3)."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL for a file database (an in-memory one stays "memory"): readers and a writer no longer block each
    other."""
    cur = dbapi_conn.cursor()
    try:
        cur.execute("PRAGMA journal_mode=WAL")
    except Exception as exc:  # switching needs a moment alone with the file; without WAL, reads still work
        log.warning("could not switch SQLite to WAL (%s); readers may wait for writers", exc)
    finally:
        cur.close()


def make_engine(url: str, **kwargs: Any) -> sa.Engine:
    """An engine for ``url``; on SQLite, usable from worker threads, with WAL and a busy timeout."""
    url = engine_url(url)
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": BUSY_TIMEOUT})
        engine = sa.create_engine(url, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


def describe_error(exc: BaseException) -> str:
    """One line for a database failure, fit for a person: the driver's first line, without SQLAlchemy's
    statement dump or its "Background on this error" link (callers still mask the URL's password)."""
    orig = getattr(exc, "orig", None) or exc
    first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
    return f"{type(orig).__name__}: {first}"


def _config(engine: sa.Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest). Safe to call on every start, from several
    processes: each revision runs in a transaction (on PostgreSQL an advisory lock serialises them)."""
    # Alembic narrates every plugin and step at INFO (some as it is imported); one line of ours says
    # what changed.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command

    cfg = _config(engine)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7272001)"))
        cfg.attributes["connection"] = conn
        insp = sa.inspect(conn)
        if insp.has_table("virtual_keys") and not insp.has_table("alembic_version"):
            command.stamp(cfg, FIRST_REVISION)  # made by create_all before migrations: that schema
        from alembic.runtime.migration import MigrationContext

        before = MigrationContext.configure(conn).get_current_revision()
        command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
    if before != after:
        log.info("database schema upgraded: %s -> %s", before or "empty", after)


def current_revision(engine: sa.Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config(sa.create_engine("sqlite://"))).get_current_head()
    assert head is not None
    return head


__all__ = ["BUSY_TIMEOUT", "current_revision", "describe_error", "engine_url", "head_revision", "make_engine", "upgrade"]
