"""The parser: every construct of the example policy → the expected AST, errors a person can act on
(``path:line:col: error CODE ...`` plus a caret), and fuzzing: no input ends in anything but a PolicyError."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dsl import ast as A
from dsl.errors import PolicyError, PolicySyntaxError
from dsl.fmt import format_file
from dsl.loading import load, policy_paths, read_policy_file
from dsl.syntax import parse_text

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "policies" / "examples" / "full.policy"
FULL_TEXT = FULL.read_text(encoding="utf-8")

try:
    from dsl.check import check
except ImportError:  # pragma: no cover - the checker is optional for these tests
    check = None  # type: ignore[assignment]


@pytest.fixture(scope="module")
def full() -> dict[str, A.Decl]:
    pf = parse_text(FULL_TEXT, str(FULL))
    named: dict[str, A.Decl] = {}
    for d in pf.decls:
        key = {A.Provider: "provider", A.Model: "model", A.Route: "route"}.get(type(d))
        if key:
            named[f"{key}:{d.name}"] = d  # type: ignore[union-attr]
    named["budgets"] = tuple(d for d in pf.decls if isinstance(d, A.Budget))  # type: ignore[assignment]
    named["limits"] = tuple(d for d in pf.decls if isinstance(d, A.Limit))  # type: ignore[assignment]
    return named


def when(src: str) -> A.Cond:
    route = parse_text(f"route r when {src} use m").decls[0]
    assert isinstance(route, A.Route) and route.when is not None
    return route.when


def error(src: str, path: str = "t.policy") -> str:
    with pytest.raises(PolicySyntaxError) as e:
        parse_text(src, path)
    (d,) = e.value.diagnostics
    return d.render()


# --------------------------------------------------------------------------- the example policy, construct by construct


def test_providers(full: dict) -> None:
    assert full["provider:openai"] == A.Provider("openai", "openai", base_url="https://api.openai.com/v1",
                                                 key=A.EnvRef("OPENAI_API_KEY"), timeout=A.Duration(Decimal(30)))
    assert full["provider:azure"] == A.Provider("azure", "azure", base_url="https://contoso.openai.azure.com",
                                                key=A.EnvRef("AZURE_OPENAI_KEY"), api_version="2024-10-21")
    assert full["provider:claude"].timeout == A.Duration(Decimal(60))
    assert full["provider:local"].headers == (("x-served-by", "open-router"),)
    assert full["provider:mock"] == A.Provider("mock", "mock")


def test_models(full: dict) -> None:
    assert full["model:gpt-4o"] == A.Model("gpt-4o", "openai", "gpt-4o", Decimal("2.50"), Decimal("10.00"),
                                           "premium", 128000, frozenset({"tools", "vision", "json"}),
                                           price_cached_in=Decimal("1.25"))
    assert str(full["model:gpt-4o"].price_in) == "2.50"  # as written
    assert (full["model:llama"].price_in, full["model:llama"].price_out) == (0, 0)  # `price 0`
    assert full["model:embed"].capabilities == frozenset({"embeddings"})
    assert full["model:canned"].context is None


def test_budgets_and_limits(full: dict) -> None:
    research, chatbot, cc = full["budgets"]
    assert research == A.Budget("team", "research", Decimal(20000), "USD", "month",
                                (A.Threshold(Decimal(80), "alert"), A.Threshold(Decimal(100), "block")))
    assert chatbot.thresholds[-1] == A.Threshold(Decimal(100), "downgrade", "llama")
    assert (cc.scope, cc.period) == ("cost_center", "week")
    assert full["limits"] == (A.Limit("team", "eng", 600, 200000), A.Limit("key", "k-batch", 60, None))


def test_route_clauses(full: dict) -> None:
    r = full["route:code-assist"]
    assert r.meta == A.Meta("Code questions from engineering go mostly to Sonnet.", "platform-team@example.com",
                            "PLAT-101")
    assert r.when == A.And((A.Compare(A.Fact("task"), "==", "code"),
                            A.In(A.Fact("team"), ("eng", "platform"))))
    assert r.action == A.Split((A.Arm(Decimal(90), "sonnet"), A.Arm(Decimal(10), "gpt-4o")), A.Sticky("user"))
    assert (r.fallback, r.retries, r.timeout) == (("gpt-4o-mini", "llama"), 2, A.Duration(Decimal(45)))
    assert full["route:tools-anywhere"].retry_on == (400,)


def test_actions(full: dict) -> None:
    assert full["route:interactive"].action == A.Choose("fastest", ("gpt-4o-mini", "flash"))
    assert full["route:batch"].action == A.Choose("least_busy", ("llama", "gpt-4o-mini"))
    assert full["route:cheap-short"].action.filters == (A.Filter("tier", ">=", "standard"),)
    assert full["route:tools-anywhere"].action == A.Choose("round_robin", ("gpt-4o", "azure-4o"),
                                                           (A.Filter("supports", None, "tools"),))
    assert full["route:move-to-sonnet"].action == A.Ramp("sonnet", Decimal(5), date(2026, 12, 1), Decimal(100),
                                                         date(2026, 12, 31), "gpt-4o")
    assert full["route:experiment"].action.sticky == A.Sticky("header", "x-session")
    assert full["route:embeddings"].action == A.Use("embed")
    default = full["route:default"]
    assert default.is_default and default.when is None and default.action == A.Use(A.REQUESTED)


def test_conditions(full: dict) -> None:
    assert full["route:interactive"].when == A.And((
        A.Compare(A.Fact("header", "x-latency-class"), "==", "interactive"), A.IsTrue(A.Fact("stream"))))
    assert full["route:batch"].when == A.Or((A.IsTrue(A.Fact("tag", "batch")),
                                             A.Compare(A.Fact("app"), "==", "nightly-etl")))
    assert full["route:cheap-short"].when == A.And((A.Compare(A.Fact("prompt_tokens"), "<", 400),
                                                    A.Not(A.IsTrue(A.Fact("tools")))))
    assert full["route:tools-anywhere"].when.items[1] == A.Matches(A.Fact("team"), "^(eng|data)-")
    office = full["route:office-hours"].when.items
    assert office[:3] == (A.Compare(A.Fact("time"), ">=", A.TimeOfDay(9 * 60)),
                          A.Compare(A.Fact("time"), "<", A.TimeOfDay(17 * 60)),
                          A.In(A.Fact("weekday"), ("sat", "sun"), negated=True))
    assert full["route:move-to-sonnet"].when.items[1] == A.Compare(A.Fact("date"), ">=", date(2026, 11, 1))
    assert full["route:experiment"].when == A.Compare(A.Fact("header", "x-experiment"), "==", "b")
    assert full["route:demo"].when == A.Or((A.Compare(A.Fact("cost_center"), "==", "demo"),
                                            A.Compare(A.Fact("key"), "==", "k-demo")))


@pytest.mark.parametrize("a, b", [
    ("stream == true", "stream"),
    ("stream is false", "not stream"),
    ("tools != true", "not tools"),
    ('team is "eng"', 'team == eng'),
    ("task is not code", 'task != "code"'),
    ('header "X-A" == "v"', 'header "x-a" == "v"'),
    ("not stream and tools", "(not stream) and tools"),
    ('team == "a" or team == "b" and stream', 'team == "a" or (team == "b" and stream)'),
    ('team in ["a", "a", "b"]', 'team in ["a", "b"]'),
])
def test_equivalent_spellings(a: str, b: str) -> None:
    assert when(a) == when(b)


def test_nesting_is_kept() -> None:
    assert when("(stream and tools) and tag \"x\"") == A.And((A.And((A.IsTrue(A.Fact("stream")),
                                                                     A.IsTrue(A.Fact("tools")))),
                                                               A.IsTrue(A.Fact("tag", "x"))))


def test_keywords_are_names_where_only_a_name_fits() -> None:
    (r,) = parse_text("route use use when fallback default").decls
    assert isinstance(r, A.Route) and (r.name, r.action, r.fallback) == ("use", A.Use("when"), ("default",))


def test_keywords_match_whole_words_only() -> None:
    assert "did you mean `use`?" in error("route r usem")
    assert "unexpected `whenstream`" in error("route r whenstream use m")


def test_spans_point_at_the_source() -> None:
    pf = parse_text(FULL_TEXT, "full.policy")
    code_assist = next(d for d in pf.decls if isinstance(d, A.Route) and d.name == "code-assist")
    line = FULL_TEXT.splitlines()[code_assist.span.line - 1]
    assert line.startswith("route code-assist") and code_assist.span.col == 1
    assert code_assist.when.span.file == "full.policy"


# --------------------------------------------------------------------------- errors


_RENDERED = re.compile(r"^t\.policy:\d+:\d+: error E00\d .+\n    .*\n    *\^+$")


@pytest.mark.parametrize("src, words", [
    ("provder p kind mock", "did you mean `provider`?"),
    ('route r\n  use m\n  fallbak x', "did you mean `fallback`?"),
    ("route r whn stream use m", "did you mean `when`?"),
    ("route r use", "expected a model name"),
    ('route r description "abc', "unterminated string"),
    ("route r when date > 2026-02-30 use m", "`2026-02-30` is not a calendar date"),
    ("route r when time > 24:00 use m", "`24:00` is not a time of day"),
    ("route r when weekday == funday use m", "`funday` is not a weekday"),
    ("route r when team < 5 use m", "`team` is compared with a whole number"),
    ('route r when team < "a" use m', "`team` is text"),
    ('route r when prompt_tokens == "x" use m', "holds a whole number"),
    ("route r when stream == 1 use m", "`stream` is true or false"),
    ("route r when team use m", "`team` on its own is not a test"),
    ('route r when team matches "(" use m', "not a valid regular expression"),
    ("route r when team in [] use m", "an empty list never matches"),
    ("provider p kind mock kind openai", "sets `kind` twice"),
    ("provider p", "has no `kind`"),
    ("route r when stream", "says what to match but not what to do"),
    ("route r use a use b", "has two actions"),
    ("default when stream use m", "the default route takes no `when`"),
    ("route r retry on 200 use m", "only HTTP error statuses"),
    ('model m = p/"x" price in 1 out 2 per 1K', "expected `1M`"),
    ("@", "unexpected character `@`: expected `budget`"),
])
def test_error_messages(src: str, words: str) -> None:
    out = error(src)
    assert words in out, out
    assert _RENDERED.match(out), out


def test_error_position_and_caret() -> None:
    out = error('provider p kind mock\nroute r\n  when team == "a"\n  use\n')
    head, line, caret = out.splitlines()
    assert head.startswith("t.policy:4:6: error E001 the file ends too early: expected a model name")
    assert line == "      use"
    assert caret == "         ^"


def test_a_string_is_never_echoed_into_the_message() -> None:
    out = error('provider p kind openai base_url "https://h/?k=sk-secret" kindx')
    assert "sk-secret" not in out.splitlines()[0]
    assert "after a string" in out


@pytest.mark.parametrize("src", ["(" * 200 + "stream" + ")" * 200, "not " * 5000 + "stream"])
def test_deep_nesting_is_a_diagnostic_not_a_recursion_error(src: str) -> None:
    out = error(f"route r when {src} use m")
    assert " error E003 conditions nest deeper than" in out


def test_non_utf8_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.policy"
    p.write_bytes('route r\n  description "café"\n  use m\n'.encode("latin-1"))
    with pytest.raises(PolicySyntaxError) as e:
        read_policy_file(p)
    (d,) = e.value.diagnostics
    assert (d.code, d.span.line, d.span.col) == ("E004", 2, 19)
    assert d.render().startswith(f"{p}:2:19: error E004 the file is not UTF-8 text (byte 0xe9)")


def test_empty_file_has_no_declarations(tmp_path: Path) -> None:
    (tmp_path / "empty.policy").write_text("")
    assert read_policy_file(tmp_path / "empty.policy").decls == ()
    assert parse_text("  # only a comment\n\n").decls == ()


def test_empty_directory_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PolicySyntaxError) as e:
        policy_paths([tmp_path])
    assert e.value.diagnostics[0].code == "E004"
    assert "no policy files" in e.value.diagnostics[0].render()
    with pytest.raises(PolicySyntaxError) as e:
        load([tmp_path / "missing.policy"])
    assert e.value.diagnostics[0].render() == f"{tmp_path / 'missing.policy'}:1:1: error E004 no such file or directory"


def test_directory_loads_top_level_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "b.policy").write_text("route b use m\n")
    (tmp_path / "a.policy").write_text("route a use m\n")
    (tmp_path / "notes.txt").write_text("not a policy")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.policy").write_text("route c use m\n")
    ps = load([tmp_path])
    assert [r.name for r in ps.of(A.Route)] == ["a", "b"]


def test_load_reports_every_files_first_error(tmp_path: Path) -> None:
    (tmp_path / "a.policy").write_text("route a use\n")
    (tmp_path / "b.policy").write_text("route b whn\n")
    with pytest.raises(PolicySyntaxError) as e:
        load([tmp_path])
    assert [Path(d.span.file).name for d in e.value.diagnostics] == ["a.policy", "b.policy"]


def test_crlf_and_bom() -> None:
    pf = parse_text("\ufeffroute r\r\n  use m\r\n")
    assert pf.decls == (A.Route("r", None, A.Use("m")),)


# --------------------------------------------------------------------------- fuzzing


def _only_policy_errors(text: str) -> A.PolicyFile | None:
    try:
        return parse_text(text, "fuzz.policy")
    except PolicyError as e:
        for d in e.diagnostics:
            d.render()  # rendering must not fail either
            d.as_json()
        return None


def _downstream(pf: A.PolicyFile | None) -> None:
    """What parses must also check without a crash and survive the formatter's round trip."""
    if pf is None:
        return
    if check is not None:
        try:
            check(A.PolicySet((pf,)))
        except PolicyError:
            pass
    text = format_file(pf)
    assert parse_text(text, "fuzz.policy") == pf, text


