"""dsl.facts.facts_from_request: a table of requests and the facts they give; and `open-router decide`
against the gateway's FactsBuilder on the same requests, which must build equal facts."""
from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dsl.decision import Facts
from dsl.facts import MAX_TAGS, SECRET_HEADERS, facts_from_request
from gateway.auth import Principal
from gateway.facts import FactsBuilder, load_classifier

ROOT = Path(__file__).resolve().parents[2]
FULL = ROOT / "policies" / "examples" / "full.policy"
SCRIPT = Path(sys.executable).with_name("open-router")
NOW = datetime(2026, 12, 15, 10, 30, tzinfo=timezone.utc)
PRINCIPAL = {"team": "eng", "project": "chat", "app": "web", "cost_center": "cc1", "key": "k-1"}

TEXT_PARTS = [{"type": "text", "text": "abcdef"}, {"type": "image_url", "image_url": {"url": "https://x"}},
              {"type": "text", "text": "gh"}, "not a part", {"type": "text", "text": 5}]

# (name, kind, body, headers, the facts that differ from Facts() with PRINCIPAL and NOW)
CASES: list[tuple[str, str, dict[str, Any], list[tuple[str, str]], dict[str, Any]]] = [
    ("chat-empty", "chat", {}, [], {}),
    ("chat-string", "chat", {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 1999}]}, [],
     {"model": "gpt-4o", "prompt_tokens": 500}),
    ("chat-parts", "chat",
     {"model": "m", "messages": [{"role": "system", "content": "abc"}, {"role": "user", "content": TEXT_PARTS},
                                 {"role": "assistant", "content": None}, "junk", {"role": "tool"}]}, [],
     {"model": "m", "prompt_tokens": 3}),  # 3 + 6 + 2 = 11 chars → 3
    ("chat-stream-tools-user", "chat",
     {"model": "m", "messages": [], "stream": True, "tools": [{"type": "function"}], "user": "u-7"}, [],
     {"model": "m", "stream": True, "tools": True, "user": "u-7"}),
    ("chat-not-quite", "chat", {"model": "m", "stream": "true", "tools": [], "user": 7}, [], {"model": "m"}),
    ("chat-ignores-input", "chat", {"model": "m", "messages": [{"role": "user", "content": "abcd"}],
                                    "input": "x" * 400, "prompt": "y" * 400}, [],
     {"model": "m", "prompt_tokens": 1}),
    ("embed-string", "embeddings", {"model": "embed", "input": "hello"}, [], {"model": "embed", "prompt_tokens": 2}),
    ("embed-strings", "embeddings", {"model": "embed", "input": ["abcd", "efgh", "i"]}, [],
     {"model": "embed", "prompt_tokens": 3}),
    ("embed-token-ids", "embeddings", {"model": "embed", "input": [101, 2023, 2003, 102]}, [],
     {"model": "embed", "prompt_tokens": 4}),
    ("embed-token-id-lists", "embeddings", {"model": "embed", "input": [[1, 2, 3], [4, 5]]}, [],
     {"model": "embed", "prompt_tokens": 5}),
    ("embed-empty", "embeddings", {"model": "embed", "input": []}, [], {"model": "embed"}),
    ("embed-never-streams", "embeddings",
     {"model": "embed", "input": "abcd", "stream": True, "tools": [{"type": "function"}], "user": "u"}, [],
     {"model": "embed", "prompt_tokens": 1, "user": "u"}),
    ("headers", "chat", {"model": "m"},
     [("X-Latency-Class", "interactive"), ("Authorization", "Bearer sk-1"), ("API-Key", "k"),
      ("Cookie", "a=b"), ("Proxy-Authorization", "Basic x"), ("x-api-key", "k2"), ("X-Goog-Api-Key", "g"),
      ("X-Empty", ""), ("x-dup", "first"), ("X-Dup", "second")],
     {"model": "m", "headers": {"x-latency-class": "interactive", "x-empty": "", "x-dup": "second"}}),
    ("tags", "chat", {"model": "m"}, [("X-Open-Router-Tags", " Batch, beta ,, ,NIGHTLY,batch")],
     {"model": "m", "headers": {"x-open-router-tags": " Batch, beta ,, ,NIGHTLY,batch"},
      "tags": frozenset({"batch", "beta", "nightly"})}),
    ("tags-capped", "chat", {"model": "m"}, [("x-open-router-tags", ",".join(f"t{i}" for i in range(40)))],
     {"model": "m", "headers": {"x-open-router-tags": ",".join(f"t{i}" for i in range(40))},
      "tags": frozenset(f"t{i}" for i in range(MAX_TAGS))}),
    ("tags-empty", "embeddings", {"model": "embed", "input": "a"}, [("x-open-router-tags", " , ")],
     {"model": "embed", "prompt_tokens": 1, "headers": {"x-open-router-tags": " , "}}),
]


def _expected(changes: dict[str, Any], task: str | None = None) -> Facts:
    return Facts(**{**PRINCIPAL, "now": NOW, "request_id": "req-1", "task": task, **changes})


@pytest.mark.parametrize("name, kind, body, headers, changes", CASES, ids=[c[0] for c in CASES])
def test_request_to_facts(name: str, kind: str, body: dict, headers: list, changes: dict) -> None:
    got = facts_from_request(body, kind=kind, **PRINCIPAL, headers=headers, request_id="req-1", now=NOW)
    assert got == _expected(changes)


