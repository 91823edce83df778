"""The HTTP surface over raw HTTP (httpx) against a real server: every error path is OpenAI-shaped and
matches the ErrorResponse contract, the Open-Router headers are on every response, and the server keeps
serving after each failure."""
from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
from .promtext import sample
import pytest
from quart import Quart

from dsl.decision import Target
from gateway.app import create_app, load_policy_dir
from gateway.errors import UpstreamConnect
from gateway.router import Attempt, StreamOutcome
from gateway.settings import Settings
from tests.gateway.conftest import DEFAULT_POLICY, GatewayServer
from tests.gateway.fakes import contract_validator, validate_chat, validate_chunk, validate_embeddings

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}


def validate_error(body: Any) -> None:
    contract_validator("ErrorResponse").validate(body)
    assert set(body["error"]) == {"message", "type", "param", "code"}


@pytest.fixture(scope="module")
def client(gateway: GatewayServer) -> Any:
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def still_serving(client: httpx.Client, key: str) -> None:
    r = client.post("/v1/chat/completions", json=CHAT, headers=auth(key))
    assert r.status_code == 200, r.text
    validate_chat(r.json())


def expect_error(r: httpx.Response, status: int, *, param: str | None = None, code: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    validate_error(body)
    assert r.headers.get("x-request-id")
    assert r.headers.get("x-open-router-policy")
    if param is not None:
        assert body["error"]["param"] == param
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


# --------------------------------------------------------------------------- happy paths and headers


def test_healthz_needs_no_key(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    assert r.headers["x-request-id"] and r.headers["x-open-router-policy"]


def test_chat_served_headers_and_contract(client: httpx.Client, gateway: GatewayServer) -> None:
    r = client.post("/v1/chat/completions", json=CHAT, headers=auth(gateway.key))
    assert r.status_code == 200
    validate_chat(r.json())
    assert r.headers["x-open-router-model"] == "gpt-4o-mini"
    assert r.headers["x-open-router-rule"] == "default"
    assert r.headers["x-open-router-attempts"] == "1"
    assert r.headers["x-open-router-policy"] == gateway.gw.policies.version
    assert re.fullmatch(r"req_[0-9a-f]{24}", r.headers["x-request-id"])


def test_request_id_is_honoured_when_sane(client: httpx.Client, gateway: GatewayServer) -> None:
    r = client.post("/v1/chat/completions", json=CHAT, headers={**auth(gateway.key), "x-request-id": "abc-123.X"})
    assert r.headers["x-request-id"] == "abc-123.X"
    r = client.post("/v1/chat/completions", json=CHAT, headers={**auth(gateway.key), "x-request-id": "bad id\t<>"})
    assert r.headers["x-request-id"].startswith("req_")
    r = client.get("/healthz", headers={"x-request-id": "x" * 500})
    assert r.headers["x-request-id"].startswith("req_")


def test_azure_style_api_key_header(client: httpx.Client, gateway: GatewayServer) -> None:
    r = client.post("/v1/chat/completions", json=CHAT, headers={"api-key": gateway.key})
    assert r.status_code == 200


def test_streaming_sse(client: httpx.Client, gateway: GatewayServer) -> None:
    body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    with client.stream("POST", "/v1/chat/completions", json=body, headers=auth(gateway.key)) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["x-open-router-model"] == "gpt-4o-mini"
        raw = r.read().decode()
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[6:]) for e in events[:-1]]
    for c in chunks:
        validate_chunk(c)
    assert chunks[-1]["usage"]["total_tokens"] > 0
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text.startswith("Mock reply to: hello")


def test_embeddings_and_models(client: httpx.Client, gateway: GatewayServer) -> None:
    r = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": ["a", "b"]},
                    headers=auth(gateway.key))
    assert r.status_code == 200, r.text
    validate_embeddings(r.json())
    assert len(r.json()["data"]) == 2
    r = client.get("/v1/models", headers=auth(gateway.key))
    contract_validator("ListModelsResponse").validate(r.json())
    ids = {m["id"] for m in r.json()["data"]}
    assert ids == set(gateway.gw.policies.policy.models)
    assert all(m["owned_by"] == "mock" for m in r.json()["data"])
    r = client.get("/v1/models/gpt-4o", headers=auth(gateway.key))
    assert r.status_code == 200 and r.json()["id"] == "gpt-4o"
    contract_validator("Model").validate(r.json())


