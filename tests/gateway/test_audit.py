"""The audit trail (gateway/audit.py): admin actions and policy activations land in it, filters work,
no secret is in it, and `open-router audit verify` finds an altered, deleted or forked row — on SQLite and
PostgreSQL."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.audit import AuditLog
from gateway.db import make_engine, upgrade

from .conftest import GatewayServer, policy_dir

EXE = [sys.executable, "-m", "gateway.cli"]


def verify(db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*EXE, "audit", "verify", "--db", db], capture_output=True, text=True)


def test_admin_actions_and_policy_activations_are_audited(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'k.db'}"
    d = policy_dir(tmp_path)
    with GatewayServer(policies=d, db_url=db, settings_overrides={"watch": False}) as srv:
        admin = {"authorization": f"Bearer {srv.admin_key}"}
        c = httpx.Client(base_url=srv.base_url, headers=admin)
        made = c.post("/admin/keys", json={"team": "audit-team", "project": "p1"}).json()
        assert c.delete(f"/admin/keys/{made['id']}").status_code == 200
        (d / "default.policy").write_text((d / "default.policy").read_text() + "\nroute broken\n  when model ==\n")
        assert c.post("/admin/policy/reload").status_code == 422
        (d / "default.policy").write_text((d / "default.policy").read_text().replace("route broken\n  when model ==\n", "# fixed\n"))
        assert c.post("/admin/policy/reload").status_code == 200
        time.sleep(0.3)  # the reload listener's appends run in a worker thread
        rows = c.get("/admin/audit").json()["data"]
        actions = [r["action"] for r in rows][::-1]
        assert actions[0] == "policy.activated" and rows[-1]["actor"] == "reload:start"
        for a in ("key.create", "key.revoke", "policy.rejected", "policy.reload"):
            assert a in actions
        assert actions.count("policy.activated") == 2
        create = next(r for r in rows if r["action"] == "key.create")
        assert create["subject"] == made["id"] and create["details"] == {"team": "audit-team", "project": "p1"}
        assert create["actor"].startswith("admin:") and srv.admin_key not in json.dumps(rows)
        assert made["key"] not in json.dumps(rows)
        rejected = next(r for r in rows if r["action"] == "policy.rejected")
        assert "default.policy:" in rejected["details"]["diagnostics"][0]  # file:line:col: error ...
        assert rejected["details"]["files"][0]["sha256"]
        only = c.get("/admin/audit", params={"action": "policy.*"}).json()["data"]
        assert {r["action"] for r in only} <= {"policy.activated", "policy.rejected", "policy.reload"} and only
        assert [r["action"] for r in c.get("/admin/audit", params={"subject": made["id"]}).json()["data"]] == \
            ["key.revoke", "key.create"]
        assert len(c.get("/admin/audit", params={"limit": 2}).json()["data"]) == 2
        assert httpx.get(srv.base_url + "/admin/audit").status_code in (401, 403)
        for method in ("post", "delete", "put"):
            assert getattr(c, method)("/admin/audit").status_code == 405  # nothing alters it
    r = verify(db)
    assert r.returncode == 0 and "intact" in r.stdout
    # The CLI's key changes are audited too, by OS user.
    out = subprocess.run([*EXE, "keys", "create", "--team", "cli-team", "--db", db], capture_output=True, text=True,
                         check=True)
    assert out.returncode == 0
    rows = AuditLog(make_engine(db)).query(action="key.create")
    assert rows[0]["actor"].startswith("cli:") and rows[0]["details"] == {"team": "cli-team"}


def _chain(url: str) -> sa.Engine:
    engine = make_engine(url)
    upgrade(engine)
    log = AuditLog(engine)
    for i in range(5):
        log.append("admin:test", "key.create", f"key_{i}", {"team": f"t{i}"})
    return engine


def test_verify_finds_an_altered_row_and_a_deleted_row(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = _chain(url)
    assert verify(url).returncode == 0
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET details = '{\"team\":\"other\"}' WHERE id = 3"))
    r = verify(url)
    assert r.returncode == 1 and "row 3" in r.stdout and "altered" in r.stdout

    url2 = f"sqlite:///{tmp_path / 'b.db'}"
    engine2 = _chain(url2)
    with engine2.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_log WHERE id = 2"))
    r = verify(url2)
    assert r.returncode == 1 and "row 2 is missing" in r.stdout


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_writers_never_fork_the_chain(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    upgrade(engine)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        log = AuditLog(make_engine(url))
        try:
            for i in range(10):
                log.append(f"admin:w{n}", "key.create", f"key_{n}_{i}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    ok, n, bad, why = AuditLog(engine).verify()
    assert ok and n == 40, (bad, why)
