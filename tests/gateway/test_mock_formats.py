"""The mock provider's response_format and logprobs answers: json_object / json_schema content that parses
and validates (jsonschema, against the caller's schema) also when streamed and through the openai SDK;
bounded work on hostile schemas; deterministic OpenAI-shaped logprobs, held to OpenAI's contract."""
from __future__ import annotations

import json
import math
import time
from typing import Any, Optional

import jsonschema
import openai
import pydantic
import pytest
from hypothesis import given, settings, strategies as st

from gateway.providers import mock_json
from gateway.providers.mock_json import MAX_DEPTH, instance
from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import assemble, validate_chat, validate_chunk
from tests.gateway.test_providers_mock import TOOLS, chat, stream, user

RICH: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 3, "maxLength": 12},
        "age": {"type": "integer", "minimum": 18, "maximum": 30},
        "score": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "price": {"type": "number", "multipleOf": 0.01, "minimum": 1},
        "even": {"type": "integer", "multipleOf": 2, "minimum": 3, "maximum": 9},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 3, "maxItems": 5},
        "maybe": {"type": ["string", "null"]},
        "nothing": {"type": "null"},
        "ok": {"type": "boolean"},
        "kind": {"const": "fixed"},
        "choice": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "one": {"oneOf": [{"$ref": "#/$defs/point"}, {"type": "string"}]},
        "legacy": {"$ref": "#/definitions/negatives"},
        "tree": {"$ref": "#/$defs/node"},
        "when": {"type": "string", "format": "date-time"},
        "id": {"type": "string", "format": "uuid"},
        "both": {"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                           {"properties": {"b": {"type": "string"}}, "required": ["b"]}]},
        "pair": {"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": False,
                 "minItems": 2},
    },
    "required": ["name", "age", "score", "tags", "maybe", "nothing", "kind", "one", "legacy", "tree", "both"],
    "additionalProperties": False,
    "$defs": {
        "point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]},
        "node": {"type": "object", "required": ["v", "kids"],
                 "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}}},
    },
    "definitions": {"negatives": {"type": "array", "minItems": 1, "items": {"type": "integer", "maximum": -5}}},
}


def fmt_schema(schema: Any, name: str = "answer") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def check(schema: dict[str, Any], value: Any) -> None:
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)


def content(r: dict[str, Any], i: int = 0) -> str:
    return r["choices"][i]["message"]["content"]


# --------------------------------------------------------------------------- json_object


def test_json_object_is_a_deterministic_object_from_the_prompt() -> None:
    body = {**user("list three colours"), "response_format": {"type": "json_object"}}
    r = chat(body)
    validate_chat(r)
    obj = json.loads(content(r))
    assert isinstance(obj, dict) and obj["reply"] == "Mock reply to: list three colours"
    assert content(chat(body)) == content(r)
    other = json.loads(content(chat({**user("list four colours"), "response_format": {"type": "json_object"}})))
    assert other != obj and other["digest"] != obj["digest"]
    assert content(chat(user("list three colours"))) == "Mock reply to: list three colours"  # text stays text


def test_json_object_streams_the_same_text_in_pieces() -> None:
    body = {**user("list three colours"), "response_format": {"type": "json_object"}, "n": 2}
    whole = chat(body)
    chunks = stream({**body, "stream": True})
    for c in chunks:
        validate_chunk(c)
    got = assemble(chunks)
    for i in (0, 1):
        assert got[i]["content"] == content(whole, i) and json.loads(got[i]["content"])
    assert content(whole, 0) != content(whole, 1)
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) > 2


# --------------------------------------------------------------------------- json_schema


def test_json_schema_answers_an_instance_of_the_schema() -> None:
    body = {**user("describe a person"), "response_format": fmt_schema(RICH), "n": 2}
    r = chat(body)
    validate_chat(r)
    values = [json.loads(content(r, i)) for i in (0, 1)]
    for v in values:
        check(RICH, v)
        assert set(v) == set(RICH["properties"])  # optional properties are filled too
    assert values[0] != values[1]
    assert [json.loads(content(chat(body), i)) for i in (0, 1)] == values
    assert json.loads(content(chat({**body, **user("describe a dog")}))) != values[0]
    assert r["choices"][0]["finish_reason"] == "stop"


