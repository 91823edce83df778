"""`open-router test`, `simulate` and `review`: the shipped policies' tests pass at 100 % coverage (the CI
run), failures show expected vs actual with the trace and the deciding rule's place, bad test files and log
lines are diagnostics with their line numbers, and a replay counts what moves."""
from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "policy-tests.schema.json").read_text())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_shipped_policies_pass_at_full_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "test", str(ROOT / "policies"), str(ROOT / "policies" / "examples"),
                         "--min-coverage", "100", "--format", "json")
    doc = json.loads(out)
    assert code == 0, out + err
    assert doc["failed"] == doc["errors"] == 0 and doc["passed"] == doc["cases"] >= 30
    assert doc["coverage"]["total"]["route"]["percent"] == 100.0 and doc["coverage"]["missed"] == []
    for f in ("default.tests.yaml", "examples/full.tests.yaml"):
        import yaml

        Draft202012Validator(SCHEMA).validate(yaml.safe_load((ROOT / "policies" / f).read_text()))


@pytest.fixture
def pol(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "policies" / "examples" / "full.policy", tmp_path / "full.policy")
    return tmp_path


def test_a_failure_shows_expected_actual_trace_and_place(pol: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pol / "full.tests.yaml").write_text(
        "cases:\n"
        "  - name: wrong on purpose\n"
        "    facts: {model: gpt-4o, team: eng, prompt_tokens: 1000}\n"
        "    models: {gpt-4o: {circuit: open}}\n"
        "    expect: {rule: premium-ish, target: gpt-4o}\n"
        "  - name: right\n"
        "    facts: {model: gpt-4o, prompt_tokens: 1000}\n"
        "    models: {gpt-4o: {circuit: open}}\n"
        "    expect: {rule: default, target: gpt-4o-mini, order: [gpt-4o-mini, gpt-4o]}\n")
    code, out, _ = run(capsys, "test", str(pol))
    assert code == 1
    assert f"{pol / 'full.tests.yaml'}:2: wrong on purpose: ERROR" in out  # an unknown rule is an error
    assert "expects rule 'premium-ish', which the policy does not have" in out
    assert ": right: PASS" in out
    (pol / "full.tests.yaml").write_text(
        "cases:\n  - name: wrong target\n    facts: {model: gpt-4o, prompt_tokens: 1000}\n"
        "    expect: {rule: default, target: sonnet}\n")
    code, out, _ = run(capsys, "test", str(pol))
    assert code == 1 and "wrong target: FAIL" in out
    assert "target: expected sonnet, got gpt-4o" in out
    assert f"decided by rule default at {pol / 'full.policy'}:" in out
    assert "cheap-short: prompt_tokens < 400 -> false" in out  # the trace, with where each test is written
    code, out, _ = run(capsys, "test", str(pol), "--format", "junit")
    suite = ET.fromstring(out).find("testsuite")
    assert suite is not None and suite.get("failures") == "1"


def test_budget_and_limit_states(pol: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pol / "full.tests.yaml").write_text(
        "cases:\n"
        "  - name: downgraded\n    facts: {model: sonnet, project: chatbot, prompt_tokens: 1000}\n"
        "    spent: [{project: chatbot, percent: 99.5}]\n    expect: {target: sonnet}\n"
        "  - name: at the threshold\n    facts: {model: sonnet, project: chatbot, prompt_tokens: 1000}\n"
        "    spent: [{project: chatbot, percent: 100}]\n    expect: {downgrade: llama, order: [llama]}\n"
        "  - name: tokens per minute\n    facts: {task: code, team: eng, user: alice, prompt_tokens: 1000}\n"
        "    used: [{team: eng, tokens: 199500}]\n    expect: {refusal: rate_limit_exceeded}\n"
        "  - name: no such budget\n    facts: {model: sonnet}\n"
        "    spent: [{team: nobody, percent: 10}]\n    expect: {target: sonnet}\n")
    code, out, _ = run(capsys, "test", str(pol))
    assert "downgraded: PASS" in out and "at the threshold: PASS" in out and "tokens per minute: PASS" in out
    assert "no such budget: ERROR" in out and "team 'nobody', which has no budget" in out and code == 1


