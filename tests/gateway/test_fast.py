"""gateway/api/fast.py: POST /v1/chat/completions and /v1/embeddings are answered on ASGI, around Quart.

What is specific to answering them there: they skip Quart's hooks (and everything else still reaches
Quart), a client that leaves cancels the upstream call, body limits and timeouts, and a keep-alive
connection that keeps serving after the errors answered before any upstream call. The behaviour the
routes share with the rest of the surface is in test_api.py and tests/e2e.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import h11
import httpx
from .promtext import sample
import pytest
from quart import request

import gateway.api.fast as fast
from gateway.app import create_app, load_policy_dir
from gateway.settings import Settings
from tests.gateway.conftest import DEFAULT_POLICY, GatewayServer, policy_dir
from tests.gateway.fakes import Behaviour, FakeUpstream

CHAT = {"model": "oai", "messages": [{"role": "user", "content": "hello"}]}
LIMIT = 2048  # the servers' max_body_bytes here


def fakes_policy(fake: FakeUpstream) -> str:
    return f"""
provider up kind openai base_url "{fake.base_url}" key env({fake.key_env})

model oai = up/"gpt-4o-mini"             price in 0.15 out 0.60 per 1M  supports tools, json
model emb = up/"text-embedding-3-small"  price 0                        supports embeddings

default
  use requested
"""


def start(tmp: Path) -> tuple[FakeUpstream, GatewayServer]:
    fake = FakeUpstream("openai", key="sk-fake").start()
    server = GatewayServer(policies=policy_dir(tmp, fakes_policy(fake)), db_url=f"sqlite:///{tmp / 'keys.db'}",
                           env=fake.env, settings_overrides={"max_body_bytes": LIMIT})
    return fake, server.start()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeUpstream, GatewayServer]]:
    fake, server = start(tmp_path_factory.mktemp("fast"))
    yield fake, server
    server.stop()
    fake.stop()


@pytest.fixture
def lone(tmp_path: Path) -> Iterator[tuple[FakeUpstream, GatewayServer]]:
    """A fake upstream and a gateway of their own, so the fake's open connections are this test's."""
    fake, server = start(tmp_path)
    yield fake, server
    server.stop()
    fake.stop()


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.02)


def in_flight(server: GatewayServer) -> int:
    return sum(m["in_flight"] for m in server.gw.health.snapshot())


def open_upstream_connections(fake: FakeUpstream) -> int:
    return len(fake._runner.server.connections)  # type: ignore[union-attr]


class Conn:
    """One HTTP/1.1 connection, driven by h11, so a test can see that every request used the same one."""

    def __init__(self, server: GatewayServer) -> None:
        self.sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        self.h11 = h11.Connection(h11.CLIENT)
        self.key = server.key

    def request(self, method: str, path: str, body: bytes = b"", *, key: str | None = "",
                chunks: list[bytes] | None = None, headers: tuple[tuple[str, str], ...] = ()) -> tuple[Any, bytes]:
        """(h11 response, body). ``key=""``: the server's key; None: no key. ``chunks``: a chunked body."""
        h = [("host", "gateway"), ("content-type", "application/json"), *headers]
        if key is not None:
            h.append(("authorization", f"Bearer {key or self.key}"))
        h.append(("transfer-encoding", "chunked") if chunks is not None else ("content-length", str(len(body))))
        self.sock.sendall(self.h11.send(h11.Request(method=method, target=path, headers=h)))
        for part in chunks if chunks is not None else [body] if body else []:
            self.sock.sendall(self.h11.send(h11.Data(data=part)))
        self.sock.sendall(self.h11.send(h11.EndOfMessage()))
        resp, data = self.read()
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
        return resp, data

    def read(self) -> tuple[Any, bytes]:
        resp, data = None, b""
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                self.h11.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                resp = event
            elif isinstance(event, h11.Data):
                data += event.data
            elif isinstance(event, h11.EndOfMessage):
                return resp, data
            elif isinstance(event, h11.ConnectionClosed):
                raise AssertionError("the gateway closed the connection")

    def closed_by_server(self) -> bool:
        self.sock.settimeout(5)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


