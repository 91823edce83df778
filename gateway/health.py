"""Live status of every upstream model — latency and error-rate EWMAs, in-flight count, counters — and
the circuit breaker the executor consults before it walks a plan.

One ``ModelStatus`` per upstream deployment, keyed by ``(provider, upstream)``: two policy aliases that
name the same deployment share one breaker, because it is the deployment that is slow or down, not the
name. The aliases seen are kept for ``snapshot()``.

Breaker::

    closed ──N consecutive failures──▶ open ──cooldown elapsed──▶ half_open (one probe at a time)
      ▲                                  ▲                             │
      └──────────── success ─────────────┼──────── success ────────────┤
                                         └──────── failure ────────────┘

Only failures that say something about the upstream count: a client error (a non-retryable 4xx other
than 408/429, e.g. the upstream rejected a malformed request) is counted as a request but moves neither
the error rate nor the breaker. Cancellation (the client went away) records nothing but the in-flight
decrement.

Sliding windows (beside the EWMAs): the last ``window`` seconds (at most ``window_max`` samples) of
latencies, times to first token (streams), outcomes and output tokens per second, from which
``as_json`` reports p50 / p95 and the windowed error rate. The breaker also opens when that error rate
exceeds ``error_rate_threshold`` over at least ``min_window_requests`` outcomes. All per process: with
several workers or replicas each keeps its own board.

Everything hangs off a ``HealthBoard`` the app owns; it is meant for one event loop (no locks: every
update is a handful of attribute writes between awaits).
"""
from __future__ import annotations

import math
import time
from collections import deque
from typing import Any, Callable

from dsl.decision import Target
from gateway.errors import GatewayError

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

# Client-facing 4xx statuses that still blame the upstream (it timed out or throttled us).
_UPSTREAM_4XX = frozenset({408, 429})


def error_code(err: BaseException) -> str:
    """The short code an attempt is recorded under: the GatewayError's code, else the exception's name."""
    if isinstance(err, GatewayError):
        return err.code or type(err).__name__
    return "internal_error"


def is_client_fault(err: BaseException) -> bool:
    """Did this failure come from the request rather than the upstream? (Never trips a breaker.)"""
    if not isinstance(err, GatewayError):
        return False
    status = err.status
    return 400 <= status < 500 and status not in _UPSTREAM_4XX


