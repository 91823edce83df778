"""The stored form of virtual keys, which outlives every process: a key database written by one release
must keep authenticating the same secrets in the next one.

The golden row below is written with plain sqlite3 (table and row exactly as this release stores them),
never through the gateway's own hashing, so a change to how a secret is hashed or looked up fails here
instead of silently locking every issued key out on upgrade.
"""
from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import timezone
from pathlib import Path

from gateway.keys import KeyStore

# A syntactically valid secret (sk-or- + 43 urlsafe characters) and its stored hash: SHA-256 of the
# UTF-8 secret, as 64 lower-case hex digits. Literal on purpose; do not recompute it.
GOLDEN_SECRET = "sk-or-GoldenVirtualKey_stored-hash-format-v1xxxxx"
GOLDEN_SHA256 = "6d1695a70c295ccbbec3a091960d7925250b0c9ca9c60c401b646d2d97e1a39e"

# The table as this release creates it in SQLite.
DDL = """
CREATE TABLE virtual_keys (
    id VARCHAR(32) NOT NULL,
    secret_sha256 VARCHAR(64) NOT NULL,
    prefix VARCHAR(16) NOT NULL,
    team VARCHAR(200) NOT NULL,
    project VARCHAR(200),
    app VARCHAR(200),
    cost_center VARCHAR(200),
    created_at DATETIME NOT NULL,
    revoked_at DATETIME,
    PRIMARY KEY (id),
    UNIQUE (secret_sha256)
)
"""


def write_golden_db(path: Path) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute(DDL)
        con.execute(
            "INSERT INTO virtual_keys (id, secret_sha256, prefix, team, project, app, cost_center, created_at, "
            "revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            ("key_00000000golden", GOLDEN_SHA256, GOLDEN_SECRET[:10], "eng", "proj", None, "cc-1",
             "2026-01-02 03:04:05.000000"),
        )
        con.commit()
    finally:
        con.close()


def test_a_key_stored_by_this_release_authenticates_by_its_golden_hash(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    write_golden_db(db)
    store = KeyStore(f"sqlite:///{db}", ttl=0)
    try:
        rec = store.lookup(GOLDEN_SECRET)
        assert rec is not None, "the stored hash format changed: existing keys would stop working"
        assert (rec.id, rec.team, rec.project, rec.app, rec.cost_center) == (
            "key_00000000golden", "eng", "proj", None, "cc-1")
        assert rec.prefix == "sk-or-Gold"
        assert rec.created_at.tzinfo is not None and rec.created_at.astimezone(timezone.utc).isoformat() == \
            "2026-01-02T03:04:05+00:00"
        # A secret one character off must not match (the lookup is by the hash of the whole secret).
        assert store.lookup(GOLDEN_SECRET[:-1] + "y") is None
        # And the row lists and revokes like any other.
        assert [r.id for r in store.list()] == ["key_00000000golden"]
        store.revoke("key_00000000golden")
        assert store.lookup(GOLDEN_SECRET) is None
    finally:
        store.close()


def test_a_created_key_is_stored_as_the_sha256_hex_of_its_secret(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    store = KeyStore(f"sqlite:///{db}")
    try:
        rec, secret = store.create("eng")
    finally:
        store.close()
    con = sqlite3.connect(db)
    try:
        (stored, prefix), = con.execute("SELECT secret_sha256, prefix FROM virtual_keys WHERE id = ?", (rec.id,))
    finally:
        con.close()
    assert re.fullmatch(r"[0-9a-f]{64}", stored)
    # hashlib, not the gateway's helper: the stored form is plain SHA-256 of the UTF-8 secret.
    assert stored == hashlib.sha256(secret.encode("utf-8")).hexdigest()
    assert prefix == secret[:10] == rec.prefix


def test_a_created_key_looks_up_after_reopening_the_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    first = KeyStore(url)
    try:
        rec, secret = first.create("eng", project="p", app="a", cost_center="cc")
    finally:
        first.close()
    # A new store (a restart, another replica): nothing cached, only what the file holds.
    for create in (True, False):
        again = KeyStore(url, ttl=0, create=create)
        try:
            assert again.lookup(secret) == rec
            assert again.get(rec.id) == rec
        finally:
            again.close()
