"""A provider refusing the gateway's own key — whatever status it uses for it — is the gateway's 502
``upstream_auth_failed``: not retried on that target, the walk moves on to the next target, and the client
never sees it as its own 4xx nor the provider's message (which can echo the key)."""
from __future__ import annotations

import json
import random

import pytest

from dsl.ast import NOSPAN
from dsl.decision import Decision, Facts, Plan, Target
from gateway.errors import UpstreamError
from gateway.health import HealthBoard, is_client_fault
from gateway.providers import make_adapter
from gateway.providers.common import credential_failure, status_error
from gateway.router import Executor
from tests.gateway.fakes import Behaviour, FakeUpstream, credential_error, fixture, run

BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
CASES = [(kind, variant) for kind, variants in fixture("credential_errors.json").items() if kind != "source"
         for variant in variants]


def assert_auth_failed(exc: BaseException, status: int, body: dict) -> None:
    assert isinstance(exc, UpstreamError)
    assert (exc.status, exc.code, exc.type) == (502, "upstream_auth_failed", "server_error")
    assert exc.retryable is False and exc.failover is False and not is_client_fault(exc)
    assert exc.upstream_status == status and "operator" in exc.message
    message = json.dumps(body)
    assert "API key not valid" not in exc.message and "Incorrect API key" not in exc.message, message


@pytest.mark.parametrize("kind, variant", CASES)
def test_each_providers_credential_refusal_maps_to_upstream_auth_failed(kind: str, variant: str) -> None:
    status, body = credential_error(kind, variant)
    assert_auth_failed(status_error(kind, status, json.dumps(body).encode(), {}), status, body)


def test_gemini_reason_is_named_and_any_status_counts() -> None:
    _, body = credential_error("gemini", "invalid")
    for status in (400, 401, 403, 500):
        exc = status_error("g", status, json.dumps(body).encode(), {})
        assert exc.code == "upstream_auth_failed" and "API_KEY_INVALID" in exc.message
    missing = {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "API key expired. Please renew.",
                         "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_MISSING"}]}}
    assert credential_failure(400, missing) == "API_KEY_MISSING"