# --------------------------------------------------------------------------- error paths


def test_auth_errors(client: httpx.Client, gateway: GatewayServer) -> None:
    err = expect_error(client.post("/v1/chat/completions", json=CHAT), 401, code="invalid_api_key")
    assert "Bearer" in err["message"]
    wrong = "sk-or-" + "A" * 43
    err = expect_error(client.post("/v1/chat/completions", json=CHAT, headers=auth(wrong)), 401)
    assert wrong not in err["message"] and "AAAA" not in err["message"]
    expect_error(client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": "Basic abc"}), 401)
    expect_error(client.get("/v1/models"), 401)
    still_serving(client, gateway.key)


@pytest.mark.parametrize(
    "content, status, code",
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2, 3]", 400, "invalid_json"),
        (b'"a string"', 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b'{"model": "x", "messages": [{"role": "user", "content": "\xff\xfe"}]}', 400, "invalid_encoding"),
        (b'{"model": "x", "temperature": NaN, "messages": []}', 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json"),
    ],
)
def test_malformed_bodies(client: httpx.Client, gateway: GatewayServer, content: bytes, status: int,
                          code: str) -> None:
    r = client.post("/v1/chat/completions", content=content,
                    headers={**auth(gateway.key), "content-type": "application/json"})
    expect_error(r, status, code=code)
    still_serving(client, gateway.key)


@pytest.mark.parametrize(
    "patch, param",
    [
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
        ({"temperature": 9}, "temperature"),
        ({"messages": []}, "messages"),
        ({"n": 0}, "n"),
        ({"model": None}, "model"),
    ],
)
def test_validation_errors_name_the_param(client: httpx.Client, gateway: GatewayServer, patch: dict,
                                          param: str) -> None:
    body = {k: v for k, v in {**CHAT, **patch}.items() if v is not None}
    expect_error(client.post("/v1/chat/completions", json=body, headers=auth(gateway.key)), 400, param=param)
    r = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": []},
                    headers=auth(gateway.key))
    expect_error(r, 400, param="input")


def test_body_too_large_by_content_length(client: httpx.Client, gateway: GatewayServer) -> None:
    limit = gateway.gw.settings.max_body_bytes
    big = b'{"model": "x", "pad": "' + b"a" * limit + b'"}'
    try:
        r = client.post("/v1/chat/completions", content=big,
                        headers={**auth(gateway.key), "content-type": "application/json"})
    except httpx.HTTPError:
        pytest.fail("the gateway should answer 413, not drop the connection")
    expect_error(r, 413, code="request_too_large")
    still_serving(client, gateway.key)


def test_body_too_large_chunked(client: httpx.Client, gateway: GatewayServer) -> None:
    limit = gateway.gw.settings.max_body_bytes

    def body() -> Any:
        yield b'{"model": "x", "pad": "'
        sent = 0
        while sent <= limit:
            yield b"a" * 65536
            sent += 65536
        yield b'"}'

    try:
        r = client.post("/v1/chat/completions", content=body(),
                        headers={**auth(gateway.key), "content-type": "application/json"})
    except httpx.HTTPError:
        r = None  # the server may close while the client is still sending: acceptable for chunked uploads
    if r is not None:
        assert "content-length" not in r.request.headers
        expect_error(r, 413, code="request_too_large")
    still_serving(client, gateway.key)


