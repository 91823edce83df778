"""`explain`: the policy read aloud for reviewers. Golden files for the shipped policies, plus the sentences
a reviewer relies on (hosts, secrets by name only, budgets, conditions in words, route order).

Regenerate the golden files with ``UPDATE_GOLDEN=1 pytest tests/dsl/test_explain.py``.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsl import load, policy_version
from dsl.ast import PolicyFile, PolicySet
from dsl.explain import explain
from dsl.syntax import parse_text

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "full": "policies/examples/full.policy",
    "default": "policies/default.policy",
}


def _explain_text(src: str, fmt: str = "md") -> str:
    return explain(PolicySet((parse_text(src, "t.policy"),)), fmt)


@pytest.mark.parametrize("fmt", ["md", "text"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name: str, fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the explanation names files by the path they were loaded from
    got = explain(load([CASES[name]]), fmt)
    expected = GOLDEN / f"{name}.explain.{'md' if fmt == 'md' else 'txt'}"
    if os.environ.get("UPDATE_GOLDEN"):
        expected.write_text(got, encoding="utf-8")
    assert got == expected.read_text(encoding="utf-8")


def test_full_policy_reads_as_the_reviewer_expects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    ps = load([CASES["full"]])
    out = explain(ps)
    assert out.splitlines()[2].startswith(f"Policy version `{policy_version(ps)}`")
    assert "**api.openai.com**" in out
    assert "**api.anthropic.com**" in out
    assert "**generativelanguage.googleapis.com**" in out
    assert "**vllm.internal:8000**" in out
    assert "nowhere: built-in mock, data never leaves the gateway" in out
    assert "authenticates with the key in the environment variable `OPENAI_API_KEY`".lower() in out.lower()
    assert ("Team **research** may spend up to 20000 USD per month; at 80% an alert is raised; "
            "at 100% requests are blocked.") in out
    assert "at 100% requests are downgraded to llama" in out
    assert "Team **eng** may send up to 600 requests per minute and 200000 tokens per minute." in out
    assert "First matching route wins, in this order." in out
    assert ("1. **code-assist** (owner platform-team@example.com, ticket PLAT-101): when the task is code and "
            "the team is eng or platform, send 90% of users to sonnet and 10% to gpt-4o (each user always gets "
            "the same model); if that fails, try gpt-4o-mini, then llama.") in out
    assert "the request is not streamed" not in out  # full.policy tests `stream`, not `not stream`
    assert "the request offers no tools" in out
    assert "between 09:00 and 17:00 UTC" in out
    assert "the weekday is neither Saturday nor Sunday" in out
    assert "the team matches the pattern `^(eng|data)-`" in out
    assert "the date is on or after 2026-11-01" in out
    assert "price in" not in out and "2.50 per 1M input tokens and 10.00 per 1M output tokens" in out


def test_route_order_is_file_order_with_default_last() -> None:
    out = _explain_text('provider p kind mock model m = p/"m" default use m route a use m route b use m')
    lines = [line for line in out.splitlines() if line[:1].isdigit()]
    assert [line.split("**")[1] for line in lines] == ["a", "b", "default"]
    assert "when no route above matches" in lines[-1]


def test_missing_default_route_is_explained() -> None:
    out = _explain_text('provider p kind mock model m = p/"m" route a use m')
    assert "no `default` route is written" in out
    assert "the model the client asked for" in out


def test_secrets_are_never_printed() -> None:
    out = _explain_text('provider p kind openai base_url "https://user:hunter2@h.example/v1" key "sk-literal" '
                        'header "x-token" = "tok-123" header "x-org" = env(ORG_ID)')
    for secret in ("hunter2", "sk-literal", "tok-123"):
        assert secret not in out
    assert "**h.example**" in out
    assert "written in the policy file itself" in out
    assert "environment variable `ORG_ID`" in out


@pytest.mark.parametrize("cond, words", [
    ("not stream", "the request is not streamed"),
    ("stream", "the request is streamed"),
    ('header "X-Tier" == "gold"', 'the header x-tier is "gold"'),
    ('header "x-a"', "the request has the header x-a"),
    ('not header "x-a"', "the request does not have the header x-a"),
    ('tag "batch"', "the request is tagged batch"),
    ("time >= 09:00 and time < 17:00", "the time is between 09:00 and 17:00 UTC"),
    ("time < 06:00", "the time is before 06:00 UTC"),
    ("weekday in [sat, sun]", "the weekday is Saturday or Sunday"),
    ("weekday != mon", "the weekday is not Monday"),
    ("date < 2027-01-01", "the date is before 2027-01-01"),
    ('team matches "^eng"', "the team matches the pattern `^eng`"),
    ('team not in ["a", "b", "c"]', "the team is none of a, b or c"),
    ("prompt_tokens >= 8000", "the prompt has at least 8000 tokens (estimated)"),
    ("not prompt_tokens < 10", "the prompt has at least 10 tokens (estimated)"),
    ('(team == "a" or team == "b") and stream', "(the team is a or the team is b) and the request is streamed"),
    ('not (stream and tools)', "it is not the case that (the request is streamed and the request offers tools)"),
])
def test_conditions_in_english(cond: str, words: str) -> None:
    out = _explain_text(f"route r when {cond} use m")
    assert f"when {words}, send the request to m." in out


@pytest.mark.parametrize("action, words", [
    ("use requested", "send the request to the model the client asked for"),
    ("split { 50% a, 50% b }", "send 50% of requests to a and 50% to b (drawn anew for each request)"),
    ('split sticky by header "x-s" { 50% a, 50% b }',
     "(requests with the same x-s header always get the same model)"),
    ("choose cheapest of [a, b] where tier >= standard and supports tools",
     "the cheapest of a and b, considering only models of tier standard or higher and that support tools"),
    ("choose round-robin of [a, b]", "send requests to a and b in turn"),
    ("ramp a from 5% on 2026-12-01 to 100% on 2026-12-31, rest b",
     "each key always gets the same model on a given day"),
])
def test_actions_in_english(action: str, words: str) -> None:
    assert words in _explain_text(f"route r {action}")


def test_retries_timeout_and_retry_on() -> None:
    out = _explain_text("route r use m retries 1 timeout 500ms retry on 400, 409")
    assert "A failed attempt is retried up to 1 more time per model." in out
    assert "Each attempt times out after 500 milliseconds." in out
    assert "Upstream statuses 400 and 409 also count as retryable." in out


def test_markdown_in_free_text_is_escaped_and_text_format_is_plain() -> None:
    src = 'route r description "uses *stars* and <b>tags</b>" use m'
    md = _explain_text(src)
    assert r"\*stars\*" in md and r"\<b\>" in md
    text = _explain_text(src, "text")
    assert "*stars*" in text and "**" not in text and "`" not in text


def test_empty_policy_and_unknown_format() -> None:
    out = explain(PolicySet((PolicyFile("e.policy", ()),)))
    assert "No providers are declared." in out and "First matching route wins" in out
    with pytest.raises(ValueError):
        explain(PolicySet(()), "html")
