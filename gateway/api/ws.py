"""Chat completions over one WebSocket: ``/v1/chat/completions/ws``, same keys and policy as HTTP.

Protocol (every frame is one JSON object in a text frame):

1. Authenticate, either way:
   - on the upgrade request, with ``Authorization: Bearer <virtual key>`` (or ``api-key: <key>``);
     a wrong key there rejects the upgrade with HTTP 401 and an OpenAI error body; or
   - when the client cannot set headers (browsers), with a first frame
     ``{"type": "auth", "api_key": "<virtual key>"}``; the server answers ``{"type": "authenticated"}``.
     A wrong or missing key gets an error frame and the socket is closed (code 1008). No frame other than
     auth is accepted before it, and keys are never taken from the URL (query strings end up in logs).
2. Send a request: a frame holding a chat-completions body, exactly as for POST /v1/chat/completions
   (no ``type`` field). It is always streamed, whatever ``stream`` says; ``stream_options.include_usage``
   works as over SSE.
3. The server answers with the same ``chat.completion.chunk`` objects SSE would carry, one per frame,
   then ``{"type": "done", "request_id": ..., "model": ..., "attempts": n}``.
   A failure (bad body, unknown model, upstream down, or a break mid-stream) is one frame
   ``{"type": "error", "error": {"message", "type", "param", "code"}, "request_id": ...}`` instead of
   (or after some) chunks; the connection stays open.
4. Send the next request on the same connection once ``done`` or ``error`` arrived (requests are served
   one at a time, in order). Close the socket to stop; closing mid-stream cancels the upstream call.

The key is checked again before every request frame (the Authenticator's cached lookup: a cache hit costs
nothing, and a revoke through the admin API evicts at once, one from another process lands within the key
cache TTL). A key that no longer authenticates gets the 401 error frame and the socket is closed (1008).
"""
from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from quart import Quart, Response, websocket

from ..auth import Principal, token_from
from ..errors import AuthError, GatewayError, InvalidRequest
from ..http import dumps, internal_error
from ..ids import hex24
from ..pipeline import CLIENT_CLOSED
from ..schema import parse_json

if TYPE_CHECKING:
    from ..context import Gateway

ROUTE = "/v1/chat/completions/ws"
AUTH_TIMEOUT = 10.0  # seconds a header-less client has to send its auth frame
POLICY_VIOLATION = 1008


def _error_frame(err: GatewayError, request_id: str | None = None) -> str:
    frame: dict[str, Any] = {"type": "error", **err.body()}
    if request_id:
        frame["request_id"] = request_id
    return dumps(frame).decode()


def register(app: Quart, gw: Gateway) -> None:
    max_body = gw.settings.max_body_bytes
    pipe = gw.pipeline
    finish = pipe.finish

    async def first_frame_auth() -> tuple[str, Principal] | None:
        try:
            raw = await asyncio.wait_for(websocket.receive(), AUTH_TIMEOUT)
        except asyncio.TimeoutError:
            await websocket.send(_error_frame(AuthError("No auth frame within "
                                                        f"{AUTH_TIMEOUT:g}s; send {{\"type\": \"auth\", "
                                                        "\"api_key\": ...}} first.")))
            return None
        try:
            frame = parse_json(raw.encode() if isinstance(raw, str) else raw)
        except InvalidRequest:
            frame = {}
        if frame.get("type") != "auth" or not isinstance(frame.get("api_key"), str):
            await websocket.send(_error_frame(AuthError(
                "Authenticate first: send {\"type\": \"auth\", \"api_key\": \"<virtual key>\"} "
                "(or connect with an Authorization: Bearer header).")))
            return None
        try:
            principal = await gw.auth.principal(frame["api_key"])
        except GatewayError as err:  # a wrong key, or the key store unavailable (503): try again later
            await websocket.send(_error_frame(err))
            return None
        await websocket.send('{"type":"authenticated"}')
        return frame["api_key"], principal

    async def serve_one(principal: Principal, raw: str | bytes) -> None:
        rid = "req_" + hex24()
        s = pipe.begin(ROUTE, rid, principal=principal, stream=True)
        try:
            data = raw.encode() if isinstance(raw, str) else raw
            if len(data) > max_body:
                raise InvalidRequest(f"The request frame is larger than the limit of {max_body} bytes.",
                                     code="request_too_large")
            body = parse_json(data)
            if "type" in body:
                raise InvalidRequest(f"Unexpected frame type {json.dumps(body['type'])}: send a "
                                     "chat-completions body (auth is only accepted as the first frame).",
                                     param="type")
            pipe.chat(s, body, websocket.headers.items(), always_stream=True)
            await pipe.admit(s)
            first, rest = await pipe.open_stream(s)
        except GatewayError as err:
            finish(s, err.status, err)
            await websocket.send(_error_frame(err, rid))
            return
        except asyncio.CancelledError as exc:
            finish(s, CLIENT_CLOSED, exc)  # the client closed the socket while the upstream was awaited
            raise
        except Exception as exc:  # a bug: recorded, answered with the opaque error frame; the socket stays
            err = internal_error(exc, "WEBSOCKET", ROUTE, rid)
            finish(s, err.status, exc)
            await websocket.send(_error_frame(err, rid))
            return
        events = pipe.relay(s, first, rest)
        try:
            async for kind, item in events:
                if kind == "chunk":
                    await websocket.send(dumps(item).decode())
                elif kind == "done":
                    await websocket.send(dumps({"type": "done", "request_id": rid, "model": s.model,
                                                "attempts": len(s.attempts)}).decode())
                else:
                    await websocket.send(_error_frame(item, rid))
        finally:
            await events.aclose()

    @app.websocket(ROUTE)
    async def chat_ws() -> Response | None:
        token = token_from(websocket.headers)
        principal: Principal | None = None
        if token is not None:
            try:
                principal = await gw.auth.principal(token)
            except GatewayError as err:  # 401, or 503 when the key store is unavailable
                # Before accept: Hypercorn turns this into a plain HTTP answer to the upgrade.
                return Response(dumps(err.body()), status=err.status, content_type="application/json")
        await websocket.accept()
        if token is None:
            authed = await first_frame_auth()
            if authed is None:
                await websocket.close(POLICY_VIOLATION)
                return None
            token, principal = authed
        while True:
            raw = await websocket.receive()
            try:
                # Again for every request: a key revoked while the socket is open stops working here.
                principal = await gw.auth.principal(token)
            except GatewayError as err:
                s = pipe.begin(ROUTE, "req_" + hex24(), stream=True)
                finish(s, err.status, err)
                await websocket.send(_error_frame(err, s.request_id))
                if isinstance(err, AuthError):
                    await websocket.close(POLICY_VIOLATION)
                    return None
                continue  # the key store is unavailable (503): this request fails, the key may still be good
            await serve_one(principal, raw)
