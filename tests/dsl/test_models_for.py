"""Policy.models_for: the models a caller with a given principal can be served (GET /v1/models).

Hand-written policies pin down the walk (principal facts known, request facts unknown, first definite
match ends it); a property test holds it sound against decide on random policies and requests.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsl import load_policy
from dsl.ast import Fact, In, PolicyFile, PolicySet, Route, Use
from dsl.compile import compile_policy
from dsl.decision import Facts
from dsl.syntax import parse_text
from dsl.tree import MODELS_FOR_CACHE, Policy

try:
    from strategies import facts_for, policy_sets
except ImportError:  # tests/ imported as a package
    from tests.dsl.strategies import facts_for, policy_sets

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "policies" / "examples" / "full.policy"

MODELS = """
provider p kind mock
model a = p/"a"  price 1   tier premium   supports tools
model b = p/"b"  price 0.5 tier standard
model c = p/"c"  price 0.1 tier economy
model d = p/"d"  price 0   tier standard  supports tools
model e = p/"e"  price 0
"""
EVERY = ("a", "b", "c", "d", "e")


def compiled(routes: str) -> Policy:
    return compile_policy(PolicySet((parse_text(MODELS + routes, "t.policy"),)), "v-test")


# --------------------------------------------------------------------------- the example policy


def test_full_example() -> None:
    policy, _ = load_policy([FULL])
    every = tuple(policy.models)
    # `default use requested` is reachable for everyone who does not hit the `demo` route.
    assert policy.models_for() == every
    assert policy.models_for(team="eng", project="support", app="web", key="k-1") == every
    # cost_center "demo" always takes `demo` (use canned), so the default is out of reach; what the
    # routes before it can send to stays. tools-anywhere needs a team matching ^(eng|data)-.
    assert policy.models_for(cost_center="demo") == (
        "gpt-4o", "gpt-4o-mini", "sonnet", "flash", "llama", "embed", "canned")
    assert "azure-4o" in policy.models_for(cost_center="demo", team="eng-web")
    assert policy.models_for(key="k-demo") == policy.models_for(cost_center="demo")


# --------------------------------------------------------------------------- hand-written policies


def test_a_team_restricted_route_serves_only_that_team() -> None:
    policy = compiled("""
route research
  when team == "research"
  use a
default
  use b
""")
    assert policy.models_for(team="research") == ("a",)  # the route always holds: the default is unreachable
    assert policy.models_for(team="eng") == ("b",)
    assert policy.models_for() == ("b",)  # no team: `==` does not hold


def test_missing_principal_facts_follow_the_reference_semantics() -> None:
    policy = compiled("""
route not-eng
  when team != "eng"
  use a
route outside
  when project not in ["x", "y"]
  use b
route tagged
  when app in ["web"]
  use c
default
  use d
""")
    # A missing team satisfies != (and a missing project `not in`), as in reference.eval_atom.
    assert policy.models_for() == ("a",)
    assert policy.models_for(team="eng") == ("b",)
    assert policy.models_for(team="eng", project="x") == ("d",)
    assert policy.models_for(team="eng", project="x", app="web") == ("c",)


def test_use_requested_reachable_means_every_model() -> None:
    policy = compiled("""
route eng
  when team == "eng"
  use a
default
  use requested
""")
    assert policy.models_for(team="eng") == ("a",)
    assert policy.models_for(team="ops") == EVERY
    assert policy.models_for() == EVERY


def test_an_earlier_catch_all_hides_later_routes() -> None:
    policy = compiled("""
route everyone
  use c
route never-reached
  when team == "eng"
  use a
default
  use requested
""")
    assert policy.models_for(team="eng") == ("c",)
    assert policy.models_for() == ("c",)


def test_a_route_true_for_this_principal_ends_the_walk() -> None:
    policy = compiled("""
route eng-or-big
  when team == "eng" or prompt_tokens > 1000
  use a
route later
  use b
""")
    assert policy.models_for(team="eng") == ("a",)  # true whatever the request: `later` is unreachable
    assert policy.models_for(team="ops") == ("a", "b")  # depends on the request: both are possible


def test_unknown_request_facts_keep_routes_possible() -> None:
    policy = compiled("""
route by-model
  when model == "x" and team == "eng"
  use a
route by-header
  when header "x-tier" == "gold" or tag "batch"
  use b
route by-time
  when time >= 09:00 and weekday not in [sat, sun] and date >= 2026-01-01
  use c
route by-request
  when stream and not tools and prompt_tokens < 10 and user == "u" and task == "code"
  use d
default
  use e
""")
    assert policy.models_for(team="eng") == EVERY
    assert policy.models_for(team="ops") == ("b", "c", "d", "e")  # by-model is false without team eng
    # `not` of an unknown stays unknown; of a known principal fact it flips.
    negated = compiled("""
route r1
  when not (team == "eng")
  use a