def test_json_schema_streamed_is_the_same_json() -> None:
    body = {**user("describe a person"), "response_format": fmt_schema(RICH)}
    whole = content(chat(body))
    chunks = stream({**body, "stream": True, "stream_options": {"include_usage": True}})
    for c in chunks:
        validate_chunk(c)
    got = assemble(chunks)
    assert got[0]["content"] == whole and got[0]["finish_reason"] == "stop" and got["usage"]
    check(RICH, json.loads(got[0]["content"]))


@pytest.mark.parametrize("schema, expect", [
    ({"type": "integer", "minimum": 5, "maximum": 5}, 5),
    ({"type": "integer", "exclusiveMinimum": 1.5, "exclusiveMaximum": 3}, 2),
    ({"type": "number", "minimum": 2.5, "maximum": 2.5}, 2.5),
    ({"type": "string", "maxLength": 0}, ""),
    ({"enum": [3, "x"]}, 3),
    ({"const": {"k": [1]}}, {"k": [1]}),
    ({"type": ["null", "boolean"]}, bool),  # a type list: its first type that is not "null"
    ({"type": "null"}, None),
    ({"type": "array", "maxItems": 0}, []),
    ({"type": "array", "items": False}, []),
    ({"anyOf": [{"const": "first"}, {"const": "second"}]}, "first"),
    ({"oneOf": [{"anyOf": [{"const": 1}]}, {"const": 2}]}, 1),
    ({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"const": "b"}}}, "b"),
    ({"$ref": "#/definitions/a~1b", "definitions": {"a/b": {"const": "escaped"}}}, "escaped"),
    ({}, {}),
])
def test_keyword_cases(schema: dict[str, Any], expect: Any) -> None:
    got = instance(schema, "seed")
    check(schema, got)
    if isinstance(expect, type):
        assert isinstance(got, expect)
    else:
        assert got == expect


def test_minimums_are_met_and_strings_fit_their_lengths() -> None:
    schema = {"type": "object", "required": ["xs", "s", "fmt"], "properties": {
        "xs": {"type": "array", "minItems": 7, "items": {"type": "number", "minimum": 10}},
        "s": {"type": "string", "minLength": 30, "maxLength": 31},
        "fmt": {"type": "object", "required": ["e", "u", "d"], "properties": {
            "e": {"type": "string", "format": "email"}, "u": {"type": "string", "format": "uri"},
            "d": {"type": "string", "format": "date"}}}}}
    got = instance(schema, "seed")
    check(schema, got)
    assert len(got["xs"]) == 7 and 30 <= len(got["s"]) <= 31
    assert got["fmt"]["e"].endswith("@example.com") and got["fmt"]["u"].startswith("https://")


def test_nesting_deeper_than_the_cap_ends_in_minimal_values() -> None:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(MAX_DEPTH + 4):
        schema = {"type": "object", "properties": {"inner": schema}}
    got = instance(schema, "seed")
    check(schema, got)
    depth, node = 0, got
    while node:
        node, depth = node["inner"], depth + 1
    assert node == {} and depth == MAX_DEPTH


