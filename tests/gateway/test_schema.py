"""Request validation: a table of bad bodies and the OpenAI-style param each must name; properties that
valid bodies pass untouched and that nothing but InvalidRequest ever comes out of arbitrary input."""
from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, strategies as st

from gateway.errors import InvalidRequest
from gateway.schema import parse_json, validate_chat, validate_embeddings

GOOD: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "system", "content": [{"type": "text", "text": "and kind"}]},
        {"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}},
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            {"type": "file", "file": {"file_id": "file-1"}},
        ]},
        {"role": "assistant", "content": None,
         "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}, {"type": "refusal", "refusal": "no"}]},
    ],
    "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
    "tool_choice": {"type": "function", "function": {"name": "look"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}},
    "n": 2, "temperature": 1, "top_p": 0.5, "presence_penalty": -2, "frequency_penalty": 2.0,
    "max_tokens": 10, "max_completion_tokens": 20, "stop": ["\n", "END"], "seed": -7, "user": "u-1",
    "logprobs": True, "top_logprobs": 20, "stream": True, "stream_options": {"include_usage": True},
    "logit_bias": {"50256": -100}, "parallel_tool_calls": False,
    "a_field_openai_adds_next_year": {"anything": [1, 2]},
}


def test_the_rich_body_is_valid_and_returned_untouched() -> None:
    body = copy.deepcopy(GOOD)
    assert validate_chat(body) is body
    assert body == GOOD


def _set(path: str, value: Any) -> Any:
    def mutate(body: dict) -> None:
        *parents, last = _parse_path(path)
        target: Any = body
        for p in parents:
            target = target[p]
        if value is _DELETE:
            del target[last]
        else:
            target[last] = value
    return mutate


def _parse_path(path: str) -> list[Any]:
    out: list[Any] = []
    for part in path.replace("]", "").replace("[", ".").split("."):
        out.append(int(part) if part.isdigit() else part)
    return out


_DELETE = object()

BAD: list[tuple[str, Any, str]] = [
    # (path to change, new value or _DELETE, expected param)
    ("model", _DELETE, "model"),
    ("model", "", "model"),
    ("model", 4, "model"),
    ("messages", [], "messages"),
    ("messages", "hi", "messages"),
    ("messages", _DELETE, "messages"),
    ("messages[2].role", "robot", "messages[2].role"),
    ("messages[2].role", "function", "messages[2].content"),  # a legacy function message: string content
    ("messages[2].role", _DELETE, "messages[2].role"),
    ("messages[2].role", 1, "messages[2].role"),
    ("messages[1]", "just text", "messages[1]"),
    ("messages[2].content", 5, "messages[2].content"),
    ("messages[2].content", [], "messages[2].content"),
    ("messages[2].content", _DELETE, "messages[2].content"),
    ("messages[2].content[0].type", "video", "messages[2].content[0]"),
    ("messages[2].content[0].text", None, "messages[2].content[0].text"),
    ("messages[2].content[1].image_url", "http://x", "messages[2].content[1].image_url"),
    ("messages[2].content[1].image_url.detail", "ultra", "messages[2].content[1].image_url.detail"),
    ("messages[2].content[2].input_audio.format", "flac", "messages[2].content[2].input_audio.format"),
    ("messages[1].content[0].type", "image_url", "messages[1].content[0]"),
    ("messages[4].tool_call_id", _DELETE, "messages[4].tool_call_id"),
    ("messages[3].tool_calls[0].type", "code", "messages[3].tool_calls[0].type"),
    ("messages[3].tool_calls[0].function.arguments", {}, "messages[3].tool_calls[0].function.arguments"),
    ("tools[0].type", "browser", "tools[0].type"),
    ("tools[0].function.name", "has space", "tools[0].function.name"),
    ("tools[0].function.name", "x" * 65, "tools[0].function.name"),
    ("tools", "look", "tools"),
    ("tool_choice", "sometimes", "tool_choice"),
    ("tool_choice", {"type": "function"}, "tool_choice.function"),
    ("tool_choice", 1, "tool_choice"),
    ("response_format", {"type": "xml"}, "response_format"),
    ("response_format", {"type": "json_schema"}, "response_format.json_schema"),
    ("response_format.json_schema.schema", "object", "response_format.json_schema.schema"),
    ("response_format.json_schema.name", "bad name!", "response_format.json_schema.name"),
    ("n", 0, "n"),
    ("n", 129, "n"),
    ("n", 1.5, "n"),
    ("temperature", 2.01, "temperature"),
    ("temperature", -0.1, "temperature"),
    ("temperature", "0.5", "temperature"),
    ("temperature", True, "temperature"),
    ("top_p", 1.1, "top_p"),
    ("presence_penalty", -2.5, "presence_penalty"),
    ("frequency_penalty", 3, "frequency_penalty"),
    ("max_tokens", 0, "max_tokens"),
    ("max_completion_tokens", -1, "max_completion_tokens"),
    ("stop", ["a", "b", "c", "d", "e"], "stop"),
    ("stop", [1], "stop[0]"),
    ("stop", 3, "stop"),
    ("seed", 1.5, "seed"),
    ("seed", "1", "seed"),
    ("user", 12, "user"),
    ("logprobs", 1, "logprobs"),
    ("top_logprobs", 21, "top_logprobs"),
    ("logprobs", False, "top_logprobs"),
    ("stream", "yes", "stream"),
    ("stream", False, "stream_options"),
    ("stream_options.include_usage", "yes", "stream_options.include_usage"),
    ("logit_bias", {"1": 101}, "logit_bias.1"),
]


