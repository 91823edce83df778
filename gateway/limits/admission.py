"""`LimitsAdmission`: the pipeline's admit / settle stages for budgets and rate limits, over a store.

admit(s): from the Decision's budgets and limits, one `Hold` — each budget's counter for the current UTC
period, the request's maximum cost (the prompt estimate plus max_tokens / max_completion_tokens, or the
default completion cap, priced at the dearest target of the whole plan, candidates and fallback, so a
failover to a pricier target is already covered) and the same for each downgrade model, and the
requests/tokens per minute it takes — reserved all or none in one store call. Then:

- a rate limit refuses: 429 ``rate_limit_exceeded`` with Retry-After;
- a budget's block cap refuses: 429 ``budget_exceeded`` naming the scope and the period's reset, with a
  Retry-After to the reset; the first block of a period is an alert;
- a downgrade step is passed: the request's plan becomes the named model (the response's
  x-open-router-model and the decision log's "admission" say so);
- the store is unreachable: 503 ``budget_store_unavailable`` (or, with budget_fail_open, admitted with
  nothing reserved — counted in open_router_admission_total{outcome="fail_open"}).

settle(s): the actual cost (Served.final_usage() at the serving target's prices) replaces the
reservation; no usage (nothing was called) releases it; tokens are corrected to the actual count. Then
each alert threshold the spend passed is claimed in the store (once per threshold per period, across
processes) and sent (gateway/alerts.py). A budget counter the store does not have (a new period, a
restart, a Redis that came back empty) is seeded from the ledger first (gateway/limits/ledger.py).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from prometheus_client import CollectorRegistry, Counter as PromCounter, Gauge, generate_latest

from ..admission import Admission
from ..billing.pricing import cost as price_cost, max_cost
from ..errors import BudgetExceeded, BudgetStoreUnavailable, RateLimited
from ..metrics import _Children
from .core import BUDGET, OK, RATE, SEED, BudgetLine, Hold, RateLine, StoreError, from_nano, to_nano
from .headers import rate_headers
from .periods import bounds, iso

if TYPE_CHECKING:
    from dsl.ast import Budget

    from ..alerts import AlertSender
    from ..record import Served
    from .ledger import LedgerSums

log = logging.getLogger("open_router.limits")
GRACE = 2 * 86400.0  # counters outlive their period by this much (status of the last period, late settles)
HUNDRED = Decimal(100)


class Ticket:
    """What admit reserved for one request: read back by settle."""

    __slots__ = ("hold", "budgets", "option", "amount", "log_note")

    def __init__(self, hold: Hold, budgets: tuple[Budget, ...], option: int, note: dict | None) -> None:
        self.hold = hold
        self.budgets = budgets
        self.option = option
        self.amount = hold.amounts[option] if hold.amounts else 0  # nano reserved on each budget line
        self.log_note = note


class LimitsMetrics:
    """Admission outcomes, alerts, the store's health and the fail mode, on prometheus_client (a registry of
    their own, rendered after the gateway's: gateway/metrics.py ``Metrics.extra``)."""

    def __init__(self, store: Any, fail_open: bool) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.admissions = _Children(PromCounter("open_router_admission", "Admission outcomes of budgeted or "
                                                "limited requests.", ("outcome",), registry=self.registry))
        self.alerts = _Children(PromCounter("open_router_alerts", "Budget alerts, by type and outcome.",
                                            ("type", "outcome"), registry=self.registry))
        up = Gauge("open_router_budget_store_up", "Whether the budget/rate-limit store answered its last call.",
                   ("store",), registry=self.registry)
        up.labels(store.kind).set_function(lambda: 1 if store.healthy else 0)
        Gauge("open_router_budget_fail_open", "1: the store down admits unbudgeted; 0: refuses (503).",
              registry=self.registry).set(1 if fail_open else 0)
        self.store = store
        self.fail_open = fail_open

    def render(self) -> Iterable[str]:
        return generate_latest(self.registry).decode().splitlines()


