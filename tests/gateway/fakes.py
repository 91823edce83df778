"""Fake upstream providers: real HTTP servers on 127.0.0.1 speaking the OpenAI, Azure, Anthropic and
Gemini wire formats (SSE included), recording what they receive and misbehaving on demand.
Also: JSON-Schema validators for OpenAI's response contracts, and `run()` for sync tests.

Quick start::

    from tests.gateway.fakes import FakeUpstream, Behaviour

    with FakeUpstream("anthropic", key="sk-test") as fake:      # a server on an ephemeral port
        provider = fake.provider(name="claude")                # dsl.ast.Provider pointing at it
        env = fake.env                                         # {"FAKE_ANTHROPIC_KEY": "sk-test"}
        fake.queue(Behaviour(status=529, retry_after=2),        # the next calls, in order...
                   Behaviour(reset=True),
                   Behaviour(stream_cut_after=3))
        fake.default = Behaviour(text="steady")                # ...then this, for every later call
        ...
        fake.requests[-1].json                                 # what the adapter sent (translated)
        fake.requests[-1].headers["x-api-key"]

Routes (``fake.base_url`` is what a provider's ``base_url`` should be for that kind):

    openai     {base}/v1             POST /chat/completions, /embeddings      GET /models
    azure      {base}                POST /openai/deployments/{dep}/chat/completions|embeddings?api-version=
    anthropic  {base}                POST /v1/messages
    gemini     {base}/v1beta         POST /models/{m}:generateContent | :streamGenerateContent?alt=sse
                                                     | :batchEmbedContents | :embedContent

Each request takes the next queued `Behaviour` (FIFO) or, when the queue is empty, ``fake.default``.
With ``key=...`` the fake checks the kind's auth header and answers 401 in its own format when wrong.
The server runs in a background thread with its own event loop, so the same fake serves sync tests,
``asyncio.run`` tests, and a gateway app under test alike. Thread-safe: ``queue``, ``requests``.
"""
from __future__ import annotations

import asyncio
import base64
import collections
import functools
import hashlib
import json
import math
import struct
import threading
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator, Mapping, TypeVar

import pytest
from aiohttp import web

from dsl.ast import EnvRef, Provider

T = TypeVar("T")

KINDS = ("openai", "azure", "anthropic", "gemini")


@dataclass
class Behaviour:
    """What the fake does with one request. Defaults: answer 200 with a generated reply.

    status          answer this HTTP status; >= 400 sends an error body in the kind's format
    message         the error message for an error status (default: a generic one)
    retry_after     sent as the Retry-After header (seconds, or any string, e.g. an HTTP date)
    retry_after_ms  sent as retry-after-ms (OpenAI's precise variant)
    headers         extra response headers
    body            answer exactly this (dict/list → JSON; str/bytes → raw) instead of the generated reply
    events          stream: send exactly these (event name or None, data dict/str) pairs instead of the
                    generated ones (the stream options below still apply)
    delay           seconds to wait before sending the status line and headers
    chunk_delay     seconds between stream events
    reset           abort the TCP connection without answering
    stall_after     stream: send this many events, then go silent (until the client gives up)
    stream_cut_after  stream: send this many events, then abort the connection (no terminator);
                    non-stream: send the headers and half the body, then abort
    malformed       send invalid JSON (non-stream: the body; stream: the first event's data)
    error_event     stream: after ``stream_cut_after or 0`` events, send an in-stream error event
                    (Anthropic ``event: error``; OpenAI/Gemini a ``data: {"error": ...}``) and end
    text            the reply text (default: "Hello from <name>.")
    tool_calls      reply with these calls instead of text: [(name, arguments dict), ...]
    thought_signature  gemini: the thoughtSignature on the first functionCall part (as Gemini 3 sends it)
    usage           (prompt_tokens, completion_tokens) to report (default: derived from the texts)
    finish          provider-native finish reason to report (e.g. "max_tokens", "MAX_TOKENS", "length")
    filters         azure: Azure's content-filter shapes — a first ``choices: []`` chunk of
                    prompt_filter_results, content_filter_results on every choice, an Asynchronous Filter
                    annotation chunk (id "", object "", created 0, no delta) after the finish; a
                    non-streamed answer gets prompt_filter_results / content_filter_results
    repeat_finish   gemini stream: finishReason on every chunk, as Gemini may send it
    fused_finish    stream: the finish on the last content chunk rather than a chunk of its own (gemini:
                    the functionCall chunk carries finishReason and usage, as Gemini sends it;
                    openai/azure: the last delta carries finish_reason, as some compatible servers do)
    credential_error  answer the provider's credential refusal of that name from
                    fixtures/credential_errors.json (openai/azure "invalid"; anthropic "invalid",
                    "permission"; gemini "invalid" = 400 API_KEY_INVALID, "missing", "blocked")
    """

    status: int = 200
    message: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    events: list[tuple[str | None, Any]] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    reset: bool = False
    stream_cut_after: int | None = None
    stall_after: int | None = None
    malformed: bool = False
    error_event: Mapping[str, Any] | None = None
    text: str | None = None
    tool_calls: list[tuple[str, dict]] | None = None
    thought_signature: str | None = None
    usage: tuple[int, int] | None = None
    finish: str | None = None
    filters: bool = False
    repeat_finish: bool = False
    fused_finish: bool = False
    credential_error: str | None = None


