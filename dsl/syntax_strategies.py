"""The parse-tree → AST methods of the routing-strategy clauses, mixed into dsl/syntax.py's transformer:
quality scores on models (``quality code 0.86, default 0.7``), the ``quality`` filter of ``choose``,
``choose fastest by p95``, and a ramp's ``guard``. They only build nodes; what the values must be (scores
in 0..1, known metrics, units) is the checker's to say (dsl/check_strategies.py), with places and hints.
"""
from __future__ import annotations

import re
from decimal import Decimal

from lark import Token, v_args

from . import ast as A

__all__ = ["StrategyClauses", "duration_seconds"]

_UNIT_SECONDS = {"ms": Decimal("0.001"), "s": Decimal(1), "m": Decimal(60), "h": Decimal(3600)}


def duration_seconds(tok: Token) -> Decimal:
    """``30s``, ``500ms``, ``2m``, ``1h`` → seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(tok))
    assert m
    return Decimal(m.group(1)) * _UNIT_SECONDS[m.group(2)]


class StrategyClauses:
    """Transformer methods; ``self.span`` comes from the transformer they are mixed into."""

    def span(self, meta_or_tok: object) -> A.Span:  # pragma: no cover - provided by the transformer
        raise NotImplementedError

    # ---- models
    def m_quality(self, c):
        return ("quality", tuple(c), c[0][2])

    def quality_score(self, c):
        task, score = c
        return (str(task), Decimal(str(score)), task)

    def quality_task(self, c):
        return c[0]

    # ---- choose
    @v_args(meta=True)
    def f_quality(self, meta, c):
        return A.Filter("quality", str(c[0]), str(Decimal(str(c[1]))), self.span(meta))

    def choose_by(self, c):
        return ("by", str(c[0]))

    # ---- ramp guards
    @v_args(meta=True)
    def guard(self, meta, c):
        tests = tuple(x for x in c if isinstance(x, A.GuardTest))
        rest = [x for x in c if isinstance(x, Token)]
        window = A.Duration(duration_seconds(rest[0]), self.span(rest[0]))
        model = str(rest[1]) if len(rest) > 1 else None
        return A.Guard(tests, window, model, self.span(meta))

    @v_args(meta=True)
    def g_percent(self, meta, c):
        return A.GuardTest(str(c[0]), str(c[1]), percent=Decimal(str(c[2])), span=self.span(meta))

    @v_args(meta=True)
    def g_duration(self, meta, c):
        return A.GuardTest(str(c[0]), str(c[1]), duration=A.Duration(duration_seconds(c[2]), self.span(c[2])),
                           span=self.span(meta))

    @v_args(meta=True)
    def g_number(self, meta, c):
        return A.GuardTest(str(c[0]), str(c[1]), number=Decimal(str(c[2])), span=self.span(meta))
