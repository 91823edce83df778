"""The OpenAI-compatible HTTP surface: /v1/chat/completions (JSON and SSE), /v1/embeddings, /v1/models.

One request: auth → read + validate the body → Facts → policy.decide → executor → response, then metrics
and one decision-log line. Every response carries x-request-id and x-open-router-policy (stamped in
app.py); served ones add x-open-router-model, x-open-router-rule and x-open-router-attempts.

Streams: ``data: {chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``. A failure after the first chunk sends one
``data: {"error": {...}}`` event and ends without [DONE] (the OpenAI SDKs raise on it), never a silent
truncation. A client that disconnects cancels the handler task; the generator's ``finally`` closes the
upstream stream (StreamRest.aclose), so the upstream connection is released at once.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator

from quart import Quart, Response, g, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..auth import Principal
from ..errors import GatewayError, InternalError, NotFound, PayloadTooLarge
from ..schema import parse_json, validate_chat, validate_embeddings

if TYPE_CHECKING:
    from dsl.decision import Decision

    from ..app import Gateway

log = logging.getLogger("open_router.api")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
JSON = "application/json"
SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_perf = time.perf_counter


def dumps(obj: Any) -> bytes:
    return _ENCODER.encode(obj).encode()


def sse_event(obj: Any) -> bytes:
    return b"data: " + dumps(obj) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class Served:
    """What the decision log and metrics need about one request, filled in as it goes."""

    route: str
    t0: float
    request_id: str
    principal: Principal | None = None
    decision: Decision | None = None
    upstream: float = 0.0  # seconds spent awaiting the executor
    attempts: tuple[Any, ...] = ()
    model: str = "-"  # the policy alias that served (bounded label), "-" before one is known
    stream: bool = False


def finish(gw: Gateway, s: Served, status: int, error: GatewayError | BaseException | None = None) -> None:
    """Metrics and the decision-log line for a finished request."""
    total = _perf() - s.t0
    if s.model == "-" and s.attempts:
        s.model = s.attempts[-1].target.model
    gw.metrics.record(s.route, s.model, status, total, s.upstream, s.attempts)
    d = s.decision
    record: dict[str, Any] = {
        "ts": round(time.time(), 3),
        "request_id": s.request_id,
        "route": s.route,
        "key": s.principal.key_id if s.principal else None,
        "team": s.principal.team if s.principal else None,
        "policy_version": d.policy_version if d else gw.policies.version,
        "rule": d.rule if d else None,
        "arm": d.arm if d else None,
        "requested": d.facts.model if d else None,
        "model": None if s.model == "-" else s.model,
        "stream": s.stream,
        "attempts": [a.as_json() for a in s.attempts],
        "status": status,
        "latency_ms": round(total * 1000, 3),
        "upstream_ms": round(s.upstream * 1000, 3),
    }
    if error is not None:
        record["error"] = getattr(error, "code", None) or type(error).__name__
    gw.decisions.emit(record)


def served_headers(s: Served) -> dict[str, str]:
    h: dict[str, str] = {}
    if s.decision is not None:
        h["x-open-router-rule"] = s.decision.rule
    if s.model != "-":
        h["x-open-router-model"] = s.model
    if s.attempts:
        h["x-open-router-attempts"] = str(len(s.attempts))
    return h


async def read_body(max_bytes: int) -> bytes:
    """The raw body, 413 when it is larger than ``max_bytes`` (Content-Length first, then counted)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge(f"The request body ({length} bytes) is larger than the limit of {max_bytes} bytes.")
    try:
        return await request.get_data(cache=False)  # Quart counts chunked bodies against MAX_CONTENT_LENGTH
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"The request body is larger than the limit of {max_bytes} bytes.") from None


def decide_chat(gw: Gateway, s: Served, body: dict, headers: Any) -> Decision:
    policy = gw.policies.policy
    facts = gw.facts.chat(s.principal, body, headers, s.request_id)  # type: ignore[arg-type]
    decision = policy.decide(facts)
    s.decision = decision
    g.policy_version = decision.policy_version
    return decision


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(obj), status=status, content_type=JSON, headers=headers)


def fail(gw: Gateway, s: Served, err: GatewayError) -> Response:
    """The error response for a request that got past auth; also records it."""
    attempts = getattr(err, "attempts", None)
    if attempts:
        s.attempts = tuple(attempts)
    finish(gw, s, err.status, err)
    from ..app import error_response

    return error_response(err, served_headers(s))


async def stream_chunks(gw: Gateway, s: Served, decision: Decision, body: dict) -> tuple[dict, Any]:
    """Open the stream through the executor: (first chunk, rest iterator). Errors before the first chunk
    raise (and the caller answers with a plain HTTP error, as OpenAI does)."""
    t1 = _perf()
    try:
        out = await gw.executor.stream(decision, body)
    finally:
        s.upstream += _perf() - t1
    s.attempts = tuple(out.attempts)
    s.model = out.target.model
    return out.first, out.rest