_TOKENS = [
    "provider", "model", "budget", "limit", "route", "default", "kind", "openai", "mock", "base_url", "key",
    "env(X)", "timeout", "30s", "header", '"x"', '"a b"', "=", "/", "price", "in", "out", "per", "1M", "0.15",
    "tier", "premium", "context", "128000", "supports", "tools", ",", "at", "80%", "alert", "block", "downgrade",
    "to", "team", "project", "USD", "month", "requests", "tokens", "minute", "description", "owner", "ticket",
    "when", "fallback", "retries", "retry", "on", "400", "use", "requested", "split", "{", "}", "50%", "sticky",
    "by", "user", "choose", "cheapest", "least-busy", "of", "[", "]", "where", ">=", "standard", "ramp", "from",
    "2026-12-01", "rest", "and", "or", "not", "(", ")", "is", "==", "!=", "<", "matches", "task", "code",
    "weekday", "sat", "time", "09:00", "date", "stream", "prompt_tokens", "tag", "true", "false", "#c\n", "\n",
    "m", "gpt-4o", '"', "\\", "@", "\x00", "é",
]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_random_text_only_raises_policy_errors(text: str) -> None:
    _downstream(_only_policy_errors(text))


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map(" ".join))
def test_random_token_soup_only_raises_policy_errors(text: str) -> None:
    _downstream(_only_policy_errors(text))


