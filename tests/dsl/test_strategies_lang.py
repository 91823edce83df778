"""The routing-strategy clauses of the language: quality scores, `where quality`, `fastest by p95`, ramp
guards — parsed, formatted back, checked (E230-E245), explained, and decided per task."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from dsl import ast
from dsl.check import check
from dsl.compile import compile_policy
from dsl.decision import Facts
from dsl.explain import explain
from dsl.fmt import format_text
from dsl.syntax import parse_text

POLICY = """\
provider p kind mock
model strong = p/"strong" price in 3 out 15 per 1M quality code 0.9, math 0.85, default 0.75
model coder  = p/"coder"  price in 0.5 out 2 per 1M quality code 0.86, default 0.6
model mini   = p/"mini"   price in 0.1 out 0.4 per 1M quality default 0.7
route quality when team == "eng" choose cheapest of [strong, coder, mini] where quality >= 0.8
route quick when team == "ops" choose fastest by p95 of [coder, mini]
route move when team == "web"
  ramp coder from 10% on 2026-12-01 to 100% on 2026-12-29, rest strong guard error_rate > 5% or p95 > 4s over 10m
default use mini
"""


def ps(text: str = POLICY) -> ast.PolicySet:
    return ast.PolicySet((parse_text(text, "t.policy"),))


def codes(text: str) -> list[str]:
    return [d.code for d in check(ps(text))]


def test_parse_and_format_round_trip() -> None:
    f = parse_text(POLICY, "t.policy")
    models = {d.name: d for d in f.decls if isinstance(d, ast.Model)}
    assert models["strong"].quality == (("code", ast.Decimal("0.9")), ("math", ast.Decimal("0.85")),
                                        ("default", ast.Decimal("0.75")))
    routes = {d.name: d for d in f.decls if isinstance(d, ast.Route)}
    assert routes["quick"].action.by == "p95"
    guard = routes["move"].action.guard
    assert [t.metric for t in guard.tests] == ["error_rate", "p95"] and guard.window.seconds == 600
    text = format_text(POLICY, "t.policy")
    assert "guard error_rate > 5% or p95 > 4s over 10m" in text and "choose fastest by p95 of" in text
    assert parse_text(text, "t.policy").decls == f.decls
    assert not [d for d in check(ps()) if d.severity == "error"]


@pytest.mark.parametrize("task, served, passed", [
    ("code", ["coder", "strong"], ["mini"]),  # coder 0.86 passes for code and is cheaper than strong
    ("math", ["strong"], ["coder", "mini"]),  # only strong scores math >= 0.8
    ("chat", [], ["coder", "mini", "strong"]),  # nobody's default reaches 0.8
    (None, [], ["coder", "mini", "strong"]),
])
def test_cheapest_under_a_quality_bar_depends_on_the_task(task, served, passed) -> None:
    policy = compile_policy(ps(), "v1")
    d = policy.decide(Facts(team="eng", task=task))
    ref = policy.decide_reference(Facts(team="eng", task=task))
    assert [t.model for t in d.plan.candidates] == served
    assert sorted(m for m, _ in d.passed) == passed
    assert (d.plan, d.passed, d.error) == (ref.plan, ref.passed, ref.error)
    if not served:
        assert d.error is not None and d.error.startswith("quality_unmet:")
    else:
        assert d.error is None and d.plan.strategy == "cheapest"
    if task == "code":
        assert dict(d.passed)["mini"] == "quality 0.7 (its default) fails quality >= 0.8"


def test_fastest_by_p95_reaches_the_plan() -> None:
    d = compile_policy(ps(), "v1").decide(Facts(team="ops"))
    assert (d.plan.strategy, d.plan.by) == ("fastest", "p95")


def test_explain_says_the_bar_the_schedule_and_the_guard() -> None:
    text = explain(ps(), "text")
    assert "declared quality for the request's task (else their default) is at least 0.8" in text
    assert "95th-percentile latency" in text
    assert "schedule: 10% on 2026-12-01, 32.5% on 2026-12-08, 55% on 2026-12-15, 77.5% on 2026-12-22" in text
    assert ("guarded: while coder's error rate is above 5% or 95th-percentile latency is above 4 seconds over "
            "the last 10 minutes") in text


BASE = """\
provider p kind mock
model a = p/"a" price in 1 out 2 per 1M quality code 0.9, default 0.6
model b = p/"b" price in 0.1 out 0.2 per 1M quality default 0.5
"""


@pytest.mark.parametrize("line, code", [
    ('model c = p/"c" quality code 1.5\ndefault use c', "E230"),
    ('model c = p/"c" quality mathz 0.5\ndefault use c', "E231"),
    ('model c = p/"c" quality code 0.5, coding 0.6\ndefault use c', "W232"),
    ("default choose cheapest of [a, b] where quality >= 1.5", "E233"),
    ("default choose cheapest of [a, b] where quality >= 0.95", "E234"),
    ("default choose cheapest of [a, b] where quality >= 0.8", "W235"),
    ("default choose cheapest by p95 of [a, b]", "E236"),
    ("default choose fastest by p99 of [a, b]", "E236"),
    ("default ramp b from 5% on 2026-12-01 to 100% on 2026-12-31, rest a guard error_rate > 5% over 10m on a", "E240"),
    ("default ramp b from 5% on 2026-12-01 to 100% on 2026-12-31, rest a guard latency > 2s over 10m", "E242"),
    ("default ramp b from 5% on 2026-12-01 to 100% on 2026-12-31, rest a guard p95 > 40% over 10m", "E243"),
    ("default ramp b from 5% on 2026-12-01 to 100% on 2026-12-31, rest a guard error_rate < 5% over 10m", "E244"),
    ("default ramp b from 5% on 2026-12-01 to 100% on 2026-12-31, rest a guard error_rate > 500% over 10m", "E245"),
])
def test_check_flags(line: str, code: str) -> None:
    assert code in codes(BASE + line + "\n")


def test_a_guard_on_the_new_model_is_fine() -> None:
    text = BASE + "default ramp b from 5% on 2026-12-01 to 100% on 2026-12-31, rest a guard error_rate > 5% over 10m on b\n"
    assert codes(text) == []


def test_quality_unmet_falls_back_when_a_fallback_is_written() -> None:
    text = BASE + "default choose cheapest of [a, b] where quality >= 0.8 fallback b\n"
    policy = compile_policy(ps(text), "v1")
    d = policy.decide(Facts(task="chat", now=datetime(2026, 12, 1, tzinfo=timezone.utc)))
    assert d.error is None and d.plan.candidates == () and [t.model for t in d.plan.fallback] == ["b"]
