"""Strategies on live evidence, deterministic: `cheapest` on this request's expected cost (its length, the
observed completion length per task, unpriced last), `fastest by p95`, rate-limited and open deployments
last, and why each target was taken or passed over (on the outcome and in the decision-log line)."""
from __future__ import annotations

import asyncio
from decimal import Decimal

from dsl.ast import Span
from dsl.decision import Decision, Facts, Plan, Target
from gateway.errors import UpstreamError
from gateway.health import HealthBoard
from gateway.router import Executor
from gateway.strategies import DEFAULT_COMPLETION

# Cheap to read, dear to write; and the other way round.
READER = Target("reader", "p", "up-reader", Decimal("0.10"), Decimal("20"))
WRITER = Target("writer", "p", "up-writer", Decimal("2"), Decimal("2"))
FREE_LOOKING = Target("unpriced", "p", "up-unpriced", None, None)  # type: ignore[arg-type]
SPAN = Span("t", 1, 1, 1, 1)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def cheapest(*targets: Target, prompt: int, task: str | None = None) -> Decision:
    return Decision("r", SPAN, Plan("cheapest", tuple(targets)), "v1", Facts(prompt_tokens=prompt, task=task))


def order(ex: Executor, d: Decision, body: dict) -> list[str]:
    return [t.model for t in ex.order(d, body)]


def test_cheapest_prefers_the_model_that_is_cheaper_for_this_requests_length() -> None:
    ex = Executor({}, HealthBoard())
    # Long answer: the reader's dear output loses (100*0.1 + 4000*20 vs 100*2 + 4000*2 per 1M).
    assert order(ex, cheapest(READER, WRITER, prompt=100), {"max_tokens": 4000}) == ["writer", "reader"]
    # Long prompt, short answer: the reader wins (5000*0.1 + 10*20 vs 5000*2 + 10*2).
    assert order(ex, cheapest(WRITER, READER, prompt=5000), {"max_completion_tokens": 10}) == ["reader", "writer"]
    why = dict((t.model, w) for t, w in ex.explain_order(cheapest(READER, WRITER, prompt=100), {"max_tokens": 4000}))
    assert why["writer"] == "cheapest: expected $0.008200 (100 prompt + 4000 completion tokens, max_tokens)"


def test_without_max_tokens_cheapest_uses_the_observed_completion_length_per_task() -> None:
    hb = HealthBoard()
    ex = Executor({}, hb)
    for t in (READER, WRITER):
        for _ in range(20):
            hb.status(t).observe_completion("code", 3000)  # code answers are long
            hb.status(t).observe_completion("chat", 5)  # chat answers are short
    assert order(ex, cheapest(READER, WRITER, prompt=300, task="code"), {}) == ["writer", "reader"]
    assert order(ex, cheapest(WRITER, READER, prompt=300, task="chat"), {}) == ["reader", "writer"]
    # Nothing observed for the task: the default completion length.
    why = dict((t.model, w) for t, w in ex.explain_order(cheapest(READER, WRITER, prompt=300, task="math"), {}))
    assert f"+ {DEFAULT_COMPLETION} completion tokens, default" in why["reader"]


def test_the_cached_share_is_priced_at_the_cached_input_price() -> None:
    hb = HealthBoard()
    ex = Executor({}, hb)
    cached_cheap = Target("cc", "p", "up-cc", Decimal("3"), Decimal("3"), price_cached_in=Decimal("0.3"))
    plain = Target("plain", "p", "up-plain", Decimal("2"), Decimal("3"))
    d = cheapest(cached_cheap, plain, prompt=10000)
    assert order(ex, d, {"max_tokens": 10}) == ["plain", "cc"]  # nothing known of the cache yet
    for _ in range(200):
        hb.status(cached_cheap).observe_completion(None, 10, prompt_tokens=1000, cached_tokens=900)
    assert order(ex, d, {"max_tokens": 10}) == ["cc", "plain"]  # ~90 % of the prompt comes from the cache


def test_unpriced_models_sort_last_and_say_so() -> None:
    ex = Executor({}, HealthBoard())
    d = cheapest(FREE_LOOKING, READER, prompt=10)
    assert order(ex, d, {"max_tokens": 10}) == ["reader", "unpriced"]
    assert dict((t.model, w) for t, w in ex.explain_order(d, {}))["unpriced"].startswith("cheapest: unpriced")


