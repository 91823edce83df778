"""Executes a Decision: orders the plan's targets by strategy and live health, calls the adapters with a
per-attempt timeout, retries with backoff, honours Retry-After, and fails over down the chain.

How one failure is handled (``err`` is what the adapter raised):

    retryable (err.retryable, or its upstream status is in plan.retry_on)
        → the same target again after backoff (full jitter, or at least Retry-After when that is
          ≤ max_retry_after; a longer Retry-After moves on at once), up to 1 + plan.retries attempts,
          then the next target. A retryable 4xx not named in retry_on (e.g. "no embeddings here")
          goes to the next target without repeating.
    not retryable, the client's fault (a 4xx other than 408/429: the upstream rejected the request)
        → the walk stops and the error goes to the client as it is — unless the error says another
          target may accept it (``failover``, an upstream 413): then the next target at once
    not retryable, the gateway's side (bad provider key, missing adapter, ...)
        → no point repeating it: the next target at once
    not a GatewayError at all, raised after the request went out (an adapter choked on an answer;
    never CancelledError)
        → logged once with its traceback, then handled as a retryable UpstreamError
          "upstream_bad_response": the same target again, then the next one
    not a GatewayError, raised before anything was sent (translating the client's request failed:
    providers.base.REQUEST_SENT still False)
        → the request's fault, never the deployment's: a 400 invalid_request_error that moves no breaker
          and no error rate, logged once with its traceback; the next target at once (another provider
          may translate it), and the client gets the 400 when none can

Order: gateway/strategies.py `rank` (cheapest: this request's expected cost; fastest: lowest sliding-window
p50 or p95, too few samples first; least_busy; round_robin; ordered), then the fallback chain, de-duplicated
by deployment (provider, upstream); targets whose breaker is open (or half-open with its probe out) or that
the upstream throttled go last; too-small context windows are dropped. Outcomes (and errors, as ``.why``)
carry every target considered with why it was taken or passed over.

When every target failed, the last error is raised with its client-facing status kept and a message
that counts the attempts (and no upstream address). A GatewayError raised after at least one attempt
carries ``.attempts`` (tuple[Attempt, ...]) so the HTTP layer can report them on errors too.

Streams fail over only until the first chunk: ``stream()`` returns once a chunk is in hand, and a
failure after that surfaces from ``StreamOutcome.rest`` as UpstreamConnect ``stream_interrupted``.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import random
import time
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Mapping

from dsl.decision import Decision, Target
from dsl.secrets import drop_addresses
from gateway.errors import GatewayError, InvalidRequest, NotFound, UpstreamConnect, UpstreamError
from gateway.health import HealthBoard, ModelStatus, error_code, is_client_fault
from gateway.providers.base import REQUEST_SENT, Adapter
from gateway.strategies import Why, fitting, rank, requested_completion  # noqa: F401 - re-exported

log = logging.getLogger("open_router.router")
_perf = time.perf_counter
_CHAT, _EMBED, _STREAM = 0, 1, 2


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call to one target. ``outcome`` is "ok" or the error code; ``upstream_status`` is the status
    of an upstream error reply (None on success, or when nothing came back)."""

    target: Target
    outcome: str
    upstream_status: int | None
    latency_ms: float

    def as_json(self) -> dict[str, Any]:
        return {"target": self.target.as_json(), "outcome": self.outcome,
                "upstream_status": self.upstream_status, "latency_ms": round(self.latency_ms, 3)}


@dataclass(frozen=True, slots=True)
class Outcome:
    """A served request: the OpenAI-shaped response (``model`` set to the policy's alias), who served it,
    and every attempt it took."""

    response: dict
    target: Target
    attempts: tuple[Attempt, ...]
    why: tuple[Why, ...] = ()  # every target considered, in order, with why it was taken or passed over


@dataclass(frozen=True, slots=True)
class StreamOutcome:
    """An opened stream: ``first`` chunk already received, ``rest`` yields the others.

    Iterate ``rest`` to the end, or ``await rest.aclose()`` (also ``async with rest:``), so the upstream
    response is closed and the in-flight count released at once rather than at garbage collection.
    """

    target: Target
    attempts: tuple[Attempt, ...]
    first: dict
    rest: StreamRest
    why: tuple[Why, ...] = ()


# A frozen dataclass's generated __init__ goes through object.__setattr__ per field, several times the cost
# of a plain one, and these are built on every request: the executor fills the slots directly instead.
# Same objects, just as immutable for everyone who receives them.
_new = object.__new__
_at_target, _at_outcome, _at_status, _at_latency = (Attempt.__dict__[f].__set__ for f in Attempt.__slots__)
_oc_response, _oc_target, _oc_attempts, _oc_why = (Outcome.__dict__[f].__set__ for f in Outcome.__slots__)


