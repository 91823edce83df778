"""The semantic diff: golden reports for each kind of change, git revisions, exit statuses, and properties —
`diff A A` is empty, a reformat is empty, and a change it calls decision-neutral never changes a decision."""
from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl.compile import compile_policy
from dsl.diff import diff, render
from dsl.errors import PolicyError
from dsl.fmt import format_file
from dsl.syntax import parse_text
from gateway.cli import main

from .strategies import facts_for, policy_sets

ROOT = Path(__file__).resolve().parents[2]
FULL = (ROOT / "policies" / "examples" / "full.policy").read_text()
DEFAULT = (ROOT / "policies" / "default.policy").read_text()
GOLDEN = Path(__file__).parent / "golden" / "diff"

# (golden name, old text, new text): one kind of change each, made to the shipped example policy.
EDITS = {
    "price": ('model gpt-4o      = openai/"gpt-4o"                  price in 2.50 cached 1.25 out 10.00',
              'model gpt-4o      = openai/"gpt-4o"                  price in 2.00 cached 1.00 out 8.00'),
    "provider-host": ('"http://vllm.internal:8000/v1"', '"https://llm.example.net/v1"'),
    "split-weights": ("{ 90% sonnet, 10% gpt-4o }", "{ 70% sonnet, 30% gpt-4o }"),
    "ramp-schedule": ("to 100% on 2026-12-31", "to 100% on 2027-01-31"),
    "widened": ("when prompt_tokens < 400 and not tools", "when prompt_tokens < 800 and not tools"),
    "narrowed": ('team in ["eng", "platform"]', 'team in ["eng"]'),
    "rewritten": ('when cost_center == "demo" or key == "k-demo"', 'when key == "k-demo" or cost_center == "demo"'),
    "fallback": ("  fallback gpt-4o-mini, llama\n", "  fallback llama\n"),
    "action": ("route office-hours\n  when time >= 09:00 and time < 17:00 and weekday not in [sat, sun] and project == \"support\"\n  use gpt-4o",
               "route office-hours\n  when time >= 09:00 and time < 17:00 and weekday not in [sat, sun] and project == \"support\"\n  use sonnet"),
    "budget": ('budget team "research"        20000', 'budget team "research"        25000'),
    "limit": ('limit team "eng"  600 requests', 'limit team "eng"  900 requests'),
    "shared-cost": ('split 60% "cc-1000", 40% "cc-4711"', 'split 50% "cc-1000", 50% "cc-4711"'),
    "description": ('"Gradual migration from gpt-4o to Sonnet over December."', '"Migrate gpt-4o users to Sonnet."'),
    "route-removed": ('route demo\n  when cost_center == "demo" or key == "k-demo"\n  use canned\n', ""),
    "route-added": ("default\n", 'route eu\n  when header "x-region" == "eu"\n  use llama\n\ndefault\n'),
}


def _swap(text: str, first: str, second: str, end: str) -> str:
    a, b, c = text.index(first), text.index(second), text.index(end)
    return text[:a] + text[b:c] + text[a:b] + text[c:]


REORDERS = {
    # embeddings and demo overlap (an embedding request from the demo cost center): a decision changes
    "reordered-changes": (FULL, "route embeddings", "route demo", "default\n"),
    # office-hours and move-to-sonnet overlap too (support asking for gpt-4o in December)
    "reordered-overlap": (FULL, "route office-hours", "route move-to-sonnet", "route experiment"),
    # embeddings and premium test one fact for two values: no request matches both
    "reordered-neutral": (DEFAULT, "route embeddings", "route premium", "default\n"),
}


def _pair(kind: str) -> tuple[A.PolicySet, A.PolicySet]:
    if kind in EDITS:
        old, new = EDITS[kind]
        assert old in FULL, kind
        changed = FULL.replace(old, new, 1)
        base = FULL
    else:
        base, *where = REORDERS[kind]
        changed = _swap(base, *where)
    return (A.PolicySet((parse_text(base, "p.policy"),)), A.PolicySet((parse_text(changed, "p.policy"),)))


@pytest.mark.parametrize("kind", sorted(EDITS) + sorted(REORDERS))
def test_golden(kind: str) -> None:
    old, new = _pair(kind)
    got = render(diff(old, new, "old", "new"), "md")
    path = GOLDEN / f"{kind}.md"
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(got)
    assert got == path.read_text(), f"{kind}: the diff changed; UPDATE_GOLDEN=1 rewrites the golden files"


