"""The request pipeline every surface calls (the ASGI fast path, the Quart routes, the WebSocket):

    authenticate → validate → facts + decide → admit → execute | open_stream → relay → finish

Each stage is one method of `Pipeline`; the HTTP and WebSocket modules keep only what is theirs
(reading bodies and frames, writing responses and frames) and hand the stages a `Served`, which
collects what the request was and did. `decide` leases the live policy snapshot, and everything after
it uses that snapshot (its providers, its prices) until `finish` gives it back. `admit` runs between
deciding and calling the upstream (rate limits and budget reservations plug in there, through the
Admission of gateway/admission.py); settling is the recording step's (gateway/record.py).

Usage: every upstream is asked for usage on every stream (``stream_options.include_usage``, which each
adapter translates: OpenAI passes it on, Anthropic and Gemini report their usage events); `relay` takes
it for the record and strips it from what the client receives when the client did not ask for it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Iterable, Mapping

from .capabilities import restrict
from .errors import GatewayError, InternalError
from .record import Served, Usage
from .schema import parse_json, validate_chat, validate_embeddings

if TYPE_CHECKING:
    from dsl.decision import Decision

    from .auth import Principal
    from .context import Gateway
    from .router import Outcome

log = logging.getLogger("open_router.api")
_perf = time.perf_counter
CLIENT_CLOSED = 499  # nginx's "client closed request": recorded for a request whose client left
_USAGE_ON = {"include_usage": True}


class Pipeline:
    """The stages, bound to one app's parts."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw
        self.auth = gw.auth
        self.policies = gw.policies
        self.facts = gw.facts
        self.executor = gw.executor
        self.admission = gw.admission
        self.recorder = gw.recorder
        self.finish = gw.recorder.finish  # finish(served, status, error=None): record once
        self.lifecycle = gw.lifecycle  # while draining, streams race the cut

    # ------------------------------------------------------------------ access

    def begin(self, route: str, request_id: str, *, principal: Principal | None = None,
              stream: bool = False) -> Served:
        return Served(route, _perf(), request_id, principal, stream=stream)

    async def authenticate(self, s: Served, headers: Mapping[str, str]) -> Principal:
        p = s.principal = await self.auth.authenticate(headers)
        return p

    # ------------------------------------------------------------------ validate, facts, decide

    def chat(self, s: Served, raw: bytes | dict, headers: Iterable[tuple[str, str]], *,
             always_stream: bool = False) -> Decision:
        """Validate a chat body (raw bytes, or a parsed frame) and decide it; the body the executor is
        given becomes ``s.body``. ``always_stream``: streamed whatever the body says (the WebSocket)."""
        body = validate_chat(parse_json(raw) if isinstance(raw, (bytes, bytearray)) else raw, parsed=True)
        if always_stream and body.get("stream") is not True:
            body = {**body, "stream": True}  # a copy: the frame is not ours to change
        if body.get("stream") is True:
            s.stream = True
        return self._decide(s, body, self.facts.chat(s.principal, body, headers, s.request_id), False)  # type: ignore[arg-type]

    def embeddings(self, s: Served, raw: bytes, headers: Iterable[tuple[str, str]]) -> Decision:
        body = validate_embeddings(parse_json(raw), parsed=True)
        return self._decide(s, body, self.facts.embeddings(s.principal, body, headers, s.request_id), True)  # type: ignore[arg-type]

    def _decide(self, s: Served, body: dict, facts: Any, embeddings: bool) -> Decision:
        """Decide, then keep only the targets that have what the body needs (gateway/capabilities.py)."""
        snap = s.snapshot = self.policies.acquire()
        decision = s.decision = snap.policy.decide(facts)
        if decision.arm is not None and self.gw.ramp_guards is not None:
            # A guarded ramp drawn for its new model stays on the old one while the guard trips (the
            # decision is pure; the live status is the gateway's: gateway/ramp_guard.py).
            decision, s.guard = self.gw.ramp_guards.apply(snap.policy, decision)
        s.body = body
        adapters = snap.adapters
        decision = s.decision = restrict(decision, body, embeddings=embeddings,
                                         kind_of=lambda p: getattr(adapters.get(p), "kind", None) if adapters else None)
        return decision

    # ------------------------------------------------------------------ admit

    async def admit(self, s: Served) -> None:
        """Rate limits and budget reservations for ``s``'s decision; raises the refusal (429) or the
        store's unavailability (503). Settling is the recorder's."""
        await self.admission.admit(s)

    # ------------------------------------------------------------------ execute

    async def execute(self, s: Served) -> Outcome:
        """Call the upstream for a non-streamed request (chat or embeddings, by route)."""
        snap = s.snapshot
        adapters = snap.adapters if snap is not None else None
        call = self.executor.embed if s.route.endswith("/embeddings") else self.executor.chat
        t1 = _perf()
        try:
            out = await call(s.decision, s.body, adapters)  # type: ignore[arg-type]
        finally:
            s.upstream += _perf() - t1
        s.attempts, s.model, s.target, s.why = out.attempts, out.target.model, out.target, out.why
        s.usage = Usage.from_openai(out.response.get("usage"))
        if self.recorder.log_content:
            s.response = out.response
        return out

    async def open_stream(self, s: Served) -> tuple[dict, Any]:
        """Open the stream through the executor: (first chunk, rest). Errors before the first chunk raise
        (the surface answers with a plain error, as OpenAI does)."""
        s.stream = True
        body = s.body
        opts = body.get("stream_options")
        s.include_usage = isinstance(opts, Mapping) and bool(opts.get("include_usage"))
        if not s.include_usage:
            body = {**body, "stream_options": {**opts, **_USAGE_ON} if isinstance(opts, Mapping) else _USAGE_ON}
        snap = s.snapshot
        t1 = _perf()
        try:
            out = await self.executor.stream(s.decision, body, snap.adapters if snap is not None else None)  # type: ignore[arg-type]
        finally:
            s.upstream += _perf() - t1
        s.ttft = _perf() - s.t0
        s.attempts, s.model, s.target, s.why = tuple(out.attempts), out.target.model, out.target, out.why
        return out.first, out.rest

    async def relay(self, s: Served, first: dict, rest: Any) -> AsyncIterator[tuple[str, Any]]:
        """The chunks of an opened stream as ("chunk", dict) ... then ("done", None) or ("error",
        GatewayError). Shared by SSE and WebSocket. Takes the usage the upstream reports (and strips it
        when the client did not ask), counts the text relayed for an estimate when none comes, closes
        ``rest`` however it ends (also on cancellation), and records the request once. Time spent waiting
        on the upstream counts as upstream time, so the overhead histogram keeps measuring the gateway."""
        status = 200
        error: BaseException | None = None
        keep_usage = s.include_usage
        try:
            chunk: Any = first
            it = rest.__aiter__()
            while True:
                if "usage" in chunk:
                    usage = chunk["usage"]
                    if usage is not None:
                        s.usage = Usage.from_openai(usage)
                    if not keep_usage:
                        del chunk["usage"]
                        if not chunk.get("choices"):
                            chunk = None  # the usage-only chunk the client did not ask for
                if chunk is not None:
                    _count_text(s, chunk)
                    yield "chunk", chunk
                t1 = _perf()
                try:
                    if self.lifecycle.draining:  # the deadline (or a second SIGTERM) cuts with an error event
                        chunk = await self.lifecycle.race(it.__anext__())
                    else:
                        chunk = await it.__anext__()
                except StopAsyncIteration:
                    break
                finally:
                    s.upstream += _perf() - t1
            yield "done", None
        except GatewayError as err:
            status, error = err.status, err
            self.gw.metrics.stream_errors.inc((s.model,))
            yield "error", err
        except (asyncio.CancelledError, GeneratorExit) as exc:
            status, error = CLIENT_CLOSED, exc  # the client left
            raise
        except Exception as exc:
            rid = s.request_id
            log.error("stream failed (request %s)", rid, exc_info=exc, extra={"request_id": rid})
            status, error = 500, exc
            self.gw.metrics.stream_errors.inc((s.model,))
            yield "error", InternalError(f"The gateway hit an internal error mid-stream; quote request id {rid}.")
        finally:
            try:
                await rest.aclose()
            finally:
                self.finish(s, status, error)


def _count_text(s: Served, chunk: dict) -> None:
    """Add the chunk's generated text (content, tool-call arguments) to ``s.completion_chars``."""
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not delta:
            continue
        content = delta.get("content")
        if content:
            s.completion_chars += len(content)
        calls = delta.get("tool_calls")
        if calls:
            for call in calls:
                fn = call.get("function") if isinstance(call, dict) else None
                args = fn.get("arguments") if isinstance(fn, dict) else None
                if args:
                    s.completion_chars += len(args)


__all__ = ["CLIENT_CLOSED", "Pipeline"]
