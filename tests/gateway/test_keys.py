"""Virtual keys: the database never holds a secret, lookups are cached for a short TTL (revokes from
another process land within it, revokes through this store at once), and the CLI prints the key alone on
its last line."""
from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from gateway.keys import SECRET_RE, KeyStore, KeyStoreError, hash_secret
from tests.gateway.conftest import GatewayServer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'keys.db'}"


def test_secret_shape_and_only_the_hash_is_stored(db: str, tmp_path: Path) -> None:
    store = KeyStore(db)
    record, secret = store.create("eng", project="p", app="a", cost_center="cc")
    store.close()
    assert SECRET_RE.fullmatch(secret) and len(secret) == len("sk-or-") + 43
    assert re.fullmatch(r"key_[0-9a-f]{12}", record.id)
    assert record.prefix == secret[:10]
    raw = (tmp_path / "keys.db").read_bytes()
    assert secret.encode() not in raw and secret[10:].encode() not in raw
    rows = sqlite3.connect(tmp_path / "keys.db").execute("select * from virtual_keys").fetchall()
    flat = " ".join(str(v) for row in rows for v in row)
    assert secret not in flat and hash_secret(secret) in flat


def test_lookup_list_and_revoke(db: str) -> None:
    store = KeyStore(db, ttl=0)
    rec, secret = store.create("eng", project="p")
    assert store.lookup(secret) == rec
    assert store.lookup(secret + "x") is None and store.lookup("sk-or-" + "A" * 43) is None
    assert [r.id for r in store.list()] == [rec.id]
    revoked = store.revoke(rec.id)
    assert revoked.revoked_at is not None
    assert store.lookup(secret) is None
    assert store.revoke(rec.id).revoked_at == revoked.revoked_at  # idempotent
    assert [r.id for r in store.list(include_revoked=False)] == []
    with pytest.raises(KeyStoreError):
        store.revoke("key_nope")
    with pytest.raises(KeyStoreError):
        store.create("  ")


