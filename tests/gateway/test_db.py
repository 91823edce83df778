"""The shared database: engines and Alembic migrations, on SQLite and PostgreSQL."""
from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import sqlalchemy as sa

from gateway.db import current_revision, head_revision, make_engine, upgrade
from gateway.keys import KeyStore, metadata, virtual_keys


def _tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def test_a_fresh_sqlite_database_is_migrated_to_the_newest_schema(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert {"virtual_keys", "ledger", "alembic_version"} <= _tables(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"


def test_a_database_from_before_migrations_keeps_its_keys(tmp_path: Path) -> None:
    """The previous schema: virtual_keys made by create_all, no alembic_version."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    metadata.create_all(old)
    assert _tables(old) == {"virtual_keys"}
    old.dispose()
    # A key written into the old table, then the store opened as serve opens it (migrating).
    legacy = KeyStore(url, create=False)
    rec, secret = legacy.create("eng")
    legacy.close()
    store = KeyStore(url)  # migrates
    assert store.lookup(secret).id == rec.id
    assert current_revision(store.engine) == head_revision()
    assert "ledger" in _tables(store.engine)
    store.close()


def test_postgresql_is_migrated_once_under_concurrent_starts(postgres_url: str) -> None:
    engines = [make_engine(postgres_url) for _ in range(3)]
    errors: list[BaseException] = []

    def go(e: sa.Engine) -> None:
        try:
            upgrade(e)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert current_revision(engines[0]) == head_revision()
    assert {"virtual_keys", "ledger"} <= _tables(engines[0])
    store = KeyStore(postgres_url)
    rec, secret = store.create("eng", cost_center="cc")
    assert store.lookup(secret).cost_center == "cc"
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(virtual_keys)).scalar() == 1
    store.close()
    for e in engines:
        e.dispose()


def test_db_cli(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    run = [sys.executable, "-m", "gateway.cli", "db"]
    r = subprocess.run(run + ["current", "--db", url], capture_output=True, text=True)
    assert r.returncode == 0 and "at empty" in r.stdout and "open-router db upgrade" in r.stdout
    r = subprocess.run(run + ["upgrade", "--db", url], capture_output=True, text=True)
    assert r.returncode == 0 and f"empty -> {head_revision()}" in r.stdout
    r = subprocess.run(run + ["upgrade", "--db", url], capture_output=True, text=True)
    assert r.returncode == 0 and "already at" in r.stdout
    r = subprocess.run(run + ["upgrade", "--db", "postgresql://u:hunter2@127.0.0.1:1/x"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "hunter2" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