FIXTURES = Path(__file__).resolve().parent / "fixtures"


@functools.lru_cache(maxsize=None)
def _fixture_text(name: str) -> str:
    return (FIXTURES / name).read_text()


def fixture(name: str) -> Any:
    """A fresh copy of a JSON file under tests/gateway/fixtures/ (see its README for the sources)."""
    return json.loads(_fixture_text(name))


def credential_error(kind: str, variant: str = "invalid") -> tuple[int, dict[str, Any]]:
    """(status, body) of provider ``kind`` refusing the key, as the provider's documented format has it."""
    entry = fixture("credential_errors.json")[kind][variant]
    return entry["status"], entry["body"]


# Azure's filter verdict on a prompt / a completion that passed (the provider's documented format).
_AZURE_SAFE = {"hate": {"filtered": False, "severity": "safe"}, "self_harm": {"filtered": False, "severity": "safe"},
               "sexual": {"filtered": False, "severity": "safe"}, "violence": {"filtered": False, "severity": "safe"}}


@dataclass
class Recorded:
    """One request the fake received. Header names are lower-case."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    raw: bytes

    @property
    def stream(self) -> bool:
        return bool(isinstance(self.json, dict) and self.json.get("stream")) or "streamGenerateContent" in self.path


class FakeUpstream:
    """A fake provider of one ``kind`` (openai, azure, anthropic, gemini) on 127.0.0.1:<ephemeral>."""

    def __init__(self, kind: str = "openai", *, key: str | None = None, name: str | None = None,
                 default: Behaviour | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self.key = key
        self.name = name or f"fake-{kind}"
        self.default = default or Behaviour()
        self.requests: list[Recorded] = []
        self._queue: collections.deque[Behaviour] = collections.deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ------------------------------------------------------------------ public API

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The provider ``base_url`` for this kind (what an adapter appends its paths to)."""
        return self.origin + {"openai": "/v1", "gemini": "/v1beta"}.get(self.kind, "")

    @property
    def key_env(self) -> str:
        return f"FAKE_{self.kind.upper()}_KEY"

    @property
    def env(self) -> dict[str, str]:
        """The environment an adapter needs to call this fake (the key, when one is set)."""
        return {self.key_env: self.key} if self.key else {}

    def provider(self, name: str | None = None, **kw: Any) -> Provider:
        """A `dsl.ast.Provider` pointing at this fake; ``kw`` overrides fields (timeout=, headers=, ...)."""
        fields: dict[str, Any] = {
            "name": name or self.name,
            "kind": self.kind,
            "base_url": self.base_url,
            "key": EnvRef(self.key_env) if self.key else None,
        }
        fields.update(kw)
        return Provider(**fields)

    def queue(self, *behaviours: Behaviour) -> None:
        """Behaviours for the next requests, in order (before ``default`` applies again)."""
        with self._lock:
            self._queue.extend(behaviours)

    def clear(self) -> None:
        """Forget recorded requests and queued behaviours."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    @property
    def pending(self) -> int:
        """Queued behaviours not yet used."""
        return len(self._queue)

    def start(self) -> "FakeUpstream":
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup())
            except BaseException as exc:  # surfaced to the starting thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._teardown())
            loop.close()

        self._thread = threading.Thread(target=serve, name=f"fake-{self.kind}", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop = self._thread = None

    def __enter__(self) -> "FakeUpstream":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def __aenter__(self) -> "FakeUpstream":
        return self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------------------ server

    async def _setup(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client that gave up (timeout tests) must not keep a delayed handler alive.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _teardown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else self.default

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        rec = Recorded(request.method, request.path, dict(request.query),
                       {k.lower(): v for k, v in request.headers.items()}, payload, raw)
        with self._lock:
            self.requests.append(rec)
        b = self._next()
        if b.delay:
            await asyncio.sleep(b.delay)
        if b.reset:
            request.transport.abort()  # type: ignore[union-attr]
            raise _Aborted()

        route = self._route(request)
        if route is None:
            return self._error(404, b, f"no route {request.method} {request.path}", force=True)
        op, model = route
        if self.key is not None and not self._authorised(request):
            return self._refuse_key(request, b)
        if b.credential_error is not None:
            status, body = credential_error(self.kind, b.credential_error)
            return web.json_response(body, status=status, headers=self._headers(b))
        if b.status >= 400:
            return self._error(b.status, b, b.message or f"fake {self.kind} error {b.status}")
        if b.body is not None:
            return await self._send_body(request, b, b.body)
        body = payload if isinstance(payload, dict) else {}
        if op == "embed":
            return await self._send_body(request, b, self._embeddings(body, model))
        stream = bool(body.get("stream")) or op == "stream"
        if stream:
            events = list(b.events) if b.events is not None else self._events(body, b, model)
            return await self._stream(request, b, events)
        return await self._send_body(request, b, self._completion(body, b, model))

    def _route(self, request: web.Request) -> tuple[str, str] | None:
        """(operation, model) for a path this kind serves; operation: chat | stream | embed | models."""
        path, method = request.path, request.method
        if self.kind == "openai":
            if method == "POST" and path == "/v1/chat/completions":
                return ("chat", "")
            if method == "POST" and path == "/v1/embeddings":
                return ("embed", "")
            if method == "GET" and path == "/v1/models":
                return ("models", "")
        elif self.kind == "azure":
            parts = path.split("/")
            if (method == "POST" and len(parts) >= 5 and parts[1:3] == ["openai", "deployments"]
                    and request.query.get("api-version")):
                op = "/".join(parts[4:])
                if op == "chat/completions":
                    return ("chat", parts[3])
                if op == "embeddings":
                    return ("embed", parts[3])
        elif self.kind == "anthropic":
            if method == "POST" and path == "/v1/messages":
                return ("chat", "")
        elif self.kind == "gemini":
            prefix = "/v1beta/models/"
            if method == "POST" and path.startswith(prefix) and ":" in path:
                model, _, action = path[len(prefix):].rpartition(":")
                if action == "generateContent":
                    return ("chat", model)
                if action == "streamGenerateContent":
                    return ("stream", model)
                if action in ("batchEmbedContents", "embedContent"):
                    return ("embed", model)
        return None

    def _authorised(self, request: web.Request) -> bool:
        h = request.headers
        if self.kind == "openai":
            return h.get("Authorization") == f"Bearer {self.key}"
        if self.kind == "azure":
            return h.get("api-key") == self.key
        if self.kind == "anthropic":
            return h.get("x-api-key") == self.key and bool(h.get("anthropic-version"))
        return h.get("x-goog-api-key") == self.key

    def _refuse_key(self, request: web.Request, b: Behaviour) -> web.Response:
        """A wrong (or missing) key, refused the way the provider does it."""
        if self.kind == "anthropic":
            return self._error(401, b, "invalid api key", force=True)
        if self.kind == "gemini":
            sent = request.headers.get("x-goog-api-key")
            status, body = credential_error("gemini", "invalid" if sent else "missing")
        else:
            status, body = credential_error(self.kind, "invalid")
            if self.kind == "openai":
                sent = request.headers.get("Authorization", "").removeprefix("Bearer ")
                masked = sent[:3] + "*" * max(0, len(sent) - 7) + sent[-4:] if len(sent) > 7 else "***"
                body["error"]["message"] = (f"Incorrect API key provided: {masked}. You can find your API key "
                                            "at https://platform.openai.com/account/api-keys.")
        return web.json_response(body, status=status, headers=self._headers(b))

    # ------------------------------------------------------------------ sending

    def _headers(self, b: Behaviour) -> dict[str, str]:
        headers = dict(b.headers)
        if b.retry_after is not None:
            headers["Retry-After"] = str(b.retry_after)
        if b.retry_after_ms is not None:
            headers["retry-after-ms"] = str(b.retry_after_ms)
        return headers

    def _error(self, status: int, b: Behaviour, message: str, *, force: bool = False) -> web.Response:
        if b.body is not None and not force:
            data = b.body if isinstance(b.body, (bytes, str)) else json.dumps(b.body)
            return web.Response(status=status, body=data, content_type="application/json", headers=self._headers(b))
        return web.json_response(error_body(self.kind, status, message), status=status, headers=self._headers(b))

    async def _send_body(self, request: web.Request, b: Behaviour, obj: Any) -> web.StreamResponse:
        if b.malformed:
            data = b'{"id": "broken", "choices": [{"index": 0, "mess'
        elif isinstance(obj, bytes):
            data = obj
        elif isinstance(obj, str):
            data = obj.encode()
        else:
            data = json.dumps(obj).encode()
        if b.stream_cut_after is None:
            return web.Response(status=b.status, body=data, content_type="application/json", headers=self._headers(b))
        resp = web.StreamResponse(status=b.status, headers=self._headers(b))
        resp.content_type = "application/json"
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: len(data) // 2])
        await asyncio.sleep(0.01)  # let the half body leave before the reset
        request.transport.abort()  # type: ignore[union-attr]
        raise _Aborted()

    async def _stream(self, request: web.Request, b: Behaviour, events: list[tuple[str | None, Any]]) -> web.StreamResponse:
        resp = web.StreamResponse(status=200, headers={"Cache-Control": "no-cache", **self._headers(b)})
        resp.content_type = "text/event-stream"
        await resp.prepare(request)
        if b.malformed:
            events = [(events[0][0] if events else None, "{not json")] + events[1:]
        stop_at = b.stream_cut_after
        if b.error_event is not None:
            cut = stop_at or 0
            events = events[:cut] + [self._error_event(b.error_event)]
            stop_at = None
        try:
            for i, (name, data) in enumerate(events):
                if stop_at is not None and i >= stop_at:
                    await asyncio.sleep(0.01)  # flush what was written, then break the connection
                    request.transport.abort()  # type: ignore[union-attr]
                    raise _Aborted()
                if b.stall_after is not None and i >= b.stall_after:
                    await asyncio.sleep(3600)  # cancelled when the client disconnects (handler_cancellation)
                if b.chunk_delay and i:
                    await asyncio.sleep(b.chunk_delay)
                text = data if isinstance(data, str) else json.dumps(data)
                frame = (f"event: {name}\n" if name else "") + f"data: {text}\n\n"
                await resp.write(frame.encode())
            if stop_at is not None and stop_at >= len(events):
                request.transport.abort()  # type: ignore[union-attr]
                raise _Aborted()
            await resp.write_eof()
        except (ConnectionResetError, ConnectionError):
            raise _Aborted() from None
        return resp

    def _error_event(self, err: Mapping[str, Any]) -> tuple[str | None, Any]:
        if self.kind == "anthropic":
            return ("error", {"type": "error", "error": dict(err)})
        return (None, {"error": dict(err)})

    # ------------------------------------------------------------------ replies

    def _reply(self, b: Behaviour) -> tuple[str | None, list[tuple[str, dict]]]:
        if b.tool_calls:
            return (b.text, list(b.tool_calls))
        return (b.text if b.text is not None else f"Hello from {self.name}.", [])

    def _usage(self, body: Mapping[str, Any], b: Behaviour, text: str | None, calls: list) -> tuple[int, int]:
        if b.usage is not None:
            return b.usage
        prompt = max(1, len(json.dumps(body.get("messages") or body.get("contents") or "")) // 4)
        completion = max(1, (len(text or "") + len(json.dumps(calls))) // 4)
        return prompt, completion

    def _completion(self, body: Mapping[str, Any], b: Behaviour, model: str) -> dict[str, Any]:
        text, calls = self._reply(b)
        p, c = self._usage(body, b, text, calls)
        model = model or body.get("model") or "fake-model"
        if self.kind in ("openai", "azure"):
            tool_calls = [{"id": f"call_{i}_{_h(name)}", "type": "function",
                           "function": {"name": name, "arguments": json.dumps(args)}}
                          for i, (name, args) in enumerate(calls)]
            msg: dict[str, Any] = {"role": "assistant", "content": text if not calls else (text or None),
                                   "refusal": None}
            if tool_calls:
                msg["tool_calls"] = tool_calls
            finish = b.finish or ("tool_calls" if calls else "stop")
            n = int(body.get("n") or 1)
            out = {"id": "chatcmpl-fake" + _h(json.dumps(body)), "object": "chat.completion", "created": 1_700_000_000,
                   "model": model, "system_fingerprint": "fp_fake",
                   "choices": [{"index": i, "message": msg, "finish_reason": finish, "logprobs": None}
                               for i in range(n)],
                   "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}
            if b.filters:
                out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": _AZURE_SAFE}]
                for ch in out["choices"]:
                    ch["content_filter_results"] = _AZURE_SAFE
            return out
        if self.kind == "anthropic":
            content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
            content += [{"type": "tool_use", "id": f"toolu_{i}_{_h(name)}", "name": name, "input": args}
                        for i, (name, args) in enumerate(calls)]
            return {"id": "msg_fake" + _h(json.dumps(body)), "type": "message", "role": "assistant", "model": model,
                    "content": content, "stop_reason": b.finish or ("tool_use" if calls else "end_turn"),
                    "stop_sequence": None, "usage": {"input_tokens": p, "output_tokens": c}}
        # gemini
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        parts += _function_call_parts(calls, b.thought_signature)
        n = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
        return {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": b.finish or "STOP",
                                "index": i} for i in range(n)],
                "usageMetadata": {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c},
                "modelVersion": model, "responseId": "fake" + _h(json.dumps(body))}

    def _events(self, body: Mapping[str, Any], b: Behaviour, model: str) -> list[tuple[str | None, Any]]:
        text, calls = self._reply(b)
        p, c = self._usage(body, b, text, calls)
        model = model or body.get("model") or "fake-model"
        pieces = _pieces(text or "")
        if self.kind in ("openai", "azure"):
            base = {"id": "chatcmpl-fakestream", "object": "chat.completion.chunk", "created": 1_700_000_000,
                    "model": model}

            def ev(delta: dict, finish: str | None = None) -> tuple[None, dict]:
                choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
                if b.filters:
                    choice["content_filter_results"] = {} if "role" in delta or not delta else _AZURE_SAFE
                return (None, {**base, "choices": [choice]})

            events = []
            if b.filters:  # Azure opens with the prompt's filter verdict: no choices, no id
                events.append((None, {"choices": [], "created": 0, "id": "", "model": "", "object": "",
                                      "prompt_filter_results": [{"prompt_index": 0,
                                                                 "content_filter_results": _AZURE_SAFE}]}))
            events.append(ev({"role": "assistant", "content": ""}))
            events += [ev({"content": piece}) for piece in pieces]
            for i, (name, args) in enumerate(calls):
                arguments = json.dumps(args)
                half = len(arguments) // 2
                events.append(ev({"tool_calls": [{"index": i, "id": f"call_{i}_{_h(name)}", "type": "function",
                                                  "function": {"name": name, "arguments": ""}}]}))
                for part in (arguments[:half], arguments[half:]):
                    events.append(ev({"tool_calls": [{"index": i, "function": {"arguments": part}}]}))
            finish = b.finish or ("tool_calls" if calls else "stop")
            if b.fused_finish and len(events) > 1:
                last = events[-1][1]
                last["choices"][0]["finish_reason"] = finish
            else:
                events.append(ev({}, finish))
            if b.filters:  # the Asynchronous Filter's annotation of what was streamed, after the finish
                events.append((None, {"choices": [{"index": 0, "finish_reason": None,
                                                   "content_filter_results": _AZURE_SAFE,
                                                   "content_filter_offsets": {"check_offset": 0, "start_offset": 0,
                                                                              "end_offset": len(text or "")}}],
                                      "created": 0, "id": "", "model": "", "object": "", "usage": None}))
            if (body.get("stream_options") or {}).get("include_usage"):
                events.append((None, {**base, "choices": [],
                                      "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}))
            events.append((None, "[DONE]"))
            return events
        if self.kind == "anthropic":
            events: list[tuple[str | None, Any]] = [
                ("message_start", {"type": "message_start", "message": {
                    "id": "msg_fakestream", "type": "message", "role": "assistant", "model": model, "content": [],
                    "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": p, "output_tokens": 1}}}),
                ("ping", {"type": "ping"}),
            ]
            index = 0
            if text:
                events.append(("content_block_start", {"type": "content_block_start", "index": 0,
                                                       "content_block": {"type": "text", "text": ""}}))
                events += [("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                    "delta": {"type": "text_delta", "text": piece}})
                           for piece in pieces]
                events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
                index = 1
            for i, (name, args) in enumerate(calls):
                arguments = json.dumps(args)
                third = max(1, len(arguments) // 3)
                events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
                    "type": "tool_use", "id": f"toolu_{i}_{_h(name)}", "name": name, "input": {}}}))
                events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {
                    "type": "input_json_delta", "partial_json": arguments[k:k + third]}})
                    for k in range(0, len(arguments), third)]
                events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
                index += 1
            events.append(("message_delta", {"type": "message_delta", "delta": {
                "stop_reason": b.finish or ("tool_use" if calls else "end_turn"), "stop_sequence": None},
                "usage": {"output_tokens": c}}))
            events.append(("message_stop", {"type": "message_stop"}))
            return events
        # gemini: each event is a whole GenerateContentResponse; the last carries finishReason and usage
        events = []
        finish = b.finish or "STOP"
        for piece in pieces:
            cand: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": piece}]}, "index": 0}
            if b.repeat_finish:
                cand["finishReason"] = finish
            events.append((None, {"candidates": [cand], "modelVersion": model}))
        if calls:
            events.append((None, {"candidates": [{"content": {"role": "model", "parts": _function_call_parts(
                calls, b.thought_signature)}, "index": 0}], "modelVersion": model}))
        usage = {"promptTokenCount": p, "candidatesTokenCount": c, "totalTokenCount": p + c}
        if (b.fused_finish or b.repeat_finish) and events:
            last = events[-1][1]
            last["candidates"][0]["finishReason"] = finish
            last["usageMetadata"] = usage
            return events
        events.append((None, {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]},
                                              "finishReason": finish, "index": 0}],
                              "usageMetadata": usage, "modelVersion": model}))
        return events

    def _embeddings(self, body: Mapping[str, Any], model: str) -> dict[str, Any]:
        if self.kind == "gemini":
            reqs = body.get("requests") or [body]
            return {"embeddings": [{"values": fake_vector(json.dumps(r.get("content")), r.get("outputDimensionality")
                                                          or 8)} for r in reqs]}
        inputs = body.get("input")
        if isinstance(inputs, str):
            inputs = [inputs]
        inputs = inputs or []
        dims = int(body.get("dimensions") or 8)
        tokens = sum(max(1, len(str(x)) // 4) for x in inputs)
        return {"object": "list", "model": model or body.get("model") or "fake-embed",
                "data": [{"object": "embedding", "index": i, "embedding": fake_vector(str(x), dims)}
                         for i, x in enumerate(inputs)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


class _Aborted(web.HTTPException):
    """Raised after the connection was deliberately broken: there is nobody left to answer."""

    status_code = 599

    def __init__(self) -> None:
        super().__init__()


def error_body(kind: str, status: int, message: str) -> dict[str, Any]:
    """An error body as the provider of ``kind`` writes it."""
    if kind == "anthropic":
        etype = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                 529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": etype, "message": message}}
    if kind == "gemini":
        sname = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}.get(status, "INTERNAL")
        return {"error": {"code": status, "message": message, "status": sname}}
    etype = {400: "invalid_request_error", 401: "invalid_request_error", 404: "invalid_request_error",
             429: "requests"}.get(status, "server_error")
    return {"error": {"message": message, "type": etype, "param": None, "code": None}}


def fake_vector(text: str, dims: int) -> list[float]:
    values: list[float] = []
    counter = 0
    while len(values) < dims:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values += [w / 0xFFFFFFFF - 0.5 for (w,) in struct.iter_unpack(">I", digest)]
        counter += 1
    values = values[:dims]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _function_call_parts(calls: list[tuple[str, dict]], signature: str | None) -> list[dict[str, Any]]:
    """Gemini functionCall parts; Gemini 3 signs only the first of parallel calls."""
    parts: list[dict[str, Any]] = [{"functionCall": {"name": name, "args": args}} for name, args in calls]
    if signature and parts:
        parts[0]["thoughtSignature"] = signature
    return parts


def _h(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def _pieces(text: str) -> list[str]:
    """Split a reply into 3+ stream pieces that join back to the text."""
    if not text:
        return []
    words = text.split(" ")
    out = [w + " " for w in words[:-1]] + [words[-1]]
    return [p for p in out if p]


# ---------------------------------------------------------------------------- test helpers


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine from a sync test (we don't use pytest-asyncio)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


async def collect(stream: Any) -> list[dict]:
    """All the chunks of an adapter stream."""
    return [chunk async for chunk in stream]


@pytest.fixture
def fake_upstream() -> Iterator[Callable[..., FakeUpstream]]:
    """Fixture factory: ``fake = fake_upstream("anthropic", key="k")`` → a started fake, stopped at teardown.

    Import it into a test module (``from tests.gateway.fakes import fake_upstream``) or a conftest.
    """
    started: list[FakeUpstream] = []

    def factory(kind: str = "openai", **kw: Any) -> FakeUpstream:
        fake = FakeUpstream(kind, **kw).start()
        started.append(fake)
        return fake

    yield factory
    for fake in started:
        fake.stop()


CONTRACTS = str(Path(__file__).resolve().parents[1] / "contracts" / "openai-chat-embeddings-models.openapi.json")


@functools.lru_cache(maxsize=None)
def contract_validator(schema_name: str) -> Any:
    """A jsonschema validator for one of OpenAI's component schemas (e.g. CreateChatCompletionResponse)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    with open(CONTRACTS) as f:
        spec = json.load(f)
    registry = Registry().with_resource("urn:openai", Resource.from_contents(spec, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{schema_name}"}, registry=registry)


def validate_chat(obj: Any) -> None:
    contract_validator("CreateChatCompletionResponse").validate(obj)


def validate_chunk(obj: Any) -> None:
    contract_validator("CreateChatCompletionStreamResponse").validate(obj)


def validate_embeddings(obj: Any) -> None:
    contract_validator("CreateEmbeddingResponse").validate(obj)


def floats_of(b64: str) -> list[float]:
    """A base64 embedding (little-endian float32s, as OpenAI's encoding_format "base64" sends them) → numbers."""
    raw = base64.b64decode(b64, validate=True)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def assemble(chunks: list[dict]) -> dict[str, Any]:
    """Fold stream chunks into {choice index: {"content", "tool_calls", "finish_reason", "role"}} + "usage"."""
    out: dict[Any, Any] = {"usage": None}
    for ch in chunks:
        if ch.get("usage"):
            out["usage"] = ch["usage"]
        for c in ch["choices"]:
            slot = out.setdefault(c["index"], {"content": "", "tool_calls": {}, "finish_reason": None, "role": None})
            d = c["delta"]
            if d.get("role"):
                slot["role"] = d["role"]
            if d.get("content"):
                slot["content"] += d["content"]
            for tc in d.get("tool_calls") or ():
                t = slot["tool_calls"].setdefault(tc["index"], {"id": None, "name": "", "arguments": ""})
                if tc.get("id"):
                    t["id"] = tc["id"]
                fn = tc.get("function") or {}
                t["name"] += fn.get("name") or ""
                t["arguments"] += fn.get("arguments") or ""
            if c.get("finish_reason"):
                slot["finish_reason"] = c["finish_reason"]
    return out
