"""compile_policy on hand-built ASTs: first-match order, the default, splits, ramps, choose, budgets,
missing facts, the DNF fallback, and a 10,000-route policy. Each decision is also checked against the
reference interpreter."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from dsl.ast import (
    And,
    Arm,
    Budget,
    Choose,
    Compare,
    Duration,
    Fact,
    Filter,
    In,
    IsTrue,
    Limit,
    Matches,
    Model,
    Not,
    Or,
    PolicyFile,
    PolicySet,
    Provider,
    Ramp,
    Route,
    Span,
    Split,
    Sticky,
    TimeOfDay,
    Use,
)
from dsl.compile import compile_policy
from dsl.decision import Decision, Facts
from dsl.errors import PolicyError
from dsl.tree import Leaf, Policy, ramp_percent

NOON = datetime(2026, 12, 15, 12, 0, tzinfo=timezone.utc)

MODELS = (
    Provider("openai", "openai"),
    Provider("local", "openai"),
    Model("gpt-4o", "openai", "gpt-4o", Decimal("2.50"), Decimal("10"), "premium", capabilities=frozenset({"tools", "vision"})),
    Model("mini", "openai", "gpt-4o-mini", Decimal("0.15"), Decimal("0.60"), "standard", capabilities=frozenset({"tools"})),
    Model("sonnet", "openai", "claude-sonnet", Decimal(3), Decimal(15), "premium", capabilities=frozenset({"tools"})),
    Model("llama", "local", "llama-3.1-70b", Decimal(0), Decimal(0), "standard"),
    Model("tiny", "local", "tiny", Decimal(0), Decimal(0), None),
)


def team(v: str) -> Compare:
    return Compare(Fact("team"), "==", v)


def task(v: str) -> Compare:
    return Compare(Fact("task"), "==", v)


def header(name: str) -> Fact:
    return Fact("header", name)


def policy(*decls, version: str = "v1", **options) -> Policy:
    return compile_policy(PolicySet((PolicyFile("t.policy", MODELS + tuple(decls)),)), version, **options)


def decide(p: Policy, **facts) -> Decision:
    """Decide with the tree, and insist the reference interpreter agrees."""
    facts.setdefault("now", NOON)
    f = Facts(**facts)
    got = p.decide(f)
    ref = p.decide_reference(f)
    assert (got.rule, got.plan, got.arm, got.error, got.budgets, got.limits) == (
        ref.rule,
        ref.plan,
        ref.arm,
        ref.error,
        ref.budgets,
        ref.limits,
    )
    return got


def models_of(d: Decision) -> list[str]:
    return [t.model for t in d.plan.candidates]


# --------------------------------------------------------------------------- order


def test_first_match_beats_specificity() -> None:
    p = policy(
        Route("broad", team("eng"), Use("mini")),
        Route("narrow", And((team("eng"), task("code"))), Use("sonnet")),
    )
    assert decide(p, team="eng", task="code").rule == "broad"
    assert decide(p, team="ops", task="code").rule == "default"


def test_default_is_tried_last_even_when_written_first() -> None:
    p = policy(
        Route("default", None, Use("llama"), is_default=True),
        Route("eng", team("eng"), Use("mini")),
    )
    assert [r.name for r in p.routes] == ["eng", "default"]
    assert decide(p, team="eng").rule == "eng"
    d = decide(p, team="ops")
    assert d.rule == "default" and models_of(d) == ["llama"]


def test_implicit_default_uses_the_requested_model() -> None:
    p = policy(Route("eng", team("eng"), Use("mini")))
    d = decide(p, team="ops", model="sonnet")
    assert d.rule == "default" and models_of(d) == ["sonnet"] and d.error is None


def test_a_route_without_condition_shadows_the_rest() -> None:
    p = policy(Route("all", None, Use("mini")), Route("eng", team("eng"), Use("sonnet")))
    assert decide(p, team="eng").rule == "all"


def test_rule_span_version_and_plan_settings() -> None:
    span = Span("t.policy", 7, 1, 9, 1)
    p = policy(
        Route("eng", team("eng"), Use("mini"), fallback=("llama",), retries=3, timeout=Duration(Decimal("2.5")), retry_on=(400,), span=span),
        version="abc123",
    )
    d = decide(p, team="eng")
    assert d.rule_span == span and d.policy_version == "abc123"
    assert d.plan.strategy == "ordered"
    assert [t.model for t in d.plan.fallback] == ["llama"]
    assert d.plan.candidates[0].provider == "openai" and d.plan.candidates[0].upstream == "gpt-4o-mini"
    assert (d.plan.retries, d.plan.timeout, d.plan.retry_on) == (3, Decimal("2.5"), (400,))
    assert decide(p, team="ops").plan.retries == 1


# --------------------------------------------------------------------------- split and ramp


def test_split_is_deterministic_and_near_its_percentages() -> None:
    p = policy(Route("ab", None, Split((Arm(Decimal(90), "sonnet"), Arm(Decimal(10), "gpt-4o")), Sticky("user"))))
    arms = [decide(p, user=f"user-{i}", request_id=f"r{i}").arm for i in range(2000)]
    share = arms.count("sonnet") / len(arms)
    assert 0.87 <= share <= 0.93
    assert set(arms) == {"sonnet", "gpt-4o"}
    # Sticky: the same user draws the same arm whatever the request id.
    for i in range(50):
        assert decide(p, user=f"user-{i}", request_id="other").arm == arms[i]
    d = decide(p, user="user-1")
    assert models_of(d) == [d.arm]


def test_split_sticky_by_header_and_missing_sticky_uses_request_id() -> None:
    p = policy(Route("ab", None, Split((Arm(Decimal(50), "mini"), Arm(Decimal(50), "llama")), Sticky("header", "x-tenant"))))
    for tenant in ("acme", "globex", "initech", "umbrella"):
        seen = {decide(p, headers={"x-tenant": tenant}, user=f"u{i}", request_id=f"r{i}").arm for i in range(20)}
        assert len(seen) == 1
    # Without the header each request draws anew on its id: both arms show up.
    seen = {decide(p, request_id=f"r{i}").arm for i in range(100)}
    assert seen == {"mini", "llama"}


def test_split_without_sticky_draws_per_request() -> None:
    p = policy(Route("ab", None, Split((Arm(Decimal(50), "mini"), Arm(Decimal(50), "llama")))))
    assert {decide(p, user="same", request_id=f"r{i}").arm for i in range(100)} == {"mini", "llama"}
    assert decide(p, request_id="fixed").arm == decide(p, request_id="fixed").arm


RAMP = Ramp("sonnet", Decimal(5), date(2026, 12, 1), Decimal(100), date(2026, 12, 31), "gpt-4o")


@pytest.mark.parametrize(
    ("day", "percent"),
    [
        (date(2026, 11, 30), Decimal(0)),
        (date(2026, 12, 1), Decimal(5)),
        (date(2026, 12, 16), Decimal("52.5")),
        (date(2026, 12, 31), Decimal(100)),
        (date(2027, 2, 1), Decimal(100)),
    ],
)
def test_ramp_percent(day: date, percent: Decimal) -> None:
    assert ramp_percent(RAMP, day) == percent


@pytest.mark.parametrize(
    ("day", "low", "high"),
    [
        (date(2026, 11, 30), 0.0, 0.0),
        (date(2026, 12, 1), 0.03, 0.07),
        (date(2026, 12, 16), 0.48, 0.57),
        (date(2027, 1, 5), 1.0, 1.0),
    ],
)
def test_ramp_moves_traffic_by_key(day: date, low: float, high: float) -> None:
    p = policy(Route("move", Compare(Fact("model"), "==", "gpt-4o"), RAMP))
    now = datetime(day.year, day.month, day.day, 10, tzinfo=timezone.utc)
    arms = [decide(p, model="gpt-4o", key=f"k{i}", now=now, request_id=f"r{i}").arm for i in range(2000)]
    assert set(arms) <= {"sonnet", "gpt-4o"}
    assert low <= arms.count("sonnet") / len(arms) <= high
    # Sticky by key by default: one caller sees one model on a given day.
    assert decide(p, model="gpt-4o", key="k7", now=now, request_id="x").arm == arms[7]


# --------------------------------------------------------------------------- choose


def test_choose_cheapest_sorts_by_price_then_written_order() -> None:
    p = policy(Route("c", None, Choose("cheapest", ("sonnet", "llama", "gpt-4o", "tiny", "mini"))))
    d = decide(p)
    assert models_of(d) == ["llama", "tiny", "mini", "gpt-4o", "sonnet"]
    assert d.plan.strategy == "cheapest"  # the executor re-orders by this request's expected cost


def test_choose_where_filters() -> None:
    p = policy(
        Route("std", team("a"), Choose("cheapest", ("sonnet", "llama", "tiny", "mini"), (Filter("tier", ">=", "standard"),))),
        Route("prem", team("b"), Choose("cheapest", ("sonnet", "llama", "gpt-4o"), (Filter("tier", "==", "premium"),))),
        Route("tools", team("c"), Choose("fastest", ("sonnet", "llama", "gpt-4o"), (Filter("supports", None, "tools"),))),
        Route("low", team("d"), Choose("least_busy", ("tiny", "llama", "gpt-4o"), (Filter("tier", "<", "premium"),))),
    )
    assert models_of(decide(p, team="a")) == ["llama", "mini", "sonnet"]  # tiny has no tier
    assert models_of(decide(p, team="b")) == ["gpt-4o", "sonnet"]
    d = decide(p, team="c")
    assert models_of(d) == ["sonnet", "gpt-4o"] and d.plan.strategy == "fastest"
    d = decide(p, team="d")
    assert models_of(d) == ["llama"] and d.plan.strategy == "least_busy"


def test_choose_round_robin_keeps_written_order() -> None:
    d = decide(policy(Route("rr", None, Choose("round_robin", ("sonnet", "mini")))))
    assert models_of(d) == ["sonnet", "mini"] and d.plan.strategy == "round_robin"


# --------------------------------------------------------------------------- use requested


def test_use_requested_known_and_unknown() -> None:
    p = policy(Route("default", None, Use("requested"), fallback=("mini",), is_default=True))
    d = decide(p, model="sonnet")
    assert models_of(d) == ["sonnet"] and d.error is None
    for asked in ("gpt-5", None):
        d = decide(p, model=asked)
        assert d.plan.candidates == ()
        assert d.error is not None and d.error.startswith("model_not_found")
        assert [t.model for t in d.plan.fallback] == ["mini"]


# --------------------------------------------------------------------------- budgets and limits


def test_budgets_and_limits_that_apply_are_attached() -> None:
    research = Budget("team", "research", Decimal(20000), "USD", "month")
    chatbot = Budget("project", "chatbot", Decimal(50), "USD", "day")
    key = Budget("key", "k1", Decimal(5), "USD", "day")
    other = Budget("team", "eng", Decimal(1), "USD", "day")
    lim = Limit("team", "research", requests_per_minute=60)
    p = policy(research, chatbot, key, other, lim)
    d = decide(p, team="research", project="chatbot", key="k1")
    assert set(d.budgets) == {research, chatbot, key}
    assert d.limits == (lim,)
    d = decide(p, team="ops", project="chatbot")
    assert d.budgets == (chatbot,) and d.limits == ()
    assert decide(p).budgets == ()


# --------------------------------------------------------------------------- missing facts


@pytest.mark.parametrize(
    ("cond", "when_missing", "when_a"),
    [
        (Compare(header("x-c"), "==", "a"), False, True),
        (Compare(header("x-c"), "!=", "a"), True, False),
        (In(header("x-c"), ("a", "b")), False, True),
        (In(header("x-c"), ("a", "b"), negated=True), True, False),
        (Matches(header("x-c"), "^a"), False, True),
        (IsTrue(header("x-c")), False, True),
        (Not(Compare(header("x-c"), "==", "a")), True, False),
        (Not(In(header("x-c"), ("a",), negated=True)), False, True),
        (Not(Matches(header("x-c"), "^a")), True, False),
        (Not(IsTrue(header("x-c"))), True, False),
        (Compare(header("x-c"), "<", "b"), False, True),
        (Not(Compare(header("x-c"), "<", "b")), True, False),
    ],
)
def test_missing_header(cond, when_missing: bool, when_a: bool) -> None:
    p = policy(Route("r", cond, Use("mini")))
    assert (decide(p).rule == "r") is when_missing
    assert (decide(p, headers={"x-c": "a"}).rule == "r") is when_a
    assert decide(p, headers={"x-c": "zzz"}) is not None


def test_other_fact_kinds() -> None:
    p = policy(
        Route("tagged", IsTrue(Fact("tag", "batch")), Use("llama")),
        Route("short", Compare(Fact("prompt_tokens"), "<", 400), Use("mini")),
        Route("night", Or((Compare(Fact("time"), ">=", TimeOfDay(22 * 60)), Compare(Fact("time"), "<", TimeOfDay(6 * 60)))), Use("tiny")),
        Route("weekend", In(Fact("weekday"), ("sat", "sun")), Use("llama")),
        Route("after", Compare(Fact("date"), ">=", date(2027, 1, 1)), Use("sonnet")),
        Route("streamed", And((IsTrue(Fact("stream")), Not(IsTrue(Fact("tools"))))), Use("gpt-4o")),
    )
    assert decide(p, tags=frozenset({"batch"}), prompt_tokens=10).rule == "tagged"
    assert decide(p, prompt_tokens=10).rule == "short"
    assert decide(p, prompt_tokens=500, now=datetime(2026, 12, 16, 23, 0, tzinfo=timezone.utc)).rule == "night"
    assert decide(p, prompt_tokens=500, now=datetime(2026, 12, 19, 12, 0, tzinfo=timezone.utc)).rule == "weekend"  # a Saturday
    assert decide(p, prompt_tokens=500, now=datetime(2027, 1, 4, 12, 0, tzinfo=timezone.utc)).rule == "after"
    assert decide(p, prompt_tokens=500, stream=True).rule == "streamed"
    assert decide(p, prompt_tokens=500, stream=True, tools=True).rule == "default"


def test_string_compare_is_exact() -> None:
    p = policy(Route("r", Compare(Fact("team"), "==", "Eng"), Use("mini")))
    assert decide(p, team="eng").rule == "default"
    assert decide(p, team="Eng").rule == "r"


# --------------------------------------------------------------------------- the tree itself


def test_dnf_blow_up_keeps_the_route_whole_and_correct() -> None:
    # (team a|b) and (task a|b) and ... over 8 facts: 2^8 = 256 conjunctions, more than the cap.
    names = ("team", "task", "project", "app", "cost_center", "key", "user", "model")
    big = And(tuple(Or((Compare(Fact(n), "==", "a"), Compare(Fact(n), "==", "b"))) for n in names))
    p = policy(
        Route("first", team("z"), Use("mini")),
        Route("big", big, Use("sonnet")),
        Route("eng", team("a"), Use("llama")),
    )
    every = {n: "a" for n in names}
    assert decide(p, **every).rule == "big"
    assert decide(p, **(every | {"user": "b", "key": "b"})).rule == "big"
    assert decide(p, **(every | {"user": "c"})).rule == "eng"
    assert decide(p, team="z").rule == "first"
    # The opaque route is a single row in the leaves, not 256.
    rows = [row for leaf in _leaves(p._root) for row in leaf.rows if row.route == 1]  # type: ignore[attr-defined]
    assert rows and all(len(row.lits) == 1 for row in rows)


def test_not_equal_gets_its_own_branch() -> None:
    # `team != "x"` must not match team x, even though no route pins team == "x".
    p = policy(
        Route("eng", team("eng"), Use("mini")),
        Route("not-x", Compare(Fact("team"), "!=", "x"), Use("llama")),
    )
    assert decide(p, team="x").rule == "default"
    assert decide(p, team="y").rule == "not-x"
    assert decide(p).rule == "not-x"
    assert decide(p, team="eng").rule == "eng"


def test_contradiction_never_matches() -> None:
    p = policy(Route("never", And((team("a"), Not(team("a")))), Use("mini")), Route("never2", In(Fact("team"), ()), Use("mini")))
    assert decide(p, team="a").rule == "default"


def test_trace_explains_the_decision() -> None:
    p = policy(
        Route("eng", And((team("eng"), Compare(Fact("prompt_tokens"), "<", 400))), Use("mini")),
        Route("ops", team("ops"), Use("llama")),
    )
    f = Facts(team="eng", prompt_tokens=1000, now=NOON)
    d = p.decide(f, trace=True)
    assert d.rule == "default"
    assert any(s.rule == "eng" and s.test == "prompt_tokens < 400" and s.result is False for s in d.trace)
    assert p.decide(f).trace == ()
    ref = p.decide_reference(f, trace=True)
    assert [(s.rule, s.test, s.result) for s in ref.trace] == [
        ("eng", 'team == "eng"', True),
        ("eng", "prompt_tokens < 400", False),
        ("ops", 'team == "ops"', False),
    ]


def test_ten_thousand_routes_compile_and_decide() -> None:
    teams = [f"team{i}" for i in range(100)]
    tasks = [f"task{j}" for j in range(100)]
    names = ("gpt-4o", "mini", "sonnet", "llama")
    routes = [
        Route(f"r-{t}-{k}", And((team(t), task(k))), Use(names[(i + j) % 4]))
        for i, t in enumerate(teams)
        for j, k in enumerate(tasks)
    ]
    routes[5000] = Route("wild", Compare(Fact("header", "x-vip"), "==", "yes"), Use("sonnet"))
    p = policy(*routes)
    assert len(p.routes) == 10001
    assert decide(p, team="team3", task="task7").rule == "r-team3-task7"
    assert models_of(decide(p, team="team3", task="task7")) == [names[10 % 4]]
    # Before the wildcard route (index 5000 = team50/task0) the team/task route wins; after it, the header does.
    assert decide(p, team="team10", task="task1", headers={"x-vip": "yes"}).rule == "r-team10-task1"
    assert decide(p, team="team99", task="task99", headers={"x-vip": "yes"}).rule == "wild"
    assert decide(p, team="team99", task="task99").rule == "r-team99-task99"
    assert decide(p, team="team99", task="nope").rule == "default"


# --------------------------------------------------------------------------- errors


def test_unknown_model_is_a_compile_error() -> None:
    span = Span("t.policy", 3, 5, 3, 20)
    with pytest.raises(PolicyError) as e:
        policy(Route("r", None, Use("nope", span=span)))
    assert e.value.diagnostics[0].code == "E900" and e.value.diagnostics[0].span == span


def test_invalid_regex_and_second_default_are_compile_errors() -> None:
    with pytest.raises(PolicyError):
        policy(Route("r", Matches(Fact("team"), "("), Use("mini")))
    with pytest.raises(PolicyError):
        policy(Route("default", None, Use("mini"), is_default=True), Route("default", None, Use("llama"), is_default=True))


def _leaves(node):
    if isinstance(node, Leaf):
        yield node
        return
    for child in node.branches.values():
        yield from _leaves(child)
    yield from _leaves(node.default)
