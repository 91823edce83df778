"""The recording step: what one request was (`Served`), what it used (`Usage`), and `Recorder.finish`, the
one place a finished request is recorded — exactly once, whatever way it ended.

Recording a request: its usage (reported by the upstream, else estimated and marked so), metrics, one
decision-log line, then every settler (admission's settle, the ledger, as they are plugged in), and last
the policy snapshot it held goes back to the store. A second `finish` of the same request does nothing,
so a handler's last-resort recording never doubles what an earlier branch recorded.
"""
from __future__ import annotations

import logging
import time
from functools import partial
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping

from .decision_line import complete, line
from .errors import GatewayError

if TYPE_CHECKING:
    from dsl.decision import Decision, Target

    from .auth import Principal
    from .observe import DecisionLog, Metrics
    from .policy import LoadedPolicy, PolicyStore

log = logging.getLogger("open_router.record")
_perf = time.perf_counter
CHARS_PER_TOKEN = 4  # the estimate's ratio, as dsl.facts estimates prompts


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens one request used. ``cached_tokens`` are prompt tokens read from a provider's prompt cache
    (part of ``prompt_tokens``); ``estimated``: the upstream reported none, so these are the gateway's
    estimate (prompt from the request, completion from the text relayed)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False

    @classmethod
    def from_openai(cls, usage: Any) -> Usage | None:
        """From an OpenAI ``usage`` object (every adapter translates to it); None when there is none."""
        if not isinstance(usage, Mapping):
            return None
        details = usage.get("prompt_tokens_details")
        out_details = usage.get("completion_tokens_details")
        return cls(
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            cached_tokens=_count(details.get("cached_tokens")) if isinstance(details, Mapping) else 0,
            reasoning_tokens=(_count(out_details.get("reasoning_tokens"))
                              if isinstance(out_details, Mapping) else 0),
        )

    def as_json(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cached_tokens": self.cached_tokens, "reasoning_tokens": self.reasoning_tokens,
                "estimated": self.estimated}


def _count(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) and v > 0 else 0


@dataclass(slots=True)
class Served:
    """One request, filled in as it goes through the pipeline; what the recording step and every
    settler read. The principal carries the full scope (team, project, app, cost center, key id); the
    decision its facts, rule and arm; ``target`` the model that served, with the prices of the policy
    version that decided it."""

    route: str
    t0: float
    request_id: str
    principal: Principal | None = None
    body: dict | None = None  # the validated request body, as the executor is given it
    snapshot: LoadedPolicy | None = None  # leased from the PolicyStore at decide, released at finish
    decision: Decision | None = None
    upstream: float = 0.0  # seconds spent awaiting the executor
    attempts: tuple[Any, ...] = ()
    model: str = "-"  # the policy alias that served (bounded label), "-" before one is known
    target: Target | None = None
    stream: bool = False
    include_usage: bool = False  # the client asked for the usage chunk (stream_options.include_usage)
    usage: Usage | None = None  # as the upstream reported it
    completion_chars: int = 0  # text relayed so far (streams): the estimate when no usage comes
    ttft: float | None = None  # seconds to the first chunk (streams)
    status: int = 0
    error: BaseException | None = None
    response: dict | None = None  # a non-streamed answer as sent (decision-log content, when logged)
    recorded: bool = False  # `finish` ran
    admission: Any = None  # what admission reserved for this request (gateway/limits), for its settle
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()  # added to the response (x-ratelimit-*, ...)
    why: tuple[Any, ...] = ()  # (target, why) for every target the executor considered (gateway/strategies.py)
    guard: str | None = None  # a ramp guard held this request on the old model: why (gateway/ramp_guard.py)

    @property
    def policy_version(self) -> str | None:
        d = self.decision
        return d.policy_version if d is not None else None

    def final_usage(self) -> Usage | None:
        """The usage to bill: the upstream's, else an estimate once a model was called; None when no
        upstream call was made."""
        if self.usage is not None:
            return self.usage
        if not self.attempts and self.completion_chars == 0:
            return None
        d = self.decision
        prompt = d.facts.prompt_tokens if d is not None else 0
        completion = -(-self.completion_chars // CHARS_PER_TOKEN)
        return Usage(prompt, completion, estimated=True)


Settler = Callable[[Served], None]


class Recorder:
    """Records finished requests: metrics, the decision log, the settlers, the snapshot lease."""

    def __init__(self, metrics: Metrics, decisions: DecisionLog, policies: PolicyStore,
                 settlers: Iterable[Settler] = ()) -> None:
        self.metrics = metrics
        self.decisions = decisions
        self.policies = policies
        self.settlers: list[Settler] = list(settlers)
        self.log_content = False  # prompts and completions (redacted) in the decision log

    def finish(self, s: Served, status: int, error: BaseException | None = None) -> None:
        """Record ``s`` as ended with ``status`` (and ``error``), once."""
        if s.recorded:
            return
        s.recorded = True
        s.status, s.error = status, error
        if isinstance(error, GatewayError) and error.attempts and not s.attempts:
            s.attempts = error.attempts
        if not s.why and error is not None:
            s.why = getattr(error, "why", ())
        if s.model == "-" and s.attempts:
            s.model = s.attempts[-1].target.model
        try:
            total = _perf() - s.t0
            self.metrics.record(s.route, s.model, status, total, s.upstream, s.attempts, s)
            if self.decisions.wants():  # the line is built only when someone will read it
                self.decisions.emit(self._line(s, status, error, total))
            for settle in self.settlers:
                try:
                    settle(s)
                except Exception:  # one settler's bug must not cost the others their record
                    log.exception("settling request %s failed", s.request_id)
        finally:
            snap, s.snapshot = s.snapshot, None
            if snap is not None:
                self.policies.release(snap)

    def _line(self, s: Served, status: int, error: BaseException | None, total: float) -> dict[str, Any]:
        """The decision-log line (gateway/decision_line.py; schemas/decision-log.schema.json). The conditions
        that decided it come from a traced re-decision, added just before the line is written (the next
        loop turn, off the response's path)."""
        record = line(s, status, error, total, self.policies.version, self.log_content)
        note = getattr(s.admission, "log_note", None)
        if note:
            record["admission"] = note  # e.g. the budget that downgraded the request
        d, snap = s.decision, s.snapshot
        if d is not None and snap is not None and self.decisions.enabled:
            self.decisions.before_write(partial(complete, record, snap.policy, d.facts))
        return record


__all__ = ["CHARS_PER_TOKEN", "Recorder", "Served", "Settler", "Usage"]
