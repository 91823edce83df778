"""A real gateway for tests: create_app + Hypercorn on an ephemeral port, in a background thread with its
own event loop, against a temp policy directory and a temp SQLite key database.

    def test_x(gateway):                      # module-scoped: one server per test module
        httpx.get(gateway.base_url + "/healthz")
        gateway.key                           # a live virtual key (team "eng")
        gateway.admin_key

`GatewayServer` is importable (tests/e2e uses it with policies that point at fake upstreams).
"""
from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from gateway.app import create_app, load_policy_dir
from gateway.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = REPO / "policies" / "default.policy"
ADMIN_KEY = "test-admin-key"


@dataclass
class GatewayServer:
    """A running gateway. ``key`` is a live virtual key; ``store`` reaches the same database."""

    policies: Path
    db_url: str
    env: Mapping[str, str] = field(default_factory=dict)
    admin_key: str | None = ADMIN_KEY
    settings_overrides: dict[str, Any] = field(default_factory=dict)
    port: int = 0
    key: str = ""
    key_id: str = ""
    app: Any = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: asyncio.Event | None = None
    _error: BaseException | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gw(self) -> Any:
        return self.app.extensions["open_router"]

    def new_key(self, team: str = "eng", **kw: Any) -> tuple[str, str]:
        """(key id, secret) of a fresh key, created through the server's own store."""
        record, secret = self.gw.keys.create(team, **kw)
        return record.id, secret

    def start(self) -> GatewayServer:
        settings = Settings(policies=self.policies, db=self.db_url, admin_key=self.admin_key, port=0,
                            **self.settings_overrides)
        holder = load_policy_dir(self.policies)
        self.app = create_app(settings, env=dict(self.env), policy=holder)
        self.key_id, self.key = self.new_key("eng", project="proj", app="tests", cost_center="cc-1")
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(512)
        self.port = sock.getsockname()[1]
        # Hypercorn owns the descriptor from here (it closes it at shutdown): detached, so the socket object's
        # garbage collection cannot close the same number again once it is reused (a SQLite file, say).
        fd = sock.detach()
        ready = threading.Event()

        def run() -> None:
            from hypercorn.asyncio import serve
            from hypercorn.config import Config

            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._stop = asyncio.Event()
            config = Config()
            config.bind = [f"fd://{fd}"]
            config.accesslog = None
            config.errorlog = logging.getLogger("hypercorn.error")
            config.graceful_timeout = 2.0

            @self.app.before_serving
            async def _ready() -> None:
                ready.set()

            try:
                loop.run_until_complete(serve(self.app, config, shutdown_trigger=self._stop.wait))
            except BaseException as exc:  # surfaced by start() / stop()
                self._error = exc
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name=f"gateway-{self.port}", daemon=True)
        self._thread.start()
        if not ready.wait(30) or self._error is not None:
            raise RuntimeError(f"gateway did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(15)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def policy_dir(tmp: Path, text: str | None = None) -> Path:
    """A policy directory holding ``text`` (default: the repository's default policy)."""
    d = tmp / "policies"
    d.mkdir(parents=True, exist_ok=True)
    if text is None:
        shutil.copy(DEFAULT_POLICY, d / "default.policy")
    else:
        (d / "main.policy").write_text(text)
    return d


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """The default (mock) policy, a temp SQLite database, an admin key; one server per test module."""
    tmp = tmp_path_factory.mktemp("gateway")
    server = GatewayServer(policies=policy_dir(tmp), db_url=f"sqlite:///{tmp / 'keys.db'}")
    with server:
        yield server