def header(resp: Any, name: str) -> str | None:
    for k, v in resp.headers:
        if k.decode() == name:
            return v.decode()
    return None


def expect(resp: Any, data: bytes, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, data
    assert header(resp, "x-request-id") and header(resp, "x-open-router-policy")
    body = json.loads(data)
    if code is not None:
        assert body["error"]["code"] == code
    return body


# --------------------------------------------------------------------------- around Quart


def test_hot_routes_skip_quart_hooks_and_the_rest_reach_quart(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "default.policy").write_text(DEFAULT_POLICY.read_text())
    settings = Settings(policies=tmp_path / "p", db=f"sqlite:///{tmp_path / 'k.db'}", admin_key=None)
    app = create_app(settings, env={}, policy=load_policy_dir(settings.policies))
    assert isinstance(app.asgi_app, fast.FastPath)
    _, key = app.extensions["open_router"].keys.create("eng")
    seen: list[str] = []

    @app.before_request
    async def _seen() -> None:
        seen.append(f"{request.method} {request.path}")

    async def go() -> None:
        c = app.test_client()  # drives app.asgi_app, as Hypercorn does
        auth = {"Authorization": f"Bearer {key}"}
        chat = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        r = await c.post("/v1/chat/completions", json=chat, headers={**auth, "x-request-id": "rid-1"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "rid-1"
        assert r.headers["x-open-router-model"] == "gpt-4o-mini"
        r = await c.post("/v1/chat/completions", json={**chat, "stream": True}, headers=auth)
        assert r.status_code == 200 and (await r.get_data()).endswith(b"data: [DONE]\n\n")
        r = await c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}, headers=auth)
        assert r.status_code == 200
        r = await c.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"})
        assert r.status_code == 401 and r.headers["x-request-id"].startswith("req_")
        assert seen == []
        # Other methods on those paths, other paths: Quart, hooks included.
        r = await c.get("/v1/chat/completions", headers=auth)
        assert r.status_code == 405 and "POST" in r.headers["allow"]
        r = await c.options("/v1/embeddings")
        assert r.status_code == 200 and "POST" in r.headers["allow"]
        r = await c.get("/v1/models", headers=auth)
        assert r.status_code == 200
        r = await c.post("/v1/chat/completions/", json=chat, headers=auth)
        assert r.status_code == 404

    asyncio.run(go())
    assert seen == ["GET /v1/chat/completions", "OPTIONS /v1/embeddings", "GET /v1/models",
                    "POST /v1/chat/completions/"]


# --------------------------------------------------------------------------- one connection, many requests


def test_keep_alive_across_errors(served: tuple[FakeUpstream, GatewayServer]) -> None:
    fake, server = served
    c = Conn(server)
    try:
        resp, data = c.request("POST", "/v1/chat/completions", json.dumps(CHAT).encode())
        assert expect(resp, data, 200)["model"] == "oai"
        assert header(resp, "x-open-router-model") == "oai" and header(resp, "x-open-router-attempts") == "1"
        expect(*c.request("POST", "/v1/chat/completions", b"{not json"), 400, "invalid_json")
        # A 401 for a body sent in pieces: the whole body is read first, or the connection would be dropped.
        raw = json.dumps(CHAT).encode()
        resp, data = c.request("POST", "/v1/chat/completions", key=None, headers=(("x-request-id", "rid-401"),),
                               chunks=[raw[i:i + 7] for i in range(0, len(raw), 7)])
        expect(resp, data, 401, "invalid_api_key")
        assert header(resp, "x-request-id") == "rid-401"
        expect(*c.request("POST", "/v1/embeddings", b"{}", key="sk-or-" + "C" * 43), 401, "invalid_api_key")
        resp, data = c.request("POST", "/v1/embeddings", json.dumps({"model": "emb", "input": ["a", "b"]}).encode())
        assert len(expect(resp, data, 200)["data"]) == 2
        resp, data = c.request("POST", "/v1/chat/completions", json.dumps({**CHAT, "stream": True}).encode())
        assert resp.status_code == 200 and header(resp, "content-type") == "text/event-stream"
        assert header(resp, "x-request-id") and data.endswith(b"data: [DONE]\n\n")
        expect(*c.request("POST", "/v1/nothing-here", b"{}"), 404, "unknown_url")  # Quart, on the same connection
        expect(*c.request("POST", "/v1/chat/completions", json.dumps({**CHAT, "n": 0}).encode()), 400)
        resp, data = c.request("POST", "/v1/chat/completions", json.dumps(CHAT).encode())
        expect(resp, data, 200)
    finally:
        c.close()


# --------------------------------------------------------------------------- bodies


def test_chunked_body_over_the_limit_is_413(served: tuple[FakeUpstream, GatewayServer]) -> None:
    fake, server = served
    fake.clear()
    c = Conn(server)
    try:
        c.sock.sendall(c.h11.send(h11.Request(method="POST", target="/v1/chat/completions", headers=[
            ("host", "g"), ("content-type", "application/json"), ("authorization", f"Bearer {server.key}"),
            ("transfer-encoding", "chunked")])))
        try:
            for part in [b"x" * 256] * 12:
                c.sock.sendall(c.h11.send(h11.Data(data=part)))
            c.sock.sendall(c.h11.send(h11.EndOfMessage()))
        except (BrokenPipeError, ConnectionResetError):
            # The gateway answers as soon as the limit is passed and closes, while this client may still
            # be sending the rest: a write can then fail. That is the race the gateway must win; what
            # counts is the answer it sent before closing, read below.
            pass
        resp, data = c.read()
        expect(resp, data, 413, "request_too_large")
        assert header(resp, "connection") == "close"
        assert c.closed_by_server()
    finally:
        c.close()
    assert not fake.requests
    metrics = httpx.get(server.base_url + "/metrics").text
    assert sample(metrics, "open_router_requests_total", route="/v1/chat/completions", model="-", status="413") is not None


def test_content_length_over_the_limit_is_413_before_the_body(served: tuple[FakeUpstream, GatewayServer]) -> None:
    _, server = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nhost: g\r\ncontent-length: 1000000\r\n\r\n")  # no body
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="POST", target="/v1/embeddings",
                              headers=[("host", "g"), ("content-length", "1000000")]))
        while (event := conn.next_event()) is h11.NEED_DATA:
            conn.receive_data(sock.recv(65536))
    assert event.status_code == 413
    assert header(event, "connection") == "close" and header(event, "x-request-id")


