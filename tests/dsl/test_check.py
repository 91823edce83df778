"""The checker: one minimal policy per diagnostic code (code, severity, line:col, message or hint), the
sample policies clean, literal secrets never shown, no false positives for shadowing, and `check` never
raising on text that parses."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from dsl import ast
from dsl.check import DEFAULT_RETRIED, check, check_budget_subjects, check_text
from dsl.errors import Diagnostic, PolicyError
from dsl.loading import load
from dsl.syntax import parse_text

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "policies" / "examples" / "full.policy"

# Four lines every case starts from: one provider, a cheap and a dear model, and `use requested` (so no model
# is unused). Case lines are numbered from 5.
PRE = """\
provider m kind mock
model small = m/"s" price in 1 out 1 per 1M tier standard supports tools
model big = m/"b" price in 5 out 20 per 1M tier premium supports tools, vision
default use requested
"""


def run(text: str, path: str = "t.policy") -> list[Diagnostic]:
    return check(ast.PolicySet((parse_text(text, path),)))


def col(line: str, anchor: str, nth: int = 0) -> int:
    at = -1
    for _ in range(nth + 1):
        at = line.index(anchor, at + 1)
    return at + 1


# (code, the text after PRE, its line (5 = first), the text the caret must point at, nth occurrence, a fragment
# of the message or hint)
CASES = [
    ("E101", 'model x = mm/"x"', 5, "mm/", 0, "did you mean `m`?"),
    ("E102", "route r use smal", 5, "smal", 0, "did you mean `small`?"),
    ("E102", "route r use small fallback bigg", 5, "bigg", 0, "did you mean `big`?"),
    ("E102", "route r split { 50% small, 50% bog }", 5, "50% bog", 0, "`big`"),
    ("E102", "route r choose fastest of [small, bg]", 5, "bg", 0, "model `bg`"),
    ("E102", "route r ramp big from 0% on 2026-01-01 to 100% on 2026-02-01, rest smll", 5, "smll", 0, "`small`"),
    ("E102", 'budget team "t" 10 USD per day at 50% downgrade to smal', 5, "smal", 0, "a downgrade"),
    ("E102", "route r use nothing_like_it", 5, "nothing_like_it", 0, "known models: big, small"),
    ("E103", "provider p kind anthropik key env(K)\nmodel p1 = p/\"x\"", 5, "anthropik", 0, "`anthropic`"),
    ("E104", 'model x = m/"x" tier premum', 5, "premum", 0, "did you mean `premium`?"),
    ("E104", "route r choose cheapest of [small, big] where tier >= gold", 5, "tier >= gold", 0, "`gold`"),
    ("E105", 'model x = m/"x" supports tool', 5, "tool", 0, "did you mean `tools`?"),
    ("E107", 'budget team "t" 10 USD per mnth', 5, "mnth", 0, "did you mean `month`?"),
    ("E109", 'budget team "t" 10 usd per day', 5, "usd", 0, "write `USD`"),
    ("E109", 'budget team "t" 10 dollars per day', 5, "dollars", 0, "ISO 4217"),
    ("E109", 'budget team "t" 10 XYZ per day', 5, "XYZ", 0, "not an ISO 4217 currency"),
    ("E109", 'budget team "t" 10 XAU per day', 5, "XAU", 0, "not a currency for money"),
    ("E109", 'budget team "t" 10 HRK per day', 5, "HRK", 0, "write `EUR`"),
    ("E110", "route r use small fallback requested", 5, "requested", 0, "only follow `use`"),
    ("E110", "route r split { 50% small, 50% requested }", 5, "50% requested", 0, "only follow `use`"),
    ("E110", 'model requested = m/"x"', 5, "model", 0, "cannot be called `requested`"),
    ("E111", "provider m kind mock", 5, "provider", 0, "declared twice"),
    ("E112", 'model small = m/"x"', 5, "model", 0, "the first is at t.policy:2"),
    ("E113", "route r use small\nroute r use big", 6, "r use big", 0, "declared twice"),
    ("E113", "route default use small", 5, "route", 0, "not the default route"),
    ("E114", "default use small", 5, "default", 0, "more than one `default`"),
    ("E115", 'budget team "t" 10 USD per day\nbudget team "t" 20 USD per day', 6, "budget", 0, "declared twice"),
    ("E116", 'limit team "t" 10 requests per minute\nlimit team "t" 5 tokens per minute', 6, "limit", 0,
     "declared twice"),
    ("E120", 'provider p kind openai key "sk-live-abcdefghijklmnop"\nmodel p1 = p/"x"', 5, '"sk-', 0, "`sk-…`"),
    ("E121", 'provider p kind openai base_url "http://h" header "authorization" = "Bearer xyzxyzxyz"\n'
             'model p1 = p/"x"', 5, '"authorization"', 0, "env(NAME)"),
    ("E121", 'provider p kind openai base_url "http://h" header "x-custom" = "AIzaSyA1234567890abcdefgh"\n'
             'model p1 = p/"x"', 5, '"x-custom"', 0, "secret written in the file"),
    ("E122", 'provider p kind openai base_url "https://u:pw@h/v1"\nmodel p1 = p/"x"', 5, '"https', 0,
     "user:password@"),
    ("E122", 'provider p kind openai base_url "https://h/v1?key=abc"\nmodel p1 = p/"x"', 5, '"https', 0, "?key="),
    ("E130", 'provider p kind azure key env(K) api_version "1"\nmodel p1 = p/"x"', 5, "provider", 0, "no base_url"),
    ("E131", 'provider p kind openai base_url "ftp://h"\nmodel p1 = p/"x"', 5, '"ftp', 0, "not http(s)"),
    ("E131", 'provider p kind openai base_url "h/v1"\nmodel p1 = p/"x"', 5, '"h/v1', 0, "not http(s)"),
    ("E132", 'provider p kind anthropic\nmodel p1 = p/"x"', 5, "provider", 0, "has no key"),
    ("E132", 'provider p kind openai\nmodel p1 = p/"x"', 5, "provider", 0, "add `key env(NAME)`"),
    ("E132", 'provider p kind openai base_url "https://api.openai.com/v1"\nmodel p1 = p/"x"', 5, "provider", 0,
     "has no key"),
    ("W133", 'provider p kind openai key env(K) api_version "1"\nmodel p1 = p/"x"', 5, '"1"', 0, "only azure"),
    ("E140", "route r split { 50% small, 40% big }", 5, "split", 0, "sums to 90%"),
    ("W141", "route r split { 100% small, 0% big }", 5, "0% big", 0, "gives `big` 0%"),
    ("W142", "route r split { 50% small, 50% small }", 5, "50% small", 1, "lists `small` twice"),
    ("E143", "route r ramp big from 0% on 2026-02-01 to 100% on 2026-02-01, rest small", 5, "ramp", 0,
     "not after it starts"),
    ("E144", "route r ramp big from 50% on 2026-01-01 to 10% on 2026-02-01, rest small", 5, "ramp", 0,
     "runs backwards"),
    ("E145", "route r ramp big from 5% on 2026-01-01 to 150% on 2026-02-01, rest small", 5, "ramp", 0, "150%"),
    ("E146", "route r ramp big from 5% on 2026-01-01 to 50% on 2026-02-01, rest big", 5, "ramp", 0, "to itself"),
    ("W147", "route a ramp big from 5% on 2026-01-01 to 50% on 2026-03-01, rest small\n"
             "route b when team == \"x\" ramp big from 5% on 2026-02-01 to 50% on 2026-04-01, rest small",
     6, "ramp", 0, "overlap the ramp in route `a`"),
    ("E150", "route r use small fallback small", 5, "small", 1, "already tries"),
    ("E150", "route r choose cheapest of [small, big] fallback big", 5, "big", 1, "repeats `big`"),
    ("E151", "route r use small fallback big, big", 5, "big", 1, "lists `big` twice"),
    ("E152", 'budget team "t" 10 USD per day at 90% downgrade to big', 5, "big", 0, "can never lower spend"),
    ("E160", 'budget team "t" 0 USD per day', 5, "0 USD", 0, "amount of 0"),
    ("E161", 'budget team "t" 10 USD per day at 80% alert at 50% alert', 5, "at 50%", 0, "lowest percent"),
    ("E162", 'budget team "t" 10 USD per day at 80% alert at 80% block', 5, "at 80% block", 0, "two thresholds"),
    ("W163", 'budget team "t" 10 USD per day at 100% block at 120% alert', 5, "at 120%", 0, "never fires"),
    ("E164", 'limit team "t" 0 tokens per minute', 5, "limit", 0, "rate of 0"),
    ("E165", 'budget team "t" 10 USD per day at 0% block', 5, "at 0% block", 0, "before anything is spent"),
    ("W170", "route r choose cheapest of [small]", 5, "choose", 0, "`use small` says the same"),
    ("W171", "route r choose cheapest of [small, big, small]", 5, "small", 1, "lists `small` twice"),
    ("E172", "route r choose cheapest of [small, big] where supports embeddings", 5, "choose", 0, "leave no model"),
    ("W173", "route r choose cheapest of [small, big] where tier >= premium", 5, "choose", 0, "`use big`"),
    ("W181", "provider q kind mock", 5, "provider", 0, "never used"),
    ("W190", 'route a when team == "eng" use small\nroute b when team == "eng" and task is code use big', 6,
     "route", 0, "route `a` (t.policy:5) catches everything it would"),
    ("W191", 'route a when team == "a" and team == "b" use small', 5, "team", 0, "never true"),
    ("E200", "route r use small timeout 0s", 5, "0s", 0, "timeout of 0"),
    ("E200", 'provider p kind openai base_url "http://h" timeout 0ms\nmodel p1 = p/"x"', 5, "0ms", 0, "timeout of 0"),
    ("W201", "route r use small retries 11", 5, "11", 0, "retries 11 times"),
    ("W202", "route r use small retry on 400, 503", 5, "503", 0, "already retried"),
    ("W210", 'route r when header "x team" == "a" use small', 5, 'header "x team"', 0, "not an HTTP header name"),
    ("W210", 'route r split sticky by header "a b" { 100% small }', 5, "sticky", 0, "not an HTTP header name"),
    ("W220", "route r when task is cod use small", 5, "task is cod", 0, "did you mean `code`?"),
    ("W220", "route r when task in [chat, summarize] use small", 5, "task in", 0, "`summarization`"),
]


@pytest.mark.parametrize("code,body,line,anchor,nth,fragment", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_code(code: str, body: str, line: int, anchor: str, nth: int, fragment: str) -> None:
    text = PRE + body + "\n"
    diags = run(text)
    hits = [d for d in diags if d.code == code]
    assert hits, f"no {code} in {[d.headline() for d in diags]}"
    src = text.splitlines()[line - 1]
    want = (line, col(src, anchor, nth))
    at = [d for d in hits if (d.span.line, d.span.col) == want]
    assert at, f"{code} at {[(d.span.line, d.span.col) for d in hits]}, wanted {want}: {hits[0].headline()}"
    d = at[0]
    assert d.severity == ("error" if code.startswith("E") else "warning")
    assert fragment in d.message + " " + (d.hint or "")
    assert d.source_line == src.replace("sk-live-abcdefghijklmnop", "sk-…").replace(
        "Bearer xyzxyzxyz", "Bea…").replace("AIzaSyA1234567890abcdefgh", "AIz…").replace("u:pw", "…").replace("key=abc", "key=…")
    assert f"t.policy:{want[0]}:{want[1]}: {d.severity} {code}" in d.render()


def test_every_code_in_the_table_is_tested() -> None:
    import dsl.check as mod

    documented = set(re.findall(r"^    ([EW]\d{3})  ", mod.__doc__ or "", re.M))
    tested = {c[0] for c in CASES} | {"E106", "E108", "E164", "W180", "W192", "W005", "E006",
                                      "W165"}  # W165: tests/dsl/test_check_costs.py
    assert documented == tested


# ------------------------------------------------------------------ codes the parser cannot produce alone


def _replace_decl(f: ast.PolicyFile, index: int, **changes: object) -> ast.PolicySet:
    decls = list(f.decls)
    decls[index] = dataclasses.replace(decls[index], **changes)
    return ast.PolicySet((dataclasses.replace(f, decls=tuple(decls)),))


def test_e106_unknown_scope() -> None:
    f = parse_text(PRE + 'budget team "t" 10 USD per day\n', "t.policy")
    diags = check(_replace_decl(f, 4, scope="org"))
    (d,) = [d for d in diags if d.code == "E106"]
    assert (d.severity, d.span.line, d.span.col) == ("error", 5, 1)
    assert "`org` is not a budget scope" in d.message


def test_e108_unknown_strategy() -> None:
    f = parse_text(PRE + "route r choose cheapest of [small, big]\n", "t.policy")
    route = f.decls[4]
    assert isinstance(route, ast.Route) and isinstance(route.action, ast.Choose)
    diags = check(_replace_decl(f, 4, action=dataclasses.replace(route.action, strategy="cheapst")))
    (d,) = [d for d in diags if d.code == "E108"]
    assert (d.severity, d.span.line, d.span.col) == ("error", 5, 9)
    assert d.hint == "did you mean `cheapest`?"


def test_e164_limit_without_a_rate() -> None:
    f = parse_text(PRE + 'limit team "t" 10 requests per minute\n', "t.policy")
    diags = check(_replace_decl(f, 4, requests_per_minute=None))
    (d,) = [d for d in diags if d.code == "E164"]
    assert (d.severity, d.span.line, d.span.col) == ("error", 5, 1)
    assert "sets no rate" in d.message


# ------------------------------------------------------------------ unused declarations


def test_w180_unused_model_only_without_use_requested() -> None:
    text = 'provider m kind mock\nmodel a = m/"a"\nmodel b = m/"b"\ndefault use a\n'
    (d,) = [d for d in run(text) if d.code == "W180"]
    assert (d.severity, d.span.line, d.span.col) == ("warning", 3, 1)
    assert "model `b` is never used" in d.message
    # `use requested` (here in a route) makes every alias reachable.
    assert not [d for d in run(text + 'route r when team == "x" use requested\n') if d.code == "W180"]
    # No `default` at all: the implicit default is `use requested`.
    assert not [d for d in run('provider m kind mock\nmodel a = m/"a"\nroute r use a\n') if d.code == "W180"]
    # A downgrade target counts as used.
    used = text + 'budget team "t" 10 USD per day at 90% downgrade to b\n'
    assert not [d for d in run(used) if d.code == "W180"]


def test_w181_provider_used_by_a_model_is_not_reported() -> None:
    assert not [d for d in run(PRE) if d.code == "W181"]


# ------------------------------------------------------------------ budgets against the key store


def test_w192_budget_and_limit_subjects_no_key_carries() -> None:
    ps = load([FULL])
    known = {"team": {"research", "eng"}, "project": {"chatbott"}}
    diags = check_budget_subjects(ps, known)
    assert [(d.code, d.severity) for d in diags] == [("W192", "warning")]
    (d,) = diags
    assert 'project "chatbot"' in d.message and d.hint == "did you mean `chatbott`?"
    assert d.span.line == FULL.read_text().splitlines().index(d.source_line) + 1
    # The limit on team "eng" is carried; a team nobody has is reported, with the command to fix it.
    diags = check_budget_subjects(ps, {"team": {"other"}})
    assert {d.message.split(":")[0] for d in diags} == {'budget for team "research"', 'limit for team "eng"'}
    assert any("--team research" in (d.hint or "") for d in diags)
    # Scopes the gateway did not describe are not judged.
    assert check_budget_subjects(ps, {}) == []


# ------------------------------------------------------------------ the sample policies


@pytest.mark.parametrize("path", ["policies/default.policy", "policies/examples/full.policy", "policies"])
def test_sample_policies_check_clean(path: str) -> None:
    diags = check(load([ROOT / path]))
    assert diags == [], "\n".join(d.render() for d in diags)


def test_sorted_by_file_line_col() -> None:
    a = parse_text('route r use nope\nmodel x = q/"x"\n', "a.policy")
    b = parse_text('provider z kind mock\nroute s use none\n', "b.policy")
    diags = check(ast.PolicySet((b, a)))
    keys = [(d.span.file, d.span.line, d.span.col) for d in diags]
    assert keys == sorted(keys) and {k[0] for k in keys} == {"a.policy", "b.policy"}


def test_check_text_returns_the_syntax_diagnostic() -> None:
    (d,) = check_text('provider p kind openai key "sk-abcdefghijklmnopqrstu" oops\n', "s.policy")
    assert d.code == "E001" and d.severity == "error" and (d.span.file, d.span.line) == ("s.policy", 1)
    assert "sk-abcdefghijklmnopqrstu" not in d.render()
    assert check_text(PRE, "ok.policy") == []


def test_default_retried_matches_the_gateway() -> None:
    from gateway.errors import RETRYABLE_STATUSES

    assert DEFAULT_RETRIED == RETRYABLE_STATUSES


# ------------------------------------------------------------------ secrets are never shown

SECRETS = ["sk-ant-api03-Zq8vLw1xYpQ", "abc", "hunter2pass", "AIzaSyDd4k3Y-abcdefghij", "xyzzy-top-secret-token"]


@pytest.mark.parametrize("text", [
    f'provider p kind anthropic key "{SECRETS[0]}"  timeout 0s\nmodel pm = p/"x"\n',
    f'provider p kind openai key "{SECRETS[1]}" api_version "x"\n',  # unused, and a short key on the same line
    f'provider p kind openai base_url "https://me:{SECRETS[2]}@h/v1" key env(K)\n',
    f'provider p kind gemini header "x-goog-api-key" = "{SECRETS[3]}"\n',
    f'provider p kind openai base_url "https://h/v1?api_key={SECRETS[4]}" kind2\n',
    f'provider p kind openai base_url "https://h/v1?token={SECRETS[4]}"\nmodel a = p/"x" tier x\ndefault use a\n',
    f'provider p kind openai\n  key\n  "{SECRETS[4]}"\nmodel a = nope/"x"\n',
])
def test_a_literal_secret_never_appears(text: str) -> None:
    for diags in (check_text(text, "s.policy"),):
        assert diags
        for d in diags:
            shown = d.render() + repr(d.as_json()) + (d.source_line or "")
            for s in SECRETS:
                assert s not in shown, d.render()


def test_a_literal_key_is_named_by_three_characters() -> None:
    (d,) = [d for d in check_text(f'provider p kind anthropic key "{SECRETS[0]}"\nmodel a = p/"x"\n') if d.code == "E120"]
    assert "`sk-…`" in d.message
    (d,) = [d for d in check_text(f'provider p kind anthropic key "{SECRETS[1]}"\nmodel a = p/"x"\n') if d.code == "E120"]
    assert "(`…`)" in d.message  # a short secret shows nothing of itself


def test_env_keys_and_plain_headers_are_fine() -> None:
    text = ('provider p kind openai base_url "http://vllm.internal:8000/v1" header "x-served-by" = "open-router"\n'
            'provider q kind openai key env(OPENAI_API_KEY) header "authorization" = env(TOKEN)\n'
            'provider r kind mock base_url "mock://local"\n'
            'model a = p/"x" price 0\nmodel b = q/"x" price 0\nmodel c = r/"x" price 0\n')
    assert run(text) == []


# ------------------------------------------------------------------ shadowing

SHADOWED = [
    ('team == "eng"', 'team == "eng" and task is code'),
    ('team in ["a", "b"]', 'team == "a"'),
    ("prompt_tokens < 1000", "prompt_tokens < 400"),
    (None, 'team == "x"'),
    ("stream or tools", "stream and team == \"x\""),
    ('team == "a" or team == "b"', 'team in ["a", "b"]'),
    ("time >= 09:00 and time < 17:00", "time >= 10:00 and time <= 12:00"),
    ("date >= 2026-01-01", "date > 2026-06-01"),
    ("weekday in [sat, sun]", "weekday == sat"),
    ("weekday not in [mon, tue, wed, thu, fri]", "weekday is sun"),
    ('team != "x"', 'team == "y"'),
    ('not (team == "x")', 'team == "y"'),
    ('header "x-a"', 'header "x-a" == "1"'),
    ('header "X-A" is "1"', 'header "x-a" == "1" and stream'),
    ('team matches "^e" ', 'team matches "^e" and stream'),
    ('team == "a"', '(team == "a" and stream) or (team == "a" and tools)'),
    ("prompt_tokens <= 10", "prompt_tokens in [1, 5, 10]"),
    ('tag "batch" and not stream', 'not stream and tag "batch" and app == "etl"'),
    ('not (stream and tools)', "not stream"),
    ("prompt_tokens >= 0", 'team == "q"'),  # a token count is never negative
]

NEAR_MISSES = [
    ('team == "eng"', 'team == "ops"'),
    ("prompt_tokens < 400", "prompt_tokens < 1000"),
    ('team == "eng" and stream', 'team == "eng"'),
    ('team in ["a", "b"]', 'team in ["a", "c"]'),
    ('team != "x"', 'team != "y"'),
    ('header "x-a" == "1"', 'header "x-a"'),
    ('team matches "^e"', 'team == "eng"'),  # true, but `matches` is not decided: no report
    ("time >= 09:00", "time >= 08:00"),
    ("date < 2026-01-01", "date <= 2026-01-01"),
    ("weekday in [sat, sun]", "weekday in [fri, sat]"),
    ("stream", "tools"),
    ('model == "a" or team == "b"', 'model == "a" or team == "c"'),
    ('team == "eng"', 'not (team == "eng")'),
    ('tag "batch"', 'tag "fast"'),
    ('header "x-a"', 'header "x-b"'),
    ("prompt_tokens > 10", "prompt_tokens >= 10"),
    ('key == "k"', 'team == "k"'),
    ('team != "x"', 'team in ["x", "y"]'),
    ('team not in ["a"]', "stream"),  # a missing team satisfies `not in`, but not every request lacks one
    ('stream and team == "a"', 'stream or team == "a"'),
    ('team matches "^e"', 'team matches "^e."'),
]


def _pair(r: str | None, s: str) -> str:
    when = f"when {r} " if r is not None else ""
    return PRE + f"route r {when}use small\nroute s when {s} use big\n"


@pytest.mark.parametrize("r,s", SHADOWED)
def test_shadowed(r: str | None, s: str) -> None:
    # Line 4 is the default: earlier routes may well leave it nothing, which is not what is tested here.
    diags = [d for d in run(_pair(r, s)) if d.code in ("W190", "W191") and d.span.line != 4]
    assert [(d.code, d.span.line, d.span.col) for d in diags] == [("W190", 6, 1)], [d.headline() for d in diags]
    assert diags[0].message == "route `s` can never match: route `r` (t.policy:5) catches everything it would"


@pytest.mark.parametrize("r,s", NEAR_MISSES)
def test_no_false_shadowing(r: str, s: str) -> None:
    diags = [d for d in run(_pair(r, s)) if d.code in ("W190", "W191") and d.span.line != 4]
    assert diags == [], [d.headline() for d in diags]


def test_shadowed_by_routes_together() -> None:
    text = PRE + 'route a when stream use small\nroute b when not stream use big\nroute c when team == "x" use big\n'
    (d,) = [d for d in run(text) if d.code == "W190" and d.span.line == 7]
    assert "routes `a` (t.policy:5), `b` (t.policy:6) together catch everything" in d.message


def test_default_shadowed_by_a_route_without_when() -> None:
    text = 'provider m kind mock\nmodel a = m/"a"\nroute all use a\ndefault use a\n'
    (d,) = [d for d in run(text) if d.code == "W190"]
    assert (d.span.line, d.message) == (4, "the default route can never match: route `all` (t.policy:3) catches "
                                           "everything it would")


def test_default_is_not_shadowed_by_ordinary_routes() -> None:
    assert not [d for d in run(PRE + 'route r when team == "x" use small\n') if d.code == "W190"]


@pytest.mark.parametrize("cond", [
    'team == "a" and team == "b"',
    "prompt_tokens < 5 and prompt_tokens > 10",
    "stream and not stream",
    "weekday == sat and weekday in [mon, tue]",
    "time > 23:59",
    '(team == "a" or team == "b") and team == "c"',
    'header "x-a" == "1" and not header "x-a"',
    'team matches "x" and not team matches "x"',
])
def test_never_true(cond: str) -> None:
    diags = [d for d in run(PRE + f"route r when {cond} use small\n") if d.code in ("W190", "W191")]
    assert [(d.code, d.span.line) for d in diags] == [("W191", 5)]


def test_never_true_across_many_clauses() -> None:
    # team and app hold one value each, so at most two of these eight clauses can hold together.
    big = " and ".join(f'(team == "t{i}" or app == "a{i}")' for i in range(8))
    assert [d.code for d in run(PRE + f"route r when {big} use small\n") if d.code.startswith("W19")] == ["W191"]


@pytest.mark.parametrize("cond", [
    'team == "a" or team == "b"',
    "prompt_tokens >= 5 and prompt_tokens <= 5",
    'team != "a" and team != "b"',
    "not stream and not tools",
    'weekday != sat and weekday != sun',
])
def test_satisfiable_is_not_never_true(cond: str) -> None:
    assert not [d for d in run(PRE + f"route r when {cond} use small\n") if d.code == "W191"]


def test_large_conditions_are_left_undecided() -> None:
    # 2^8 disjuncts exceed the bound: nothing is said, nothing raises.
    big = " and ".join(f'(header "h{i}" == "a" or tag "t{i}")' for i in range(8))
    text = PRE + f"route r when {big} use small\nroute s when {big} and stream use big\n"
    assert not [d for d in run(text) if d.code in ("W190", "W191")]


# ------------------------------------------------------------------ rules with more than one reading


def test_downgrade_rule() -> None:
    # The cheapest model, or any model cheaper than the dearest reachable one, is fine.
    assert not [d for d in run(PRE + 'budget team "t" 10 USD per day at 90% downgrade to small\n')
                if d.code == "E152"]
    # Tied with the dearest reachable model: downgrading saves nothing.
    text = PRE + 'model twin = m/"t" price in 20 out 5 per 1M\nbudget team "t" 10 USD per day at 90% downgrade to twin\n'
    assert [d.span.line for d in run(text) if d.code == "E152"] == [6]
    # Only models routes can reach count: without `use requested`, `big` is out of reach.
    text = ('provider m kind mock\nmodel small = m/"s" price 1\nmodel mid = m/"m" price 2\nmodel big = m/"b" price 9\n'
            'default use small\nbudget team "t" 10 USD per day at 90% downgrade to mid\n')
    (d,) = [d for d in run(text) if d.code == "E152"]
    assert "the most expensive is `small`" in d.message


def test_ramp_overlap_needs_the_same_pair_dates_and_compatible_conditions() -> None:
    ramp = "ramp big from 5% on {} to 50% on {}, rest small"
    a = f"route a when team == \"x\" {ramp.format('2026-01-01', '2026-03-01')}\n"
    apart_dates = f"route b when team == \"x\" and stream {ramp.format('2026-03-02', '2026-04-01')}\n"
    apart_teams = f"route b when team == \"y\" {ramp.format('2026-02-01', '2026-04-01')}\n"
    backwards = "route b when team == \"x\" and stream ramp small from 5% on 2026-02-01 to 50% on 2026-04-01, rest big\n"
    assert not [d for d in run(PRE + a + apart_dates) if d.code == "W147"]
    assert not [d for d in run(PRE + a + apart_teams) if d.code == "W147"]
    assert [d.span.line for d in run(PRE + a + backwards) if d.code == "W147"] == [6]


def test_fallback_to_another_split_arm_is_fine() -> None:
    text = PRE + "route r split { 90% big, 10% small } fallback small\nroute s ramp big from 1% on 2026-01-01 " \
                 "to 2% on 2026-02-01, rest small fallback small\n"
    assert not [d for d in run(text) if d.code in ("E150", "E151")]


def test_choose_filters_unknown_tier_is_undecided() -> None:
    text = PRE + 'model notier = m/"n" price 1\nroute r choose cheapest of [notier, small] where tier >= premium\n'
    assert not [d for d in run(text) if d.code in ("E172", "W173")]


def test_threshold_order_and_block() -> None:
    ok = PRE + 'budget team "t" 10 USD per day at 50% alert at 80% downgrade to small at 100% block at 150% alert\n'
    codes = {d.code for d in run(ok)}
    assert "W163" in codes and not codes & {"E161", "E162"}
    fine = PRE + 'budget team "t" 10 USD per day at 50% alert at 120% alert\n'
    assert not [d for d in run(fine) if d.code.startswith(("E16", "W16"))]


# ------------------------------------------------------------------ check never raises


_FULL_TEXT = FULL.read_text()
_NAMES = ["small", "big", "requested", "nope", "gpt-4o", "sonnet", "llama", "team", "mock", "openai", "usd", "day"]
_NAMES += sorted(set(re.findall(r"[a-z][\w-]+", _FULL_TEXT)))[:80]
_NUMBERS = ["0", "1", "5", "50", "100", "101", "9999", "0.5"]


@st.composite
def mutated_policy(draw: st.DrawFn) -> str:
    lines = _FULL_TEXT.splitlines()
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["drop", "dup", "swap", "name", "number", "word"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "drop":
            del lines[i]
        elif kind == "dup":
            lines.insert(draw(st.integers(0, len(lines))), lines[i])
        elif kind == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            pattern = {"name": r"(?<![\w\"-])[A-Za-z][\w.-]*(?![\w\"(])", "number": r"\b\d+(?:\.\d+)?\b",
                       "word": r'"[^"]*"'}[kind]
            found = list(re.finditer(pattern, lines[i]))
            if not found:
                continue
            m = draw(st.sampled_from(found))
            if kind == "name":
                new = draw(st.sampled_from(_NAMES))
            elif kind == "number":
                new = draw(st.sampled_from(_NUMBERS))
            else:
                new = '"' + draw(st.sampled_from(["", "sk-abcdefghijklmnop", "eng", "x y", "ftp://h", "1",
                                                  "https://u:p@h/?key=1", "authorization"])) + '"'
            lines[i] = lines[i][: m.start()] + new + lines[i][m.end():]
        if not lines:
            break
    return "\n".join(lines) + "\n"


@given(mutated_policy())
def test_check_never_raises_on_text_that_parses(text: str) -> None:
    try:
        f = parse_text(text, "m.policy")
    except PolicyError:
        assume(False)
        return
    diags = check(ast.PolicySet((f,)))
    assert all(isinstance(d, Diagnostic) and d.severity in ("error", "warning") for d in diags)
    keys = [(d.span.file, d.span.line, d.span.col) for d in diags]
    assert keys == sorted(keys)
    for d in diags:
        d.render()
        assert "sk-abcdefghijklmnop" not in d.render()


def test_nodes_without_source_or_spans_are_checked_too() -> None:
    # Policies built in code (tests, tools) have no source text: diagnostics fall back to the node's span.
    f = parse_text(PRE + "route r when team == \"x\" use nope fallback nope2\n", "t.policy")
    bare = dataclasses.replace(f, source="")
    diags = check(ast.PolicySet((bare,)))
    assert {d.code for d in diags} == {"E102"} and all(d.source_line is None for d in diags)
    built = ast.PolicySet((ast.PolicyFile("x", (ast.Route("r", None, ast.Use("ghost")),)),))
    d, no_model = check(built)
    assert d.code == "E102" and d.span == ast.NOSPAN
    assert no_model.code == "E006"
    assert check(ast.PolicySet(())) == []


# ------------------------------------------------------------------ shadowing at scale: the indexed checker
# `_shadow_findings` files earlier routes in indexes instead of testing every pair; `_shadow_reference` is the
# plain pairwise definition. They must agree exactly, on generated policies and on the benchmark's.

import random  # noqa: E402
import sys  # noqa: E402

from dsl import check_routes, regions, shadowing  # noqa: E402

_TEAMS = ("a", "b", "c", "d")


def _random_atom(rng: random.Random) -> object:
    f = ast.Fact
    pick = rng.randrange(12)
    if pick == 0:
        return ast.Compare(f("team"), rng.choice(("==", "==", "!=")), rng.choice(_TEAMS))
    if pick == 1:
        return ast.In(f("team"), tuple(rng.sample(_TEAMS, rng.randint(1, 3))), rng.random() < 0.3)
    if pick == 2:
        return ast.Compare(f("task"), "==", rng.choice(("code", "chat", "math")))
    if pick == 3:
        return ast.IsTrue(f("stream"))
    if pick == 4:
        return ast.IsTrue(f("tools"))
    if pick == 5:
        return ast.Compare(f("prompt_tokens"), rng.choice(("<", "<=", ">", ">=")), rng.choice((100, 400, 1000)))
    if pick == 6:
        return ast.In(f("weekday"), tuple(rng.sample(ast.WEEKDAYS, rng.randint(1, 5))), rng.random() < 0.2)
    if pick == 7:
        return ast.IsTrue(f("header", "x-a"))
    if pick == 8:
        return ast.Compare(f("header", "x-a"), "==", rng.choice(("1", "2")))
    if pick == 9:
        return ast.Matches(f("team"), rng.choice(("^a", "^b")))
    if pick == 10:
        return ast.Compare(f("model"), "==", rng.choice(("m1", "m2")))
    return ast.IsTrue(f("tag", rng.choice(("batch", "fast"))))


def _random_cond(rng: random.Random) -> object:
    r = rng.random()
    if r < 0.04:
        return None

    def conj() -> object:
        items = [_random_atom(rng) for _ in range(rng.randint(1, 3))]
        items = [ast.Not(x) if rng.random() < 0.15 else x for x in items]
        return items[0] if len(items) == 1 else ast.And(tuple(items))

    if r < 0.2:
        return ast.Or(tuple(conj() for _ in range(rng.randint(2, 3))))
    if r < 0.25:
        return ast.Not(conj())
    return conj()


def _random_routes(seed: int, n: int) -> list[ast.Route]:
    rng = random.Random(seed)
    routes = [ast.Route(f"r{i}", _random_cond(rng), ast.Use("m1")) for i in range(n)]
    if rng.random() < 0.7:
        routes.insert(rng.randrange(n + 1), ast.Route("default", None, ast.Use("m1"), is_default=True))
    return routes


def _names(findings: list) -> list:
    return [(code, r.name, [e.name for e in shadows]) for code, r, shadows in findings]


def test_indexed_shadowing_matches_the_pairwise_reference_on_generated_policies() -> None:
    seen = {"W191": 0, "W190 one": 0, "W190 together": 0}
    for seed in range(24):
        routes = _random_routes(seed, 10 + seed * 8)  # up to ~200 routes: past the pool's DNF_LIMIT entries
        fast = _names(shadowing.shadow_findings(routes))
        assert fast == _names(shadowing.shadow_reference(routes)), seed
        for code, _, shadows in fast:
            seen[code if code == "W191" else "W190 one" if len(shadows) == 1 else "W190 together"] += 1
    assert all(n > 5 for n in seen.values()), seen  # every kind of finding was exercised


def _bench_policy(n: int, keep: int | None = None) -> ast.PolicySet:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import bench_decide
    finally:
        sys.path.remove(str(ROOT / "bench"))
    ps = bench_decide.build(n)[0]
    if keep is None:
        return ps
    (f,) = ps.files
    routes = [d for d in f.decls if isinstance(d, ast.Route) and not d.is_default]
    kept = set(map(id, routes[:keep]))
    decls = tuple(d for d in f.decls if not isinstance(d, ast.Route) or d.is_default or id(d) in kept)
    return ast.PolicySet((dataclasses.replace(f, decls=decls),))


@pytest.mark.parametrize("n,keep", [(1000, 200), (200, None)])
def test_bench_policy_diagnostics_match_the_pairwise_reference(n: int, keep: int | None,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The 1,000-route benchmark policy (its first 200 routes, so the quadratic reference stays quick) and the
    # 200-route one: the same diagnostics, W190 included, whichever way shadowing is computed.
    ps = _bench_policy(n, keep)
    fast = check(ps)
    monkeypatch.setattr(check_routes, "shadow_findings", shadowing.shadow_reference)
    assert fast == check(ps)
    assert sum(d.code == "W190" for d in fast) > 10


def test_the_pool_of_earlier_disjuncts_is_bounded_and_says_nothing_past_it() -> None:
    # DNF_LIMIT unrelated routes fill the pool of earlier disjuncts; `stream` and `not stream` then arrive too
    # late to join it, so the route after them (which they do catch together) is not reported: a report
    # dropped past the documented bound, never a false one. A route one earlier route catches is still found.
    def route(name: str, cond: object) -> ast.Route:
        return ast.Route(name, cond, ast.Use("m1"))

    team, app = ast.Fact("team"), ast.Fact("app")
    fill = [route(f"f{i}", ast.And((ast.Compare(team, "==", f"t{i}"), ast.Compare(app, "==", f"a{i}"))))
            for i in range(regions.DNF_LIMIT)]  # two facts apart: no two of them merge into one entry
    tail = [route("s", ast.IsTrue(ast.Fact("stream"))), route("ns", ast.Not(ast.IsTrue(ast.Fact("stream")))),
            route("x", ast.Compare(team, "==", "x")),
            route("y", ast.And((ast.Compare(team, "==", "t3"), ast.Compare(app, "==", "a3"),
                                ast.IsTrue(ast.Fact("tools")))))]
    for routes in (fill + tail, tail):
        assert _names(shadowing.shadow_findings(routes)) == _names(shadowing.shadow_reference(routes))
    assert _names(shadowing.shadow_findings(fill + tail)) == [("W190", "y", ["f3"])]
    assert _names(shadowing.shadow_findings(tail)) == [("W190", "x", ["s", "ns"]), ("W190", "y", ["s", "ns"])]


def _ramp_overlaps_reference(routes: list[ast.Route]) -> list[tuple[str, str]]:
    """W147 by its plain definition: each ramp against every earlier one, the first overlapping one named."""
    ramps = [r for r in routes if isinstance(r.action, ast.Ramp)]
    out = []
    for j, rj in enumerate(ramps):
        aj = rj.action
        for ri in ramps[:j]:
            ai = ri.action
            if {ai.model, ai.rest} != {aj.model, aj.rest} or ai.model == ai.rest:
                continue
            if ai.end <= ai.start or aj.end <= aj.start:
                continue
            if ai.start <= aj.end and aj.start <= ai.end and not regions.disjoint(ri.when, rj.when):
                out.append((rj.name, ri.name))
                break
    return out


def test_ramp_overlaps_match_the_pairwise_reference() -> None:
    import datetime

    day = datetime.date(2026, 1, 1)
    models = ("m1", "m2", "m3")
    found = 0
    for seed in range(40):
        rng = random.Random(seed)
        routes = []
        for i in range(rng.randint(5, 120)):
            start = day + datetime.timedelta(days=rng.randrange(60))
            end = start + datetime.timedelta(days=rng.randrange(-5, 40))
            model, rest = rng.choice(models), rng.choice(models)
            action = ast.Ramp(model, 5, start, 50, end, rest) if rng.random() < 0.8 else ast.Use(model)
            routes.append(ast.Route(f"r{i}", _random_cond(rng), action))
        decls = (ast.Provider("p", "mock"), *(ast.Model(m, "p", m) for m in models), *routes)
        diags = check(ast.PolicySet((ast.PolicyFile("t.policy", decls),)))
        pairs = (re.fullmatch(r"the ramp in route `(\w+)` .* the ramp in route `(\w+)` \(.*", d.message)
                 for d in diags if d.code == "W147")
        got = [(m.group(1), m.group(2)) for m in pairs if m is not None]
        assert len(got) == sum(d.code == "W147" for d in diags)
        want = _ramp_overlaps_reference(routes)
        assert sorted(got) == sorted(want), seed
        found += len(want)
    assert found > 50


def test_empty_file_warns_and_a_policy_without_models_is_an_error() -> None:
    empty = parse_text("# only a comment\n", "a.policy")
    real = parse_text('provider mock kind mock\nmodel m = mock/"x" price 0\ndefault use m\n', "b.policy")
    diags = check(ast.PolicySet((empty, real)))
    assert [(d.code, d.severity, d.span.file, d.span.line) for d in diags] == [("W005", "warning", "a.policy", 1)]
    diags = check(ast.PolicySet((empty,)))
    assert {(d.code, d.severity) for d in diags} == {("W005", "warning"), ("E006", "error")}
    assert "no model" in next(d for d in diags if d.code == "E006").message
