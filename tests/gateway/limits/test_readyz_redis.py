"""GET /readyz checks Redis when the gateway uses it (--redis): a second redis-server on its own port,
killed, takes the gateway out of rotation (503, "redis": "unreachable ..."), and back in when it returns;
with budgets failing open the outage is reported but the gateway stays ready."""
from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import GatewayServer

from .helpers import free_port, policy
from .test_failures import redis_server


def readyz(g: GatewayServer, want: int, redis: str | None = None) -> dict:
    deadline = time.monotonic() + 10
    while True:
        r = httpx.get(g.base_url + "/readyz", timeout=10)
        done = r.status_code == want and (redis is None or r.json().get("redis") == redis)
        if done or time.monotonic() > deadline:
            assert r.status_code == want, r.text
            return r.json()
        time.sleep(0.2)  # past the probe cache (1 s)


@pytest.mark.parametrize("fail_open", [False, True])
def test_readyz_follows_redis(tmp_path: Path, redis_url: str, fail_open: bool) -> None:
    port = free_port()
    proc = redis_server(port)
    url = f"redis://127.0.0.1:{port}/0"
    try:
        server = GatewayServer(policies=policy(tmp_path, 'budget team "eng" 1 USD per day at 100% block'),
                               db_url=f"sqlite:///{tmp_path / 'gw.db'}",
                               settings_overrides={"redis": url, "budget_fail_open": fail_open})
        with server as g:
            assert readyz(g, 200, "ok")["redis"] == "ok"
            proc.kill()
            proc.wait(10)
            if fail_open:  # reported, still ready
                deadline = time.monotonic() + 10
                while True:
                    r = httpx.get(g.base_url + "/readyz", timeout=10)
                    assert r.status_code == 200
                    body = r.json()
                    if body["redis"] != "ok" or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert body["redis"].startswith("unreachable") and "fail open" in body["redis"]
            else:
                body = readyz(g, 503)
                assert body["redis"].startswith("unreachable") and body["database"] == "ok"
            assert str(port) not in str(body)  # the URL is not shown
            proc = redis_server(port)
            assert readyz(g, 200, "ok")["redis"] == "ok"  # back in rotation
    finally:
        proc.kill()
        proc.wait(10)
