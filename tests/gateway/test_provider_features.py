"""What OpenAI accepts, as each provider's translation takes it: allowed_tools narrows the functions,
custom tools and legacy function messages are a 400 naming the feature where the provider's API has no
such thing (a 400 that fails over: another target may serve it)."""
from __future__ import annotations

import pytest

from gateway.errors import InvalidRequest
from gateway.providers.anthropic import to_anthropic
from gateway.providers.gemini import to_gemini

MSG = [{"role": "user", "content": "x"}]
FNS = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}} for n in ("a", "b")]
ALLOWED = {"type": "allowed_tools", "allowed_tools": {"mode": "required",
                                                      "tools": [{"type": "function", "function": {"name": "b"}}]}}


def test_allowed_tools_narrow_the_functions() -> None:
    out = to_anthropic({"messages": MSG, "tools": FNS, "tool_choice": ALLOWED}, "claude")
    assert [t["name"] for t in out["tools"]] == ["b"] and out["tool_choice"] == {"type": "any"}
    g = to_gemini({"messages": MSG, "tools": FNS, "tool_choice": ALLOWED})
    assert [d["name"] for d in g["tools"][0]["functionDeclarations"]] == ["b"]
    assert g["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


@pytest.mark.parametrize("translate", [lambda b: to_anthropic(b, "claude"), to_gemini], ids=["anthropic", "gemini"])
@pytest.mark.parametrize("body, param", [
    ({"tools": [{"type": "custom", "custom": {"name": "sql"}}]}, "tools[0].type"),
    ({"tools": FNS, "tool_choice": {"type": "custom", "custom": {"name": "a"}}}, "tool_choice"),
    ({"functions": [{"name": "f"}]}, "functions"),
    ({"messages": [*MSG, {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "custom", "custom": {"name": "sql", "input": "x"}}]}]}, "messages[1].tool_calls[0]"),
])
def test_what_a_provider_lacks_is_a_400_naming_it(translate, body: dict, param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        translate({"messages": MSG, **body})
    err = info.value
    assert err.param == param and err.code == "unsupported_parameter" and "do not support" in err.message
    assert err.failover is True


def test_legacy_function_messages() -> None:
    history = [*MSG, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
               {"role": "function", "name": "f", "content": "42"}]
    g = to_gemini({"messages": history})
    assert g["contents"][1]["parts"][0]["functionCall"]["name"] == "f"
    assert g["contents"][2]["parts"][0]["functionResponse"]["name"] == "f"
    with pytest.raises(InvalidRequest) as info:
        to_anthropic({"messages": history}, "claude")
    assert info.value.param == "messages[1].function_call"