HOSTILE: list[dict[str, Any]] = [
    # self-reference, with fan-out
    {"$defs": {"a": {"type": "object", "required": [f"p{i}" for i in range(50)],
                     "properties": {f"p{i}": {"$ref": "#/$defs/a"} for i in range(50)}}}, "$ref": "#/$defs/a"},
    # an allOf that merges itself
    {"$defs": {"a": {"allOf": [{"$ref": "#/$defs/a"}] * 16, "type": "object"}}, "$ref": "#/$defs/a"},
    # a $ref loop, and an anyOf loop
    {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    {"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}]}}, "$ref": "#/$defs/a"},
    # enormous arrays of arrays
    {"type": "array", "minItems": 10**12, "items": {"type": "array", "minItems": 10**12,
                                                    "items": {"type": "array", "minItems": 10**12}}},
    # huge strings and numbers
    {"type": "string", "minLength": 10**12},
    {"type": "integer", "minimum": 10**300, "multipleOf": 7},
    # refs that go nowhere
    {"$ref": "https://example.com/schema.json"}, {"$ref": "#/nope/1/2"}, {"$ref": "#/" + "a/" * 10_000},
]


@pytest.mark.parametrize("schema", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_schemas_cost_bounded_work(schema: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    got = instance(schema, "seed")
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    assert len(json.dumps(got)) < 100_000
    assert instance(schema, "seed") == got


def test_the_node_cap_leaves_optional_members_out() -> None:
    schema = {"type": "object", "required": ["keep"], "properties": {
        "keep": {"type": "integer"}, **{f"opt{i}": {"type": "string"} for i in range(5000)}}}
    got = instance(schema, "seed")
    check(schema, got)
    assert "keep" in got and mock_json.MAX_NODES - 5 <= len(got) <= mock_json.MAX_NODES + 1


# Random schemas built from the supported keywords, satisfiable by construction: every answer validates.
_scalar = st.one_of(
    st.builds(lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
              st.integers(-10**6, 10**6), st.integers(0, 1000)),
    st.builds(lambda lo, span, ex: {"type": "number", ("exclusiveMinimum" if ex else "minimum"): lo,
                                    "maximum": lo + span},
              st.floats(-1e6, 1e6), st.floats(0.5, 1e3), st.booleans()),
    st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
              st.integers(0, 50), st.integers(0, 50)),
    st.builds(lambda step, lo: {"type": "integer", "multipleOf": step, "minimum": lo}, st.integers(1, 50),
              st.integers(-100, 100)),
    st.just({"type": "boolean"}), st.just({"type": "null"}), st.just({"type": ["string", "null"]}),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), min_size=1, max_size=4).map(lambda e: {"enum": e}),
    st.just({"format": "date-time", "type": "string"}),
)
_leaf = st.one_of(_scalar, st.just({"$ref": "#/$defs/shared"}))  # the root's $defs, so no cycles


def _compound(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    props = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=4), children, max_size=5)
    return st.one_of(
        props.flatmap(lambda p: st.builds(
            lambda req: {"type": "object", "properties": p, "required": sorted(req), "additionalProperties": False},
            st.sets(st.sampled_from(sorted(p)) if p else st.nothing(), max_size=len(p)))),
        st.builds(lambda it, lo, extra: {"type": "array", "items": it, "minItems": lo, "maxItems": lo + extra},
                  children, st.integers(0, 4), st.integers(0, 3)),
        st.lists(children, min_size=1, max_size=3).map(lambda bs: {"anyOf": bs}),
        st.lists(children, min_size=1, max_size=3).map(lambda bs: {"oneOf": bs[:1]}),
    )


_schemas = st.builds(lambda body, shared: {**body, "$defs": {"shared": shared}},
                     st.recursive(_leaf, _compound, max_leaves=12), _scalar)


@settings(max_examples=150, deadline=None)
@given(_schemas, st.text(max_size=8))
def test_random_schemas_get_valid_instances(schema: dict[str, Any], seed: str) -> None:
    got = instance(schema, seed)
    check(schema, got)
    assert instance(schema, seed) == got


# --------------------------------------------------------------------------- interplay


def test_tools_still_win_and_max_tokens_still_cuts() -> None:
    r = chat({**user("weather?"), "tools": TOOLS, "response_format": fmt_schema(RICH)})
    assert r["choices"][0]["finish_reason"] == "tool_calls" and r["choices"][0]["message"]["content"] is None
    r = chat({**user("describe"), "response_format": fmt_schema(RICH), "max_tokens": 3})
    assert r["choices"][0]["finish_reason"] == "length" and len(content(r)) == 12


# --------------------------------------------------------------------------- logprobs