def test_unknown_route_and_wrong_method(client: httpx.Client, gateway: GatewayServer) -> None:
    expect_error(client.get("/v1/nothing-here"), 404)
    expect_error(client.post("/v2/chat/completions", json=CHAT), 404)
    r = client.get("/v1/chat/completions", headers=auth(gateway.key))
    expect_error(r, 405, code="method_not_allowed")
    assert "POST" in r.headers["allow"]
    expect_error(client.delete("/v1/models", headers=auth(gateway.key)), 405)
    still_serving(client, gateway.key)


def test_unknown_model_is_404(client: httpx.Client, gateway: GatewayServer) -> None:
    r = client.get("/v1/models/gpt-17", headers=auth(gateway.key))
    expect_error(r, 404, param="model", code="model_not_found")


def test_unexpected_exception_is_an_opaque_500(client: httpx.Client, gateway: GatewayServer,
                                               monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    async def boom(decision: Any, body: Any, adapters: Any = None) -> Any:
        raise RuntimeError("secret internals /etc/passwd")

    monkeypatch.setattr(gateway.gw.executor, "chat", boom)
    with caplog.at_level("ERROR", logger="open_router.app"):
        r = client.post("/v1/chat/completions", json=CHAT, headers={**auth(gateway.key), "x-request-id": "rid-500"})
    err = expect_error(r, 500, code="internal_error")
    assert "secret" not in err["message"] and "Traceback" not in r.text and "rid-500" in err["message"]
    assert any("rid-500" in rec.getMessage() and rec.exc_info for rec in caplog.records)
    monkeypatch.undo()
    still_serving(client, gateway.key)


# --------------------------------------------------------------------------- streams that break


class _Rest:
    """A fake StreamRest: yields ``chunks`` (after ``delay`` each), then raises ``error`` if given."""

    def __init__(self, chunks: list[dict], error: Exception | None = None, delay: float = 0.0) -> None:
        self.chunks, self.error, self.delay = list(chunks), error, delay
        self.closed = threading.Event()

    def __aiter__(self) -> _Rest:
        return self

    async def __anext__(self) -> dict:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.chunks:
            return self.chunks.pop(0)
        if self.error is not None:
            raise self.error
        raise StopAsyncIteration

    async def aclose(self) -> None:
        self.closed.set()


def _chunk(text: str) -> dict:
    return {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None, "logprobs": None}]}


def _fake_stream(monkeypatch: pytest.MonkeyPatch, gateway: GatewayServer, rest: _Rest) -> None:
    target = Target("gpt-4o-mini", "mock", "mock-small")

    async def stream(decision: Any, body: Any, adapters: Any = None) -> StreamOutcome:
        return StreamOutcome(target, (Attempt(target, "ok", None, 1.0),), _chunk("first"), rest)  # type: ignore[arg-type]

    monkeypatch.setattr(gateway.gw.executor, "stream", stream)


def test_mid_stream_error_is_an_error_event_without_done(client: httpx.Client, gateway: GatewayServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    rest = _Rest([_chunk("second")], UpstreamConnect("provider 'mock': the connection was reset",
                                                     code="stream_interrupted"))
    _fake_stream(monkeypatch, gateway, rest)
    with client.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                       headers=auth(gateway.key)) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    events = [json.loads(e[6:]) for e in raw.split("\n\n") if e]
    assert "[DONE]" not in raw
    assert [e["choices"][0]["delta"]["content"] for e in events[:2]] == ["first", "second"]
    validate_error(events[-1])
    assert events[-1]["error"]["code"] == "stream_interrupted"
    assert rest.closed.is_set()
    monkeypatch.undo()
    still_serving(client, gateway.key)


def test_client_disconnect_closes_the_upstream_stream(gateway: GatewayServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rest = _Rest([_chunk(str(i)) for i in range(1000)], delay=0.05)
    _fake_stream(monkeypatch, gateway, rest)
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        with c.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True},
                      headers=auth(gateway.key)) as r:
            it = r.iter_bytes()
            assert next(it).startswith(b"data: ")
        # leaving the block closes the connection mid-stream
    assert rest.closed.wait(10), "the upstream stream was not closed after the client left"
    assert rest.chunks, "the gateway kept reading the upstream after the client left"
    monkeypatch.undo()


