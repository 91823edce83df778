"""The WebSocket protocol of /v1/chat/completions/ws (see gateway/api/ws.py), with an aiohttp client:
header auth and first-frame auth, chunks then done, error frames that keep the connection open,
several requests per connection, and a mid-stream break."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import Behaviour, contract_validator, validate_chunk

from .conftest import Fakes

REQ = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello over ws"}]}


async def read_reply(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[dict], dict]:
    """The chunk frames of one request, then its closing frame (done or error)."""
    chunks: list[dict] = []
    while True:
        msg = await asyncio.wait_for(ws.receive(), 30)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        frame = json.loads(msg.data)
        if frame.get("type") in ("done", "error"):
            return chunks, frame
        validate_chunk(frame)
        chunks.append(frame)


def url(gw: GatewayServer) -> str:
    return gw.base_url.replace("http://", "ws://") + "/v1/chat/completions/ws"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_header_auth_several_requests_and_errors(mock_gateway: GatewayServer) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url(mock_gateway), headers={"Authorization": f"Bearer {mock_gateway.key}"}) as ws:
                await ws.send_json(REQ)
                chunks, done = await read_reply(ws)
                assert done["type"] == "done" and done["model"] == "gpt-4o-mini" and done["attempts"] == 1
                text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
                assert text == "Mock reply to: hello over ws"

                await ws.send_json({**REQ, "stream_options": {"include_usage": True}, "stream": True})
                chunks, done = await read_reply(ws)
                assert chunks[-1]["usage"]["total_tokens"] > 0 and done["type"] == "done"

                await ws.send_json({**REQ, "temperature": 7})  # a bad body: an error frame, the socket stays
                chunks, err = await read_reply(ws)
                assert not chunks and err["type"] == "error" and err["error"]["param"] == "temperature"
                contract_validator("ErrorResponse").validate({"error": err["error"]})

                await ws.send_str("{not json")
                _, err = await read_reply(ws)
                assert err["error"]["code"] == "invalid_json"

                await ws.send_json({"type": "auth", "api_key": mock_gateway.key})
                _, err = await read_reply(ws)
                assert err["type"] == "error" and err["error"]["param"] == "type"

                await ws.send_json(REQ)  # still serving
                _, done = await read_reply(ws)
                assert done["type"] == "done"

    run(go())


def test_first_frame_auth(mock_gateway: GatewayServer) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url(mock_gateway)) as ws:
                await ws.send_json({"type": "auth", "api_key": mock_gateway.key})
                ok = json.loads((await ws.receive()).data)
                assert ok == {"type": "authenticated"}
                await ws.send_json(REQ)
                chunks, done = await read_reply(ws)
                assert chunks and done["type"] == "done"

    run(go())


def test_bad_first_frame_auth_closes_with_1008(mock_gateway: GatewayServer) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            for first in ({"type": "auth", "api_key": "sk-or-" + "q" * 43}, REQ):
                async with s.ws_connect(url(mock_gateway)) as ws:
                    await ws.send_json(first)
                    frame = json.loads((await ws.receive()).data)
                    assert frame["type"] == "error" and frame["error"]["code"] == "invalid_api_key"
                    assert "qqqq" not in json.dumps(frame)
                    closing = await ws.receive()
                    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                    assert ws.close_code == 1008

    run(go())


def test_bad_header_key_rejects_the_upgrade(mock_gateway: GatewayServer) -> None:
    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await s.ws_connect(url(mock_gateway), headers={"Authorization": "Bearer sk-or-" + "w" * 43})
            assert info.value.status == 401

    run(go())


def test_mid_stream_break_is_an_error_frame(fake_gateway: GatewayServer, fresh: Fakes) -> None:
    fresh.openai.default = Behaviour(text="a long answer that breaks", stream_cut_after=2)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url(fake_gateway), headers={"Authorization": f"Bearer {fake_gateway.key}"}) as ws:
                await ws.send_json({**REQ, "model": "oai"})
                chunks, err = await read_reply(ws)
                assert chunks and err["type"] == "error" and err["error"]["code"] == "stream_interrupted"
                fresh.openai.default = Behaviour(text="fine again")
                await ws.send_json({**REQ, "model": "oai"})
                chunks, done = await read_reply(ws)
                assert done["type"] == "done"
                assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) \
                    == "fine again"

    run(go())


def test_closing_the_socket_mid_stream_closes_the_upstream(mock_gateway: GatewayServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    from dsl.decision import Target
    from gateway.router import Attempt, StreamOutcome

    closed = threading.Event()
    left: list[int] = [1000]

    class SlowRest:
        def __aiter__(self) -> SlowRest:
            return self

        async def __anext__(self) -> dict:
            await asyncio.sleep(0.05)
            left[0] -= 1
            return chunk

        async def aclose(self) -> None:
            closed.set()

    target = Target("gpt-4o-mini", "mock", "mock-small")
    chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini",
             "choices": [{"index": 0, "delta": {"content": "x"}, "finish_reason": None}]}

    async def stream(decision: Any, body: Any, adapters: Any = None) -> StreamOutcome:
        return StreamOutcome(target, (Attempt(target, "ok", None, 1.0),), chunk, SlowRest())  # type: ignore[arg-type]

    monkeypatch.setattr(mock_gateway.gw.executor, "stream", stream)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            ws = await s.ws_connect(url(mock_gateway), headers={"Authorization": f"Bearer {mock_gateway.key}"})
            await ws.send_json(REQ)
            first = json.loads((await ws.receive()).data)
            validate_chunk(first)
            await ws.close()

    run(go())
    assert closed.wait(10), "the upstream stream was not closed after the client left"
    assert left[0] > 0


def test_a_key_revoked_while_the_socket_is_open_stops_working(mock_gateway: GatewayServer) -> None:
    """The key is checked before every request frame, not only at the upgrade (header or first-frame auth)."""
    admin = {"Authorization": f"Bearer {mock_gateway.admin_key}"}

    async def go(first_frame: bool) -> None:
        key_id, secret = mock_gateway.new_key("ops")
        async with aiohttp.ClientSession() as s:
            headers = {} if first_frame else {"Authorization": f"Bearer {secret}"}
            async with s.ws_connect(url(mock_gateway), headers=headers) as ws:
                if first_frame:
                    await ws.send_json({"type": "auth", "api_key": secret})
                    assert json.loads((await ws.receive()).data) == {"type": "authenticated"}
                await ws.send_json(REQ)
                _, done = await read_reply(ws)
                assert done["type"] == "done"
                async with s.delete(f"{mock_gateway.base_url}/admin/keys/{key_id}", headers=admin) as r:
                    assert r.status == 200
                await ws.send_json(REQ)
                chunks, err = await read_reply(ws)
                assert not chunks and err["type"] == "error" and err["error"]["code"] == "invalid_api_key"
                contract_validator("ErrorResponse").validate({"error": err["error"]})
                assert secret not in json.dumps(err)
                closing = await ws.receive()
                # The server's close frame (aiohttp's close_code may read 1006 when the server drops the TCP
                # connection before aiohttp's own close frame is written back).
                assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1008

    run(go(first_frame=False))
    run(go(first_frame=True))


def test_an_unexpected_exception_is_an_error_frame_and_recorded(mock_gateway: GatewayServer,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    lines: list[dict] = []
    monkeypatch.setattr(mock_gateway.gw.decisions, "emit", lines.append)
    monkeypatch.setattr(mock_gateway.gw.decisions, "wants", lambda: True)  # lines are built only when wanted

    async def bug(decision: Any, body: Any, adapters: Any = None) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(mock_gateway.gw.executor, "stream", bug)

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url(mock_gateway), headers={"Authorization": f"Bearer {mock_gateway.key}"}) as ws:
                await ws.send_json(REQ)
                chunks, err = await read_reply(ws)
                assert not chunks and err["error"]["code"] == "internal_error"
                assert "secret" not in json.dumps(err) and err["request_id"] in err["error"]["message"]
                monkeypatch.undo()
                await ws.send_json(REQ)  # the socket stays open
                _, done = await read_reply(ws)
                assert done["type"] == "done"

    run(go())
    assert [(line["route"], line["status"], line["error"]) for line in lines[:1]] \
        == [("/v1/chat/completions/ws", 500, "RuntimeError")]


def test_an_unavailable_key_store_fails_the_request_not_the_socket(mock_gateway: GatewayServer,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.keys import KeyStoreUnavailable

    _, secret = mock_gateway.new_key("ops")
    auth = mock_gateway.gw.auth
    principal = auth.principal

    async def go() -> None:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(url(mock_gateway), headers={"Authorization": f"Bearer {secret}"}) as ws:
                async def down(token: Any) -> Any:
                    raise KeyStoreUnavailable()

                monkeypatch.setattr(auth, "principal", down)
                await ws.send_json(REQ)
                chunks, err = await read_reply(ws)
                assert not chunks and err["error"]["code"] == "key_store_unavailable"
                monkeypatch.setattr(auth, "principal", principal)
                await ws.send_json(REQ)  # the socket stays open, and serves once the store is back
                _, done = await read_reply(ws)
                assert done["type"] == "done"
            monkeypatch.setattr(auth, "principal", down)
            with pytest.raises(aiohttp.WSServerHandshakeError) as info:
                await s.ws_connect(url(mock_gateway), headers={"Authorization": f"Bearer {secret}"})
            assert info.value.status == 503

    run(go())