@st.composite
def mutations(draw: st.DrawFn) -> str:
    """The example policy with a few characters or tokens inserted, deleted or replaced."""
    text = FULL_TEXT
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(("insert", "delete", "replace", "token", "drop-word")))
        if op == "insert":
            text = text[:pos] + draw(st.text(min_size=1, max_size=3)) + text[pos:]
        elif op == "delete":
            text = text[:pos] + text[pos + draw(st.integers(1, 8)):]
        elif op == "replace":
            text = text[:pos] + draw(st.characters()) + text[pos + 1:]
        elif op == "token":
            text = text[:pos] + " " + draw(st.sampled_from(_TOKENS)) + " " + text[pos:]
        else:
            words = list(re.finditer(r"\S+", text))
            w = words[draw(st.integers(0, len(words) - 1))]
            text = text[:w.start()] + text[w.end():]
    return text


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(mutations())
def test_mutated_example_only_raises_policy_errors(text: str) -> None:
    _downstream(_only_policy_errors(text))


def test_non_utf8_bytes_through_the_file_reader(tmp_path: Path) -> None:
    for i, data in enumerate((b"\xff\xfe", b"route r use m\n\x80", b"\xc3", FULL_TEXT.encode()[:-1] + b"\xe9")):
        p = tmp_path / f"f{i}.policy"
        p.write_bytes(data)
        with pytest.raises(PolicyError):
            read_policy_file(p)


def test_regex_backslashes_survive_quoting() -> None:
    """`\\d` is not an escape of the language: a regex author's backslash reaches the pattern."""
    from dsl import ast as A

    (route,) = parse_text('route r when team matches "^eng-\\d+$" use m', "r.policy").decls
    assert isinstance(route.when, A.Matches)
    assert route.when.pattern == "^eng-\\d+$"
    (route2,) = parse_text('route r when team == "a\\"b\\\\c" use m', "r.policy").decls
    assert route2.when.value == 'a"b\\c'


def test_syntax_error_on_a_line_with_a_key_masks_it_and_keeps_the_caret() -> None:
    secret = "sk-" + "A1b2C3d4" * 4
    text = f'provider p kind openai key "{secret}" bogus'
    with pytest.raises(PolicyError) as info:
        parse_text(text, "k.policy")
    rendered = info.value.render()
    assert secret not in rendered and secret[5:] not in rendered
    headline, line, caret = rendered.splitlines()
    col = text.index("bogus") + 1
    assert headline.startswith(f"k.policy:1:{col}: error E001")
    assert caret.index("^") - 4 == line.index("bogus") - 4 == col - 1