def test_fastest_by_p95_ranks_on_the_tail() -> None:
    clock = Clock()
    hb = HealthBoard(clock=clock)
    steady, spiky = Target("steady", "p", "up-s"), Target("spiky", "p", "up-k")
    for i in range(100):
        hb.success(steady, 50.0)  # always 50 ms
        hb.success(spiky, 2000.0 if i % 10 == 0 else 10.0)  # median 10 ms, p95 2 s
    ex = Executor({}, hb)
    p50 = Decision("r", SPAN, Plan("fastest", (steady, spiky)), "v1", Facts())
    p95 = Decision("r", SPAN, Plan("fastest", (steady, spiky), by="p95"), "v1", Facts())
    assert [t.model for t in ex.order(p50)] == ["spiky", "steady"]
    assert [t.model for t in ex.order(p95)] == ["steady", "spiky"]
    assert ex.explain_order(p95)[0][1] == "fastest: p95 50.0 ms over 100 samples"


def test_a_throttled_deployment_goes_last_until_its_retry_after_runs_out() -> None:
    clock = Clock()
    hb = HealthBoard(clock=clock)
    ex = Executor({}, hb)
    hb.failure(READER, UpstreamError("slow down", upstream_status=429, status=429, code="rate_limited",
                                     retry_after=5.0))
    d = cheapest(READER, WRITER, prompt=5000)
    body = {"max_tokens": 10}
    assert order(ex, d, body) == ["writer", "reader"]
    assert ex.explain_order(d, body)[1][1] == "rate-limited by the upstream for 5.0 s more: tried last"
    clock.t += 5.1
    assert order(ex, d, body) == ["reader", "writer"]


class _Ok:
    kind = "mock"

    async def chat(self, target, req, timeout=None):
        return {"id": "x", "object": "chat.completion", "model": req["model"], "choices": [],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


def test_the_outcome_says_why_each_target_was_taken_or_passed_over() -> None:
    hb = HealthBoard(failure_threshold=1)
    small = Target("small", "p", "up-small", Decimal(1), Decimal(1), context=100)
    hb.failure(WRITER, UpstreamError("down", upstream_status=503, status=503, code="upstream_unavailable"))
    ex = Executor({"p": _Ok()}, hb)
    d = cheapest(small, WRITER, READER, prompt=500)
    out = asyncio.run(ex.chat(d, {"messages": [], "max_tokens": 10}))
    assert out.target.model == "reader"
    why = {t.model: w for t, w in out.why}
    assert why["small"].startswith("passed over: context 100 < 510 tokens")
    assert why["writer"] == "circuit open: tried last"
    assert why["reader"].startswith("cheapest: expected $")


QUALITY_POLICY = """\
provider p kind mock
model strong = p/"strong" price in 3 out 15 per 1M quality code 0.9, math 0.85, default 0.75
model coder  = p/"coder"  price in 0.5 out 2 per 1M quality code 0.86, default 0.6
model mini   = p/"mini"   price in 0.1 out 0.4 per 1M quality default 0.82
route bar when team == "eng" choose cheapest of [strong, coder, mini] where quality >= 0.8
default use mini
"""


def test_cheapest_under_a_quality_bar_picks_the_right_model_per_task_through_the_gateway(tmp_path, caplog) -> None:
    import json
    import logging

    import httpx

    from tests.gateway.conftest import GatewayServer, policy_dir

    caplog.set_level(logging.INFO, logger="open_router.decisions")
    want = {"code": "mini", "math": "mini", "chat": "mini"}  # mini's default 0.82 passes everywhere, cheapest
    text = QUALITY_POLICY
    with GatewayServer(policies=policy_dir(tmp_path, text), db_url=f"sqlite:///{tmp_path / 'k.db'}") as srv:
        auth = {"Authorization": f"Bearer {srv.key}"}
        with httpx.Client(base_url=srv.base_url, timeout=30) as c:
            def ask(task: str) -> httpx.Response:
                return c.post("/v1/chat/completions", headers={**auth, "x-open-router-task": task},
                              json={"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 50})
            for task, model in want.items():
                assert ask(task).headers["x-open-router-model"] == model
            # Lower mini below the bar: now code goes to coder (0.86, cheaper than strong), math to strong,
            # and a chat request has no model that passes: refused, saying why.
            (srv.policies / "main.policy").write_text(text.replace("default 0.82", "default 0.7"))
            r = c.post("/admin/policy/reload", headers={"Authorization": f"Bearer {srv.admin_key}"})
            assert r.status_code == 200, r.text
            assert ask("code").headers["x-open-router-model"] == "coder"
            assert ask("math").headers["x-open-router-model"] == "strong"
            refused = ask("chat")
            assert refused.status_code == 404 and refused.json()["error"]["code"] == "quality_unmet"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "open_router.decisions"]
    code_line = [ln for ln in lines if ln.get("served") and ln["served"]["model"] == "coder"][0]
    assert {"model": "mini", "reason": "quality 0.7 (its default) fails quality >= 0.8"} in code_line["passed_over"]
    assert code_line["candidates"][0]["why"].startswith("cheapest: expected $")