@pytest.mark.parametrize("payload", [
    {"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}},
    {"error": {"message": "max_tokens is too large", "type": "invalid_request_error", "code": None}},
    {"type": "error", "error": {"type": "invalid_request_error", "message": "messages: roles must alternate"}},
    None,
])
def test_a_client_error_is_still_the_clients(payload) -> None:
    assert credential_failure(400, payload) is None
    exc = status_error("p", 400, json.dumps(payload).encode() if payload else b"", {})
    assert (exc.status, exc.code) == (400, "invalid_request")


@pytest.mark.parametrize("kind", ["openai", "azure", "anthropic", "gemini"])
@pytest.mark.parametrize("stream", [False, True])
def test_adapters_see_each_credential_refusal(kind: str, stream: bool) -> None:
    variants = [v for k, v in CASES if k == kind]
    with FakeUpstream(kind) as fake:
        for variant in variants:
            fake.queue(Behaviour(credential_error=variant))
            status, body = credential_error(kind, variant)
            with pytest.raises(UpstreamError) as info:
                run(_call(fake, stream))
            assert_auth_failed(info.value, status, body)


def test_a_wrong_or_missing_gemini_key_is_refused_as_gemini_does_and_maps_the_same() -> None:
    with FakeUpstream("gemini", key="AIzaSy-the-real-key") as fake:
        with pytest.raises(UpstreamError) as wrong:
            run(_call(fake, False, env={fake.key_env: "AIzaSy-a-wrong-key"}))
        assert wrong.value.upstream_status == 400 and "API_KEY_INVALID" in wrong.value.message
        assert_auth_failed(wrong.value, 400, {})
        with pytest.raises(UpstreamError) as missing:
            run(_call(fake, False, provider=fake.provider(key=None)))
        assert_auth_failed(missing.value, 403, {})
    assert "AIzaSy-a-wrong-key" not in wrong.value.message


def test_in_stream_credential_errors() -> None:
    with FakeUpstream("openai") as oa, FakeUpstream("gemini") as gm:
        oa.queue(Behaviour(error_event={"message": "Incorrect API key provided: sk-12***cdef", "type":
                                        "invalid_request_error", "code": "invalid_api_key"}))
        gm.queue(Behaviour(error_event=credential_error("gemini", "invalid")[1]["error"]))
        for fake, status in ((oa, 502), (gm, 400)):
            with pytest.raises(UpstreamError) as info:
                run(_call(fake, True))
            assert_auth_failed(info.value, status, {})


async def _call(fake: FakeUpstream, stream: bool, *, env=None, provider=None):
    adapter = make_adapter(provider or fake.provider(), fake.env if env is None else env)
    t = Target("alias", "p", "m")
    try:
        if stream:
            return [c async for c in adapter.chat_stream(t, BODY)]
        return await adapter.chat(t, BODY)
    finally:
        await adapter.aclose()


# --------------------------------------------------------------------------- through the executor


def _decision(*targets: Target, retries: int = 2, retry_on: tuple[int, ...] = ()) -> Decision:
    plan = Plan("ordered", targets, (), retries, None, retry_on)
    return Decision(rule="r", rule_span=NOSPAN, plan=plan, policy_version="test", facts=Facts(), error=None)


async def _no_sleep(_: float) -> None:
    return None


@pytest.mark.parametrize("stream,retry_on", [(False, ()), (True, ()), (False, (400, 403)), (True, (400,))])
def test_credential_failure_moves_to_the_next_target_at_once(stream: bool, retry_on: tuple[int, ...]) -> None:
    """Also when the route says `retry on 400`: a refused key is not worth a second try on that target."""
    with FakeUpstream("gemini", key="AIzaSy-real") as gm, FakeUpstream("openai", key="sk-real-0123") as oa:
        gm.default = Behaviour(credential_error="invalid")
        oa.default = Behaviour(text="from openai")
        gem, oai = Target("gem", "gm", "gemini-2.0-flash"), Target("oai", "oa", "gpt-4o-mini")

        async def go():
            adapters = {"gm": make_adapter(gm.provider(), gm.env), "oa": make_adapter(oa.provider(), oa.env)}
            ex = Executor(adapters, HealthBoard(), rng=random.Random(0), sleep=_no_sleep)
            try:
                if stream:
                    out = await ex.stream(_decision(gem, oai, retry_on=retry_on), dict(BODY))
                    chunks = [out.first] + [c async for c in out.rest]
                    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
                    return out.attempts, text
                out = await ex.chat(_decision(gem, oai, retry_on=retry_on), dict(BODY))
                return out.attempts, out.response["choices"][0]["message"]["content"]
            finally:
                for a in adapters.values():
                    await a.aclose()

        attempts, text = run(go())
        assert text == "from openai"
        # One attempt on the refused target (retries 2 did not repeat it), then the next target.
        assert [(a.target.model, a.outcome, a.upstream_status) for a in attempts] == [
            ("gem", "upstream_auth_failed", 400), ("oai", "ok", None)]
        assert len(gm.requests) == 1


def test_credential_failure_everywhere_reaches_the_client_as_502() -> None:
    with FakeUpstream("gemini") as gm, FakeUpstream("anthropic") as an:
        gm.default = Behaviour(credential_error="invalid")
        an.default = Behaviour(credential_error="permission")
        targets = (Target("gem", "gm", "g"), Target("claude", "an", "c"))

        async def go():
            adapters = {"gm": make_adapter(gm.provider(), {}), "an": make_adapter(an.provider(), {})}
            ex = Executor(adapters, HealthBoard(), rng=random.Random(0), sleep=_no_sleep)
            try:
                await ex.chat(_decision(*targets), dict(BODY))
            finally:
                for a in adapters.values():
                    await a.aclose()

        with pytest.raises(UpstreamError) as info:
            run(go())
    assert (info.value.status, info.value.code) == (502, "upstream_auth_failed")
    assert [a.upstream_status for a in info.value.attempts] == [400, 403]
