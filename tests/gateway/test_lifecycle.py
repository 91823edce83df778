"""Shutdown and readiness (gateway/lifecycle.py, gateway/server_cli.py) on a real `open-router serve`:
SIGTERM stops accepting and lets a stream finish; the drain deadline or a second SIGTERM cuts a stream with
an error event; exit 0 either way. SIGHUP reloads. /readyz is 503 while draining or with the database
down, while /healthz stays 200. A provider whose key is unset warns, and is fatal with --strict."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from .conftest import GatewayServer

EXE = [sys.executable, "-m", "gateway.cli"]


def slow_policy(latency_ms: int, default: str = "small") -> str:
    return (f'provider mock kind mock base_url "mock://?ttfb_ms=5&latency_ms={latency_ms}"\n'
            'model small = mock/"mock-small" price 0\nmodel large = mock/"mock-large" price 0\n'
            f"default\n  use {default}\n")


class Serve:
    def __init__(self, tmp: Path, text: str, *flags: str, env: dict[str, str] | None = None) -> None:
        self.dir = tmp / "p"
        self.dir.mkdir(exist_ok=True)
        (self.dir / "main.policy").write_text(text)
        self.db = f"sqlite:///{tmp / 'k.db'}"
        self.key = subprocess.run([*EXE, "keys", "create", "--team", "t", "--db", self.db], capture_output=True,
                                  text=True, check=True).stdout.strip().splitlines()[-1]
        self.err_path = tmp / "stderr.txt"
        self.proc = subprocess.Popen(
            [*EXE, "serve", "--policies", str(self.dir), "--port", "0", "--db", self.db, *flags],
            stdout=subprocess.PIPE, stderr=open(self.err_path, "w"), text=True,
            env={**os.environ, "OPEN_ROUTER_ADMIN_KEY": "adm", **(env or {})})
        banner = self.proc.stdout.readline()  # type: ignore[union-attr]
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+)", banner)
        assert m, banner + self.stderr
        self.url = m.group(1)

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def stream(self, out: list[str]) -> threading.Thread:
        """A streamed request in a thread; its SSE data lines land in ``out``."""
        def run() -> None:
            with httpx.stream("POST", self.url + "/v1/chat/completions", timeout=60,
                              headers={"authorization": f"Bearer {self.key}"},
                              json={"model": "x", "stream": True,
                                    "messages": [{"role": "user", "content": "tell me a long story " * 5}]}) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        out.append(line[6:])
        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def wait_chunks(out: list[str], n: int = 2) -> None:
    end = time.monotonic() + 20
    while len(out) < n:
        assert time.monotonic() < end, "the stream did not start"
        time.sleep(0.02)


def test_sigterm_lets_a_stream_finish_refuses_new_connections_and_exits_0(tmp_path: Path) -> None:
    s = Serve(tmp_path, slow_policy(1500), "--no-watch")
    try:
        # SIGHUP reloads (it used to kill the server), also with --no-watch.
        v0 = httpx.get(s.url + "/admin/policy", headers={"authorization": "Bearer adm"}).json()["version"]
        (s.dir / "main.policy").write_text(slow_policy(1500, "large"))
        s.proc.send_signal(signal.SIGHUP)
        end = time.monotonic() + 10
        while httpx.get(s.url + "/admin/policy", headers={"authorization": "Bearer adm"}).json()["version"] == v0:
            assert time.monotonic() < end and s.proc.poll() is None
            time.sleep(0.05)

        out: list[str] = []
        t = s.stream(out)
        wait_chunks(out)
        s.proc.send_signal(signal.SIGTERM)
        end = time.monotonic() + 10
        while True:  # the listener closes: new connections are refused while the stream goes on
            try:
                httpx.get(s.url + "/healthz", timeout=1)
            except httpx.TransportError:
                break
            assert time.monotonic() < end
            time.sleep(0.02)
        t.join(30)
        assert out[-1] == "[DONE]" and all("error" not in json.loads(x) for x in out[:-1])
        assert s.proc.wait(30) == 0
        assert "SIGTERM: draining" in s.stderr and "drained; stopped" in s.stderr
    finally:
        s.close()


@pytest.mark.parametrize("how", ["deadline", "second_sigterm"])
def test_a_stream_past_the_drain_is_cut_with_an_error_event(tmp_path: Path, how: str) -> None:
    timeout = "0.5" if how == "deadline" else "60"
    s = Serve(tmp_path, slow_policy(20000), "--no-watch", "--drain-timeout", timeout)
    try:
        out: list[str] = []
        t = s.stream(out)
        wait_chunks(out)
        t0 = time.monotonic()
        s.proc.send_signal(signal.SIGTERM)
        if how == "second_sigterm":
            time.sleep(0.3)
            assert s.proc.poll() is None and t.is_alive()  # the first one waits
            s.proc.send_signal(signal.SIGTERM)
        t.join(30)
        last = json.loads(out[-1])
        assert last["error"]["code"] == "server_shutting_down" and last["error"]["type"] == "server_error"
        assert s.proc.wait(30) == 0
        assert time.monotonic() - t0 < 15  # cut long before the 20 s stream would have ended
        assert "cutting the streams" in s.stderr
    finally:
        s.close()


def test_a_provider_key_unset_warns_and_strict_refuses(tmp_path: Path) -> None:
    text = ('provider up kind openai base_url "http://127.0.0.1:9/v1" key env(OPEN_ROUTER_TEST_UNSET_KEY)\n'
            'model m = up/"m" price 0\ndefault\n  use m\n')
    env = {k: v for k, v in os.environ.items() if k != "OPEN_ROUTER_TEST_UNSET_KEY"}
    (tmp_path / "strict").mkdir()
    (tmp_path / "strict" / "main.policy").write_text(text)
    r = subprocess.run([*EXE, "serve", "--policies", str(tmp_path / "strict"), "--port", "0", "--strict",
                        "--db", f"sqlite:///{tmp_path / 'k2.db'}"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "OPEN_ROUTER_TEST_UNSET_KEY is unset" in r.stderr and "--strict" in r.stderr

    s = Serve(tmp_path, text, "--no-watch")
    try:
        assert "warning: provider up: environment variable OPEN_ROUTER_TEST_UNSET_KEY is unset" in s.stderr
        p = httpx.get(s.url + "/admin/policy", headers={"authorization": "Bearer adm"}).json()
        assert any("OPEN_ROUTER_TEST_UNSET_KEY" in w for w in p["warnings"])
        banner = s.stderr
        assert "providers: up (openai, 127.0.0.1:9)" in banner and "models: m" in banner
        assert f"database: {s.db}" in banner and "workers: 1" in banner
    finally:
        s.close()


def test_banner_masks_the_database_password() -> None:
    from gateway.policy import load_policy_dir
    from gateway.server_cli import startup_banner
    from gateway.settings import Settings

    from .conftest import DEFAULT_POLICY

    settings = Settings(db="postgresql://gw:s3cret-pw@db.internal:5432/router")
    lines = startup_banner(settings, load_policy_dir(DEFAULT_POLICY), 8080)
    text = "\n".join(lines)
    assert "s3cret-pw" not in text and "postgresql://gw:***@db.internal:5432/router" in text


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[GatewayServer]:
    from .conftest import policy_dir

    with GatewayServer(policies=policy_dir(tmp_path), db_url=f"sqlite:///{tmp_path / 'k.db'}") as srv:
        yield srv


def on_loop(server: GatewayServer, fn: Any) -> None:
    assert server._loop is not None
    done = threading.Event()

    def run() -> None:
        fn()
        done.set()

    server._loop.call_soon_threadsafe(run)
    assert done.wait(5)


def test_readyz_is_503_while_draining_and_with_the_database_down(server: GatewayServer) -> None:
    from sqlalchemy import create_engine

    r = httpx.get(server.base_url + "/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok" and r.json()["state"] == "ready"
    keys = server.gw.keys
    good = keys.engine
    keys.engine = create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 1})
    server.gw.lifecycle._probe = None  # no cached answer
    try:
        r = httpx.get(server.base_url + "/readyz")
        assert r.status_code == 503 and r.json()["database"].startswith("unreachable")
        assert "127.0.0.1:1" not in r.text
        assert httpx.get(server.base_url + "/healthz").status_code == 200  # liveness only
    finally:
        keys.engine = good
        server.gw.lifecycle._probe = None
    assert httpx.get(server.base_url + "/readyz").status_code == 200
    on_loop(server, server.gw.lifecycle.begin_drain)
    r = httpx.get(server.base_url + "/readyz")
    assert r.status_code == 503 and r.json()["state"] == "draining"
    assert httpx.get(server.base_url + "/healthz").status_code == 200


def test_readyz_is_503_while_starting() -> None:
    from gateway.lifecycle import Lifecycle

    life = Lifecycle()
    ok, checks = asyncio.run(life.readiness(None))
    assert not ok and checks["state"] == "starting"
    life.ready()
    assert asyncio.run(life.readiness(None))[0]
