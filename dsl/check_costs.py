"""Checks on what things cost and who pays: models without a price, cost centers and shared costs
(W165, E220-E226).

    W165  a model without a price: its requests are billed as unpriced (cost 0, flagged), never a silent $0
    E220  two cost centers, or two shared costs, with the same name
    E221  a shared cost whose percentages do not sum to 100%
    E222  a shared cost split to a cost center the policy does not declare (when it declares any)
    E223  a shared scope allocated to itself (shared cost_center "X" ... split including "X")
    E224  amounts in more than one currency (budgets and shared costs): one currency per policy
    E225  a shared amount of zero or less, or an unknown period or currency
    W226  a shared cost split by percentages while the policy declares no cost center
"""
from __future__ import annotations

from decimal import Decimal

from . import ast as A
from .check_base import CheckerBase, did_you_mean
from .currencies import currency_problem

__all__ = ["CostChecks"]


class CostChecks(CheckerBase):
    def check_costs(self) -> None:
        for m in self.ps.of(A.Model):
            if m.price_in is None or m.price_out is None:
                self.add("W165", f"model `{m.name}` has no price: its requests are recorded as unpriced",
                         m.span, "declare `price in X out Y per 1M`, or `price 0` for a free model")
        centers: dict[str, A.CostCenter] = {}
        for c in self.ps.of(A.CostCenter):
            if c.name in centers:
                first = centers[c.name]
                self.add("E220", f"cost_center \"{c.name}\" is declared twice", c.span,
                         f"the first is at {first.span.file}:{first.span.line}")
            else:
                centers[c.name] = c
        shared_names: dict[str, A.Shared] = {}
        currencies: dict[str, A.Span] = {}
        for b in self.ps.of(A.Budget):
            currencies.setdefault(b.currency, b.span)
        for sh in self.ps.of(A.Shared):
            what = f"shared \"{sh.name}\""
            if sh.name in shared_names:
                first2 = shared_names[sh.name]
                self.add("E220", f"{what} is declared twice", sh.span,
                         f"the first is at {first2.span.file}:{first2.span.line}")
            else:
                shared_names[sh.name] = sh
            if sh.amount is not None:
                if sh.amount <= 0:
                    self.add("E225", f"{what} has an amount of {sh.amount}", sh.span, "give a positive amount")
                if sh.period not in A.PERIODS:
                    self.add("E225", f"{what}: `{sh.period}` is not a period", self.at_after(sh.span, "per"),
                             did_you_mean(sh.period or "", A.PERIODS, "periods"))
                if currency_problem(sh.currency or "") is not None:
                    self.add("E225", f"{what}: `{sh.currency}` is not a currency code", sh.span,
                             "use a three-letter ISO 4217 code such as USD or EUR")
                else:
                    currencies.setdefault(sh.currency or "", sh.span)
            if sh.scope is not None and sh.scope not in A.SCOPES:
                self.add("E106", f"`{sh.scope}` is not a scope", sh.span, did_you_mean(sh.scope, A.SCOPES, "scopes"))
            if sh.percentages is None:
                continue
            total = sum((p for _, p in sh.percentages), Decimal(0))
            if total != 100:
                self.add("E221", f"{what}: the percentages sum to {total}%, not 100%", sh.span,
                         "make the shares add up to exactly 100%")
            names = [cc for cc, _ in sh.percentages]
            if sh.scope == "cost_center" and sh.subject in names:
                self.add("E223", f"{what} allocates cost center \"{sh.subject}\"'s usage back to itself", sh.span,
                         "split it among the other cost centers only")
            if centers:
                for cc in names:
                    if cc not in centers:
                        self.add("E222", f"{what} splits to cost center \"{cc}\", which is not declared",
                                 self.name_at(sh.span, f'"{cc}"'),
                                 did_you_mean(cc, list(centers), "cost centers") or
                                 f"declare it: cost_center \"{cc}\"")
            else:
                self.add("W226", f"{what} splits by percentages, but the policy declares no cost center", sh.span,
                         "declare each: cost_center \"NAME\" (so a typo in a split is caught)")
        if len(currencies) > 1:
            spans = sorted(currencies.items(), key=lambda kv: (kv[1].file, kv[1].line))
            first_cur, _ = spans[0]
            for cur, span in spans[1:]:
                self.add("E224", f"amounts in {cur} and {first_cur}: a policy bills in one currency", span,
                         f"write every budget and shared cost in {first_cur}")