# --------------------------------------------------------------------------- admin and metrics


def test_admin_keys_lifecycle_and_immediate_revoke(client: httpx.Client, gateway: GatewayServer) -> None:
    admin = auth(gateway.admin_key)
    expect_error(client.get("/admin/keys"), 401)
    expect_error(client.get("/admin/keys", headers=auth("nope")), 401)
    r = client.post("/admin/keys", json={"team": "ops", "project": "p1"}, headers=admin)
    assert r.status_code == 201, r.text
    created = r.json()
    secret, key_id = created["key"], created["id"]
    assert secret.startswith("sk-or-") and created["prefix"] == secret[:10]
    expect_error(client.post("/admin/keys", json={"project": "p"}, headers=admin), 400, param="team")
    expect_error(client.post("/admin/keys", json={"team": 5}, headers=admin), 400, param="team")

    listed = client.get("/admin/keys", headers=admin).json()["data"]
    assert key_id in {k["id"] for k in listed}
    assert secret not in json.dumps(listed)

    still_serving(client, secret)  # cached as valid now
    r = client.delete(f"/admin/keys/{key_id}", headers=admin)
    assert r.status_code == 200 and r.json()["revoked"] is True
    expect_error(client.post("/v1/chat/completions", json=CHAT, headers=auth(secret)), 401)
    expect_error(client.delete("/admin/keys/key_nope", headers=admin), 404)


def test_admin_policy_and_status(client: httpx.Client, gateway: GatewayServer) -> None:
    admin = auth(gateway.admin_key)
    still_serving(client, gateway.key)
    p = client.get("/admin/policy", headers=admin).json()
    assert p["version"] == gateway.gw.policies.version
    assert p["last_reload_error"] is None and p["files"][0].endswith("default.policy")
    assert p["reload"]["last_error"] is None and p["reload"]["files"][0]["name"] == "default.policy"
    assert len(p["reload"]["files"][0]["sha256"]) == 64 and isinstance(p["worker_pid"], int)
    s = client.get("/admin/models/status", headers=admin).json()
    assert s["object"] == "list" and any(m for m in s["data"])


def test_admin_usage_needs_the_admin_key(client: httpx.Client, gateway: GatewayServer) -> None:
    expect_error(client.get("/admin/usage"), 401)
    expect_error(client.get("/admin/usage", headers=auth(gateway.key)), 401)
    r = client.get("/admin/usage?by=team", headers=auth(gateway.admin_key))
    assert r.status_code == 200 and r.json()["object"] == "usage.report" and r.json()["by"] == ["team"]
    still_serving(client, gateway.key)


def test_admin_disabled_without_admin_key(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "default.policy").write_text(DEFAULT_POLICY.read_text())
    settings = Settings(policies=tmp_path / "p", db=f"sqlite:///{tmp_path / 'k.db'}", admin_key=None)
    app: Quart = create_app(settings, env={}, policy=load_policy_dir(settings.policies))

    async def go() -> None:
        c = app.test_client()
        r = await c.get("/admin/keys", headers=auth("anything"))
        assert r.status_code == 403
        body = await r.get_json()
        validate_error(body)
        assert "disabled" in body["error"]["message"]

    asyncio.run(go())


def test_metrics_never_carry_keys(client: httpx.Client, gateway: GatewayServer) -> None:
    still_serving(client, gateway.key)
    client.post("/v1/chat/completions", json=CHAT, headers=auth("sk-or-" + "B" * 43))
    text = client.get("/metrics").text
    assert sample(text, "open_router_requests_total", route="/v1/chat/completions", model="gpt-4o-mini", status="200") is not None
    assert "open_router_gateway_overhead_seconds_bucket" in text
    assert "open_router_upstream_attempts_total" in text
    assert gateway.key not in text and gateway.key_id not in text and "BBBB" not in text