@pytest.mark.parametrize("path, value, param", BAD, ids=[f"{p}={v!r}"[:60] for p, v, _ in BAD])
def test_bad_chat_bodies_name_the_param(path: str, value: Any, param: str) -> None:
    body = copy.deepcopy(GOOD)
    _set(path, value)(body)
    with pytest.raises(InvalidRequest) as info:
        validate_chat(body)
    err = info.value
    assert err.status == 400 and err.type == "invalid_request_error"
    assert err.param == param, err.message
    assert param in err.message


GOOD_EMB = {"model": "text-embedding-3-small", "input": "hello", "dimensions": 8, "encoding_format": "base64",
            "user": "u"}


@pytest.mark.parametrize("value", ["x", ["a", "b"], [1, 2, 3], [[1, 2], [3]]])
def test_good_embedding_inputs(value: Any) -> None:
    # Each input form OpenAI accepts (text, texts, tokens, token lists) passes, and the body goes on to
    # the upstream exactly as the client sent it.
    body = copy.deepcopy({**GOOD_EMB, "input": value})
    assert validate_embeddings(body) is body
    assert body == {**GOOD_EMB, "input": value}


@pytest.mark.parametrize(
    "patch, param",
    [
        ({"input": ""}, "input"),
        ({"input": []}, "input"),
        ({"input": [""]}, "input[0]"),
        ({"input": [1, "a"]}, "input[1]"),
        ({"input": [[1], []]}, "input[1]"),
        ({"input": [[1], ["a"]]}, "input[1][0]"),
        ({"input": [-1]}, "input[0]"),
        ({"input": {"text": "x"}}, "input"),
        ({"input": None}, "input"),
        ({"model": None}, "model"),
        ({"dimensions": 0}, "dimensions"),
        ({"encoding_format": "hex"}, "encoding_format"),
    ],
)
def test_bad_embedding_bodies(patch: dict, param: str) -> None:
    body = {k: v for k, v in {**GOOD_EMB, **patch}.items() if v is not None}
    with pytest.raises(InvalidRequest) as info:
        validate_embeddings(body)
    assert info.value.param == param, info.value.message


