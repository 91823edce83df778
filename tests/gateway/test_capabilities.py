"""The plan keeps only targets that have what the request needs (gateway/capabilities.py), and `check`
warns (W175) about routes that can send embeddings to models that cannot embed (dsl/check_capabilities.py)."""
from __future__ import annotations

import pytest

from dsl.ast import Span
from dsl.check import check_text
from dsl.decision import Decision, Facts, Plan, Target
from gateway.capabilities import max_dimensions, needs, restrict
from gateway.errors import InvalidRequest, NotFound

SPAN = Span("t.policy", 1, 1, 1, 1)
CHAT = Target("chat", "p", "c", capabilities=frozenset({"tools", "json"}))
VISION = Target("vision", "p", "v", capabilities=frozenset({"tools", "vision", "json"}))
EMBED = Target("text-embedding-3-small", "p", "mock-embed", capabilities=frozenset({"embeddings"}))
OLD = Target("old", "p", "o")  # declares nothing: serves everything
IMAGE = {"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": [
    {"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": "http://i"}}]}]}


def decision(*cands: Target, fallback: tuple[Target, ...] = ()) -> Decision:
    return Decision("r", SPAN, Plan("ordered", cands, fallback), "v1", Facts(model="m"))


def test_needs_reads_the_body() -> None:
    assert needs(IMAGE, embeddings=False) == {"vision": "messages[1].content[1]"}
    assert needs({"tools": [{}], "response_format": {"type": "json_schema"}}, embeddings=False) == {
        "tools": "tools", "json": "response_format"}
    assert needs({"functions": [{}]}, embeddings=False) == {"tools": "functions"}
    assert needs({"response_format": {"type": "json_object"}}, embeddings=False) == {}
    assert needs({}, embeddings=True) == {"embeddings": "model"}


def test_a_plain_request_keeps_the_decision_itself() -> None:
    d = decision(CHAT, fallback=(EMBED,))
    assert restrict(d, {"messages": []}, embeddings=False) is d


def test_targets_without_the_capability_are_left_out_and_the_trace_says_so() -> None:
    d = restrict(decision(CHAT, VISION, fallback=(OLD, CHAT)), IMAGE, embeddings=False)
    assert d.plan.candidates == (VISION,) and d.plan.fallback == (OLD,)
    assert [s.test for s in d.trace] == ["supports vision (`chat` left out)"] * 2
    assert all(s.result is False for s in d.trace)


def test_none_left_for_an_image_is_a_400_naming_the_part() -> None:
    with pytest.raises(InvalidRequest) as info:
        restrict(decision(CHAT), IMAGE, embeddings=False)
    assert info.value.param == "messages[1].content[1]" and "supports vision" in info.value.message
    assert info.value.code == "unsupported_parameter"


def test_none_left_for_embeddings_is_a_404_model_not_found() -> None:
    with pytest.raises(NotFound) as info:
        restrict(decision(CHAT, fallback=(VISION,)), {"input": "x"}, embeddings=True)
    assert (info.value.status, info.value.code, info.value.param) == (404, "model_not_found", "model")


def test_dimensions_are_held_to_the_model_maximum() -> None:
    assert max_dimensions(EMBED, "mock") == 1536  # the alias is OpenAI's model: its bound
    assert max_dimensions(Target("e", "p", "text-embedding-3-large"), "openai") == 3072
    assert max_dimensions(Target("e", "p", "custom-embedder"), "gemini") == 3072
    assert restrict(decision(EMBED), {"dimensions": 1536}, embeddings=True).plan.candidates == (EMBED,)
    with pytest.raises(InvalidRequest) as info:
        restrict(decision(EMBED), {"dimensions": 1537}, embeddings=True)
    assert info.value.param == "dimensions" and "1536" in info.value.message
    big = Target("big", "p", "text-embedding-3-large", capabilities=frozenset({"embeddings"}))
    d = restrict(decision(EMBED, fallback=(big,)), {"dimensions": 2048}, embeddings=True)
    assert d.plan.candidates == () and d.plan.fallback == (big,)


def test_an_undeclared_model_serves_everything() -> None:
    d = decision(OLD)
    assert restrict(d, IMAGE, embeddings=False) is d
    assert restrict(d, {"input": "x"}, embeddings=True) is d


def test_a_decision_error_passes_through() -> None:
    d = Decision("r", SPAN, Plan("ordered", ()), "v1", Facts(model="m"), error="model_not_found: no")
    assert restrict(d, IMAGE, embeddings=False) is d


POLICY = '''provider m kind mock
model chat = m/"c" supports tools
model emb = m/"text-embedding-3-small" supports embeddings
model old = m/"o"
route e when model == "text-embedding-3-small" use emb fallback chat
route f when model in ["text-embedding-3-large", "x"] use chat
route g when model == "gpt-4o" use chat
route h when model == "x" use emb fallback old
route i when model == "y" choose cheapest of [emb, chat] where supports embeddings
route j when not model == "text-embedding-3-small" use chat
default use chat
'''


def test_check_warns_about_embeddings_routes_reaching_chat_models() -> None:
    found = [(d.span.line, d.message) for d in check_text(POLICY, "p.policy") if d.code == "W175"]
    assert found == [
        (5, "route `e` can send embeddings requests to `chat`, which does not support embeddings"),
        (6, "route `f` can send embeddings requests to `chat`, which does not support embeddings"),
    ]
    (d,) = [d for d in check_text(POLICY, "p.policy") if d.code == "W175" and d.span.line == 6]
    assert d.severity == "warning" and "supports embeddings" in (d.hint or "")


def test_the_shipped_policies_have_no_capability_warnings() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "policies"
    for path in [root / "default.policy", root / "examples" / "full.policy"]:
        assert not [d for d in check_text(path.read_text(), str(path)) if d.code == "W175"], path
