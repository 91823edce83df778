"""Context-window fallback in the executor: a target whose `context` cannot hold the prompt estimate plus
the requested completion is passed over; with none left the client gets 400 context_length_exceeded."""
from __future__ import annotations

import dataclasses

import pytest

from dsl.decision import Facts
from gateway.errors import InvalidRequest
from tests.gateway.test_router import A, B, BODY, decision, reply, run, setup

SMALL = dataclasses.replace(A, context=4_000)
LARGE = dataclasses.replace(B, context=128_000)


def _with_prompt(d, tokens: int):
    return dataclasses.replace(d, facts=Facts(prompt_tokens=tokens))


def test_a_prompt_too_big_for_the_first_model_goes_to_the_larger_one() -> None:
    ex, adapters, _, _ = setup({"up-alpha": [reply("small")], "up-beta": [reply("large")]})
    d = _with_prompt(decision(SMALL, LARGE), 3_500)
    out = run(ex.chat(d, {**BODY, "max_tokens": 1_000}))  # 3,500 + 1,000 > 4,000
    assert out.target == LARGE and [a.target for a in out.attempts] == [LARGE]
    ok = run(ex.chat(_with_prompt(decision(SMALL, LARGE), 1_000), {**BODY, "max_tokens": 1_000}))
    assert ok.target == SMALL  # fits: the plan's order holds


def test_nothing_fits_is_a_400_context_length_exceeded() -> None:
    ex, adapters, _, _ = setup({"up-alpha": [reply()], "up-beta": [reply()]})
    with pytest.raises(InvalidRequest) as err:
        run(ex.chat(_with_prompt(decision(SMALL, LARGE), 130_000), BODY))
    assert err.value.code == "context_length_exceeded" and err.value.status == 400
    assert "128000" in err.value.message and err.value.param == "messages"
    assert not [c for a in adapters.values() for c in a.calls]  # no upstream was called