class ModelStatus:
    """Live figures and breaker state of one upstream deployment."""

    __slots__ = (
        "provider", "upstream", "model", "aliases", "latency_ewma_ms", "error_rate", "in_flight",
        "last_error", "requests", "failures", "client_errors", "consecutive_failures", "state",
        "opened_at", "probing", "_board", "_lat", "_ttft", "_outcomes", "_tps", "throttled_until",
        "_completion", "cached_ratio", "_appends", "_sorted",
    )

    def __init__(self, board: HealthBoard, provider: str, upstream: str, model: str) -> None:
        self._board = board
        self.provider = provider
        self.upstream = upstream
        self.model = model  # the first alias seen; `aliases` has them all
        self.aliases: list[str] = [model]
        self.latency_ewma_ms: float | None = None  # None until the first success: "unknown"
        self.error_rate = 0.0
        self.in_flight = 0
        self.last_error: str | None = None
        self.requests = 0
        self.failures = 0
        self.client_errors = 0
        self.consecutive_failures = 0
        self.state = CLOSED
        self.opened_at = 0.0
        self.probing = False  # a half-open probe is in flight
        n = board.window_max
        self._lat: deque[tuple[float, float]] = deque(maxlen=n)  # (when, ms) of successes
        self._ttft: deque[tuple[float, float]] = deque(maxlen=n)  # (when, ms) of streams' first tokens
        self._outcomes: deque[tuple[float, bool]] = deque(maxlen=n)  # (when, ok) of upstream verdicts
        self._tps: deque[tuple[float, float]] = deque(maxlen=n)  # (when, output tokens per second)
        self.throttled_until = 0.0  # the upstream said 429 with Retry-After: not before this (board clock)
        self._completion: dict[str | None, list[float]] = {}  # task → [count, mean completion tokens]
        self.cached_ratio: float | None = None  # mean share of prompt tokens served from the provider's cache
        self._appends = [0, 0]  # latency, ttft samples ever added: with the length, the sorted cache's key
        self._sorted: dict[str, tuple[tuple[int, int], list[float]]] = {}

    # ----------------------------------------------------------------- windows

    def _recent(self, window: deque, span: float | None = None) -> list:
        """The values of the last ``span`` seconds (default: the board's window). Samples are kept for the
        board's ``retain`` seconds (at least its window; longer when a ramp guard looks further back)."""
        b = self._board
        now = b.clock()
        horizon = now - b.retain
        while window and window[0][0] < horizon:
            window.popleft()
        if span is None:
            span = b.window
        if span >= b.retain:
            return [v for _, v in window]
        cut = now - span
        return [v for t, v in window if t >= cut]

    def window_stats(self, span: float) -> dict[str, float | int | None]:
        """Error rate (0..1, with its outcome count ``n``), p50 / p95 latency and TTFT in ms, over the last
        ``span`` seconds (what a ramp guard reads)."""
        got = self._recent(self._outcomes, span)
        lat = sorted(self._recent(self._lat, span))
        ttft = sorted(self._recent(self._ttft, span))
        return {"error_rate": (sum(1 for ok in got if not ok) / len(got)) if got else 0.0, "n": len(got),
                "p50": _quantile(lat, 0.5), "p95": _quantile(lat, 0.95),
                "ttft_p50": _quantile(ttft, 0.5), "ttft_p95": _quantile(ttft, 0.95)}

    # ----------------------------------------------------------------- completions (for `cheapest`)

    _COMPLETION_MEMORY = 500  # the mean weighs about the last 500 answers per task (then it drifts)

    def observe_completion(self, task: str | None, completion_tokens: int, prompt_tokens: int = 0,
                           cached_tokens: int = 0) -> None:
        """A finished answer's size: the running mean completion length per task (None: task unknown) and
        the share of the prompt the provider served from its cache."""
        entry = self._completion.get(task)
        if entry is None:
            entry = self._completion[task] = [0.0, 0.0]
        n = min(entry[0] + 1.0, self._COMPLETION_MEMORY)
        entry[0] = n
        entry[1] += (completion_tokens - entry[1]) / n
        if prompt_tokens > 0:
            ratio = min(max(cached_tokens, 0), prompt_tokens) / prompt_tokens
            prev = self.cached_ratio
            self.cached_ratio = ratio if prev is None else prev + 0.05 * (ratio - prev)

    def completion_mean(self, task: str | None) -> float | None:
        """The observed mean completion length (tokens) of ``task`` on this deployment; None before any."""
        entry = self._completion.get(task)
        return None if entry is None else entry[1]

    def throttled_for(self) -> float:
        """Seconds the upstream asked us to wait (429 with Retry-After) that are still to run; 0 when none."""
        until = self.throttled_until
        if not until:
            return 0.0
        left = until - self._board.clock()
        if left <= 0:
            self.throttled_until = 0.0
            return 0.0
        return left

    def percentile(self, q: float, what: str = "latency") -> float | None:
        """The q-quantile (0..1, interpolated) of the window's latencies (or "ttft"); None when empty.
        The sorted window is cached until a sample arrives or leaves (`fastest` asks on every request)."""
        latency = what == "latency"
        dq = self._lat if latency else self._ttft
        b = self._board
        if b.retain > b.window:  # samples kept beyond the window (ramp guards): filter, no cache
            return _quantile(sorted(self._recent(dq)), q)
        self._prune(dq)
        if not dq:
            return None
        key = (self._appends[0 if latency else 1], len(dq))
        got = self._sorted.get(what)
        if got is None or got[0] != key:
            got = self._sorted[what] = (key, sorted([v for _, v in dq]))
        return _quantile(got[1], q)

    def _prune(self, dq: deque) -> None:
        horizon = self._board.clock() - self._board.retain
        while dq and dq[0][0] < horizon:
            dq.popleft()

    def samples(self) -> int:
        b = self._board
        if b.retain > b.window:
            return len(self._recent(self._lat))
        self._prune(self._lat)
        return len(self._lat)

    def window_error_rate(self) -> tuple[float, int]:
        """(failures / outcomes, outcomes) over the window."""
        got = self._recent(self._outcomes)
        return ((sum(1 for ok in got if not ok) / len(got)) if got else 0.0), len(got)

    def observe_stream(self, ttft_ms: float | None = None, output_tokens: int | None = None,
                       seconds: float | None = None) -> None:
        """A stream's time to first token and, at its end, its output rate."""
        now = self._board.clock()
        if ttft_ms is not None:
            self._ttft.append((now, ttft_ms))
            self._appends[1] += 1
        if output_tokens and seconds and seconds > 0:
            self._tps.append((now, output_tokens / seconds))

    # ----------------------------------------------------------------- breaker

    def circuit(self) -> str:
        """The breaker state now (an open breaker whose cooldown has passed reads as half_open)."""
        if self.state == OPEN and self._board.clock() - self.opened_at >= self._board.cooldown:
            self.state = HALF_OPEN
            self.probing = False
        return self.state

    def is_available(self) -> bool:
        """Should a new attempt go here ahead of others? Closed: yes; open: no; half-open: if no probe runs."""
        state = self.state
        if state == CLOSED:
            return True
        return self.circuit() == HALF_OPEN and not self.probing

    def begin(self) -> bool:
        """An attempt starts: in-flight + 1. True if it took the half-open probe slot (pass it to ``end``)."""
        self.in_flight += 1
        if self.state != CLOSED and self.circuit() == HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def end(self, probe: bool) -> None:
        """An attempt ends (record its verdict with ``success``/``failure`` after, or none if abandoned)."""
        self.in_flight -= 1
        if probe:
            self.probing = False

    def _open(self) -> None:
        self.state = OPEN
        self.opened_at = self._board.clock()
        self.probing = False

    # ----------------------------------------------------------------- outcomes

    def success(self, latency_ms: float) -> None:
        b = self._board
        now = b.clock()
        self._lat.append((now, latency_ms))
        self._appends[0] += 1
        self._outcomes.append((now, True))
        self.requests += 1
        prev = self.latency_ewma_ms
        self.latency_ewma_ms = latency_ms if prev is None else prev + b.latency_alpha * (latency_ms - prev)
        self.error_rate -= b.error_alpha * self.error_rate
        self.consecutive_failures = 0
        if self.state != CLOSED:
            self.state = CLOSED
            self.probing = False

    def failure(self, err: BaseException) -> None:
        self.requests += 1
        code = error_code(err)
        if is_client_fault(err):
            # The upstream answered; the request was at fault. Visible, but not held against the model.
            self.client_errors += 1
            self.last_error = code
            return
        b = self._board
        self._outcomes.append((b.clock(), False))
        retry_after = getattr(err, "retry_after", None)
        if retry_after and 429 in (getattr(err, "upstream_status", None), getattr(err, "status", None)):
            self.throttled_until = b.clock() + float(retry_after)
        self.failures += 1
        self.last_error = code
        self.error_rate += b.error_alpha * (1.0 - self.error_rate)
        self.consecutive_failures += 1
        state = self.state
        if state == CLOSED:
            if self.consecutive_failures >= b.failure_threshold:
                self._open()
            else:
                rate, n = self.window_error_rate()
                if n >= b.min_window_requests and rate > b.error_rate_threshold:
                    self._open()
        elif state == HALF_OPEN or self.circuit() == HALF_OPEN:
            self._open()  # the probe (or a last-resort attempt) failed: another full cooldown
        else:
            # A last-resort attempt on an open breaker failed: restart the cooldown from now.
            self.opened_at = b.clock()

    def as_json(self) -> dict[str, Any]:
        latency = self.latency_ewma_ms
        return {
            "model": self.model,
            "aliases": list(self.aliases),
            "provider": self.provider,
            "upstream": self.upstream,
            "latency_ewma_ms": None if latency is None else round(latency, 3),
            "error_rate": round(self.error_rate, 6),
            "in_flight": self.in_flight,
            "circuit": self.circuit(),
            "requests": self.requests,
            "failures": self.failures,
            "client_errors": self.client_errors,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            **self.window_json(),
        }

    def window_json(self) -> dict[str, Any]:
        rate, n = self.window_error_rate()
        tps = self._recent(self._tps)

        def r(v: float | None) -> float | None:
            return None if v is None else round(v, 3)

        return {
            "window_seconds": self._board.window,
            "window_requests": n,
            "window_error_rate": round(rate, 6),
            "latency_p50_ms": r(self.percentile(0.5)),
            "latency_p95_ms": r(self.percentile(0.95)),
            "ttft_p50_ms": r(self.percentile(0.5, "ttft")),
            "ttft_p95_ms": r(self.percentile(0.95, "ttft")),
            "output_tokens_per_s": r(sum(tps) / len(tps)) if tps else None,
        }