def test_decision_log_line(gateway: GatewayServer, client: httpx.Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("INFO", logger="open_router.decisions"):
        client.post("/v1/chat/completions", json=CHAT, headers={**auth(gateway.key), "x-request-id": "rid-log"})
        client.get("/healthz")  # the line is written on a later loop turn
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "open_router.decisions"]
    line = next(entry for entry in lines if entry["request_id"] == "rid-log")
    assert line["rule"] == "default" and line["model"] == "gpt-4o-mini" and line["status"] == 200
    assert line["key"] == gateway.key_id and line["policy_version"] == gateway.gw.policies.version
    assert gateway.key not in json.dumps(lines)


# --------------------------------------------------------------------------- the CLI server


def test_open_router_serve_subprocess(tmp_path: Path) -> None:
    """`open-router serve --port 0` prints its banner once serving, answers, and stops on SIGTERM."""
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "default.policy").write_text(DEFAULT_POLICY.read_text())
    db = f"sqlite:///{tmp_path / 'k.db'}"
    exe = [sys.executable, "-m", "gateway.cli"]
    key = subprocess.run([*exe, "keys", "create", "--team", "t", "--db", db], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()[-1]
    env = {**os.environ, "OPEN_ROUTER_DECISION_LOG": "false"}
    proc = subprocess.Popen([*exe, "serve", "--policies", str(tmp_path / "p"), "--port", "0", "--db", db],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        banner = proc.stdout.readline()  # type: ignore[union-attr]
        m = re.match(r"Open-Router listening on (http://127\.0\.0\.1:\d+) \(policy [0-9a-f]{12}, 3 routes\)", banner)
        assert m, banner + proc.stderr.read()  # type: ignore[union-attr]
        r = httpx.post(m.group(1) + "/v1/chat/completions", json=CHAT, headers=auth(key), timeout=30)
        assert r.status_code == 200
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_serve_bad_settings_and_bad_policy_exit_2(tmp_path: Path) -> None:
    exe = [sys.executable, "-m", "gateway.cli"]
    r = subprocess.run([*exe, "serve", "--port", "notaport"], capture_output=True, text=True)
    assert r.returncode == 2 and "--port" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    (tmp_path / "bad.policy").write_text("route x\n  when model ==\n")
    r = subprocess.run([*exe, "serve", "--policies", str(tmp_path), "--port", "0"], capture_output=True, text=True)
    assert r.returncode == 2 and "bad.policy:" in r.stderr


# --------------------------------------------------------------------------- models a caller may use


TEAM_POLICY = """
provider mock  kind mock

model small   = mock/"mock-small"  price 0
model secret  = mock/"mock-large"  price 0

route ml-only
  when team == "ml"
  use secret
  fallback small

default
  use small
"""


def test_models_lists_only_what_the_callers_policy_serves(tmp_path: Path) -> None:
    from tests.gateway.conftest import policy_dir

    settings = Settings(policies=policy_dir(tmp_path, TEAM_POLICY), db=f"sqlite:///{tmp_path / 'k.db'}")
    app = create_app(settings, env={}, policy=load_policy_dir(settings.policies))
    store = app.extensions["open_router"].keys
    _, eng = store.create("eng")
    _, ml = store.create("ml", project="p")

    async def go() -> None:
        c = app.test_client()
        r = await c.get("/v1/models", headers=auth(eng))
        body = await r.get_json()
        contract_validator("ListModelsResponse").validate(body)
        assert [m["id"] for m in body["data"]] == ["small"]
        r = await c.get("/v1/models", headers=auth(ml))
        assert [m["id"] for m in (await r.get_json())["data"]] == ["small", "secret"]
        r = await c.get("/v1/models/secret", headers=auth(ml))
        assert r.status_code == 200 and (await r.get_json())["id"] == "secret"
        r = await c.get("/v1/models/secret", headers=auth(eng))
        assert r.status_code == 404
        err = (await r.get_json())["error"]
        assert err["code"] == "model_not_found" and err["param"] == "model"
        r = await c.get("/v1/models/small", headers=auth(eng))
        assert r.status_code == 200

    asyncio.run(go())