route r2
  when not stream
  use b
default
  use c
""")
    assert negated.models_for(team="eng") == ("b", "c")
    assert negated.models_for(team="ops") == ("a",)


def test_empty_lists_are_decided_without_the_request() -> None:
    # The parser rejects `in []`, but the AST allows it (and the random policies use it).
    models = parse_text(MODELS, "m.policy").decls
    routes = (
        Route("none", In(Fact("model"), ()), Use("a")),
        Route("all", In(Fact("model"), (), negated=True), Use("b")),
        Route("default", None, Use("c"), is_default=True),
    )
    policy = compile_policy(PolicySet((PolicyFile("t.policy", models + routes),)), "v-test")
    assert policy.models_for() == ("b",)


def test_split_choose_ramp_fallback_and_downgrade() -> None:
    policy = compiled("""
budget team "eng" 100 USD per day at 100% downgrade to e
budget team "ops" 100 USD per day at 100% downgrade to a
route splits
  when team == "eng" and tag "s"
  split { 100% b, 0% a }
route chooses
  when team == "eng" and tag "c"
  choose cheapest of [a, b, c, d] where supports tools
route ramps
  when team == "eng" and tag "r"
  ramp c from 0% on 2026-01-01 to 100% on 2026-02-01, rest b
default
  use b
  fallback d
""")
    # split: the 0 % arm is never drawn; choose: only the models passing the filter (a, d); ramp: both
    # sides; the default's fallback; the downgrade target of eng's budget (not ops's).
    assert policy.models_for(team="eng") == ("a", "b", "c", "d", "e")
    assert policy.models_for(team="eng")  # cached answer, same value
    no_tools = compiled("""
route chooses
  choose cheapest of [a, b, c] where supports tools
""")
    assert no_tools.models_for() == ("a",)
    split = compiled("""
route r
  when team == "eng"
  split { 0% a, 100% b }
route s
  split { 40% c, 40% d, 0% e }
""")
    assert split.models_for(team="eng") == ("b",)
    # 80 % in all: the draws past 80 % fall through to the last arm, so a 0 % last arm is still drawn.
    assert split.models_for(team="ops") == ("c", "d", "e")
    assert policy.models_for(team="ops") == ("a", "b", "d")  # a: ops's downgrade target


def test_declaration_order_not_route_order() -> None:
    policy = compiled("""
route first
  when tag "x"
  use e
route second
  when tag "y"
  use a
default
  use c
""")
    assert policy.models_for() == ("a", "c", "e")


def test_cached_per_principal_and_bounded() -> None:
    policy = compiled("""
route r
  when team == "eng"
  use a
default
  use b
""")
    first = policy.models_for(team="eng")
    assert policy.models_for(team="eng") is first
    assert policy.models_for(team="eng", key="k") == ("a",)
    for i in range(MODELS_FOR_CACHE + 50):
        assert policy.models_for(team=f"t{i}") == ("b",)
    assert len(policy._models_for_cache) == MODELS_FOR_CACHE
    assert policy.models_for(team="eng") == ("a",)  # evicted and recomputed


def test_keyword_only() -> None:
    policy = compiled("default\n  use a\n")
    with pytest.raises(TypeError):
        policy.models_for("eng")  # type: ignore[misc]


# --------------------------------------------------------------------------- soundness


@st.composite
def cases(draw):
    ps = draw(policy_sets())
    many = draw(st.lists(facts_for(ps), min_size=1, max_size=12))
    return compile_policy(ps, "v-test"), many


def _principal(f: Facts) -> dict[str, str | None]:
    return {"team": f.team, "project": f.project, "app": f.app, "cost_center": f.cost_center, "key": f.key}


@given(cases())
def test_every_model_decide_can_use_is_listed(case) -> None:
    policy, many = case
    for facts in many:
        allowed = policy.models_for(**_principal(facts))
        assert list(allowed) == [m for m in policy.models if m in allowed]  # declaration order, no repeats
        decision = policy.decide(facts)
        used = [t.model for t in decision.plan.fallback]
        if decision.error is None:
            used += [t.model for t in decision.plan.candidates]
        used += [t.target for b in decision.budgets for t in b.thresholds if t.action == "downgrade"]
        assert set(used) <= set(allowed), (facts, decision.rule, used, allowed)


@given(cases())
def test_a_principal_with_no_route_to_a_model_never_gets_it(case) -> None:
    # The same from the other side: with the request facts varied and the principal fixed, decide only
    # ever lands on listed models (and the listing does not depend on the request at all).
    policy, many = case
    first = _principal(many[0])
    allowed = set(policy.models_for(**first))
    for facts in many:
        same_caller = Facts(**{**facts.__dict__, **first})
        decision = policy.decide(same_caller)
        if decision.error is None:
            assert {t.model for t in decision.plan.candidates + decision.plan.fallback} <= allowed
