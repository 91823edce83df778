"""Replay: re-decide the requests of a decision log under a candidate policy and count what would change.

The log is read as a stream, one JSON object a line (gateway/record.py `Recorder._line`). A line's facts
are read from its ``facts`` object when the gateway wrote one; otherwise they are rebuilt from what the
line carries (requested model, team, key, stream, request id, time) and the rest is unknown (project, app,
cost center, user, task, headers, tags, tools; the prompt length is the recorded prompt tokens, if any):
such lines are counted as ``rebuilt`` in the report. A line that is not JSON, not an object, or lacks a
request id is skipped and counted with its line number.

Before: the recorded rule and model (the model that served, after any failover), or with ``baseline`` the
baseline policy's decision. After: the candidate's decision, its first planned model (no live status is
known). Cost: tokens from the line's ``usage`` (or its ``prompt_tokens`` / ``completion_tokens``) where
recorded, else the prompt estimate and no completion (counted as ``estimated``); before at the baseline's
prices (the candidate's without one), after at the candidate's. Budgets: spend is accumulated in log
order per budget and period at the candidate's prices, and dsl.outcome's thresholds (block / downgrade
at ≥ %) applied, so "would now be refused or downgraded" is counted from the log's own traffic.
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from .decision import Facts
from .outcome import budget_action
from .syntax import gc_paused

__all__ = ["Report", "SimulateError", "load_checked", "render", "simulate", "facts_from_json"]

_UTC = timezone.utc
_M = Decimal(1_000_000)
MAX_BAD_SHOWN = 20


class SimulateError(Exception):
    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines


@dataclass
class Report:
    candidate: str
    baseline: str | None
    log: str
    lines: int = 0
    decided: int = 0
    rebuilt: int = 0
    estimated: int = 0
    bad: int = 0
    bad_lines: list[tuple[int, str]] = field(default_factory=list)
    moved: int = 0
    moves: Counter = field(default_factory=Counter)  # (old rule, old model, new rule, new model) -> n
    by: dict[str, Counter] = field(default_factory=lambda: {"team": Counter(), "project": Counter(),
                                                            "cost_center": Counter()})
    by_total: dict[str, Counter] = field(default_factory=lambda: {"team": Counter(), "project": Counter(),
                                                                  "cost_center": Counter()})
    refused: Counter = field(default_factory=Counter)  # reason -> n (now refused, under the candidate)
    downgraded: Counter = field(default_factory=Counter)  # model -> n
    cost_before: Decimal = Decimal(0)
    cost_after: Decimal = Decimal(0)
    unpriced: int = 0
    sample: list[tuple[str, str, str]] = field(default_factory=list)  # (request id, before, after)

    def as_json(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate, "baseline": self.baseline, "log": self.log, "lines": self.lines,
            "decided": self.decided, "rebuilt_without_facts": self.rebuilt, "tokens_estimated": self.estimated,
            "bad": self.bad, "bad_lines": [{"line": n, "why": w} for n, w in self.bad_lines], "moved": self.moved,
            "moves": [{"from_rule": a, "from_model": b, "to_rule": c, "to_model": d, "requests": n}
                      for (a, b, c, d), n in self.moves.most_common()],
            "by": {k: {name or "(none)": {"moved": c[name], "requests": self.by_total[k][name]}
                       for name in self.by_total[k]} for k, c in self.by.items()},
            "refused": dict(self.refused), "downgraded": dict(self.downgraded),
            "cost_before": str(self.cost_before), "cost_after": str(self.cost_after),
            "cost_difference": str(self.cost_after - self.cost_before), "unpriced": self.unpriced,
            "sample": [{"request_id": r, "before": b, "after": a} for r, b, a in self.sample],
        }


def load_checked(spec: str) -> Any:
    """Parse (dir, file or REV:PATH), check and compile a policy; errors raise SimulateError."""
    from .check import check
    from .compile import compile_policy
    from .loading import policy_version
    from .sources import SourceError, load_source

    try:
        ps = load_source(spec)
    except SourceError as e:
        raise SimulateError(e.lines) from None
    errors = [d for d in check(ps) if d.severity == "error"]
    if errors:
        raise SimulateError([f"{spec}: the policy has errors:"] + [d.render() for d in errors])
    return compile_policy(ps, policy_version(ps))


def _time(v: Any) -> datetime:
    if isinstance(v, str):
        now = datetime.fromisoformat(v[:-1] + "+00:00" if v.endswith("Z") else v)
        return now if now.tzinfo is not None else now.replace(tzinfo=_UTC)
    if isinstance(v, (int, float)):
        return datetime.fromtimestamp(v, _UTC)
    raise ValueError("no time")


def facts_from_json(f: dict[str, Any], rid: str) -> Facts:
    """Facts from their logged form (`Facts.as_json`)."""
    facts = object.__new__(Facts)
    # Facts is frozen: its __init__ pays one object.__setattr__ per field, half the cost of a replayed
    # line. Filling __dict__ makes the same object (equality and hashing read the fields).
    facts.__dict__.update(
        model=f.get("model"), team=f.get("team"), project=f.get("project"), app=f.get("app"),
        cost_center=f.get("cost_center"), key=f.get("key"), user=f.get("user"), task=f.get("task"),
        headers=f.get("headers") or {}, tags=frozenset(f.get("tags") or ()),
        prompt_tokens=int(f.get("prompt_tokens") or 0), stream=f.get("stream") is True, tools=f.get("tools") is True,
        now=_time(f["now"]), request_id=f.get("request_id") or rid,
    )
    return facts


def _tokens(d: dict[str, Any]) -> tuple[int, int, int] | None:
    u = d.get("usage")
    src = u if isinstance(u, dict) else d
    p, c = src.get("prompt_tokens"), src.get("completion_tokens")
    if isinstance(p, int) and isinstance(c, int):
        cached = src.get("cached_tokens")
        return p, c, cached if isinstance(cached, int) else 0
    return None


def _period(period: str, now: datetime) -> tuple[int, ...]:
    if period == "day":
        return (now.year, now.month, now.day)
    if period == "week":
        return tuple(now.isocalendar()[:2])
    return (now.year, now.month)


class _Prices:
    """Token totals per alias, priced once at the end (Decimal arithmetic per line would dominate)."""

    def __init__(self) -> None:
        self.tokens: dict[str | None, list[int]] = {}

    def add(self, alias: str | None, p: int, c: int) -> None:
        t = self.tokens.get(alias)
        if t is None:
            t = self.tokens[alias] = [0, 0, 0]
        t[0] += p
        t[1] += c
        t[2] += 1

    def total(self, policy: Any) -> tuple[Decimal, int]:
        cost, unpriced = Decimal(0), 0
        for alias, (p, c, n) in self.tokens.items():
            target = policy.target(alias) if alias is not None else None
            if target is None or target.price_in is None or target.price_out is None:
                unpriced += n
                continue
            cost += (p * target.price_in + c * target.price_out) / _M
        return cost, unpriced


def _open(log: str) -> tuple[BinaryIO, int | None]:
    if log == "-":
        return sys.stdin.buffer, None
    try:
        fh = open(log, "rb")
    except OSError as e:
        raise SimulateError([f"{log}: cannot read the log: {e.strerror}"]) from None
    try:
        size = Path(log).stat().st_size
    except OSError:
        size = None
    return fh, size


def simulate(policies: list[str] | str, log: str, *, baseline: str | None = None, sample: int = 10,
             progress: bool = True) -> Report:
    specs = [policies] if isinstance(policies, str) else list(policies)
    if len(specs) != 1:
        raise SimulateError(["--policies takes one policy (a directory, a file or REV:PATH)"])
    cand = load_checked(specs[0])
    base = load_checked(baseline) if baseline else None
    r = Report(specs[0], baseline, log)
    fh, size = _open(log)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=size, unit="B", unit_scale=True, file=sys.stderr, desc="simulate", disable=None,
                   leave=False)
    before, after = _Prices(), _Prices()
    seen: Counter = Counter()  # (team, project, cost center) -> requests; split per scope at the end
    moved_by: Counter = Counter()
    try:
        # The loop makes short-lived objects only, freed by reference counting: the cyclic collector
        # would only rescan them.
        with gc_paused():
            _replay(fh, bar, r, cand, base, sample, before, after, seen, moved_by)
    finally:
        if bar is not None:
            bar.close()
        if fh is not sys.stdin.buffer:
            fh.close()
    for i, k in enumerate(("team", "project", "cost_center")):
        for who, n in seen.items():
            r.by_total[k][who[i]] += n
        for who, n in moved_by.items():
            r.by[k][who[i]] += n
    r.cost_before, unpriced_before = before.total(base or cand)
    r.cost_after, unpriced_after = after.total(cand)
    r.unpriced = unpriced_before + unpriced_after
    return r


def _replay(fh: BinaryIO, bar: Any, r: Report, cand: Any, base: Any, sample: int, before: _Prices,
            after: _Prices, seen: Counter, moved_by: Counter) -> None:
    spend: dict[tuple[Any, ...], Decimal] = {}
    try:
        from orjson import loads  # three times json.loads on a decision-log line
    except ImportError:  # pragma: no cover - orjson is a declared dependency
        loads = json.loads
    chunk = 0
    for n, raw in enumerate(fh, 1):
        chunk += len(raw)
        if bar is not None and chunk > 1 << 20:
            bar.update(chunk)
            chunk = 0
        if not raw.strip():
            continue
        r.lines += 1
        try:
            d = loads(raw)
            if not isinstance(d, dict):
                raise ValueError("not a JSON object")
            rid = d.get("request_id")
            if not isinstance(rid, str):
                raise ValueError("no request_id (a line from an older version, or not a decision log)")
            fj = d.get("facts")
            tk = _tokens(d)
            if fj.__class__ is dict:
                facts = facts_from_json(fj, rid)
            else:
                facts = Facts(model=d.get("requested"), team=d.get("team"), key=d.get("key"),
                              stream=d.get("stream") is True, prompt_tokens=tk[0] if tk else 0,
                              now=_time(d.get("ts")), request_id=rid)
                r.rebuilt += 1
        except (ValueError, TypeError, KeyError, RecursionError) as e:
            r.bad += 1
            if len(r.bad_lines) < MAX_BAD_SHOWN:
                why = "not JSON" if isinstance(e, json.JSONDecodeError) else str(e) or type(e).__name__
                r.bad_lines.append((n, why))
            continue
        r.decided += 1
        if base is not None:
            old = base.decide(facts)
            old_rule = old.rule
            old_model = old.plan.candidates[0].model if old.plan.candidates else None
        else:
            old_rule, old_model = d.get("rule"), d.get("model")
        new = cand.decide(facts)
        cands = new.plan.candidates
        new_model = cands[0].model if cands else None
        if tk is None:
            tk = (facts.prompt_tokens, 0, 0)
            r.estimated += 1
        if new.error is not None:
            r.refused[new.error.split(":", 1)[0]] += 1
        elif new.budgets:
            new_model = _budgets(new, cands[0], tk, spend, r, new_model)
        before.add(old_model, tk[0], tk[1])
        if new_model is not None:
            after.add(new_model, tk[0], tk[1])
        who = (facts.team, facts.project, facts.cost_center)
        seen[who] += 1
        if old_rule != new.rule or old_model != new_model:
            r.moved += 1
            r.moves[(old_rule, old_model, new.rule, new_model)] += 1
            moved_by[who] += 1
            if len(r.sample) < sample:
                r.sample.append((rid, f"{old_rule}/{old_model}", f"{new.rule}/{new_model}"))
    if bar is not None:
        bar.update(chunk)



def _budgets(decision: Any, target: Any, tk: tuple[int, int, int], spend: dict, r: Report,
             model: str | None) -> str | None:
    """Charge this request to its budgets (at the candidate's prices) and apply the thresholds reached
    before it: a block refuses it (None), a downgrade serves the downgrade model."""
    cost = (tk[0] * (target.price_in or 0) + tk[1] * (target.price_out or 0)) / _M  # unpriced: charges nothing
    now = decision.facts.now
    for b in decision.budgets:
        key = (b.scope, b.subject, b.period, _period(b.period, now))
        spent = spend.get(key, Decimal(0))
        act = budget_action(b, spent * 100 / b.amount) if b.amount else None
        if act is not None and act.action == "block":
            r.refused["budget_exceeded"] += 1
            return None
        if act is not None and act.action == "downgrade" and act.target:
            r.downgraded[act.target] += 1
            model = act.target
        spend[key] = spent + cost
    return model


def _n(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def render(r: Report, form: str = "text") -> str:
    if form == "json":
        return json.dumps(r.as_json(), indent=2, ensure_ascii=False) + "\n"
    md = form == "md"
    out = [f"## Replay of `{r.log}` under `{r.candidate}`" if md else f"replay of {r.log} under {r.candidate}"]
    against = f"the baseline `{r.baseline}`" if r.baseline else "what the log recorded"
    pct = 100.0 * r.moved / r.decided if r.decided else 0.0
    moved = f"**{r.moved}**" if md else str(r.moved)
    out += ["", f"{r.decided} requests re-decided, compared with {against}: {moved} ({pct:.1f}%) would move.", ""]
    notes = []
    if r.rebuilt:
        notes.append(f"{_n(r.rebuilt, 'line')} carried no facts: rebuilt from the line (project, app, cost center, user, "
                     f"task, headers, tags and tools unknown)")
    if r.estimated:
        notes.append(f"{_n(r.estimated, 'line')} recorded no token usage: the prompt estimate is used and no completion")
    if r.bad:
        shown = ", ".join(f"line {n} ({w})" for n, w in r.bad_lines)
        notes.append(f"{_n(r.bad, 'bad line')} skipped: {shown}" + (" ..." if r.bad > len(r.bad_lines) else ""))
    if r.refused or r.downgraded:
        parts = [f"{n} refused ({why})" for why, n in r.refused.items()]
        parts += [f"{n} downgraded to {m}" for m, n in r.downgraded.items()]
        notes.append("under the candidate: " + ", ".join(parts))
    diff = r.cost_after - r.cost_before
    notes.append(f"cost: {r.cost_before:.4f} before, {r.cost_after:.4f} after ({'+' if diff >= 0 else ''}{diff:.4f})"
                 + (f"; {r.unpriced} requests unpriced" if r.unpriced else ""))
    for k, counter in r.by.items():
        if counter:
            shown = ", ".join(f"{name or '(none)'} {counter[name]}/{r.by_total[k][name]}"
                              for name, _ in counter.most_common(10))
            notes.append(f"moved by {k.replace('_', ' ')}: {shown}")
    out += [f"- {x}" for x in notes]
    if r.moves:
        out += ["", "| from (rule / model) | to (rule / model) | requests |", "|---|---|---:|"] if md else ["", "moves:"]
        for (a, b, c, d), n in r.moves.most_common(20):
            out.append(f"| {a} / {b} | {c} / {d} | {n} |" if md else f"  {a}/{b} -> {c}/{d}: {n}")
    if r.sample:
        out += ["", "Sample of moved requests:" if md else "sample of moved requests:"]
        out += [f"- `{rid}`: {b} → {a}" if md else f"  {rid}: {b} -> {a}" for rid, b, a in r.sample]
    return "\n".join(out) + "\n"