@pytest.mark.parametrize(
    "raw, fragment",
    [
        (b"", "empty"),
        (b"{", "parse"),
        (b"[]", "JSON object"),
        (b"null", "JSON object"),
        (b'{"a": NaN}', "parse"),
        (b'{"a": Infinity}', "parse"),
        (b'{"a": "\xc3\x28"}', "UTF-8"),
        (b"\xef\xbb\xbf{}", "parse"),  # a BOM is not JSON
        (b"[" * 50_000, "nested"),
    ],
)
def test_parse_json_rejects(raw: bytes, fragment: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_json(raw)
    assert fragment in info.value.message and info.value.param is None


# --------------------------------------------------------------------------- properties

text = st.text(max_size=20)
part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": u}}, text),
)
content = st.one_of(text, st.lists(part, min_size=1, max_size=3))
message = st.one_of(
    st.builds(lambda r, c: {"role": r, "content": c}, st.sampled_from(["system", "developer"]), text),
    st.builds(lambda c: {"role": "user", "content": c}, content),
    st.builds(lambda c: {"role": "assistant", "content": c}, st.one_of(st.none(), text)),
    st.builds(lambda c, i: {"role": "tool", "content": c, "tool_call_id": i}, text, text),
)
number = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False))
optional = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.integers(-2, 2),
    "n": st.integers(1, 128),
    "max_tokens": st.integers(1, 10**6),
    "max_completion_tokens": st.integers(1, 10**6),
    "stop": st.one_of(text, st.lists(text, min_size=1, max_size=4)),
    "seed": st.integers(),
    "user": text,
    "stream": st.booleans(),
    "tool_choice": st.sampled_from(["none", "auto", "required"]),
    "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
    "tools": st.lists(st.builds(lambda n: {"type": "function", "function": {"name": n}},
                                st.from_regex(r"\A[a-zA-Z0-9_-]{1,64}\Z")), max_size=2),
    "metadata": st.dictionaries(text, text, max_size=2),  # unknown to us: must pass through
})


@st.composite
def valid_chat(draw: Any) -> dict:
    body = {"model": draw(st.text(min_size=1, max_size=20)), "messages": draw(st.lists(message, min_size=1, max_size=5))}
    body.update(draw(optional))
    return body


@given(valid_chat())
def test_valid_bodies_are_accepted_unchanged(body: dict) -> None:
    before = json.dumps(body, sort_keys=True)
    assert validate_chat(body) is body
    assert json.dumps(body, sort_keys=True) == before