class LimitsAdmission(Admission):
    def __init__(self, store: Any, *, ledger: LedgerSums | None = None, alerts: AlertSender | None = None,
                 fail_open: bool = False, completion_cap: int = 4096, reservation_ttl: float = 900.0,
                 clock: Any = time.time) -> None:
        self.store = store
        self.ledger = ledger
        self.alerts = alerts
        self.fail_open = fail_open
        self.completion_cap = completion_cap
        self.ttl = reservation_ttl
        self.clock = clock
        self.metrics = LimitsMetrics(store, fail_open)
        if alerts is not None and alerts.counter is None:
            alerts.counter = self.metrics.alerts
        self._lines: dict[tuple[int, str], tuple[Budget, BudgetLine, tuple[tuple[int, str], ...], float]] = {}
        self._sets: dict[tuple[int, ...], tuple[tuple[Budget, ...], tuple[BudgetLine, ...], list[str]]] = {}
        self._per_token: dict[int, tuple[Any, tuple[int, int] | None]] = {}  # id(target) → (target, nano/token)
        self._thresholds: dict[int, tuple[Budget, list[tuple[int, Any]]]] = {}
        self._seeding: dict[str, asyncio.Future[None]] = {}
        self._claimed: set[str] = set()  # alert ids this process already claimed (or saw claimed)
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ admit

    async def admit(self, s: Served) -> None:
        d = s.decision
        if d is None or (not d.budgets and not d.limits):
            return
        now = self.clock()
        hold, aliases = self._hold(s, now)
        try:
            result = await self.store.reserve(hold, now)
            for _ in range(3):
                if result.status != SEED:
                    break
                await self._seed(result.missing)
                result = await self.store.reserve(hold, now)
            self.store.healthy = True
        except StoreError as exc:
            self.store.healthy = False
            if self.fail_open:
                self.metrics.admissions.inc(("fail_open",))
                log.warning("budget store unavailable (%s): request %s admitted unbudgeted (fail open)",
                            exc, s.request_id)
                return
            self.metrics.admissions.inc(("store_unavailable",))
            raise BudgetStoreUnavailable(
                "The budget and rate-limit store is unavailable, so this budgeted request cannot be admitted; "
                "retry shortly.") from None
        if result.rates:
            s.extra_headers = rate_headers(hold.rates, result.rates)
        status = result.status
        if status == OK:
            note = None
            if result.option:
                alias = aliases[result.option - 1]
                target = s.snapshot.policy.target(alias) if s.snapshot is not None else None
                if target is not None:
                    plan = d.plan
                    s.decision = replace(d, plan=replace(plan, strategy="ordered", candidates=(target,),
                                                         fallback=()))
                    why = self._downgrader(hold, d.budgets, aliases, result.option)
                    note = {"downgraded_to": alias, "from": [t.model for t in plan.candidates], "budget": why}
                self.metrics.admissions.inc(("downgraded",))
            else:
                self.metrics.admissions.inc(("ok",))
            s.admission = Ticket(hold, d.budgets, result.option, note)
            return
        if status == RATE:
            self.metrics.admissions.inc(("rate_limited",))
            line = hold.rates[result.index]
            scope = line.key.split(":", 2)[2]
            if line.cost > line.limit:
                raise RateLimited(f"This request's estimated {line.cost} tokens exceed the limit of {line.limit} "
                                  f"tokens per minute for {scope}; lower max_tokens or the prompt.")
            raise RateLimited(f"Rate limit reached for {scope}: {line.limit} {line.unit} per minute. "
                              f"Retry after {max(result.retry_after, 0.001):.3f}s.",
                              retry_after=result.retry_after)
        if status == BUDGET:
            self.metrics.admissions.inc(("budget_exceeded",))
            b = d.budgets[result.index]
            start, end, _ = bounds(b.period, now)
            self._alert_blocked(b, hold.budgets[result.index], start, end, d.policy_version)
            raise BudgetExceeded(
                f"Budget exceeded for {b.scope} '{b.subject}': {b.amount} {b.currency} per {b.period}. "
                f"The budget resets at {iso(end)}.", param=b.scope, retry_after=end - now)
        raise RuntimeError(f"store answered {status!r}")  # pragma: no cover

    def _budget_lines(self, budgets: tuple[Budget, ...], now: float) -> tuple[tuple[BudgetLine, ...], list[str]]:
        """The budgets' lines for the period holding ``now`` and the downgrade models their steps' options
        index (1-based); cached per set of budgets and UTC day."""
        ck = (int(now // 86400), *map(id, budgets))
        hit = self._sets.get(ck)
        if hit is not None and hit[0] == budgets:
            return hit[1], hit[2]
        lines: list[BudgetLine] = []
        aliases: list[str] = []
        steps_by_line: list[tuple[tuple[int, str], ...]] = []
        for b in budgets:
            start, end, label = bounds(b.period, now)
            one = self._lines.get((id(b), label))
            if one is None or one[0] is not b:
                one = self._line(b, start, end, label)
            lines.append(one[1])
            steps_by_line.append(one[2])
            for _, alias in one[2]:
                if alias not in aliases:
                    aliases.append(alias)
        if aliases:  # the steps' options index the aliases of this request
            lines = [replace(line, steps=tuple((cap, aliases.index(alias) + 1) for cap, alias in steps))
                     for line, steps in zip(lines, steps_by_line)]
        if len(self._sets) > 10_000:
            self._sets.clear()
        self._sets[ck] = (budgets, tuple(lines), aliases)  # holds the budgets: their ids stay theirs
        return tuple(lines), aliases

    def _hold(self, s: Served, now: float) -> tuple[Hold, list[str]]:
        d = s.decision
        assert d is not None
        lines, aliases = self._budget_lines(d.budgets, now) if d.budgets else ((), [])
        body = s.body or {}
        prompt = d.facts.prompt_tokens
        if s.route.endswith("/embeddings"):
            completion = 0
        else:
            cap = body.get("max_completion_tokens")
            if cap is None:
                cap = body.get("max_tokens")
            completion = cap if isinstance(cap, int) and cap > 0 else self.completion_cap
        amounts: tuple[int, ...] = ()
        if lines:
            plan = d.plan
            full = 0
            for t in plan.candidates + plan.fallback:
                c = self._max_nano(t, prompt, completion)
                if c is not None and c > full:
                    full = c
            out = [full]
            policy = s.snapshot.policy if s.snapshot is not None else None
            for alias in aliases:
                t = policy.target(alias) if policy is not None else None
                c = self._max_nano(t, prompt, completion) if t is not None else None
                out.append(full if c is None else c)
            amounts = tuple(out)
        rates: list[RateLine] = []
        for lim in d.limits:
            scope = f"{lim.scope}:{lim.subject}"
            if lim.requests_per_minute:
                rates.append(RateLine("rpm:" + scope, 60.0 / lim.requests_per_minute, 1,
                                      lim.requests_per_minute, "requests"))
            if lim.tokens_per_minute:
                rates.append(RateLine("tpm:" + scope, 60.0 / lim.tokens_per_minute, prompt + completion,
                                      lim.tokens_per_minute, "tokens"))
        return Hold(s.request_id, tuple(lines), amounts, tuple(rates), now + self.ttl), aliases

    def _max_nano(self, t: Any, prompt: int, completion: int) -> int | None:
        """pricing.max_cost in nano-units, rounded up; in integers when the target's prices are whole
        nano-units per token (they nearly always are: $2.50 per 1M is 2500 a token), else in Decimal."""
        hit = self._per_token.get(id(t))
        if hit is None or hit[0] is not t:
            pin, pout = getattr(t, "price_in", None), getattr(t, "price_out", None)
            ints = None
            if pin is not None and pout is not None:
                a, b = pin * 1000, pout * 1000  # nano per token
                if a == a.to_integral_value() and b == b.to_integral_value():
                    ints = (int(a), int(b))
            hit = self._per_token[id(t)] = (t, ints)
        ints = hit[1]
        if ints is not None:
            return prompt * ints[0] + completion * ints[1]
        c = max_cost(t, prompt, completion)
        return None if c is None else to_nano(c)

    def _line(self, b: Budget, start: float, end: float, label: str) -> tuple[Budget, BudgetLine, tuple[tuple[int, str], ...], float]:
        block = None
        steps: list[tuple[int, str]] = []
        for t in b.thresholds:
            cap = to_nano(b.amount * t.percent / HUNDRED)
            if t.action == "block":
                block = cap if block is None else min(block, cap)
            elif t.action == "downgrade" and t.target:
                steps.append((cap, t.target))
        steps.sort()
        key = budget_key(b, label)
        hit = (b, BudgetLine(key, block, (), end + GRACE), tuple(steps), start)
        if len(self._lines) > 10_000:
            self._lines.clear()
        self._lines[(id(b), label)] = hit
        return hit

    @staticmethod
    def _downgrader(hold: Hold, budgets: tuple[Budget, ...], aliases: list[str], option: int) -> str:
        for b, line in zip(budgets, hold.budgets):
            if any(opt == option for _, opt in line.steps):
                return f"{b.scope}:{b.subject}"
        return "?"

    # ------------------------------------------------------------------ seeding from the ledger

    async def _seed(self, keys: list[str]) -> None:
        waits = []
        for key in keys:
            fut = self._seeding.get(key)
            if fut is None:
                fut = self._seeding[key] = asyncio.ensure_future(self._seed_one(key))
                fut.add_done_callback(lambda _f, k=key: self._seeding.pop(k, None))
            waits.append(fut)
        await asyncio.gather(*waits)

    async def _seed_one(self, key: str) -> None:
        found = next((v for v in self._lines.values() if v[1].key == key), None)
        if found is None:
            await self.store.seed(key, 0, self.clock() + GRACE)
            return
        b, line, _, start = found
        spent = Decimal(0)
        if self.ledger is not None:
            try:
                spent = await asyncio.to_thread(self.ledger.spent, b.scope, b.subject, b.currency, start,
                                                line.expires - GRACE)
            except Exception as exc:
                log.warning("could not read the ledger to rebuild %s's spend (%s); counting from zero",
                            key, type(exc).__name__)
        await self.store.seed(key, to_nano(spent), line.expires)

    # ------------------------------------------------------------------ settle

    def settle(self, s: Served) -> None:
        ticket = s.admission
        if ticket is None or not isinstance(ticket, Ticket):
            return
        usage = s.final_usage()
        target = s.target
        if usage is None or target is None:
            cost_nano, tokens = 0, 0  # nothing was called: release
        else:
            c = price_cost(target, usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens)
            cost_nano = to_nano(c) if c is not None else 0
            tokens = usage.prompt_tokens + usage.completion_tokens
        now = self.clock()
        store = self.store
        policy_version = s.decision.policy_version if s.decision is not None else None
        if hasattr(store, "settle_now"):  # memory, shm: synchronous, microseconds
            try:
                spent = store.settle_now(ticket.hold, ticket.amount, cost_nano, tokens, now)
            except StoreError:  # the shm file failed: retried off the request like the other stores
                self._spawn(self._settle_async(ticket, cost_nano, tokens, now, policy_version))
                return
            if spent:
                self._check_alerts(ticket, spent, now, policy_version)
            return
        self._spawn(self._settle_async(ticket, cost_nano, tokens, now, policy_version))

    async def _settle_async(self, ticket: Ticket, cost_nano: int, tokens: int, now: float,
                            policy_version: str | None) -> None:
        for attempt in range(4):
            try:
                spent = await self.store.settle(ticket.hold, ticket.amount, cost_nano, tokens, now)
                break
            except StoreError as exc:
                if attempt == 3:
                    log.error("could not settle request %s (%s); its reservation expires in %.0fs",
                              ticket.hold.rid, exc, ticket.hold.expires - now)
                    return
                await asyncio.sleep(0.2 * (attempt + 1))
        if spent:
            self._check_alerts(ticket, spent, now, policy_version)

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ alerts

    def _check_alerts(self, ticket: Ticket, spent: dict[str, int], now: float, version: str | None) -> None:
        for b, line in zip(ticket.budgets, ticket.hold.budgets):
            value = spent.get(line.key)
            if value is None:
                continue
            for cap, t in self._caps(b):
                if value >= cap:
                    alert_id = f"{line.key}:{t.percent}:{t.action}"
                    if alert_id not in self._claimed:
                        self._claimed.add(alert_id)
                        start, end, _ = bounds(b.period, now)
                        event = alert_event("budget.threshold", alert_id, b, start, end, from_nano(value), version,
                                            threshold=t)
                        self._spawn(self._claim_and_send(alert_id, event, end))

    def _caps(self, b: Budget) -> list[tuple[int, Any]]:
        hit = self._thresholds.get(id(b))
        if hit is None or hit[0] is not b:
            hit = self._thresholds[id(b)] = (b, [(to_nano(b.amount * t.percent / HUNDRED), t) for t in b.thresholds])
        return hit[1]

    def _alert_blocked(self, b: Budget, line: BudgetLine, start: float, end: float, version: str | None) -> None:
        alert_id = f"{line.key}:blocked"
        if alert_id in self._claimed:
            return
        self._claimed.add(alert_id)
        event = alert_event("budget.blocked", alert_id, b, start, end, None, version)
        self._spawn(self._claim_and_send(alert_id, event, end))

    async def _claim_and_send(self, alert_id: str, event: dict[str, Any], end: float) -> None:
        if len(self._claimed) > 100_000:
            self._claimed.clear()
        try:
            first = await self.store.claim("alert:" + alert_id, max(60.0, end - self.clock() + GRACE))
        except StoreError as exc:
            self._claimed.discard(alert_id)  # try again on a later settle
            log.warning("could not claim alert %s (%s)", alert_id, exc)
            return
        if first and self.alerts is not None:
            self.alerts.emit(event)
        elif first:
            log.warning("alert %s: %s", event["type"], event["summary"])

    # ------------------------------------------------------------------ status

    async def status(self, budgets: Iterable[Budget]) -> list[dict[str, Any]]:
        """Each budget's spent, reserved, cap, remaining, period and state (GET /admin/budgets). Raises
        StoreError when the store cannot answer."""
        now = self.clock()
        rows = []
        for b in budgets:
            start, end, label = bounds(b.period, now)
            hit = self._lines.get((id(b), label))
            if hit is None or hit[0] is not b:
                hit = self._line(b, start, end, label)
            rows.append((b, hit[1], start, end))
        found = await self.store.status([r[1].key for r in rows])
        out = []
        for b, line, start, end in rows:
            spent_n, reserved_n = found.get(line.key, (None, 0))
            if spent_n is None and self.ledger is not None:
                try:
                    spent_d = await asyncio.to_thread(self.ledger.spent, b.scope, b.subject, b.currency, start, end)
                except Exception:
                    spent_d = Decimal(0)
            else:
                spent_d = from_nano(spent_n or 0)
            reserved_d = from_nano(reserved_n)
            out.append(budget_status(b, spent_d, reserved_d, start, end, line.block))
        return out

    async def status_for(self, principal: Any, budgets: Iterable[Budget]) -> list[dict[str, Any]]:
        """The budgets that apply to ``principal`` (a key's own, its team's, ...), as `status` shows them:
        what GET /v1/usage can show a key."""
        return await self.status([b for b in budgets if applies(b, principal)])

    def describe(self) -> dict[str, Any]:
        return {"store": self.store.kind, "shared": self.store.shared, "healthy": self.store.healthy,
                "fail": "open" if self.fail_open else "closed",
                "default_completion_cap": self.completion_cap, "reservation_ttl": self.ttl,
                "alerts": "webhook" if self.alerts is not None and self.alerts.url else "log"}

    async def aclose(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)
        if self.alerts is not None:
            await self.alerts.aclose()
        await self.store.aclose()
        if self.ledger is not None:
            self.ledger.close()


def budget_key(b: Budget, label: str) -> str:
    return f"b:{b.scope}:{b.subject}:{b.currency}:{b.period}:{label}"


_ATTR = {"key": "key_id", "team": "team", "project": "project", "app": "app", "cost_center": "cost_center"}


def applies(b: Budget, principal: Any) -> bool:
    return principal is not None and getattr(principal, _ATTR[b.scope], None) == b.subject


def budget_status(b: Budget, spent: Decimal, reserved: Decimal, start: float, end: float,
                  block: int | None) -> dict[str, Any]:
    state = "ok"
    for t in b.thresholds:
        if spent >= b.amount * t.percent / HUNDRED:
            state = {"alert": "alert", "downgrade": "downgraded", "block": "blocked"}[t.action]
    if block is not None and state != "blocked" and spent + reserved >= from_nano(block):
        state = "blocked"
    return {
        "scope": b.scope, "subject": b.subject, "period": b.period, "currency": b.currency,
        "cap": str(b.amount), "spent": str(spent), "reserved": str(reserved),
        "remaining": str(max(b.amount - spent - reserved, Decimal(0))),
        "period_start": iso(start), "resets_at": iso(end), "state": state,
        "thresholds": [{"percent": str(t.percent), "action": t.action, "target": t.target} for t in b.thresholds],
    }


def alert_event(kind: str, alert_id: str, b: Budget, start: float, end: float, spent: Decimal | None,
                version: str | None, threshold: Any = None) -> dict[str, Any]:
    what = f"{b.scope} '{b.subject}' ({b.amount} {b.currency} per {b.period})"
    if threshold is not None:
        summary = f"{what} passed {threshold.percent}% ({threshold.action}): spent {spent}"
    else:
        summary = f"{what} blocked a request: the budget is used up until {iso(end)}"
    event: dict[str, Any] = {
        "schema": 1, "type": kind, "id": alert_id, "summary": summary,
        "budget": {"scope": b.scope, "subject": b.subject, "amount": str(b.amount), "currency": b.currency,
                   "period": b.period},
        "period": {"start": iso(start), "resets_at": iso(end)},
        "policy_version": version, "raised_at": round(time.time(), 3),
    }
    if threshold is not None:
        event["threshold"] = {"percent": str(threshold.percent), "action": threshold.action,
                              "target": threshold.target}
        event["spent"] = str(spent)
    return event


__all__ = ["LimitsAdmission", "StoreError", "Ticket", "alert_event", "applies", "budget_key", "budget_status"]
