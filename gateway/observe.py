"""Observability: Prometheus metrics (hand-rolled, rendered at GET /metrics), the decision log (one JSON
line per request on the "open_router.decisions" logger) and log configuration.

Hand-rolled rather than prometheus_client: recording is a dict update under no lock (one event loop per
process), and nothing is imported or allocated per request beyond the label tuple. Labels are bounded:
HTTP route templates, policy model aliases, statuses, provider names and outcome codes. Never a key id,
a secret, a user or a requested-but-unknown model name.
"""
from __future__ import annotations

import asyncio
import bisect
import json
import logging
import sys
import time
from typing import Any, Iterable

DECISIONS_LOGGER = "open_router.decisions"
# Seconds; overhead is sub-millisecond when healthy, totals are dominated by the upstream.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    if not names:
        return ""
    return "{" + ",".join(f'{n}="{_escape(str(v))}"' for n, v in zip(names, values)) + "}"


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class Counter:
    __slots__ = ("name", "help", "labelnames", "values")

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...]) -> None:
        self.name, self.help, self.labelnames = name, help, labelnames
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for labels, v in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labelnames, labels)} {_num(v)}"


class Histogram:
    __slots__ = ("name", "help", "labelnames", "buckets", "series")

    def __init__(self, name: str, help: str, labelnames: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.labelnames, self.buckets = name, help, labelnames, buckets
        self.series: dict[tuple[str, ...], list[float]] = {}  # per bucket counts (not cumulative), +Inf, sum

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        s = self.series.get(labels)
        if s is None:
            s = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        s[bisect.bisect_left(self.buckets, value)] += 1
        s[-1] += value

    def render(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for labels, s in sorted(self.series.items()):
            base = list(zip(self.labelnames, labels))
            running = 0.0
            for bound, count in zip((*self.buckets, float("inf")), s[:-1]):
                running += count
                le = "+Inf" if bound == float("inf") else repr(bound)
                names = tuple(n for n, _ in base) + ("le",)
                values = tuple(v for _, v in base) + (le,)
                yield f"{self.name}_bucket{_labels(names, values)} {_num(running)}"
            yield f"{self.name}_sum{_labels(self.labelnames, labels)} {repr(s[-1])}"
            yield f"{self.name}_count{_labels(self.labelnames, labels)} {_num(running)}"


class Metrics:
    """Every metric the gateway exports. One per app."""

    def __init__(self) -> None:
        self.requests = Counter("open_router_requests_total", "Requests answered, by route, served model and status.",
                                ("route", "model", "status"))
        self.attempts = Counter("open_router_upstream_attempts_total",
                                "Calls to upstream models, by provider, model and outcome.",
                                ("provider", "model", "outcome"))
        self.failovers = Counter("open_router_failovers_total",
                                 "Requests served (or failed) after moving to another target, by the model that "
                                 "was failed away from.", ("model",))
        self.stream_errors = Counter("open_router_stream_errors_total",
                                     "Streams that ended with an error event after the first chunk.", ("model",))
        self.overhead = Histogram("open_router_gateway_overhead_seconds",
                                  "Time spent in the gateway itself (total minus time awaiting upstreams).",
                                  ("route",), OVERHEAD_BUCKETS)
        self.latency = Histogram("open_router_request_duration_seconds",
                                 "Total time to answer (for streams: to the end of the stream).",
                                 ("route",), LATENCY_BUCKETS)
        self.started = time.time()
        self.extra: list[Any] = []  # other parts' metric families (anything with render() -> lines)

    def record(self, route: str, model: str, status: int, total: float, upstream: float,
               attempts: tuple[Any, ...] = ()) -> None:
        self.requests.inc((route, model, str(status)))
        self.latency.observe((route,), total)
        self.overhead.observe((route,), max(0.0, total - upstream))
        prev = None
        for a in attempts:
            t = a.target
            self.attempts.inc((t.provider, t.model, a.outcome))
            if prev is not None and prev.model != t.model:
                self.failovers.inc((prev.model,))
            prev = t

    def render(self) -> str:
        lines: list[str] = []
        for metric in (self.requests, self.attempts, self.failovers, self.stream_errors, self.overhead,
                       self.latency, *self.extra):
            lines.extend(metric.render())
        lines.append("# HELP open_router_start_time_seconds When this process started serving (unix time).")
        lines.append("# TYPE open_router_start_time_seconds gauge")
        lines.append(f"open_router_start_time_seconds {self.started:.3f}")
        return "\n".join(lines) + "\n"


class DecisionLog:
    """One JSON line per request, written after the response on the next loop turn (off the hot path)."""

    def __init__(self, enabled: bool = True, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(DECISIONS_LOGGER)
        self.enabled = enabled

    def emit(self, record: dict[str, Any]) -> None:
        if not self.enabled or not self.logger.isEnabledFor(logging.INFO):
            return
        try:
            asyncio.get_running_loop().call_soon(self._write, record)
        except RuntimeError:  # no loop (tests calling directly): write now
            self._write(record)

    def _write(self, record: dict[str, Any]) -> None:
        self.logger.info(json.dumps(record, separators=(",", ":"), default=str))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None) -> None:
    """Root logging for `serve`: text or JSON lines on stderr; decision lines are bare JSON either way."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)

    decisions = logging.getLogger(DECISIONS_LOGGER)
    for h in list(decisions.handlers):
        decisions.removeHandler(h)
    dh = logging.StreamHandler(stream)
    dh.setFormatter(logging.Formatter("%(message)s"))  # the message already is one JSON object
    decisions.addHandler(dh)
    decisions.propagate = False
    # The decision log is the record of which rule and policy version decided each request: the log level
    # quiets diagnostics, not it (OPEN_ROUTER_DECISION_LOG turns it off).
    decisions.setLevel(logging.INFO)