def _quantile(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted ``values``; linear interpolation between the closest ranks (numpy's
    default), so two samples give their mean. None when empty."""
    if not values:
        return None
    pos = q * (len(values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (pos - lo)


class Ticket:
    """One attempt in flight on one model: end it with ``ok``, ``fail`` or ``release`` (exactly once).

    Also a context manager that releases on exit if neither ``ok`` nor ``fail`` was called, so an
    exception or a cancellation can never leak an in-flight count or a half-open probe slot.
    """

    __slots__ = ("status", "probe", "done")

    def __init__(self, status: ModelStatus, probe: bool) -> None:
        self.status = status
        self.probe = probe
        self.done = False

    def _end(self) -> bool:
        if self.done:
            return False
        self.done = True
        self.status.end(self.probe)
        return True

    def ok(self, latency_ms: float) -> None:
        if self._end():
            self.status.success(latency_ms)

    def fail(self, err: BaseException) -> None:
        if self._end():
            self.status.failure(err)

    def release(self) -> None:
        """End without a verdict (the client went away): only the in-flight count and probe slot."""
        self._end()

    def __enter__(self) -> Ticket:
        return self

    def __exit__(self, *exc: object) -> None:
        self._end()


class HealthBoard:
    """Every ModelStatus of the gateway. Owned by the app; the executor and /admin/models/status read it."""

    def __init__(self, *, failure_threshold: int = 5, cooldown: float = 10.0, latency_alpha: float = 0.2,
                 error_alpha: float = 0.2, clock: Callable[[], float] = time.monotonic,
                 window: float = 300.0, window_max: int = 1024, error_rate_threshold: float = 0.5,
                 min_window_requests: int = 20, explore_samples: int = 1) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.cooldown = float(cooldown)
        self.latency_alpha = latency_alpha
        self.error_alpha = error_alpha
        self.clock = clock
        self.window = float(window)
        self.retain = float(window)  # how long samples are kept: raised by `retain_for` (ramp guards)
        self.window_max = window_max
        self.error_rate_threshold = error_rate_threshold
        self.min_window_requests = min_window_requests
        self.explore_samples = explore_samples  # `fastest` measures a deployment with fewer recent successes first
        self._by_key: dict[tuple[str, str], ModelStatus] = {}
        # Memo by id(target): hashing a Target builds a tuple each time, an int key does not. The entry
        # holds the Target itself, so its id cannot be reused while the entry lives; the policy's Targets
        # are long-lived, and the cap only bounds what policy reloads leave behind.
        self._by_id: dict[int, tuple[Target, ModelStatus]] = {}

    _MEMO_CAP = 8192

    def retain_for(self, seconds: float) -> None:
        """Keep samples at least ``seconds`` (a ramp guard's window); never below the board's own window."""
        self.retain = max(self.window, float(seconds))

    def status(self, target: Target) -> ModelStatus:
        """The ModelStatus of ``target``'s deployment (created on first sight)."""
        entry = self._by_id.get(id(target))
        if entry is not None and entry[0] is target:
            return entry[1]
        return self._add(target)

    def _add(self, target: Target) -> ModelStatus:
        key = (target.provider, target.upstream)
        s = self._by_key.get(key)
        if s is None:
            s = self._by_key[key] = ModelStatus(self, target.provider, target.upstream, target.model)
        elif target.model not in s.aliases:
            s.aliases.append(target.model)
        if len(self._by_id) >= self._MEMO_CAP:
            self._by_id.clear()
        self._by_id[id(target)] = (target, s)
        return s

    def start(self, target: Target) -> Ticket:
        """An attempt on ``target`` begins: in-flight + 1; takes the probe slot if the breaker is half-open."""
        s = self.status(target)
        return Ticket(s, s.begin())

    def success(self, target: Target, latency_ms: float) -> None:
        self.status(target).success(latency_ms)

    def failure(self, target: Target, err: BaseException) -> None:
        self.status(target).failure(err)

    def is_available(self, target: Target) -> bool:
        return self.status(target).is_available()

    def latency(self, target: Target) -> float | None:
        return self.status(target).latency_ewma_ms

    def in_flight(self, target: Target) -> int:
        return self.status(target).in_flight

    def snapshot(self) -> list[dict[str, Any]]:
        """Every known model's figures, ordered by provider then upstream (for /admin/models/status)."""
        return [self._by_key[k].as_json() for k in sorted(self._by_key)]