json_values = st.recursive(
    st.none() | st.booleans() | number | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
FIELDS = ["model", "messages", "tools", "tool_choice", "response_format", "n", "temperature", "top_p", "stop",
          "seed", "user", "logprobs", "top_logprobs", "stream", "stream_options", "max_tokens", "logit_bias"]


def _only_invalid_request(fn: Any, value: Any) -> None:
    try:
        fn(value)
    except InvalidRequest as err:
        assert err.status == 400 and err.message
        assert err.param is None or isinstance(err.param, str)


@given(json_values)
def test_random_json_never_escapes_as_anything_but_invalid_request(value: Any) -> None:
    _only_invalid_request(validate_chat, value)
    _only_invalid_request(validate_embeddings, value)


@given(valid_chat(), st.sampled_from(FIELDS), json_values)
def test_random_field_values_only_raise_invalid_request(body: dict, field: str, value: Any) -> None:
    body[field] = value
    _only_invalid_request(validate_chat, body)


@given(valid_chat(), st.integers(0, 4), st.sampled_from(["role", "content", "tool_call_id", "name"]), json_values)
def test_random_message_fields_only_raise_invalid_request(body: dict, i: int, field: str, value: Any) -> None:
    body["messages"][i % len(body["messages"])][field] = value
    _only_invalid_request(validate_chat, body)


@given(st.binary(max_size=200))
def test_random_bytes_parse_or_raise_invalid_request(raw: bytes) -> None:
    try:
        assert isinstance(parse_json(raw), dict)
    except InvalidRequest:
        pass


# --------------------------------------------------------------------------- hostile strategies (issue 7)

surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
hostile_text = st.builds(lambda a, s, b: a + s + b, text, surrogate, text)
non_finite = st.sampled_from([float("inf"), float("-inf"), float("nan")])
# Where a hostile value goes, and the param it must be reported under.
SPOTS = [
    (lambda b, v: b["messages"].append({"role": "user", "content": v}), lambda b: f"messages[{len(b['messages']) - 1}].content"),
    (lambda b, v: b.__setitem__("user", v), lambda b: "user"),
    (lambda b, v: b.__setitem__("metadata", {"k": v}), lambda b: "metadata.k"),
    (lambda b, v: b.__setitem__("stop", ["ok", v]), lambda b: "stop[1]"),
    (lambda b, v: b.__setitem__("tools", [{"type": "function", "function": {"name": "f", "description": v}}]),
     lambda b: "tools[0].function.description"),
    (lambda b, v: b.__setitem__("x_future_field", {"deep": [[{"k": v}]]}), lambda b: "x_future_field.deep[0][0].k"),
]


def _strip_choice(body: dict) -> dict:
    body.pop("tool_choice", None)  # a named choice would need the tools replaced here
    body.pop("tools", None)
    return body


@given(valid_chat(), st.sampled_from(range(len(SPOTS))), hostile_text)
def test_a_lone_surrogate_anywhere_is_a_400_naming_where(body: dict, spot: int, value: str) -> None:
    put, where = SPOTS[spot]
    body = _strip_choice(body)
    put(body, value)
    param = where(body)
    for check in (lambda: validate_chat(body), lambda: validate_chat(parse_json(json.dumps(body).encode()),
                                                                     parsed=True)):
        with pytest.raises(InvalidRequest) as info:
            check()
        assert info.value.param == param and "surrogate" in info.value.message


@given(valid_chat(), st.sampled_from([2, 5]), non_finite)
def test_a_non_finite_number_anywhere_is_a_400(body: dict, spot: int, value: float) -> None:
    put, where = SPOTS[spot]
    body = _strip_choice(body)
    put(body, value)
    with pytest.raises(InvalidRequest) as info:
        validate_chat(body)
    assert info.value.param == where(body) and "finite" in info.value.message
    overflowed = json.dumps(body).replace("Infinity", "1e999").replace("NaN", "-1e999").encode()
    with pytest.raises(InvalidRequest) as info:
        parse_json(overflowed)
    assert info.value.param == where(body)


schema_leaf = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["string", "integer", "number", "boolean", "null", "strin"])}),
    st.fixed_dictionaries({"enum": st.one_of(st.lists(st.integers(), max_size=3), st.just({}))}),
    st.booleans(),
    st.just("string"),  # not a schema
)
schemas = st.recursive(
    schema_leaf,
    lambda kids: st.one_of(
        st.builds(lambda props, req: {"type": "object", "properties": props, "required": req},
                  st.dictionaries(st.from_regex(r"\A[a-z]{1,6}\Z"), kids, max_size=6),
                  st.one_of(st.lists(st.from_regex(r"\A[a-z]{1,6}\Z"), max_size=3), st.just(5))),
        st.builds(lambda items: {"type": "array", "items": items}, kids),
        st.builds(lambda alts: {"anyOf": alts}, st.lists(kids, min_size=1, max_size=3)),
    ),
    max_leaves=60,
)


def _deep(depth: int) -> dict:
    s: dict = {"type": "string"}
    for _ in range(depth):
        s = {"type": "object", "properties": {"a": s}, "required": ["a"]}
    return s


deep_or_wide = st.one_of(
    st.integers(1, 40).map(_deep),
    st.integers(1, 3000).map(lambda n: {"type": "object", "properties": {f"p{i}": {"type": "string"} for i in range(n)}}),
)


@given(st.one_of(schemas, deep_or_wide))
def test_tool_schemas_are_accepted_or_a_400_naming_them(params: Any) -> None:
    from gateway.providers.mock import mock_arguments

    body = {"model": "m", "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": params}}]}
    try:
        validate_chat(body)
    except InvalidRequest as err:
        assert err.param == "tools[0].function.parameters", err.message
        return
    mock_arguments(params, "seed")  # what passed is what an adapter can work with
