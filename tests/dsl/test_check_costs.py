"""Checks on prices, cost centers and shared costs (W165, E220-E226), with file:line:col."""
from __future__ import annotations

from dsl.check import check_text

BASE = 'provider p kind mock\nmodel a = p/"x" price in 1 out 2 per 1M\ndefault use a\n'


def codes(text: str) -> list[tuple[str, int]]:
    return [(d.code, d.span.line) for d in check_text(BASE + text, "c.policy")]


def test_a_clean_cost_section_passes() -> None:
    assert codes('cost_center "eng"\ncost_center "research"\n'
                 'shared "contract" 1200 USD per month split 60% "eng", 40% "research"\n'
                 'shared "platform" team "platform" split by usage\n'
                 'budget team "eng" 100 USD per month at 100% block\n') == []


def test_unpriced_model_warns() -> None:
    diags = check_text('provider p kind mock\nmodel a = p/"x"\nmodel b = p/"y" price 0\ndefault use a fallback b\n',
                       "c.policy")
    assert [(d.code, d.span.line, d.severity) for d in diags] == [("W165", 2, "warning")]
    assert "unpriced" in diags[0].message


def test_each_cost_error_points_at_its_line() -> None:
    text = ('cost_center "eng"\ncost_center "research"\ncost_center "eng"\n'                     # 4, 5, 6
            'shared "s1" 100 USD per month split 60% "eng", 30% "research"\n'                  # 7
            'shared "s2" 100 USD per month split 50% "eng", 50% "reserch"\n'                    # 8
            'shared "s3" cost_center "eng" split 50% "eng", 50% "research"\n'                   # 9
            'shared "s4" 0 EUR per fortnight split by usage\n'                                  # 10
            'shared "s1" 5 USD per day split by usage\n')                                       # 11
    got = codes(text)
    assert ("E220", 6) in got and ("E220", 11) in got
    assert ("E221", 7) in got
    assert ("E222", 8) in got and ("E223", 9) in got
    assert ("E225", 10) in got and ("E224", 10) in got
    hint = [d.hint for d in check_text(BASE + text, "c.policy") if d.code == "E222"][0]
    assert "research" in hint


def test_percentages_without_declared_cost_centers_warn() -> None:
    assert codes('shared "s" 10 USD per month split 50% "a", 50% "b"\n') == [("W226", 4)]