async def relay(gw: Gateway, s: Served, first: dict, rest: Any) -> AsyncIterator[tuple[str, Any]]:
    """The chunks of an opened stream as ("chunk", dict) ... then ("done", None) or ("error", GatewayError).

    Shared by SSE and WebSocket. Closes ``rest`` however it ends (also on cancellation) and records the
    request once. Time spent waiting on the upstream counts as upstream time, so the overhead histogram
    keeps measuring the gateway.
    """
    status = 200
    error: BaseException | None = None
    try:
        yield "chunk", first
        it = rest.__aiter__()
        while True:
            t1 = _perf()
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                break
            finally:
                s.upstream += _perf() - t1
            yield "chunk", chunk
        yield "done", None
    except GatewayError as err:
        status, error = err.status, err
        gw.metrics.stream_errors.inc((s.model,))
        yield "error", err
    except (asyncio.CancelledError, GeneratorExit) as exc:
        status, error = 499, exc  # nginx's "client closed request": the client left
        raise
    except Exception as exc:
        rid = s.request_id
        log.error("stream failed (request %s)", rid, exc_info=exc, extra={"request_id": rid})
        status, error = 500, exc
        gw.metrics.stream_errors.inc((s.model,))
        yield "error", InternalError(f"The gateway hit an internal error mid-stream; quote request id {rid}.")
    finally:
        try:
            await rest.aclose()
        finally:
            finish(gw, s, status, error)


async def _sse(gw: Gateway, s: Served, first: dict, rest: Any) -> AsyncIterator[bytes]:
    events = relay(gw, s, first, rest)
    try:
        async for kind, item in events:
            if kind == "chunk":
                yield sse_event(item)
            elif kind == "done":
                yield SSE_DONE
            else:
                yield sse_event(item.body())
    finally:
        # `async for` does not close an async generator it leaves early (disconnect): close it now so the
        # upstream is released and the request recorded without waiting for garbage collection.
        await events.aclose()


def register(app: Quart, gw: Gateway) -> None:
    settings = gw.settings
    max_body = settings.max_body_bytes

    @app.post("/v1/chat/completions")
    async def chat_completions() -> Response:
        s = Served("/v1/chat/completions", _perf(), g.request_id)
        try:
            raw = await read_body(max_body)  # first: answering before the body is in makes Hypercorn drop the connection
            s.principal = await gw.auth.authenticate(request.headers)
            body = validate_chat(parse_json(raw))
            decision = decide_chat(gw, s, body, request.headers.items())
            if body.get("stream") is True:
                s.stream = True
                first, rest = await stream_chunks(gw, s, decision, body)
                resp = Response(_sse(gw, s, first, rest), content_type="text/event-stream",
                                headers={**SSE_HEADERS, **served_headers(s)})
                resp.timeout = None
                return resp
            t1 = _perf()
            try:
                out = await gw.executor.chat(decision, body)
            finally:
                s.upstream = _perf() - t1
            s.attempts, s.model = out.attempts, out.target.model
            resp = json_response(out.response, headers=served_headers(s))
            finish(gw, s, 200)
            return resp
        except GatewayError as err:
            return fail(gw, s, err)

    @app.post("/v1/embeddings")
    async def embeddings() -> Response:
        s = Served("/v1/embeddings", _perf(), g.request_id)
        try:
            raw = await read_body(max_body)
            s.principal = await gw.auth.authenticate(request.headers)
            body = validate_embeddings(parse_json(raw))
            facts = gw.facts.embeddings(s.principal, body, request.headers.items(), s.request_id)
            decision = s.decision = gw.policies.policy.decide(facts)
            g.policy_version = decision.policy_version
            t1 = _perf()
            try:
                out = await gw.executor.embed(decision, body)
            finally:
                s.upstream = _perf() - t1
            s.attempts, s.model = out.attempts, out.target.model
            resp = json_response(out.response, headers=served_headers(s))
            finish(gw, s, 200)
            return resp
        except GatewayError as err:
            return fail(gw, s, err)

    def model_obj(alias: str, m: Any, created: int) -> dict[str, Any]:
        return {"id": alias, "object": "model", "created": created, "owned_by": m.provider}

    @app.get("/v1/models")
    async def list_models() -> Response:
        await gw.auth.authenticate(request.headers)
        holder = gw.policies
        created = int(holder.loaded_at)
        data = [model_obj(alias, m, created) for alias, m in holder.policy.models.items()]
        return json_response({"object": "list", "data": data})

    @app.get("/v1/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        await gw.auth.authenticate(request.headers)
        holder = gw.policies
        m = holder.policy.models.get(model_id)
        if m is None:
            raise NotFound(f"The model '{model_id}' does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        return json_response(model_obj(model_id, m, int(holder.loaded_at)))
