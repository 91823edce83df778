"""The policy subcommands of `open-router`: exit statuses, output shapes (validated by the JSON Schemas in
schemas/), in-place formatting, and no traceback for any input."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from dsl import Facts, load_policy
from dsl.errors import Diagnostic
from dsl.ast import Span
from gateway.cli import main

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "policies" / "examples" / "full.policy"
DEFAULT = ROOT / "policies" / "default.policy"
SCRIPT = Path(sys.executable).with_name("open-router")
DECISION_SCHEMA = json.loads((ROOT / "schemas" / "decision.schema.json").read_text())
DIAGNOSTIC_SCHEMA = json.loads((ROOT / "schemas" / "diagnostic.schema.json").read_text())

GOOD = 'provider p kind mock\nmodel m = p/"m"\ndefault use m\n'
BAD = 'provider p kind mock\nroute r\n  when team == "a"\n  use\n'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_schemas_are_valid_json_schemas() -> None:
    # The output tests below validate against these schemas, which proves nothing unless each is a valid
    # 2020-12 schema that accepts what the code emits and rejects what it does not.
    for schema in (DECISION_SCHEMA, DIAGNOSTIC_SCHEMA):
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert Draft202012Validator(Draft202012Validator.META_SCHEMA).is_valid(schema)
        Draft202012Validator.check_schema(schema)  # and the validator's own check agrees
        assert not Draft202012Validator(schema).is_valid({})
        assert not Draft202012Validator(schema).is_valid([])
    policy, _ = load_policy([FULL])
    decision = policy.decide(Facts(model="gpt-4o", team="eng", request_id="r-1")).as_json()
    decisions = Draft202012Validator(DECISION_SCHEMA)
    assert decisions.is_valid(decision), [e.message for e in decisions.iter_errors(decision)]
    assert not decisions.is_valid({**decision, "unexpected": 1})
    assert not decisions.is_valid({k: v for k, v in decision.items() if k != "rule"})
    diagnostics = Draft202012Validator(DIAGNOSTIC_SCHEMA)
    assert diagnostics.is_valid({"diagnostics": [], "errors": 0, "warnings": 0})
    assert not diagnostics.is_valid({"diagnostics": [], "errors": -1, "warnings": 0})


# --------------------------------------------------------------------------- check


def test_check_clean_policy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", str(DEFAULT))
    assert code == 0, out + err
    assert out.splitlines()[-1] == "ok: 0 errors, 0 warnings in 1 file"  # the summary is on stdout


def test_check_reports_file_line_col_and_caret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.policy", BAD)
    code, out, err = run(capsys, "check", str(bad))
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{bad}:4:") and ": error E001 " in lines[0]
    assert "expected a model name" in lines[0]
    assert lines[1].strip() == "use" and lines[2].strip().startswith("^")
    assert "1 error" in lines[-1] and lines[-1].startswith("failed: ")


def test_check_json_matches_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    validator = Draft202012Validator(DIAGNOSTIC_SCHEMA)
    bad = write(tmp_path, "bad.policy", BAD)
    for path, want in ((DEFAULT, 0), (bad, 1)):
        code, out, _ = run(capsys, "check", "--format", "json", str(path))
        doc = json.loads(out)
        validator.validate(doc)
        assert code == want and doc["errors"] == want
        assert doc["warnings"] == sum(d["severity"] == "warning" for d in doc["diagnostics"])


def test_check_warnings_alone_exit_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    good = write(tmp_path, "good.policy", GOOD)
    warning = Diagnostic("W100", "warning", "a made-up warning", Span(str(good), 2, 1, 2, 6), "model m")
    monkeypatch.setattr("dsl.cli.run_checker", lambda ps: [warning])
    code, out, err = run(capsys, "check", str(good))
    assert code == 0
    assert f"{good}:2:1: warning W100 a made-up warning" in out
    assert "1 warning" in out.splitlines()[-1] and out.splitlines()[-1].startswith("ok: ")
    code, out, err = run(capsys, "check", "--strict", str(good))
    assert code == 1 and out.splitlines()[-1].startswith("failed: ") and "--strict" in out


@pytest.mark.parametrize("name, content, code_", [
    ("empty.policy", b"", None),
    ("latin1.policy", "route r use caf\xe9".encode("latin-1"), "E004"),
    ("nul.policy", b"route\x00", "E004"),
])
def test_check_odd_files_give_diagnostics(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          name: str, content: bytes, code_: str | None) -> None:
    p = write(tmp_path, name, content)
    code, out, _ = run(capsys, "check", "--format", "json", str(p))
    doc = json.loads(out)
    Draft202012Validator(DIAGNOSTIC_SCHEMA).validate(doc)
    if code_ is not None:
        assert code == 1 and doc["diagnostics"][0]["code"] == code_


def test_check_directory_without_policies_and_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    code, out, _ = run(capsys, "check", str(tmp_path))
    assert code == 1 and "E004" in out and "no policy files" in out
    code, out, _ = run(capsys, "check", str(tmp_path / "nope.policy"))
    assert code == 1 and "no such file" in out


def test_check_directory_merges_its_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "a.policy", 'provider p kind mock\nmodel m = p/"m"\n')
    write(tmp_path, "b.policy", "default use m\n")
    code, out, err = run(capsys, "check", "--format", "json", str(tmp_path))
    doc = json.loads(out)
    assert [Path(f).name for f in doc["files"]] == ["a.policy", "b.policy"]
    assert code == (1 if doc["errors"] else 0)


def test_check_never_crashes_on_a_checker_bug(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import dsl.cli

    good = write(tmp_path, "good.policy", GOOD)

    def boom(ps: object) -> list:
        raise ZeroDivisionError("oops")

    monkeypatch.setitem(sys.modules, "dsl.check", type(sys)("dsl.check"))
    sys.modules["dsl.check"].check = boom  # type: ignore[attr-defined]
    code, out, _ = run(capsys, "check", str(good))
    assert code == 1 and "E999" in out and "ZeroDivisionError" in out
    assert dsl.cli.run_checker  # the real function stayed in place


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_check_never_tracebacks(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "fuzz.policy"
    p.write_bytes(data)
    assert main(["check", "--format", "json", str(p)]) in (0, 1)


# --------------------------------------------------------------------------- fmt


def test_fmt_rewrites_in_place_atomically(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = write(tmp_path, "a.policy", "provider p kind mock   # keep me\nroute r use m when stream\n")
    p.chmod(0o640)
    code, _, err = run(capsys, "fmt", str(p))
    assert code == 0 and "reformatted" in err
    assert p.read_text() == "provider p  kind mock  # keep me\n\nroute r\n  when stream\n  use m\n"
    assert stat.S_IMODE(p.stat().st_mode) == 0o640
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.policy"]  # no temp file left behind
    code, _, err = run(capsys, "fmt", str(p))
    assert code == 0 and "0 files reformatted, 1 unchanged" in err


def test_fmt_check_lists_changes_and_touches_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = write(tmp_path, "messy.policy", "route r use m\n")
    clean = write(tmp_path, "clean.policy", "route r\n  use m\n")
    before = messy.read_text()
    code, out, _ = run(capsys, "fmt", "--check", str(tmp_path))
    assert code == 1
    assert str(messy) in out and str(clean) not in out
    assert messy.read_text() == before
    code, out, _ = run(capsys, "fmt", "--check", str(clean))
    assert code == 0 and out == ""


def test_fmt_check_diff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = write(tmp_path, "messy.policy", "route r use m\n")
    code, out, _ = run(capsys, "fmt", "--check", "--diff", str(messy))
    assert code == 1
    assert "-route r use m" in out and "+route r" in out and "+  use m" in out
    assert messy.read_text() == "route r use m\n"


def test_fmt_leaves_a_file_that_does_not_parse(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = write(tmp_path, "bad.policy", BAD)
    good = write(tmp_path, "good.policy", "route r use m\n")
    code, _, err = run(capsys, "fmt", str(bad), str(good))
    assert code == 1
    assert f"{bad}:4:" in err and "E001" in err
    assert bad.read_text() == BAD
    assert good.read_text() == "route r\n  use m\n"  # the other file is still formatted


def test_fmt_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.StringIO("route r use m"))
    code, out, _ = run(capsys, "fmt", "-")
    assert code == 0 and out == "route r\n  use m\n"


def test_fmt_shipped_policies_are_canonical_or_formattable(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "fmt", "--check", str(DEFAULT), str(FULL))
    assert code in (0, 1) and "Traceback" not in err


# --------------------------------------------------------------------------- explain


def test_explain(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", str(FULL))
    assert code == 0 and out.startswith("# Open-Router policy")
    code, out, _ = run(capsys, "explain", "--format", "text", str(FULL))
    assert code == 0 and "**" not in out and "First matching route wins" in out


def test_explain_refuses_a_broken_policy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "explain", str(write(tmp_path, "bad.policy", BAD)))
    assert code == 1 and out == "" and "E001" in err


# --------------------------------------------------------------------------- decide


def decide_subprocess(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), "decide", *args], capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_decide_output_matches_the_schema() -> None:
    request = json.dumps({"model": "gpt-4o", "user": "u-7", "stream": True,
                          "messages": [{"role": "user", "content": "x" * 1999}]})
    res = decide_subprocess("policies/examples/full.policy", "--request", request, "--team", "eng",
                            "--header", "X-Latency-Class=interactive", "--now", "2026-12-15T10:00:00Z")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    Draft202012Validator(DECISION_SCHEMA).validate(doc)
    assert doc["rule"] == "interactive"
    assert doc["facts"]["prompt_tokens"] == 500  # ceil(1999 / 4)
    assert doc["facts"]["headers"] == {"x-latency-class": "interactive"}
    assert doc["facts"]["stream"] is True and doc["facts"]["user"] == "u-7"
    assert doc["policy_version"] and doc["trace"]


def test_decide_unknown_requested_model_sets_error() -> None:
    long_prompt = {"role": "user", "content": "x" * 4000}  # past the cheap-short route (< 400 tokens)
    res = decide_subprocess("policies/examples/full.policy", "--request",
                            json.dumps({"model": "no-such-model", "messages": [long_prompt]}),
                            "--team", "eng", "--now", "2026-12-15T10:00:00Z")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    Draft202012Validator(DECISION_SCHEMA).validate(doc)
    assert doc["rule"] == "default"
    assert doc["error"] and "model_not_found" in doc["error"]
    assert doc["plan"]["candidates"] == []


def test_decide_flags_become_facts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decide", str(FULL), "--request",
                       '{"model": "gpt-4o-mini", "tools": [{"type": "function"}], '
                       '"messages": [{"role": "user", "content": [{"type": "text", "text": "abcde"}]}]}',
                       "--team", "eng", "--project", "p", "--app", "a", "--cost-center", "cc", "--key", "k1",
                       "--user", "u", "--task", "code", "--tag", "Batch", "--header", "x-a=1",
                       "--now", "2026-12-05", "--request-id", "r-1")
    assert code == 0
    doc = json.loads(out)
    f = doc["facts"]
    assert (f["team"], f["project"], f["app"], f["cost_center"], f["key"], f["user"], f["task"]) == \
        ("eng", "p", "a", "cc", "k1", "u", "code")
    assert f["tags"] == ["batch"] and f["tools"] is True and f["prompt_tokens"] == 2
    assert f["now"] == "2026-12-05T00:00:00+00:00" and f["request_id"] == "r-1"
    assert doc["rule"] == "code-assist"


@pytest.mark.parametrize("args, words", [
    (["--request", "{not json"], "not valid JSON"),
    (["--request", "[1, 2]"], "must be a JSON object"),
    (["--request", '{"model": 5}'], "`model` must be a string"),
    (["--request", "{}", "--header", "novalue"], "NAME=VALUE"),
    (["--request", "{}", "--now", "yesterday"], "ISO 8601"),
])
def test_decide_bad_flags_exit_2_with_one_line(capsys: pytest.CaptureFixture[str], args: list[str], words: str) -> None:
    code, out, err = run(capsys, "decide", str(FULL), *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and words in err


def test_decide_policy_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "decide", str(write(tmp_path, "bad.policy", BAD)), "--request", "{}")
    assert code == 1 and out == "" and "E001" in err


def test_decide_request_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    req = write(tmp_path, "req.json", '{"model": "gpt-4o"}')
    code, out, _ = run(capsys, "decide", str(DEFAULT), "--request", f"@{req}")
    assert code == 0 and json.loads(out)["rule"] == "premium"


def test_console_script_is_installed() -> None:
    assert SCRIPT.exists() or os.environ.get("CI") is None


def test_decide_drops_credential_headers_like_the_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decide", str(DEFAULT), "--request", "{}", "--header", "Authorization=Bearer sk-1",
                       "--header", "x-open-router-tags=Nightly, beta")
    assert code == 0
    facts = json.loads(out)["facts"]
    assert "authorization" not in facts["headers"] and "sk-1" not in out
    assert facts["tags"] == ["beta", "nightly"]


def test_decide_trace_reads_the_routes_in_file_order(capsys: pytest.CaptureFixture[str]) -> None:
    """The trace names each route tested, in file order, with the condition where it is written."""
    code, out, _ = run(capsys, "decide", "policies/examples", "--team", "eng", "--now", "2026-12-15T10:00:00Z",
                       "--request", '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}')
    assert code == 0
    d = json.loads(out)
    assert d["rule"] == "cheap-short"
    rules = [step["rule"] for step in d["trace"]]
    assert rules[0] == "code-assist" and rules[-1] == "cheap-short"
    assert rules == sorted(rules, key=["code-assist", "interactive", "batch", "cheap-short"].index)
    assert all(step["at"].startswith("policies/examples/full.policy:") for step in d["trace"])
    assert d["trace"][-2] == {"rule": "cheap-short", "test": "prompt_tokens < 400", "result": True,
                              "at": d["trace"][-2]["at"]}
