"""The OpenAI-compatible HTTP surface: /v1/chat/completions (JSON and SSE), /v1/embeddings, /v1/models,
and what it shares with the WebSocket route (gateway/api/ws.py).

One request: read the body → auth → validate → Facts → policy.decide → executor → response, then metrics
and one decision-log line (`finish`). Every response carries x-request-id and x-open-router-policy; served
ones add x-open-router-model, x-open-router-rule and x-open-router-attempts.

GET /v1/models and /v1/models/{id} show a caller only the models its requests can be served by
(``Policy.models_for`` of its key's team, project, app, cost center and id): a model a route keeps for
another team is not listed, and asking for it is the same 404 as for a model that does not exist.

The two hot routes, POST /v1/chat/completions and /v1/embeddings, are answered on ASGI by
gateway/api/fast.py, around Quart's per-request machinery; Quart only knows them (`register`) so that
other methods on those paths still get its 405 and OPTIONS answers. /v1/models is a Quart route here.

Streams: ``data: {chunk}\\n\\n`` ... ``data: [DONE]\\n\\n``. A failure after the first chunk sends one
``data: {"error": {...}}`` event and ends without [DONE] (the OpenAI SDKs raise on it), never a silent
truncation. A client that disconnects cancels the handler task; `relay`'s ``finally`` closes the upstream
stream (StreamRest.aclose), so the upstream connection is released at once.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator

from quart import Quart, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..auth import Principal
from ..errors import GatewayError, InternalError, NotFound, PayloadTooLarge

if TYPE_CHECKING:
    from dsl.decision import Decision

    from ..app import Gateway

log = logging.getLogger("open_router.api")

_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
JSON = "application/json"
CHAT_ROUTE = "/v1/chat/completions"
EMBEDDINGS_ROUTE = "/v1/embeddings"
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
    recorded: bool = False  # `finish` ran: metrics and the decision log have this request


def finish(gw: Gateway, s: Served, status: int, error: GatewayError | BaseException | None = None) -> None:
    """Metrics and the decision-log line for a finished request (once: a second call does nothing, so a
    handler's last-resort recording never doubles what `relay` or an earlier branch recorded)."""
    if s.recorded:
        return
    s.recorded = True
    _record(gw, s, status, error)


def _record(gw: Gateway, s: Served, status: int, error: GatewayError | BaseException | None) -> None:
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


async def read_body(max_bytes: int) -> bytes:
    """The raw body of the Quart request, 413 when it is larger than ``max_bytes`` (Content-Length first,
    then counted)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise PayloadTooLarge.over(max_bytes, length)
    try:
        return await request.get_data(cache=False)  # Quart counts chunked bodies against MAX_CONTENT_LENGTH
    except RequestEntityTooLarge:
        raise PayloadTooLarge.over(max_bytes) from None


def decide_chat(gw: Gateway, s: Served, body: dict, headers: Any) -> Decision:
    """The policy's decision for a validated chat body; ``headers`` are the request's (name, value) pairs."""
    facts = gw.facts.chat(s.principal, body, headers, s.request_id)  # type: ignore[arg-type]
    decision = s.decision = gw.policies.policy.decide(facts)
    return decision


def decide_embeddings(gw: Gateway, s: Served, body: dict, headers: Any) -> Decision:
    facts = gw.facts.embeddings(s.principal, body, headers, s.request_id)  # type: ignore[arg-type]
    decision = s.decision = gw.policies.policy.decide(facts)
    return decision


def json_response(obj: Any, status: int = 200) -> Response:
    return Response(dumps(obj), status=status, content_type=JSON)


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


def register(app: Quart, gw: Gateway) -> None:
    async def served_by_fast_path() -> Response:
        raise RuntimeError("POST /v1/chat/completions and /v1/embeddings are answered by gateway.api.fast."
                           "FastPath, which create_app installs around the Quart app")

    # Never reached through the app (FastPath takes every request these rules match); registered so Quart
    # knows the paths and answers other methods on them with 405 + Allow, and OPTIONS, as for any route.
    for path in (CHAT_ROUTE, EMBEDDINGS_ROUTE):
        app.add_url_rule(path, "fast:" + path, served_by_fast_path, methods=["POST"])

    def model_obj(alias: str, m: Any, created: int) -> dict[str, Any]:
        return {"id": alias, "object": "model", "created": created, "owned_by": m.provider}

    def visible(policy: Any, p: Principal) -> tuple[str, ...]:
        """The aliases this caller's requests can be served by (the policy's routes for its key), in
        declaration order; cached per principal by the policy."""
        return policy.models_for(team=p.team, project=p.project, app=p.app, cost_center=p.cost_center,
                                 key=p.key_id)

    @app.get("/v1/models")
    async def list_models() -> Response:
        principal = await gw.auth.authenticate(request.headers)
        holder = gw.policies
        policy, created = holder.policy, int(holder.loaded_at)
        data = [model_obj(alias, policy.models[alias], created) for alias in visible(policy, principal)]
        return json_response({"object": "list", "data": data})

    @app.get("/v1/models/<path:model_id>")
    async def get_model(model_id: str) -> Response:
        principal = await gw.auth.authenticate(request.headers)
        holder = gw.policies
        policy = holder.policy
        m = policy.models.get(model_id)
        if m is None or model_id not in visible(policy, principal):
            raise NotFound(f"The model '{model_id}' does not exist or you do not have access to it.",
                           param="model", code="model_not_found")
        return json_response(model_obj(model_id, m, int(holder.loaded_at)))
