"""Prometheus metrics on prometheus_client, one registry per app, rendered at GET /metrics.

Labels are bounded: HTTP route templates, policy model aliases and rule names, statuses, provider names,
upstream model names the policy declares, outcome codes and team names (from the key store). Never a key
id, a secret, a user or a requested-but-unknown model name. The hot path reuses each label set's child
(a dict lookup, then prometheus_client's own lock-guarded add), so recording costs about what the hand-
rolled counters it replaced did; bench/bench_ops.py measures the share of a request's CPU it takes.

State read at scrape time rather than on the hot path (circuit state per deployment, requests in flight,
the live policy version) comes from custom collectors bound to the Gateway (``bind``).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .context import Gateway
    from .record import Served
    from .reload import Attempt

# Seconds; overhead is sub-millisecond when healthy, totals are dominated by the upstream.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
disable_created_metrics()  # the *_created series double a scrape's size and nobody here reads them
CIRCUIT = {"closed": 0, "half_open": 1, "half-open": 1, "open": 2}


class _Children:
    """A metric's children by label tuple, made once each (``labels()`` takes a lock and builds a key)."""

    __slots__ = ("metric", "children")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.children: dict[tuple[str, ...], Any] = {}

    def get(self, labels: tuple[str, ...]) -> Any:
        child = self.children.get(labels)
        if child is None:
            child = self.children[labels] = self.metric.labels(*labels)
        return child

    def inc(self, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.get(labels).inc(amount)

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        self.get(labels).observe(value)


class Metrics:
    """Every metric the gateway exports. One per app (its own registry)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.extra: list[Any] = []  # anything with render() -> exposition lines (the limits' families)

        def counter(name: str, doc: str, labels: tuple[str, ...]) -> _Children:
            return _Children(Counter(name, doc, labels, registry=r))

        def histogram(name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> _Children:
            return _Children(Histogram(name, doc, labels, registry=r, buckets=buckets))

        self.requests = counter("open_router_requests", "Requests answered, by route, served model and status.",
                                ("route", "model", "status"))
        self.rules = counter("open_router_rule_requests", "Requests decided, by the policy rule that matched "
                             "and status.", ("rule", "status"))
        self.attempts = counter("open_router_upstream_attempts",
                                "Calls to upstream models, by provider, model and outcome.",
                                ("provider", "model", "outcome"))
        self.failovers = counter("open_router_failovers", "Requests served (or failed) after moving to another "
                                 "target, by the model that was failed away from.", ("model",))
        self.retries = counter("open_router_retries", "Further attempts on the same model after a retryable "
                               "failure.", ("model",))
        self.stream_errors = counter("open_router_stream_errors",
                                     "Streams that ended with an error event after the first chunk.", ("model",))
        self.overhead = histogram("open_router_gateway_overhead_seconds",
                                  "Time spent in the gateway itself (total minus time awaiting upstreams).",
                                  ("route",), OVERHEAD_BUCKETS)
        self.latency = histogram("open_router_request_duration_seconds",
                                 "Total time to answer (for streams: to the end of the stream).",
                                 ("route",), LATENCY_BUCKETS)
        self.ttft = histogram("open_router_time_to_first_token_seconds",
                              "Streams: time from the request to the first chunk.", ("route",), LATENCY_BUCKETS)
        self.tokens = counter("open_router_tokens", "Tokens used, by served model, team and kind "
                              "(prompt, completion, cached).", ("model", "team", "kind"))
        self.cost = counter("open_router_cost_usd", "Cost at the deciding version's prices, by served model "
                            "and team (an observation; the ledger is the record).", ("model", "team"))
        self.reloads = counter("open_router_policy_reloads", "Policy reload attempts by outcome "
                               "(activated, unchanged, rejected).", ("outcome",))
        self.reload_seconds = Histogram("open_router_policy_reload_seconds", "Seconds from the start of a "
                                        "reload attempt to its swap (or rejection).", registry=r,
                                        buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
        self.ramp_transitions = counter("open_router_ramp_guard_transitions", "Ramp guards tripping (state "
                                        "holding) and clearing (state resumed), by rule.", ("rule", "state"))
        self.ramp_held = counter("open_router_ramp_guard_held_requests", "Requests drawn for a ramp's new "
                                 "model and sent to its rest because the ramp's guard trips, by rule.", ("rule",))
        self.started = time.time()
        Gauge("open_router_start_time_seconds", "When this process started serving (unix time).",
              registry=r).set(self.started)

    def bind(self, gw: Gateway) -> None:
        """Scrape-time views of the gateway: circuit state, in flight, the live policy version."""
        self.registry.register(_GatewayCollector(gw))

    # ------------------------------------------------------------------ recording

    def record(self, route: str, model: str, status: int, total: float, upstream: float,
               attempts: tuple[Any, ...] = (), served: Served | None = None) -> None:
        code = str(status)
        self.requests.inc((route, model, code))
        self.latency.observe((route,), total)
        self.overhead.observe((route,), max(0.0, total - upstream))
        prev = None
        for a in attempts:
            t = a.target
            self.attempts.inc((t.provider, t.model, a.outcome))
            if prev is not None:
                if prev.model != t.model:
                    self.failovers.inc((prev.model,))
                else:
                    self.retries.inc((t.model,))
            prev = t
        if served is not None:
            self._served(served, model, code)

    def _served(self, s: Served, model: str, code: str) -> None:
        d = s.decision
        if d is not None and d.rule:
            self.rules.inc((d.rule, code))
        if s.ttft is not None:
            self.ttft.observe((s.route,), s.ttft)
        if model == "-":
            return
        usage = s.final_usage()
        if usage is None:
            return
        team = s.principal.team if s.principal is not None else "-"
        if usage.prompt_tokens:
            self.tokens.inc((model, team, "prompt"), usage.prompt_tokens)
        if usage.completion_tokens:
            self.tokens.inc((model, team, "completion"), usage.completion_tokens)
        if usage.cached_tokens:
            self.tokens.inc((model, team, "cached"), usage.cached_tokens)
        if s.target is not None:
            from .billing.pricing import cost

            c = cost(s.target, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            if c:
                self.cost.inc((model, team), float(c))

    def reloaded(self, attempt: Attempt) -> None:
        """A Reloader listener."""
        self.reloads.inc((attempt.outcome,))
        if attempt.outcome != "unchanged":
            self.reload_seconds.observe(attempt.seconds)

    def render(self) -> str:
        text = generate_latest(self.registry).decode()
        for family in self.extra:  # other parts' families, rendered as exposition lines (gateway/limits)
            text += "\n".join(family.render()) + "\n"
        return text


def _ledger_families(st: dict[str, Any]) -> Iterable[Any]:
    """The ledger writer's state (gateway/billing/ledger.py ``Ledger.status()``), this process's."""
    yield GaugeMetricFamily("open_router_ledger_queue_depth", "Ledger rows waiting for the next flush.",
                            value=st["queued"])
    for name, key, doc in (("written", "written", "stored in the database"),
                           ("spilled", "spilled", "written to a spill file while the database refused them"),
                           ("replayed", "replayed", "stored in the database from spill files")):
        yield CounterMetricFamily(f"open_router_ledger_rows_{name}", f"Ledger rows {doc}.", value=st[key])
    yield CounterMetricFamily("open_router_ledger_failed_flushes", "Ledger flushes the database refused.",
                              value=st["failed_flushes"])
    yield GaugeMetricFamily("open_router_ledger_spill_files", "Spill files waiting to be replayed.",
                            value=st["spill_files"])
    yield GaugeMetricFamily("open_router_ledger_healthy", "1 while the database accepts the ledger's flushes.",
                            value=1 if st["healthy"] else 0)
    err = st.get("last_flush_error")
    info = InfoMetricFamily("open_router_ledger_last_flush_error", "The last refused flush: the error's type "
                            "(no message, no URL) and when.", labels=("error",))
    if err:
        info.add_metric((str(err["error"]),), {})
        yield info
        yield GaugeMetricFamily("open_router_ledger_last_flush_error_time_seconds", "When the last flush was "
                                "refused (unix time).", value=err["at"])


class _GatewayCollector(Collector):
    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def collect(self) -> Iterable[Any]:
        gw = self.gw
        info = InfoMetricFamily("open_router_policy", "The policy version this process serves.",
                                labels=("version",))
        info.add_metric((gw.policies.version,), {})
        yield info
        reloader = getattr(gw, "reloader", None)
        if reloader is not None:
            yield GaugeMetricFamily("open_router_policy_active_since_seconds", "When the live policy version "
                                    "was activated (unix time).", value=reloader.active_since)
            failing = reloader.last_attempt is not None and reloader.last_attempt.outcome == "rejected"
            yield GaugeMetricFamily("open_router_policy_last_reload_failed", "1 when the last reload attempt "
                                    "was rejected (the previous version keeps serving).", value=int(failing))
        yield GaugeMetricFamily("open_router_in_flight", "HTTP requests and WebSockets in flight.",
                                value=gw.lifecycle.in_flight)
        ledger = getattr(gw, "ledger", None)
        if ledger is not None:
            yield from _ledger_families(ledger.status())
        circuit = GaugeMetricFamily("open_router_circuit_state", "Circuit per deployment: 0 closed, 1 half "
                                    "open, 2 open.", labels=("provider", "upstream"))
        for m in gw.health.snapshot():
            circuit.add_metric((str(m["provider"]), str(m["upstream"])), CIRCUIT.get(str(m["circuit"]), 0))
        yield circuit
        guards = getattr(gw, "ramp_guards", None)
        if guards is not None:
            holding = GaugeMetricFamily("open_router_ramp_guard_holding", "1 while a ramp's guard holds it at "
                                        "its rest model, by rule.", labels=("rule",))
            for rule, held in guards.holding():
                holding.add_metric((rule,), int(held))
            yield holding


__all__ = ["LATENCY_BUCKETS", "Metrics", "OVERHEAD_BUCKETS"]