def test_a_body_too_slow_is_408(served: tuple[FakeUpstream, GatewayServer], monkeypatch: pytest.MonkeyPatch) -> None:
    _, server = served
    monkeypatch.setattr(fast, "BODY_TIMEOUT", 0.3)
    monkeypatch.setattr(fast, "DRAIN_TIMEOUT", 0.2)
    c = Conn(server)
    try:
        c.sock.sendall(c.h11.send(h11.Request(method="POST", target="/v1/chat/completions", headers=[
            ("host", "g"), ("content-length", "100"), ("x-request-id", "rid-slow"),
            ("authorization", f"Bearer {server.key}")])))  # a good key: the body is read (and too slow)
        c.sock.sendall(c.h11.send(h11.Data(data=b'{"model": ')))  # ... and nothing more
        resp, data = c.read()
        expect(resp, data, 408, "request_timeout")
        assert header(resp, "x-request-id") == "rid-slow"
    finally:
        c.close()


# --------------------------------------------------------------------------- clients that leave


def test_disconnect_mid_stream_closes_the_upstream(lone: tuple[FakeUpstream, GatewayServer]) -> None:
    fake, server = lone
    fake.default = Behaviour(text=" ".join(["word"] * 40), chunk_delay=0.25)  # ~10 s if read to the end
    with httpx.Client(base_url=server.base_url, timeout=30) as client:
        with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                           headers={"Authorization": f"Bearer {server.key}"}) as r:
            chunks = r.iter_bytes()  # held: a dropped iterator would close the response at once
            assert next(chunks).startswith(b"data: ")
            assert in_flight(server) == 1 and open_upstream_connections(fake) == 1
        # leaving the block closes the connection mid-stream
    wait_for(lambda: in_flight(server) == 0, 3, "the stream's attempt ended")
    wait_for(lambda: open_upstream_connections(fake) == 0, 3, "the upstream connection was closed")
    metrics = httpx.get(server.base_url + "/metrics").text
    assert sample(metrics, "open_router_requests_total", route="/v1/chat/completions", model="oai", status="499") == 1


