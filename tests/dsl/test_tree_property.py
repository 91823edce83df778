"""The compiled tree and the reference interpreter agree on random policies and random requests."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dsl.compile import compile_policy
from dsl.decision import Decision

try:
    from strategies import facts_for, policy_sets
except ImportError:  # tests/ imported as a package
    from tests.dsl.strategies import facts_for, policy_sets


def _outcome(d: Decision) -> tuple:
    return (d.rule, d.rule_span, d.plan, d.arm, d.error, d.budgets, d.limits, d.policy_version, d.facts, d.passed)


def _agree(policy, many_facts) -> None:
    for facts in many_facts:
        expected = policy.decide_reference(facts)
        assert _outcome(policy.decide(facts)) == _outcome(expected), facts
        # Tracing must not change the answer, on either side.
        traced = policy.decide(facts, trace=True)
        assert _outcome(traced) == _outcome(expected)
        assert _outcome(policy.decide_reference(facts, trace=True)) == _outcome(expected)
        assert all(step.rule for step in traced.trace)


@st.composite
def cases(draw, **compile_options):
    ps = draw(policy_sets())
    many = draw(st.lists(facts_for(ps), min_size=1, max_size=12))
    return compile_policy(ps, "v-test", **compile_options), many


@given(cases())
def test_tree_equals_reference(case) -> None:
    _agree(*case)


@given(cases(max_dnf=2))
def test_tree_equals_reference_with_opaque_rows(case) -> None:
    # A tiny DNF cap turns most routes into opaque rows walked by the reference evaluator.
    _agree(*case)


@given(cases(tree_budget=0), )
def test_tree_equals_reference_without_dispatch(case) -> None:
    # No copy budget: the whole policy is one leaf, i.e. DNF rows tried in order.
    _agree(*case)


@given(cases(tree_budget=40))
def test_tree_equals_reference_when_the_budget_runs_out_midway(case) -> None:
    _agree(*case)