def test_bad_test_files_give_file_and_line(pol: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (pol / "full.tests.yaml").write_text("cases:\n  - name: a\n    request: {model: x}\n    expect: {rool: a}\n")
    (pol / "other.tests.json").write_text('{"cases": [{"name": "b", "expect": {"rule": "default"}}')
    code, out, err = run(capsys, "test", str(pol))
    assert code == 1 and "Traceback" not in out + err
    assert f"{pol / 'full.tests.yaml'}:4:1: error T002 cases/0/expect: unknown field(s) ('rool'" in out
    assert f"{pol / 'other.tests.json'}:1:1: error T001 not valid YAML/JSON" in out
    code, out, _ = run(capsys, "test", str(pol / "missing"))
    assert code == 1 and "no such file or directory" in out


LINES = [
    {"ts": 1767614400.0, "request_id": "r-1", "team": "eng", "requested": "gpt-4o", "model": "gpt-4o",
     "rule": "premium", "stream": False, "usage": {"prompt_tokens": 1000, "completion_tokens": 100}},
    {"ts": 1767614401.0, "request_id": "r-2", "team": "eng", "requested": "gpt-4o", "model": "gpt-4o",
     "rule": "premium", "facts": {"model": "gpt-4o", "team": "eng", "project": "p1", "tags": [], "headers": {},
                                  "prompt_tokens": 10, "now": "2026-01-05T12:00:01+00:00"}},
]


def test_simulate_counts_moves_and_skips_bad_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text(json.dumps(LINES[0]) + "\n{not json\n[1]\n" + json.dumps({"ts": 1}) + "\n" + json.dumps(LINES[1]) + "\n")
    new = tmp_path / "new"
    new.mkdir()
    text = (ROOT / "policies" / "default.policy").read_text().replace("use gpt-4o\n  fallback gpt-4o-mini",
                                                                       "use gpt-4o-mini\n  fallback gpt-4o")
    (new / "default.policy").write_text(text)
    code, out, err = run(capsys, "simulate", "--policies", str(new), "--baseline", str(ROOT / "policies"),
                         "--log", str(log), "--format", "json", "--no-progress")
    assert code == 0, err
    doc = json.loads(out)
    assert code == 0 and "Traceback" not in err
    assert doc["decided"] == 2 and doc["moved"] == 2 and doc["bad"] == 3
    assert [b["line"] for b in doc["bad_lines"]] == [2, 3, 4]
    assert doc["rebuilt_without_facts"] == 1 and doc["tokens_estimated"] == 1
    assert doc["moves"] == [{"from_rule": "premium", "from_model": "gpt-4o", "to_rule": "premium",
                             "to_model": "gpt-4o-mini", "requests": 2}]
    assert doc["by"]["project"]["p1"] == {"moved": 1, "requests": 1}
    # 1000 in + 100 out at gpt-4o (2.50 / 10.00), then at gpt-4o-mini (0.15 / 0.60); r-2: 10 tokens in
    assert doc["cost_before"] == "0.003525" and doc["cost_after"] == "0.0002115"
    assert [s["request_id"] for s in doc["sample"]] == ["r-1", "r-2"]
    code, out, err = run(capsys, "simulate", "--policies", str(new), "--log", str(tmp_path / "nope.jsonl"))
    assert code == 1 and "cannot read the log" in err


def test_review_is_one_markdown_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "decisions.jsonl"
    log.write_text(json.dumps(LINES[0]) + "\n")
    code, out, _ = run(capsys, "review", str(ROOT / "policies"), str(ROOT / "policies"), "--log", str(log))
    assert code == 0
    for heading in ("## Policy review", "### Check", "### Tests", "### Diff", "### Replay"):
        assert heading in out
    assert "4/4 cases pass; coverage 100.0%" in out and "No change" in out