def recorded(server: GatewayServer, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """The decision-log records the server emits from now on (each request's `finish`)."""
    lines: list[dict] = []
    monkeypatch.setattr(server.gw.decisions, "emit", lines.append)
    monkeypatch.setattr(server.gw.decisions, "wants", lambda: True)  # lines are built only when wanted
    return lines


def test_disconnect_while_awaiting_the_upstream_cancels_it(lone: tuple[FakeUpstream, GatewayServer],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake, server = lone
    lines = recorded(server, monkeypatch)
    fake.default = Behaviour(delay=10)
    body = json.dumps(CHAT).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\nauthorization: Bearer %s\r\n"
                     b"content-length: %d\r\n\r\n%s" % (server.key.encode(), len(body), body))
        wait_for(lambda: len(fake.requests) == 1 and in_flight(server) == 1, 5, "the upstream call began")
    wait_for(lambda: in_flight(server) == 0, 3, "the upstream call was cancelled")
    wait_for(lambda: open_upstream_connections(fake) == 0, 3, "the upstream connection was closed")
    wait_for(lambda: bool(lines), 3, "the request was recorded")
    assert [(line["route"], line["status"], line["stream"], line["key"]) for line in lines] \
        == [("/v1/chat/completions", 499, False, server.key_id)]
    metrics = httpx.get(server.base_url + "/metrics").text
    assert sample(metrics, "open_router_requests_total", route="/v1/chat/completions", model="-", status="499") == 1
    fake.default = Behaviour()  # and the gateway serves on
    r = httpx.post(server.base_url + "/v1/embeddings", json={"model": "emb", "input": "x"},
                   headers={"Authorization": f"Bearer {server.key}"}, timeout=30)
    assert r.status_code == 200


def test_disconnect_before_the_first_chunk_or_the_body_is_recorded(lone: tuple[FakeUpstream, GatewayServer],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    fake, server = lone
    lines = recorded(server, monkeypatch)
    fake.default = Behaviour(delay=10)  # the stream's first chunk never comes in time
    body = json.dumps({**CHAT, "stream": True}).encode()
    head = b"POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\nauthorization: Bearer %s\r\ncontent-length: %d\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head % (server.key.encode(), len(body)) + b"x-request-id: rid-stream\r\n\r\n" + body)
        wait_for(lambda: len(fake.requests) == 1 and in_flight(server) == 1, 5, "the upstream call began")
    wait_for(lambda: in_flight(server) == 0, 3, "the upstream call was cancelled")
    reading = threading.Event()
    read_body = server.app.asgi_app._read_body

    async def read_body_seen(*args: Any) -> Any:
        reading.set()
        return await read_body(*args)

    monkeypatch.setattr(server.app.asgi_app, "_read_body", read_body_seen)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head % (server.key.encode(), 100) + b"x-request-id: rid-body\r\n\r\n" + b'{"model": ')
        assert reading.wait(5)  # the gateway is reading the body; the client leaves before it is all in
    wait_for(lambda: len(lines) == 2, 3, "both requests were recorded")
    assert [(line["request_id"], line["status"], line["stream"]) for line in lines] \
        == [("rid-stream", 499, True), ("rid-body", 499, False)]


def test_an_unexpected_exception_is_recorded_as_500(served: tuple[FakeUpstream, GatewayServer],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    _, server = served
    lines = recorded(server, monkeypatch)

    async def bug(decision: Any, body: Any, adapters: Any = None) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(server.gw.executor, "chat", bug)
    monkeypatch.setattr(server.gw.executor, "stream", bug)
    monkeypatch.setattr(server.gw.executor, "embed", bug)
    auth = {"Authorization": f"Bearer {server.key}"}
    with httpx.Client(base_url=server.base_url, timeout=30) as c:
        for rid, path, body in [("rid-chat", "/v1/chat/completions", CHAT),
                                ("rid-sse", "/v1/chat/completions", {**CHAT, "stream": True}),
                                ("rid-emb", "/v1/embeddings", {"model": "emb", "input": "x"})]:
            r = c.post(path, json=body, headers={**auth, "x-request-id": rid})
            assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert [(line["request_id"], line["status"], line["error"], line["rule"]) for line in lines] \
        == [(rid, 500, "RuntimeError", "default") for rid in ("rid-chat", "rid-sse", "rid-emb")]
    assert lines[1]["stream"] is True and lines[0]["key"] == server.key_id
    metrics = httpx.get(server.base_url + "/metrics").text
    assert sample(metrics, "open_router_requests_total", route="/v1/chat/completions", model="-", status="500") == 2
    assert sample(metrics, "open_router_requests_total", route="/v1/embeddings", model="-", status="500") == 1


# --------------------------------------------------------------------------- the key before the body


def test_a_bad_key_is_refused_before_the_body(gateway: GatewayServer) -> None:
    """A request with a wrong key and a large body is answered 401 from its headers, without the gateway
    reading the body (none is ever sent here), and the connection closed."""
    for path in ("/v1/chat/completions", "/v1/embeddings"):
        with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
            sock.sendall(b"POST %s HTTP/1.1\r\nhost: g\r\ncontent-type: application/json\r\n"
                         b"authorization: Bearer sk-or-%s\r\ncontent-length: 5000000\r\n\r\n{\"model\": "
                         % (path.encode(), b"D" * 43))
            raw = b""
            while chunk := sock.recv(65536):  # until the gateway closes the connection
                raw += chunk
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method="POST", target=path, headers=[("host", "g"), ("content-length", "5000000")]))
        conn.receive_data(raw)
        resp, data = conn.next_event(), b""
        while isinstance(event := conn.next_event(), h11.Data):
            data += event.data
        assert isinstance(event, h11.EndOfMessage)
        expect(resp, data, 401, "invalid_api_key")
        assert header(resp, "connection") == "close"