def test_credentials_never_become_facts() -> None:
    headers = [(name.upper(), "secret") for name in SECRET_HEADERS] + [("x-ok", "1")]
    got = facts_from_request({}, kind="chat", **PRINCIPAL, headers=headers, request_id="r")
    assert dict(got.headers) == {"x-ok": "1"}
    assert "secret" not in json.dumps(got.as_json())


def test_defaults_and_task() -> None:
    before = datetime.now(timezone.utc)
    got = facts_from_request({"model": 5}, kind="chat", team=None, project=None, app=None, cost_center=None,
                             key=None, headers=(), request_id="r", task="code")
    assert before <= got.now <= datetime.now(timezone.utc) and got.now.utcoffset() == timedelta(0)
    assert got.task == "code" and got.model is None  # a non-string model is no model
    assert (got.team, got.project, got.app, got.cost_center, got.key) == (None,) * 5


def test_headers_may_be_any_iterable_of_pairs() -> None:
    pairs = {"X-A": "1", "x-b": "2"}.items()
    got = facts_from_request({}, kind="chat", **PRINCIPAL, headers=iter(pairs), request_id="r")
    assert dict(got.headers) == {"x-a": "1", "x-b": "2"}


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="chat, embeddings"):
        facts_from_request({}, kind="completions", **PRINCIPAL, headers=(), request_id="r")


def test_gateway_builder_delegates() -> None:
    principal = Principal("k-1", "eng", "chat", "web", "cc1")
    builder = FactsBuilder(lambda body: "code")
    for name, kind, body, headers, changes in CASES:
        if kind == "chat":
            got = builder.chat(principal, body, headers, "req-1", NOW)
            assert got == _expected(changes, task="code"), name
        else:
            got = builder.embeddings(principal, body, headers, "req-1", NOW)
            assert got == _expected(changes), name  # the classifier reads chat bodies only

    def broken(body: dict) -> str:
        raise RuntimeError("classifier bug")

    assert FactsBuilder(broken).chat(principal, {}, [], "r", NOW).task is None


# --------------------------------------------------------------------------- decide == gateway


def _decide(kind: str, body: dict, headers: list[tuple[str, str]]) -> dict[str, Any]:
    argv = [str(SCRIPT), "decide", str(FULL), "--request", json.dumps(body), "--kind", kind,
            "--team", "eng", "--project", "chat", "--app", "web", "--cost-center", "cc1", "--key", "k-1",
            "--now", NOW.isoformat(), "--request-id", "req-1"]
    for name, value in headers:
        argv += ["--header", f"{name}={value}"]
    res = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["facts"]


def test_decide_and_the_gateway_build_the_same_facts() -> None:
    if not SCRIPT.exists():
        pytest.skip("the open-router console script is not installed in this environment")
    builder = FactsBuilder(load_classifier())
    principal = Principal("k-1", "eng", "chat", "web", "cc1")
    with ThreadPoolExecutor(8) as pool:
        cli = list(pool.map(lambda case: _decide(case[1], case[2], case[3]), CASES))
    for (name, kind, body, headers, _), from_cli in zip(CASES, cli):
        build = builder.chat if kind == "chat" else builder.embeddings
        from_gateway = build(principal, body, headers, "req-1", NOW).as_json()
        for varying in ("request_id", "now"):  # both are pinned here, but they are per-call facts
            assert from_cli.pop(varying) == from_gateway.pop(varying), name
        assert from_cli == from_gateway, name


def test_decide_infers_the_endpoint_and_folds_tags_into_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.cli import main

    def facts(*argv: str) -> dict[str, Any]:
        assert main(["decide", str(FULL), *argv, "--now", NOW.isoformat()]) == 0
        return json.loads(capsys.readouterr().out)["facts"]

    # A body with `input` and no `messages` is an embeddings request: token ids count one each.
    assert facts("--request", '{"model": "embed", "input": [1, 2, 3]}')["prompt_tokens"] == 3
    assert facts("--request", '{"model": "m", "input": [1, 2, 3], "messages": []}')["prompt_tokens"] == 0
    many = ",".join(f"t{i:02d}" for i in range(40))
    got = facts("--request", "{}", "--header", f"X-Open-Router-Tags={many}", "--tag", "Extra", "--user", "u")
    assert len(got["tags"]) == MAX_TAGS and "extra" not in got["tags"]  # capped, as in the gateway
    assert got["headers"]["x-open-router-tags"] == many + ",Extra" and got["user"] == "u"
    assert facts("--request", "{}", "--tag", "A", "--tag", " b ")["tags"] == ["a", "b"]


# --------------------------------------------------------------------------- facts_for, without argparse


def test_facts_for_is_the_cli_without_argparse() -> None:
    from dsl.classify import UNKNOWN, Classification, classify
    from dsl.facts import facts_for

    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}
    assert UNKNOWN == Classification() and classify({"messages": "not a list"}) == UNKNOWN
    assert classify(body).task == "chat"
    got = facts_for(body, team="eng", user="u1", headers={"X-Tier": "gold", "Authorization": "Bearer x"},
                    tags=["batch"], now=NOW, request_id="r1")
    assert (got.team, got.user, got.task, got.request_id, got.now) == ("eng", "u1", "chat", "r1", NOW)
    assert got.complexity == "low" and got.evidence
    assert got.headers == {"x-tier": "gold", "x-open-router-tags": "batch"} and got.tags == frozenset({"batch"})
    assert facts_for(body, task="code").task == "code"
    assert facts_for({"input": "x"}).prompt_tokens == 1  # an embeddings body, inferred