def test_reformat_and_comments_are_no_change() -> None:
    for text in (FULL, DEFAULT):
        pf = parse_text(text, "p.policy")
        formatted = parse_text(format_file(pf), "p.policy")
        commented = parse_text("# a new comment\n" + text.replace("\n\n", "\n\n# another\n"), "p.policy")
        for other in (formatted, commented):
            assert diff(A.PolicySet((pf,)), A.PolicySet((other,))).changes == []


def test_effects_per_kind() -> None:
    neutral = {"description", "rewritten", "reordered-neutral"}
    for kind in sorted(EDITS) + sorted(REORDERS):
        result = diff(*_pair(kind))
        assert result.changes, kind
        assert result.equivalent == (kind in neutral), kind


def test_cli_exit_statuses_and_git_revisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = tmp_path / "repo"
    (repo / "policies").mkdir(parents=True)
    f = repo / "policies" / "main.policy"
    f.write_text(FULL)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "one", "--allow-empty")
    git("add", ".")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "two")
    f.write_text(FULL.replace("# ---- providers", "# providers, reworded\n# ---- providers"))  # a comment only
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        assert main(["diff", "HEAD:policies", "policies"]) == 0
        f.write_text(FULL.replace("{ 90% sonnet, 10% gpt-4o }", "{ 50% sonnet, 50% gpt-4o }"))
        capsys.readouterr()
        assert main(["diff", "HEAD:policies", "policies", "--format", "json"]) == 2
        assert '"equivalent": false' in capsys.readouterr().out
        assert main(["diff", "no-such-rev:policies", "policies"]) == 1
        err = capsys.readouterr().err
        assert "no-such-rev" in err and "does not exist" in err and "Traceback" not in err
        assert main(["diff", "HEAD~1:policies", "policies"]) == 1  # the first commit has no policies/
        assert "has no `policies`" in capsys.readouterr().err
    finally:
        os.chdir(cwd)


# --------------------------------------------------------------------------- properties


def _decided(policy: object, facts: object) -> tuple:
    d = policy.decide(facts)  # type: ignore[attr-defined]
    return (d.rule, d.arm, d.error, d.plan, d.budgets, d.limits)


def _one_file(ps: A.PolicySet) -> A.PolicySet:
    return A.PolicySet((A.PolicyFile("a.policy", tuple(ps.decls())),))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_neutral_changes_never_change_a_decision(data: st.DataObject) -> None:
    ps = _one_file(data.draw(policy_sets(max_routes=6)))
    assert diff(ps, ps).changes == []
    # Generated conditions nest `and`s the parser flattens: a reformat is equivalent, not always identical.
    try:
        reformatted = A.PolicySet((parse_text(format_file(ps.files[0]), "a.policy"),))
    except PolicyError:  # a generated AST the parser would refuse (e.g. `model < "x"`): nothing to reformat
        reformatted = ps
    assert diff(ps, reformatted).equivalent
    decls = list(ps.decls())
    routes = [i for i, d in enumerate(decls) if isinstance(d, A.Route) and not d.is_default]
    how = data.draw(st.sampled_from(("swap", "describe", "move")))
    if how == "describe" or len(routes) < 2:
        i = data.draw(st.sampled_from(routes)) if routes else None
        if i is None:
            return
        decls[i] = dataclasses.replace(decls[i], meta=A.Meta(description="changed"))
    elif how == "swap":
        k = data.draw(st.integers(0, len(routes) - 2))
        a, b = routes[k], routes[k + 1]
        decls[a], decls[b] = decls[b], decls[a]
    else:
        src, dst = data.draw(st.sampled_from(routes)), data.draw(st.sampled_from(routes))
        decls.insert(dst, decls.pop(src))
    new = A.PolicySet((A.PolicyFile("a.policy", tuple(decls)),))
    result = diff(ps, new)
    if not result.equivalent:
        return
    old_p, new_p = compile_policy(ps, "a"), compile_policy(new, "b")
    for facts in data.draw(st.lists(facts_for(ps), min_size=20, max_size=20)):
        assert _decided(old_p, facts) == _decided(new_p, facts), render(result)