def _attempt(target: Target, outcome: str, upstream_status: int | None, latency_ms: float) -> Attempt:
    a = _new(Attempt)
    _at_target(a, target)
    _at_outcome(a, outcome)
    _at_status(a, upstream_status)
    _at_latency(a, latency_ms)
    return a


def _outcome(response: dict, target: Target, attempts: tuple[Attempt, ...], why: tuple[Why, ...]) -> Outcome:
    o = _new(Outcome)
    _oc_response(o, response)
    _oc_target(o, target)
    _oc_attempts(o, attempts)
    _oc_why(o, why)
    return o


class StreamRest:
    """The remaining chunks of a stream; keeps the attempt in flight until the stream ends or is closed."""

    __slots__ = ("_it", "_status", "_probe", "_alias", "_ttfb_ms", "_chunks", "_closed", "__weakref__")

    def __init__(self, it: AsyncIterator[dict], status: ModelStatus, probe: bool, alias: str,
                 ttfb_ms: float) -> None:
        self._it = it
        self._status = status
        self._probe = probe
        self._alias = alias
        self._ttfb_ms = ttfb_ms
        self._chunks = 1  # the first one went out with StreamOutcome.first
        self._closed = False

    def __aiter__(self) -> StreamRest:
        return self

    async def __anext__(self) -> dict:
        if self._closed:
            raise StopAsyncIteration
        try:
            chunk = await self._it.__anext__()
        except StopAsyncIteration:
            self._closed = True
            self._status.end(self._probe)
            # Time to first chunk, not total time: the total measures the answer's length, and the
            # first chunk is what a streaming client waits on.
            self._status.success(self._ttfb_ms)
            self._status.observe_stream(ttft_ms=self._ttfb_ms)
            raise
        except GatewayError as err:
            self._closed = True
            self._status.end(self._probe)
            self._status.failure(err)
            await _aclose(self._it)
            raise UpstreamConnect(
                f"the stream from model {self._alias!r} broke off after {_plural(self._chunks, 'chunk')}: "
                f"{_scrub(err.message)}",
                code="stream_interrupted", upstream_status=getattr(err, "upstream_status", None),
                retryable=False, provider=getattr(err, "provider", None)) from err
        except Exception as err:
            self._closed = True
            self._status.end(self._probe)
            self._status.failure(err)
            await _aclose(self._it)
            raise
        except BaseException:
            await self._abandon()  # cancelled: the client went away
            raise
        self._chunks += 1
        chunk["model"] = self._alias
        return chunk

    async def _abandon(self) -> None:
        self._closed = True
        self._status.end(self._probe)  # no verdict on the upstream
        await _aclose(self._it)

    async def aclose(self) -> None:
        """Stop early: close the upstream response and release the in-flight count (idempotent)."""
        if not self._closed:
            await self._abandon()

    async def __aenter__(self) -> StreamRest:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Safety net for a consumer that drops the stream unclosed: the count must not leak. (The upstream
        # generator itself is finalised by the event loop's async-generator hooks.)
        if not self._closed:
            self._closed = True
            self._status.end(self._probe)


async def _aclose(it: Any) -> None:
    aclose = getattr(it, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except RuntimeError:
            pass  # "already running": it is unwinding on its own


def _scrub(message: str) -> str:
    """Adapters redact secrets; this also drops upstream addresses (URLs, hosts, IPs) from what a client reads."""
    return drop_addresses(message)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _adapter_failure(exc: Exception, target: Target) -> UpstreamError:
    """The retryable UpstreamError standing for an unexpected exception out of an adapter call, logged once
    with its traceback. Neither the log message nor the error carries the exception's text (it may quote
    upstream data); the traceback is for the operator."""
    log.warning("adapter for provider %r raised %s on upstream %r; treated as a bad upstream response",
                target.provider, type(exc).__name__, target.upstream, exc_info=exc)
    return UpstreamError(f"provider {target.provider!r} sent a response the gateway could not translate",
                         code="upstream_bad_response", status=502, retryable=True, provider=target.provider)


def _translation_failure(exc: Exception, target: Target) -> InvalidRequest:
    """The 400 standing for an unexpected exception while an adapter translated the request (nothing was
    sent). Fails over: another provider's translation may take it. Logged once with its traceback."""
    log.warning("adapter for provider %r raised %s translating a request for upstream %r; answered as the "
                "client's error", target.provider, type(exc).__name__, target.upstream, exc_info=exc)
    err = InvalidRequest(f"provider {target.provider!r} cannot take this request: translating it for the "
                         f"provider failed ({type(exc).__name__})", code="invalid_request")
    err.failover = True  # type: ignore[attr-defined]
    return err


def _split_error(error: str) -> tuple[str, str]:
    # Decision.error reads "code: message" (e.g. "model_not_found: the model `x` is not served ...").
    code, sep, message = error.partition(": ")
    if sep and code.isidentifier():
        return code, message
    return "model_not_found", error


class Executor:
    """Walks Decisions. One per app; holds the round-robin counters and reads/updates the HealthBoard."""

    def __init__(self, adapters: Mapping[str, Adapter] | Callable[[str], Adapter] | None, health: HealthBoard, *,
                 backoff_base: float = 0.05, backoff_max: float = 2.0, max_retry_after: float = 10.0,
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self._adapters: Mapping[str, Adapter] | None = None
        self._factory: Callable[[str], Adapter] | None = None
        if isinstance(adapters, Mapping):
            self._adapters = adapters
        elif adapters is not None:
            self._factory = adapters
        self.health = health
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_after = max_retry_after
        self._random = (rng or random.Random()).random
        self._sleep = sleep
        self._rr: dict[str, int] = {}  # rule → round-robin counter

    # ----------------------------------------------------------------- public

    # ``adapters``: the providers of the policy version that made ``decision`` (gateway.policy's
    # LoadedPolicy.adapters), so a request decided before a reload never reaches a newer version's
    # provider; None uses the executor's own (tests, benchmarks).

    async def chat(self, decision: Decision, body: dict, adapters: Mapping[str, Adapter] | None = None) -> Outcome:
        return await self._walk(decision, body, _CHAT, adapters)

    async def embed(self, decision: Decision, body: dict,
                    adapters: Mapping[str, Adapter] | None = None) -> Outcome:
        return await self._walk(decision, body, _EMBED, adapters)

    async def stream(self, decision: Decision, body: dict,
                     adapters: Mapping[str, Adapter] | None = None) -> StreamOutcome:
        return await self._walk(decision, body, _STREAM, adapters)

    def order(self, decision: Decision, body: Mapping[str, Any] | None = None) -> list[Target]:
        """The targets in the order they will be tried (strategy, then fallback, open circuits last)."""
        return self._route(decision, body)[0]

    def explain_order(self, decision: Decision, body: Mapping[str, Any] | None = None) -> list[Why]:
        """(target, why) in the order they will be tried (for tests and the admin surface)."""
        return self._route(decision, body)[2]

    # ----------------------------------------------------------------- ordering

    def _route(self, decision: Decision, body: Mapping[str, Any] | None = None
               ) -> tuple[list[Target], list[ModelStatus], list[Why]]:
        return rank(decision, body, self.health, self._rr)

    # ----------------------------------------------------------------- the walk

    def _adapter(self, provider: str, adapters: Mapping[str, Adapter] | None) -> Adapter:
        try:
            if adapters is not None:
                return adapters[provider]
            if self._adapters is not None:
                return self._adapters[provider]
            if self._factory is None:
                raise KeyError(provider)
            return self._factory(provider)
        except KeyError:
            raise UpstreamError(f"no adapter for provider {provider!r}", code="provider_unavailable",
                                status=502, retryable=False, provider=provider) from None

    async def _walk(self, decision: Decision, body: dict, kind: int,
                    adapters: Mapping[str, Adapter] | None) -> Any:
        if decision.error is not None:
            code, message = _split_error(decision.error)
            raise NotFound(message, param="model" if code == "model_not_found" else None, code=code)
        plan = decision.plan
        targets, statuses, why = self._route(decision, body)
        if not targets:
            raise NotFound("the policy named no model for this request", param="model", code="model_not_found")
        if kind != _EMBED:
            targets, statuses, why = fitting(targets, statuses, why, decision.facts.prompt_tokens, body)
        whys = tuple(why)
        timeout = None if plan.timeout is None else float(plan.timeout)
        retry_on = plan.retry_on
        tries = 1 + max(0, plan.retries)
        attempts: list[Attempt] = []
        last: GatewayError | None = None
        used = 0

        for target, status in zip(targets, statuses):
            used += 1
            try:
                adapter = self._adapter(target.provider, adapters)
            except UpstreamError as err:
                attempts.append(_attempt(target, error_code(err), None, 0.0))
                last = err
                continue
            req = dict(body)  # one shallow copy per target: retries send the same body
            req["model"] = target.upstream
            for n in range(tries):
                probe = status.begin()
                REQUEST_SENT.set(False)
                t0 = _perf()
                try:
                    # Direct calls rather than a callable per kind: no extra coroutine frame per attempt.
                    if kind == _CHAT:
                        result: Any = await adapter.chat(target, req, timeout=timeout)
                    elif kind == _EMBED:
                        result = await adapter.embed(target, req, timeout=timeout)
                    else:
                        result = await _open_stream(adapter, target, req, timeout, status, probe, t0)
                except Exception as exc:
                    ms = (_perf() - t0) * 1000.0
                    # Anything but a GatewayError out of an adapter is a translation it could not do (an
                    # upstream answer of a shape nobody foresaw, or a bug): as far as the walk goes, a bad
                    # response from that target, so it fails over like one instead of becoming a 500.
                    if isinstance(exc, GatewayError):
                        err = exc
                    elif REQUEST_SENT.get():
                        err = _adapter_failure(exc, target)
                    else:
                        err = _translation_failure(exc, target)
                    status.end(probe)
                    status.failure(err)
                    upstream_status = getattr(err, "upstream_status", None)
                    attempts.append(_attempt(target, error_code(err), upstream_status, ms))
                    last = err
                    # A refused provider credential never gets better on the same target, whatever
                    # `retry on` names: the next target at once.
                    if not (getattr(err, "retryable", False)
                            or (upstream_status is not None and upstream_status in retry_on
                                and err.code != "upstream_auth_failed")):
                        if is_client_fault(err) and not getattr(err, "failover", False):
                            err.attempts = tuple(attempts)
                            err.why = whys  # type: ignore[attr-defined]
                            raise err
                        break  # the gateway's side (credentials, config): repeating it won't help
                    if n + 1 == tries:
                        break
                    if upstream_status not in retry_on and is_client_fault(err):
                        break  # e.g. "this provider serves no embeddings": another target may, this one won't
                    wait = min(self.backoff_max, self.backoff_base * (2 ** n)) * self._random()
                    retry_after = getattr(err, "retry_after", None)
                    if retry_after is not None:
                        if retry_after > self.max_retry_after:
                            break  # the upstream asks for longer than we will hold the client: move on
                        if retry_after > wait:
                            wait = retry_after
                    await self._sleep(wait)
                    continue
                except BaseException:
                    status.end(probe)  # cancelled (the client went away): no verdict on the upstream
                    raise
                if kind == _STREAM:
                    # The stream stays in flight (StreamRest ends it) until its last chunk.
                    first, rest = result
                    attempts.append(_attempt(target, "ok", None, rest._ttfb_ms))
                    return StreamOutcome(target, tuple(attempts), first, rest, whys)
                ms = (_perf() - t0) * 1000.0
                status.end(probe)
                status.success(ms)
                result["model"] = target.model
                attempts.append(_attempt(target, "ok", None, ms))
                return _outcome(result, target, tuple(attempts), whys)

        assert last is not None
        final = self._exhausted(last, attempts, used)
        final.why = whys  # type: ignore[attr-defined]
        raise final

    @staticmethod
    def _exhausted(last: GatewayError, attempts: list[Attempt], used: int) -> GatewayError:
        n = len(attempts)
        message = (f"all {_plural(n, 'attempt')} on {_plural(used, 'target')} failed; "
                   f"last: {_scrub(last.message)}")
        # Same class and attributes as the last error, so its status, code and Retry-After reach the client.
        final = copy.copy(last)
        final.message = message
        final.args = (message,)
        final.attempts = tuple(attempts)
        final.__cause__ = last
        return final


async def _open_stream(adapter: Adapter, target: Target, req: dict, timeout: float | None,
                       status: ModelStatus, probe: bool, t0: float) -> tuple[dict, StreamRest]:
    """Open a stream and wait for its first chunk, so a failure before it can still fail over."""
    it = adapter.chat_stream(target, req, timeout=timeout).__aiter__()
    try:
        first = await it.__anext__()
    except StopAsyncIteration:
        raise UpstreamError(f"provider {target.provider!r} ended the stream before the first chunk",
                            code="upstream_bad_response", status=502, retryable=True,
                            provider=target.provider) from None
    except BaseException:
        await _aclose(it)  # closes the upstream response (a no-op when the generator already unwound)
        raise
    ttfb_ms = (_perf() - t0) * 1000.0
    first["model"] = target.model
    return first, StreamRest(it, status, probe, target.model, ttfb_ms)