def test_malformed_tokens_never_reach_the_database(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    store = KeyStore(db)

    def no_query(digest: str) -> None:
        raise AssertionError("queried the database for a token that cannot be a key")

    monkeypatch.setattr(store, "_query", no_query)
    for token in ["", "sk-or-short", "Bearer x", "sk-" + "a" * 46, "sk-or-" + "!" * 43]:
        assert store.lookup(token) is None


def test_cache_ttl_bounds_cross_process_revoke(db: str) -> None:
    clock = Clock()
    server = KeyStore(db, ttl=1.0, clock=clock)
    cli = KeyStore(db, ttl=0)  # another process
    rec, secret = cli.create("eng")
    assert server.lookup(secret) == rec
    cli.revoke(rec.id)
    assert server.lookup(secret) == rec  # still cached: within the TTL
    clock.now += 1.01
    assert server.lookup(secret) is None  # the TTL passed: the revoke is seen


def test_revoke_through_the_same_store_is_immediate(db: str) -> None:
    store = KeyStore(db, ttl=3600)
    rec, secret = store.create("eng")
    assert store.lookup(secret) == rec
    store.revoke(rec.id)
    assert store.lookup(secret) is None


def test_negative_cache_is_cleared_when_the_key_is_created_here(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fixed = "sk-or-" + "Z" * 43
    monkeypatch.setattr("gateway.keys.new_secret", lambda: fixed)
    store = KeyStore(db, ttl=3600)
    assert store.lookup(fixed) is None  # cached as unknown...
    rec, secret = store.create("eng")
    assert secret == fixed and store.lookup(fixed) == rec  # ...until this store creates it


def test_admin_revoke_is_immediate_on_the_server(gateway: GatewayServer) -> None:
    key_id, secret = gateway.new_key("ops")
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        assert c.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
        r = c.delete(f"/admin/keys/{key_id}", headers={"Authorization": f"Bearer {gateway.admin_key}"})
        assert r.status_code == 200
        r = c.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 401


# --------------------------------------------------------------------------- the CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN_ROUTER_")}
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_cli_create_list_revoke(db: str, tmp_path: Path) -> None:
    r = cli("keys", "create", "--team", "eng", "--project", "web", "--app", "chat", "--cost-center", "cc-9",
            "--db", db)
    assert r.returncode == 0, r.stderr
    secret = r.stdout.splitlines()[-1]
    assert SECRET_RE.fullmatch(secret)
    rec = KeyStore(db).lookup(secret)
    assert rec is not None and (rec.team, rec.project, rec.app, rec.cost_center) == ("eng", "web", "chat", "cc-9")

    listed = cli("keys", "list", "--db", db)
    assert listed.returncode == 0 and rec.id in listed.stdout and secret not in listed.stdout
    assert secret[10:] not in listed.stdout

    assert cli("keys", "revoke", rec.id, "--db", db).returncode == 0
    assert KeyStore(db).lookup(secret) is None
    assert cli("keys", "revoke", "key_nope", "--db", db).returncode == 1


def test_cli_db_from_environment_and_bad_url(tmp_path: Path) -> None:
    env_db = f"sqlite:///{tmp_path / 'env.db'}"
    r = subprocess.run([sys.executable, "-m", "gateway.cli", "keys", "create", "--team", "t"], capture_output=True,
                       text=True, env={**os.environ, "OPEN_ROUTER_DB": env_db}, timeout=60)
    assert r.returncode == 0 and KeyStore(env_db).lookup(r.stdout.splitlines()[-1]) is not None
    r = cli("keys", "create", "--team", "t", "--db", "not-a-url")
    assert r.returncode == 2 and "--db" in r.stderr


# --------------------------------------------------------------------------- the database password


LEAKY_DB = "postgresql://u:hunter2@127.0.0.1:1/x"


def test_cli_never_prints_the_database_password(tmp_path: Path) -> None:
    from tests.gateway.conftest import policy_dir

    r = cli("keys", "list", "--db", LEAKY_DB)
    assert r.returncode == 2 and "hunter2" not in r.stdout + r.stderr
    assert "postgresql://u:***@127.0.0.1:1/x" in r.stderr
    r = cli("serve", "--policies", str(policy_dir(tmp_path)), "--port", "0", "--db", LEAKY_DB)
    assert r.returncode == 2 and "hunter2" not in r.stdout + r.stderr and "u:***@127.0.0.1" in r.stderr
    for bad in ("postgresql//u:hunter2@127.0.0.1/x", "u:hunter2@db.example"):  # not URLs: a settings error
        r = cli("keys", "list", "--db", bad)
        assert r.returncode == 2 and "--db" in r.stderr and "hunter2" not in r.stdout + r.stderr, r.stderr
        assert "u:***@" in r.stderr


# --------------------------------------------------------------------------- errors


def test_an_unavailable_key_store_is_503(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy as sa

    from gateway.app import create_app, load_policy_dir
    from gateway.keys import KeyStoreUnavailable
    from gateway.settings import Settings
    from tests.gateway.conftest import policy_dir

    settings = Settings(policies=policy_dir(tmp_path), db=f"sqlite:///{tmp_path / 'k.db'}", admin_key="adm")
    app = create_app(settings, env={}, policy=load_policy_dir(settings.policies))
    store = app.extensions["open_router"].keys
    _, secret = store.create("eng")

    def locked(*a: object, **kw: object) -> None:
        raise sa.exc.OperationalError("SELECT ...", {}, Exception("database is locked at /secret/path"))

    monkeypatch.setattr(store.engine, "connect", locked)
    monkeypatch.setattr(store.engine, "begin", locked)
    with pytest.raises(KeyStoreUnavailable):
        store.lookup(secret)

    async def go() -> None:
        c = app.test_client()
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        for r in (await c.post("/v1/chat/completions", json=chat, headers={"Authorization": f"Bearer {secret}"}),
                  await c.get("/v1/models", headers={"Authorization": f"Bearer {secret}"}),
                  await c.post("/admin/keys", json={"team": "t"}, headers={"Authorization": "Bearer adm"}),
                  await c.delete("/admin/keys/key_x", headers={"Authorization": "Bearer adm"})):
            assert r.status_code == 503
            err = (await r.get_json())["error"]
            assert err["code"] == "key_store_unavailable" and err["type"] == "server_error"
            assert "secret" not in err["message"] and "locked at" not in err["message"]

    asyncio.run(go())


# --------------------------------------------------------------------------- lookups never stall the loop


def test_sqlite_runs_in_wal_mode(db: str, tmp_path: Path) -> None:
    KeyStore(db).create("eng")
    assert sqlite3.connect(tmp_path / "keys.db").execute("pragma journal_mode").fetchone()[0] == "wal"


def test_a_writer_holding_the_lock_does_not_stall_lookups(gateway: GatewayServer) -> None:
    """Another process's write transaction (as `open-router keys create` holds one) is open while a request
    with a key not yet cached comes in: it is served before the writer commits."""
    _, secret = gateway.new_key("ops")
    path = gateway.db_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        writer.execute("begin exclusive")
        writer.execute("update virtual_keys set team = team where id = 'none'")
        r = httpx.post(gateway.base_url + "/v1/chat/completions", timeout=30,
                       json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                       headers={"Authorization": f"Bearer {secret}"})
        assert writer.in_transaction  # still holding the lock
        assert r.status_code == 200, r.text
    finally:
        writer.execute("rollback")
        writer.close()


def test_a_slow_lookup_leaves_the_event_loop_serving(gateway: GatewayServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cache miss that waits on the database (a lock, a slow network) holds up its own request only:
    /healthz answers while the lookup waits, and the request completes once the database answers."""
    import threading

    _, secret = gateway.new_key("ops")
    store = gateway.gw.keys
    entered, release = threading.Event(), threading.Event()
    query = store._query

    def stalled(digest: str) -> object:
        entered.set()
        release.wait(30)
        return query(digest)

    monkeypatch.setattr(store, "_query", stalled)
    result: list[int] = []

    def request() -> None:
        r = httpx.post(gateway.base_url + "/v1/chat/completions", timeout=60,
                       json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
                       headers={"Authorization": f"Bearer {secret}"})
        result.append(r.status_code)

    t = threading.Thread(target=request)
    t.start()
    try:
        assert entered.wait(10), "the lookup did not start"
        health = httpx.get(gateway.base_url + "/healthz", timeout=10)  # would hang with the loop blocked
        assert health.status_code == 200
        assert not result and not release.is_set()  # answered while the lookup still waited
    finally:
        release.set()
        t.join(30)
    assert result == [200]


# --------------------------------------------------------------------------- budgets for subjects no key carries


BUDGET_POLICY = """
provider mock  kind mock

model small = mock/"mock-small"  price in 0.15 out 0.60 per 1M

budget team "eng"    100 USD per month  at 100% block
budget team "ghost"  100 USD per month  at 100% block
limit project "web"  60 requests per minute

default
  use small
"""


def test_subjects_are_those_of_active_keys(db: str) -> None:
    store = KeyStore(db)
    a, _ = store.create("eng", project="web", cost_center="cc")
    b, _ = store.create("ops", app="bot")
    store.revoke(store.create("gone", project="old")[0].id)
    assert store.subjects() == {"key": {a.id, b.id}, "team": {"eng", "ops"}, "project": {"web"}, "app": {"bot"},
                                "cost_center": {"cc"}}


def test_budget_subjects_are_checked_against_the_keys(tmp_path: Path) -> None:
    from gateway.app import create_app, load_policy_dir
    from gateway.settings import Settings
    from tests.gateway.conftest import policy_dir

    settings = Settings(policies=policy_dir(tmp_path, BUDGET_POLICY), db=f"sqlite:///{tmp_path / 'k.db'}",
                        admin_key="adm")
    store = KeyStore(settings.db)
    store.create("eng", project="web")
    app = create_app(settings, env={}, policy=load_policy_dir(settings.policies), keys=store)
    holder = app.extensions["open_router"].policies
    assert [w.split(": ", 1)[1] for w in holder.subject_warnings] == [
        'warning W192 budget for team "ghost": no key carries that team (create a key with --team ghost)']
    assert holder.subject_warnings[0].startswith(str(tmp_path / "policies" / "main.policy") + ":")

    async def go() -> None:
        c = app.test_client()
        admin = {"Authorization": "Bearer adm"}
        warnings = (await (await c.get("/admin/policy", headers=admin)).get_json())["warnings"]
        assert [w for w in warnings if "W192" in w] == holder.subject_warnings
        assert (await c.post("/admin/keys", json={"team": "ghost"}, headers=admin)).status_code == 201
        warnings = (await (await c.get("/admin/policy", headers=admin)).get_json())["warnings"]
        assert not [w for w in warnings if "W192" in w]  # the key now exists: settled, without a restart

    asyncio.run(go())


def test_serve_prints_budget_subject_warnings(tmp_path: Path) -> None:
    from tests.gateway.conftest import policy_dir

    db = f"sqlite:///{tmp_path / 'k.db'}"
    assert cli("keys", "create", "--team", "eng", "--db", db).returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN_ROUTER_")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "serve", "--policies",
                             str(policy_dir(tmp_path, BUDGET_POLICY)), "--port", "0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().startswith("Open-Router listening on ")  # type: ignore[union-attr]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    w192 = [line for line in err.splitlines() if "W192" in line]
    assert len(w192) == 2, err  # team "ghost", and project "web" (no key has a project)
    assert any('team "ghost"' in line for line in w192) and any('limit for project "web"' in line for line in w192)