def _check_entries(entries: list[dict[str, Any]], text: str, top: int) -> None:
    assert "".join(e["token"] for e in entries) == text and len(entries) > 3
    for e in entries:
        assert e["bytes"] == list(e["token"].encode("utf-8"))
        assert -1.0 < e["logprob"] < 0
        assert len(e["top_logprobs"]) == top
        if top:
            first = e["top_logprobs"][0]
            assert first["token"] == e["token"] and first["logprob"] == e["logprob"]
            lps = [t["logprob"] for t in e["top_logprobs"]]
            assert lps == sorted(lps, reverse=True) and len(set(lps)) == len(lps)
            assert len({t["token"] for t in e["top_logprobs"]}) == top
            assert sum(math.exp(lp) for lp in lps) <= 1.0
            assert all(t["bytes"] == list(t["token"].encode("utf-8")) for t in e["top_logprobs"])


@pytest.mark.parametrize("top", [None, 0, 1, 5, 20])
def test_logprobs_in_openai_shape(top: int | None) -> None:
    body = {**user("tell me about Zürich — briefly"), "logprobs": True, "n": 2}
    if top is not None:
        body["top_logprobs"] = top
    r = chat(body)
    validate_chat(r)
    for i in (0, 1):
        lp = r["choices"][i]["logprobs"]
        assert lp["refusal"] is None
        _check_entries(lp["content"], content(r, i), top or 0)
    assert chat(body)["choices"][0]["logprobs"] == r["choices"][0]["logprobs"]
    assert r["choices"][0]["logprobs"] != r["choices"][1]["logprobs"]


def test_no_logprobs_unless_asked() -> None:
    for extra in ({}, {"logprobs": False}):
        assert chat({**user("hi"), **extra})["choices"][0]["logprobs"] is None
        assert all(c["choices"][0]["logprobs"] is None for c in stream({**user("hi"), **extra}) if c["choices"])


def test_streamed_logprobs_match_the_whole_answer() -> None:
    body = {**user("describe"), "response_format": fmt_schema(RICH), "logprobs": True, "top_logprobs": 3}
    whole = chat(body)["choices"][0]["logprobs"]["content"]
    chunks = stream({**body, "stream": True})
    streamed = []
    for c in chunks:
        validate_chunk(c)
        ch = c["choices"][0]
        if ch["delta"].get("content"):
            assert len(ch["logprobs"]["content"]) == 1 and ch["logprobs"]["content"][0]["token"] == ch["delta"]["content"]
            streamed += ch["logprobs"]["content"]
    assert streamed == whole
    check(RICH, json.loads(assemble(chunks)[0]["content"]))


def test_a_tool_call_has_no_content_logprobs() -> None:
    r = chat({**user("weather?"), "tools": TOOLS, "logprobs": True, "top_logprobs": 2})
    validate_chat(r)
    assert r["choices"][0]["finish_reason"] == "tool_calls" and r["choices"][0]["logprobs"] is None


# --------------------------------------------------------------------------- through the openai SDK


class Step(pydantic.BaseModel):
    explanation: str
    output: int


class Answer(pydantic.BaseModel):
    steps: list[Step]
    final: str
    confidence: Optional[float]


def test_sdk_json_schema_and_parse(gateway: GatewayServer) -> None:
    client = openai.OpenAI(base_url=gateway.base_url + "/v1", api_key=gateway.key, timeout=30)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "describe a person"}],
        response_format=fmt_schema(RICH), logprobs=True, top_logprobs=2)
    validate_chat(raw.http_response.json())
    completion = raw.parse()
    text = completion.choices[0].message.content
    check(RICH, json.loads(text))
    assert "".join(t.token for t in completion.choices[0].logprobs.content) == text

    parsed = client.chat.completions.parse(model="gpt-4o", messages=[{"role": "user", "content": "solve 2x=4"}],
                                           response_format=Answer)
    answer = parsed.choices[0].message.parsed
    assert isinstance(answer, Answer) and answer.steps and isinstance(answer.steps[0].output, int)

    chunks = list(client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "describe a person"}],
        response_format=fmt_schema(RICH), stream=True, logprobs=True))
    for c in chunks:
        validate_chunk(c.to_dict())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
