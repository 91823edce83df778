"""Checks on budgets and limits: scopes, periods, currencies, amounts, duplicates, thresholds and whether a
downgrade can lower spend (E106, E107, E109, E115, E116, E152, E160-E162, W163, E164, E165). Currencies are
checked against the ISO 4217 list (dsl/currencies.py), not only their shape.
"""
from __future__ import annotations

from . import ast as A
from .check_base import CheckerBase, did_you_mean, price
from .currencies import currency_problem

__all__ = ["BudgetChecks"]


class BudgetChecks(CheckerBase):
    def check_budgets_and_limits(self) -> None:
        seen_budgets: dict[tuple[str, str, str], A.Budget] = {}
        for b in self.ps.of(A.Budget):
            what = f"budget {b.scope} \"{b.subject}\""
            toks = self.toks(b.span)
            if b.scope not in A.SCOPES:
                self.add("E106", f"`{b.scope}` is not a budget scope", b.span, did_you_mean(b.scope, A.SCOPES, "scopes"))
            if b.period not in A.PERIODS:
                self.add("E107", f"{what}: `{b.period}` is not a period", self.at_after(b.span, "per"),
                         did_you_mean(b.period, A.PERIODS, "periods"))
            problem = currency_problem(b.currency)
            if problem is not None:
                where = toks[4][1] if len(toks) > 4 and toks[4][0] == b.currency else b.span
                self.add("E109", f"{what}: {problem[0]}", where, problem[1])
            if b.amount <= 0:
                where = toks[3][1] if len(toks) > 3 else b.span
                self.add("E160", f"{what} has an amount of {b.amount}: it would block or downgrade everything", where,
                         "give a positive amount")
            key = (b.scope, b.subject, b.period)
            if key in seen_budgets:
                first = seen_budgets[key]
                self.add("E115", f"{what} per {b.period} is declared twice", b.span,
                         f"the first is at {first.span.file}:{first.span.line}; merge their thresholds")
            else:
                seen_budgets[key] = b
            self.check_thresholds(b, what)
        seen_limits: dict[tuple[str, str], A.Limit] = {}
        for lim in self.ps.of(A.Limit):
            what = f"limit {lim.scope} \"{lim.subject}\""
            if lim.scope not in A.SCOPES:
                self.add("E106", f"`{lim.scope}` is not a limit scope", lim.span,
                         did_you_mean(lim.scope, A.SCOPES, "scopes"))
            rates = [r for r in (lim.requests_per_minute, lim.tokens_per_minute) if r is not None]
            if not rates:
                self.add("E164", f"{what} sets no rate", lim.span, "add `N requests per minute` or `N tokens per minute`")
            elif any(r <= 0 for r in rates):
                self.add("E164", f"{what} has a rate of 0: it would refuse every request", lim.span,
                         "give a positive rate, or remove the limit")
            key2 = (lim.scope, lim.subject)
            if key2 in seen_limits:
                first2 = seen_limits[key2]
                self.add("E116", f"{what} is declared twice", lim.span,
                         f"the first is at {first2.span.file}:{first2.span.line}; put both rates on one line")
            else:
                seen_limits[key2] = lim

    def check_thresholds(self, b: A.Budget, what: str) -> None:
        prev: A.Threshold | None = None
        block: A.Threshold | None = None
        for t in b.thresholds:
            if t.percent <= 0:
                self.add("E165", f"{what}: a threshold at {t.percent}% fires before anything is spent", t.span,
                         "give a percent above 0")
            if prev is not None and t.percent == prev.percent:
                self.add("E162", f"{what} has two thresholds at {t.percent}%", t.span,
                         "keep one action per percent")
            elif prev is not None and t.percent < prev.percent:
                self.add("E161", f"{what}: the threshold at {t.percent}% comes after one at {prev.percent}%",
                         t.span, "list thresholds from the lowest percent to the highest")
            if block is not None and t.percent > block.percent:
                self.add("W163", f"{what}: `at {t.percent}% {t.action}` never fires: spending is blocked at "
                                 f"{block.percent}%", t.span, "remove it, or move the block above it")
            if t.action == "block" and (block is None or t.percent < block.percent):
                block = t
            prev = t
            if t.action == "downgrade" and t.target is not None:
                where = self.at_after(t.span, "to")
                if self.model_ref(t.target, where, "a downgrade"):
                    self.check_downgrade(t, where)

    def check_downgrade(self, t: A.Threshold, where: A.Span) -> None:
        assert t.target is not None
        target = self.models[t.target]
        others = [self.models[m] for m in self.reachable() if m != t.target]
        if not others:
            return
        top = max(others, key=price)
        if price(target) >= price(top):
            self.add("E152", f"downgrading to `{t.target}` can never lower spend: it costs {price(target)} per 1M "
                             f"tokens (in + out), and no model the routes reach costs more "
                             f"(the most expensive is `{top.name}` at {price(top)})", where,
                     "downgrade to a cheaper model")
