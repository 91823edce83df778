"""The ledger writer's state for operators: GET /admin/ledger and the open_router_ledger_* metrics after
real traffic, and after the database refused a flush (rows spilled, the error's type and time shown —
never a URL — then replayed when the database is back)."""
from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.gateway.conftest import ADMIN_KEY, GatewayServer
from tests.gateway.promtext import sample

POLICY = 'provider mock kind mock\nmodel m = mock/"mock-small" price in 0.15 out 0.6 per 1M\ndefault\n  use m\n'


def until(fn, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_admin_ledger_and_metrics(tmp_path: Path) -> None:
    from sqlalchemy import create_engine

    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "main.policy").write_text(POLICY)
    server = GatewayServer(policies=tmp_path / "p", db_url=f"sqlite:///{tmp_path / 'gw.db'}",
                           settings_overrides={"ledger_flush_ms": 20})
    admin = {"authorization": f"Bearer {ADMIN_KEY}"}
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with server as g, httpx.Client(base_url=g.base_url, timeout=30) as c:
        user = {"authorization": f"Bearer {g.key}"}
        assert c.get("/admin/ledger").status_code in (401, 403)
        assert c.get("/admin/ledger", headers=user).status_code in (401, 403)
        for _ in range(5):
            assert c.post("/v1/chat/completions", json=body, headers=user).status_code == 200
        st = until(lambda: (r := c.get("/admin/ledger", headers=admin).json())["written"] >= 5 and r)
        assert st["enabled"] and st["queued"] == 0 and st["healthy"] and st["last_flush_error"] is None
        text = c.get("/metrics").text
        assert sample(text, "open_router_ledger_rows_written_total") == st["written"]
        assert sample(text, "open_router_ledger_queue_depth") == 0
        assert sample(text, "open_router_ledger_healthy") == 1

        ledger = g.gw.ledger
        good = ledger.engine
        ledger.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none",
                                      connect_args={"connect_timeout": 1})
        try:
            for _ in range(3):
                assert c.post("/v1/chat/completions", json=body, headers=user).status_code == 200
            st = until(lambda: (r := c.get("/admin/ledger", headers=admin).json())["spilled"] >= 3 and r)
            assert st["spilled"] >= 3 and not st["healthy"] and st["spill_files"] >= 1
            assert st["last_flush_error"]["error"] == "OperationalError"
            assert "127.0.0.1:1" not in c.get("/admin/ledger", headers=admin).text
            text = c.get("/metrics").text
            assert sample(text, "open_router_ledger_rows_spilled_total") == st["spilled"]
            assert sample(text, "open_router_ledger_healthy") == 0
            assert sample(text, "open_router_ledger_last_flush_error_info", error="OperationalError") == 1
            assert sample(text, "open_router_ledger_failed_flushes_total") >= 1
            assert "127.0.0.1:1" not in text
        finally:
            ledger.engine = good
        assert c.post("/v1/chat/completions", json=body, headers=user).status_code == 200
        st = until(lambda: (r := c.get("/admin/ledger", headers=admin).json())["replayed"] >= 3 and r)
        assert st["replayed"] >= 3 and st["healthy"]
