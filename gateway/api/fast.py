"""POST /v1/chat/completions and POST /v1/embeddings answered straight on ASGI, around Quart.

``app.asgi_app = FastPath(app.asgi_app, gw)`` (create_app does it) takes those two routes and hands every
other request (other paths, other methods on these paths, the WebSocket, lifespan) to Quart unchanged.
Quart's per-request machinery (app and request contexts, werkzeug routing, Request/Response objects,
before/after_request hooks, two tasks per request) cost about a sixth of the gateway's CPU on these routes;
here one request is one header pass, the body read, the stages of gateway/pipeline.py, and one watcher
task while the upstream is awaited.

What the Quart handlers did, and this keeps:

- The key is checked from the headers before the body is read: an unauthenticated client never makes
  the gateway take in (up to max_body_bytes of) a body. On a failed check a body announced or found to
  be over AUTH_DRAIN_BYTES is left unread and the 401 says ``connection: close`` (Hypercorn drops a
  connection whose request body was not fully received, so it must close; the client is told); a smaller
  one (a client with a mistyped or revoked key) is taken in and dropped so the connection stays usable.
- An authenticated request's body is read in full before anything is answered, except a 413: a
  Content-Length over the limit is refused before reading (before the key check, too), a chunked body
  when its count passes the limit; both with ``connection: close``. A body that takes longer than
  BODY_TIMEOUT gets a 408 after a short drain, as Quart's errorhandler answered it. Every answer given
  before the body was all in closes the connection.
- The request's headers as Quart saw them: values latin-1, a repeated header's first value for lookups
  (auth, x-request-id), and for the policy's facts every (name, value) pair after Quart's ``Remote-Addr``
  (the peer address) — so policies that read headers decide the same.
- Every response carries x-request-id (a sane incoming one, else a new one) and x-open-router-policy (the
  deciding version, else the served one); served ones and errors after a decision add x-open-router-rule,
  -model and -attempts. Header order and the JSON error bodies are the same as Quart's; an unexpected
  exception is logged with its traceback and answered with the opaque 500 (gateway/http.py's helpers).
- A client that disconnects cancels the request: a watcher task waits on ``receive()`` for
  ``http.disconnect`` while the upstream is awaited or a stream relayed, and cancels the handler, so the
  executor gives up its attempt and the pipeline's `relay` closes the upstream stream and records a 499.
  The handler then ends quietly, as Quart's did.
- Every request that reaches a route is recorded once (the recording step, gateway/record.py): served
  ones, errors, an unexpected exception as 500 (also one after a stream began), and a client that left —
  before its body was in, while the upstream was awaited, or mid-stream — as 499.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Awaitable, Callable
from urllib.parse import urlparse

from werkzeug.exceptions import RequestTimeout
from werkzeug.sansio.utils import get_content_length

from ..errors import GatewayError, PayloadTooLarge
from ..http import (
    BODY_TIMEOUT,
    DRAIN_TIMEOUT,
    LARGE_EMBEDDINGS,
    SSE_DONE,
    dumps,
    dumps_embeddings,
    embedding_values,
    error_headers,
    http_error,
    internal_error,
    new_request_id,
    sse_event,
)
from ..pipeline import CLIENT_CLOSED
from ..record import Served
from .v1 import CHAT_ROUTE, EMBEDDINGS_ROUTE

if TYPE_CHECKING:
    from ..context import Gateway

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_current_task = asyncio.current_task

# Constant header pairs, encoded once.
JSON_TYPE = (b"content-type", b"application/json")
SSE_TYPE = (b"content-type", b"text/event-stream")
SSE_FIRST = ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"))
RULE, MODEL, ATTEMPTS = b"x-open-router-rule", b"x-open-router-model", b"x-open-router-attempts"
REQUEST_ID, POLICY, LENGTH = b"x-request-id", b"x-open-router-policy", b"content-length"
STREAM_END = {"type": "http.response.body", "body": b"", "more_body": False}  # never mutated by servers
CLOSE = (b"connection", b"close")
AUTH_DRAIN_BYTES = 64 * 1024  # the most of a body taken in (and dropped) to keep a connection after a 401


class Headers(dict[str, str]):
    """A request's headers by lower-case name, holding a repeated header's first value (what werkzeug's
    Headers.get answers); ``get`` takes any case. What the Authenticator reads."""

    __slots__ = ()

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, name.lower(), default)


class _BodyTimeout(Exception):
    """The body did not arrive within BODY_TIMEOUT."""


class _Exchange:
    """One request being answered: its ASGI callables, what to stamp, and how far it got."""

    __slots__ = ("receive", "send", "served", "rid", "received", "complete", "started", "left")

    def __init__(self, receive: Receive, send: Send, served: Served) -> None:
        self.receive = receive
        self.send = send
        self.served = served
        self.rid = (REQUEST_ID, served.request_id.encode())
        self.received = 0  # body bytes so far
        self.complete = False  # the whole body is in
        self.started = False  # a response has begun: nothing else can be answered
        self.left = False  # the client disconnected (and the watcher cancelled the handler)


class FastPath:
    """The ASGI app Hypercorn calls: the two hot routes here, everything else to ``app`` (Quart's asgi_app)."""

    def __init__(self, app: ASGIApp, gw: Gateway) -> None:
        self.app = app
        self.gw = gw
        self.max_body = gw.settings.max_body_bytes
        self._chat = {CHAT_ROUTE: True, EMBEDDINGS_ROUTE: False}  # the routes taken; value: is it chat
        self._version: str | None = None  # the policy version last stamped, and its header pair
        self._version_pair = (POLICY, b"")
        self._discarding: set[asyncio.Task[None]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            if scope.get("root_path") or not path.startswith("/"):
                path = _quart_path(scope)
            chat = self._chat.get(path)
            if chat is not None:
                await self._serve(chat, path, scope, receive, send)
                return
        await self.app(scope, receive, send)

    # ------------------------------------------------------------------ one request

    async def _serve(self, chat: bool, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        pipe = self.gw.pipeline
        finish = pipe.finish
        # Quart's view of the headers: its Remote-Addr first, then the request's, latin-1 (see the docstring).
        client = scope.get("client")
        items = [("remote-addr", client[0] if client else "<local>")]
        items += [(k.decode("latin1").lower(), v.decode("latin1")) for k, v in scope["headers"]]
        headers = Headers(reversed(items))  # reversed: the first of a repeated header wins
        if scope["http_version"] < "1.1" and "host" not in headers:
            items.append(("host", ""))  # as Quart does for HTTP/1.0 without Host (SERVER_NAME is unset)
            headers["host"] = ""
        s = pipe.begin(CHAT_ROUTE if chat else EMBEDDINGS_ROUTE, new_request_id(headers.get("x-request-id")))
        x = _Exchange(receive, send, s)
        try:
            length = get_content_length(headers.get("content-length"), headers.get("transfer-encoding"))
            if length is not None and length > self.max_body:
                raise PayloadTooLarge.over(self.max_body, length)
            try:
                await pipe.authenticate(s, headers)
            except GatewayError:
                if not await _drain_small(x, length):
                    finish(s, CLIENT_CLOSED)
                    return
                raise
            raw = await self._read_body(x)
            if raw is None:
                finish(s, CLIENT_CLOSED)
                return  # the client left before its body was in: nobody to answer
            if chat:
                pipe.chat(s, raw, items)
            else:
                pipe.embeddings(s, raw, items)
            await pipe.admit(s)
            if s.stream:
                await self._stream(x)
                return
            watcher = _watch(x)
            try:
                out = await pipe.execute(s)
            finally:
                watcher.cancel()  # before answering: the end of the response makes Hypercorn report a disconnect
            payload = (await dumps_embeddings(out.response) if not chat and embedding_values(out.response)
                       > LARGE_EMBEDDINGS else dumps(out.response))  # a huge answer is encoded off the loop
            h = self._served_headers(s)
            h += (JSON_TYPE, (LENGTH, b"%d" % len(payload)), x.rid, self._policy(s))
            finish(s, 200)
            await _respond(x, 200, h, payload)
        except GatewayError as err:
            finish(s, err.status, err)
            if x.started:
                raise
            await self._error(x, err, served=True)
        except _BodyTimeout:
            # Not recorded, as Quart's errorhandler answered it outside the route.
            await self._error(x, http_error(RequestTimeout(), "POST", path, self.max_body), served=False)
        except asyncio.CancelledError as exc:
            # Unless `relay` already recorded it (a stream it relayed ends that way too).
            finish(s, CLIENT_CLOSED if x.left else 503, exc)
            if not x.left:
                raise  # not ours (the server is shutting down): let it through
            _current_task().uncancel()  # type: ignore[union-attr]
        except Exception as exc:
            if x.started:
                finish(s, 500, exc)
                raise
            err = internal_error(exc, "POST", path, s.request_id)
            finish(s, err.status, exc)
            await self._error(x, err, served=False)

    async def _read_body(self, x: _Exchange) -> bytes | None:
        """The whole body, or None when the client disconnected first. 413 past the limit (counted: the
        caller refused an announced length over it); _BodyTimeout."""
        limit = self.max_body
        try:
            async with asyncio.timeout(BODY_TIMEOUT):
                return await _receive_body(x, limit)
        except TimeoutError:
            pass
        # Too slow: take in what still comes for a moment (a body that completes leaves the connection
        # usable for the next request), then answer 408.
        try:
            async with asyncio.timeout(DRAIN_TIMEOUT):
                if await _receive_body(x, limit) is None:
                    return None
        except (TimeoutError, PayloadTooLarge):
            pass
        raise _BodyTimeout

    async def _stream(self, x: _Exchange) -> None:
        """SSE: the first chunk comes before the 200 (a failure before it raises, for a plain JSON error);
        then one event per chunk, [DONE] or one error event, as the pipeline's `relay` yields them."""
        pipe, s, send = self.gw.pipeline, x.served, x.send
        watcher = _watch(x)
        try:
            first, rest = await pipe.open_stream(s)
            h = [*SSE_FIRST, *self._served_headers(s), SSE_TYPE, x.rid, self._policy(s)]
            x.started = True
            await send({"type": "http.response.start", "status": 200, "headers": h})
            events = pipe.relay(s, first, rest)
            try:
                async for kind, item in events:
                    if kind == "chunk":
                        data = sse_event(item)
                    elif kind == "done":
                        data = SSE_DONE
                    else:
                        data = sse_event(item.body())
                    await send({"type": "http.response.body", "body": data, "more_body": True})
            finally:
                # `async for` does not close an async generator it leaves early (a cancelled send): close it
                # now, so the upstream is released and the request recorded without waiting for the GC.
                await events.aclose()
        finally:
            watcher.cancel()  # before the end of the response, which makes Hypercorn report a disconnect
        await send(STREAM_END)

    # ------------------------------------------------------------------ answers

    def _policy(self, s: Served) -> tuple[bytes, bytes]:
        d = s.decision
        version = d.policy_version if d is not None else self.gw.policies.version
        if version is not self._version:
            self._version, self._version_pair = version, (POLICY, version.encode())
        return self._version_pair

    @staticmethod
    def _served_headers(s: Served) -> list[tuple[bytes, bytes]]:
        h: list[tuple[bytes, bytes]] = []
        if s.decision is not None:
            h.append((RULE, s.decision.rule.encode()))
        if s.model != "-":
            h.append((MODEL, s.model.encode()))
        if s.attempts:
            h.append((ATTEMPTS, b"%d" % len(s.attempts)))
        if s.extra_headers:
            h.extend(s.extra_headers)  # admission's (x-ratelimit-*), on answers and refusals alike
        return h

    async def _error(self, x: _Exchange, err: GatewayError, *, served: bool) -> None:
        """``served``: a route's own error, which adds what is known of the decision (Quart's ``fail``)."""
        payload = dumps(err.body())
        h = [JSON_TYPE, (LENGTH, b"%d" % len(payload))]
        h += [(k.lower().encode(), v.encode()) for k, v in error_headers(err)]
        if not x.complete and CLOSE not in h:
            h.append(CLOSE)  # the rest of the body is not read: the connection cannot carry another request
        if served:
            h += self._served_headers(x.served)
        h += (x.rid, self._policy(x.served))
        if not x.complete:
            # Answering before the body is in (413, 408): Hypercorn keeps queueing what arrives for us (its
            # queue is bounded) and ends the response by queueing http.disconnect; with nobody taking from
            # the queue, its reader or this very send could block for good. Take the rest meanwhile, as
            # Quart's receiver task did.
            task = asyncio.get_running_loop().create_task(_discard(x.receive))
            self._discarding.add(task)  # a strong reference until it is done
            task.add_done_callback(self._discarding.discard)
        await _respond(x, err.status, h, payload)


async def _respond(x: _Exchange, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
    x.started = True
    await x.send({"type": "http.response.start", "status": status, "headers": headers})
    await x.send({"type": "http.response.body", "body": body, "more_body": False})


async def _receive_body(x: _Exchange, limit: int) -> bytes | None:
    """The body as it arrives, or None on a disconnect; 413 once more than ``limit`` bytes came (a chunked
    body announces no length, so it is counted)."""
    receive = x.receive
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None  # http.disconnect
        chunk = message.get("body", b"")
        if chunk:
            x.received += len(chunk)
            if x.received > limit:
                raise PayloadTooLarge.over(limit)
            parts.append(chunk)
        if not message.get("more_body", False):
            x.complete = True
            return b"".join(parts)  # a single part is returned as it is, not copied


async def _drain_small(x: _Exchange, length: int | None) -> bool:
    """Before answering a request that failed its key check: take in and drop a body of at most
    AUTH_DRAIN_BYTES that arrives within DRAIN_TIMEOUT, so the connection can serve the next request; leave
    anything larger (or slower) unread (then ``x.complete`` stays False and the answer closes the
    connection). False when the client disconnected meanwhile."""
    if length is not None and length > AUTH_DRAIN_BYTES:
        return True
    try:
        async with asyncio.timeout(DRAIN_TIMEOUT):
            return await _receive_body(x, AUTH_DRAIN_BYTES) is not None
    except (TimeoutError, PayloadTooLarge):
        return True


async def _discard(receive: Receive) -> None:
    """Take in and drop the rest of a body, until its end or the disconnect."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


def _watch(x: _Exchange) -> asyncio.Task[None]:
    """Start watching for the client to go away; cancel the task when no longer needed."""
    return asyncio.get_running_loop().create_task(_watcher(x, _current_task()))  # type: ignore[arg-type]


async def _watcher(x: _Exchange, handler: asyncio.Task[Any]) -> None:
    receive = x.receive
    while (await receive())["type"] != "http.disconnect":
        pass  # after the whole body nothing else arrives; ignore anything that does
    x.left = True
    handler.cancel()


def _quart_path(scope: Scope) -> str:
    """The path Quart would route on, for the rare scopes where that is not scope["path"] as it is (an
    absolute-form request target, a root_path): the same requests reach the same route either way."""
    path = scope["path"]
    if not path.startswith("/"):
        path = urlparse(path).path
    root = scope.get("root_path", "")
    if root:
        path = " " if path == root or not path.startswith(root) else path.removeprefix(root)
    return path