def test_a_bad_key_with_a_large_chunked_body_closes(gateway: GatewayServer) -> None:
    c = Conn(gateway)
    try:
        c.sock.sendall(c.h11.send(h11.Request(method="POST", target="/v1/chat/completions", headers=[
            ("host", "g"), ("authorization", "Bearer nope"), ("transfer-encoding", "chunked")])))
        # Just past what is taken in for a refused request (64 KiB), in one piece, and no end: the client
        # has sent everything before the answer comes, so the gateway's close is a clean one.
        c.sock.sendall(c.h11.send(h11.Data(data=b"x" * (fast.AUTH_DRAIN_BYTES + 1024))))
        resp, data = c.read()
        expect(resp, data, 401, "invalid_api_key")
        assert header(resp, "connection") == "close"
        assert c.closed_by_server()
    finally:
        c.close()


def test_an_authenticated_large_body_keeps_the_connection(gateway: GatewayServer) -> None:
    c = Conn(gateway)
    try:
        big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "y" * 400_000}]}
        for _ in range(2):
            resp, data = c.request("POST", "/v1/chat/completions", json.dumps(big).encode())
            assert expect(resp, data, 200)["model"] == "gpt-4o-mini"
            assert header(resp, "connection") != "close"
        resp, data = c.request("POST", "/v1/embeddings", b"{}", key="sk-or-" + "E" * 43)  # small: drained
        expect(resp, data, 401, "invalid_api_key")
        assert header(resp, "connection") != "close"
        resp, data = c.request("POST", "/v1/chat/completions", json.dumps(big).encode())
        expect(resp, data, 200)
    finally:
        c.close()
