"""Every upstream failure maps onto gateway.errors the same way for every HTTP adapter — statuses,
Retry-After, resets, broken streams, malformed JSON, timeouts — and no message ever carries a secret."""
from __future__ import annotations

import socket

import pytest

from dsl.ast import EnvRef, Provider
from dsl.decision import Target
from gateway.errors import UpstreamConnect, UpstreamError, UpstreamTimeout
from gateway.providers import make_adapter
from gateway.providers.common import SSEParser, parse_retry_after, redact, status_error
from tests.gateway.fakes import Behaviour, FakeUpstream, run

KINDS = ("openai", "azure", "anthropic", "gemini")
SECRET = {"openai": "sk-live-0123456789abcdef", "azure": "az-0123456789abcdef", "anthropic": "sk-ant-0123456789ab",
          "gemini": "AIzaSy0123456789abcdef"}
BODY = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture(scope="module", params=KINDS)
def fake(request):
    with FakeUpstream(request.param, key=SECRET[request.param]) as f:
        yield f


@pytest.fixture(autouse=True)
def _clean(request):
    if "fake" in request.fixturenames:
        request.getfixturevalue("fake").clear()


def attempt(fake, *, stream=False, timeout=None, provider=None, env=None, body=BODY):
    """Run one call; return (exception, chunks received before it)."""
    got: list = []

    async def go():
        adapter = make_adapter(provider or fake.provider(), fake.env if env is None else env)
        t = Target("alias", "p", "m")
        try:
            if stream:
                async for c in adapter.chat_stream(t, body, timeout=timeout):
                    got.append(c)
            else:
                got.append(await adapter.chat(t, body, timeout=timeout))
        finally:
            await adapter.aclose()
    try:
        run(go())
    except UpstreamError as exc:
        return exc, got
    return None, got


@pytest.mark.parametrize("upstream, status, code, retryable", [
    (400, 400, "invalid_request", False),
    (422, 400, "invalid_request", False),
    (404, 502, "upstream_model_not_found", False),  # the configured upstream model is missing: ours
    (413, 413, "request_too_large", False),  # ... but another target may take it (failover)
    (401, 502, "upstream_auth_failed", False),
    (403, 502, "upstream_auth_failed", False),
    (429, 429, "rate_limit_exceeded", True),
    (500, 502, "upstream_error", True),
    (502, 502, "upstream_error", True),
    (503, 503, "upstream_unavailable", True),
    (504, 502, "upstream_error", True),
    (529, 503, "upstream_unavailable", True),  # Anthropic's "overloaded"
])
@pytest.mark.parametrize("stream", [False, True])
def test_status_mapping(fake, upstream, status, code, retryable, stream):
    fake.queue(Behaviour(status=upstream, message=f"boom {upstream} {fake.key}", retry_after=7))
    exc, got = attempt(fake, stream=stream)
    assert got == []  # a stream raises before yielding anything
    assert type(exc) is UpstreamError
    assert (exc.status, exc.code, exc.retryable, exc.upstream_status) == (status, code, retryable, upstream)
    assert exc.retry_after == 7 and exc.provider == fake.name
    assert fake.key not in str(exc)
    if upstream in (400, 422):
        assert exc.type == "invalid_request_error" and f"boom {upstream}" in exc.message
    if upstream in (401, 403):
        assert "boom" not in exc.message and "operator" in exc.message
    assert exc.failover == (upstream == 413)
    # Retry-After goes on to the client only where the status means "come back later".
    assert exc.headers() == ({"retry-after": "7"} if status in (429, 503) else {})


def test_wrong_key_is_upstream_auth_failed(fake):
    exc, _ = attempt(fake, env={fake.key_env: "not-the-key"})
    assert exc.code == "upstream_auth_failed" and exc.status == 502 and "not-the-key" not in str(exc)


def test_retry_after_ms_wins(fake):
    fake.queue(Behaviour(status=429, retry_after=9, retry_after_ms=250))
    exc, _ = attempt(fake)
    assert exc.retry_after == pytest.approx(0.25)


def test_missing_key_env_names_the_variable(fake):
    exc, _ = attempt(fake, env={})
    assert exc.code == "provider_key_missing" and exc.status == 502 and not exc.retryable
    assert fake.key_env in exc.message
    assert fake.requests == []


@pytest.mark.parametrize("stream", [False, True])
def test_reset_connection(fake, stream):
    fake.queue(Behaviour(reset=True))
    exc, got = attempt(fake, stream=stream)
    assert isinstance(exc, UpstreamConnect) and exc.retryable and got == []


def test_non_stream_body_cut(fake):
    fake.queue(Behaviour(stream_cut_after=1))
    exc, _ = attempt(fake)
    assert isinstance(exc, UpstreamConnect)


def test_stream_cut_midway_raises_after_some_chunks(fake):
    fake.queue(Behaviour(stream_cut_after=6, text="a b c d e f g h"))
    exc, got = attempt(fake, stream=True)
    assert isinstance(exc, UpstreamConnect) and exc.retryable
    assert 1 <= len(got) <= 6


@pytest.mark.parametrize("stream", [False, True])
def test_malformed_json(fake, stream):
    fake.queue(Behaviour(malformed=True))
    exc, got = attempt(fake, stream=stream)
    assert type(exc) is UpstreamError and exc.status == 502 and exc.retryable
    assert got == []


# Valid JSON of the wrong shape, per kind: (a whole answer, stream events).
WRONG_SHAPES = {
    "openai": [({"choices": ["x"]}, [(None, {"choices": ["x"]})]),
               ({"choices": [{"index": 0, "message": "hi", "finish_reason": "stop"}]},
                [(None, {"choices": [{"index": 0, "delta": "hi"}]})])],
    "azure": [({"choices": ["x"]}, [(None, {"choices": [7]})])],
    "anthropic": [({"type": "message", "content": ["oops"]},
                   [("message_start", {"type": "message_start", "message": "oops"})]),
                  ({"type": "message", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": [1]}]},
                   [("content_block_start", {"type": "content_block_start", "index": 0, "content_block": ["x"]})]),
                  ({"type": "message", "content": [{"type": "text", "text": {"nested": 1}}]},
                   [("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": "x"})])],
    "gemini": [({"candidates": ["x"]}, [(None, {"candidates": ["x"]})]),
               ({"candidates": [{"content": {"parts": "hi"}}]}, [(None, {"candidates": [{"content": "hi"}]})]),
               ({"candidates": [{"content": {"parts": [{"functionCall": "f"}]}}]},
                [(None, {"candidates": [{"content": {"parts": [{"text": 1}]}}]})])],
}


@pytest.mark.parametrize("stream", [False, True])
def test_wrong_shaped_json_is_a_retryable_bad_response(fake, stream):
    for body, events in WRONG_SHAPES[fake.kind]:
        fake.queue(Behaviour(events=events) if stream else Behaviour(body=body))
        exc, got = attempt(fake, stream=stream)
        assert type(exc) is UpstreamError, (body, exc)
        assert (exc.status, exc.code, exc.retryable) == (502, "upstream_bad_response", True)
        assert "malformed response" in exc.message and got == []


@pytest.mark.parametrize("stream", [False, True])
def test_timeout_before_headers(fake, stream):
    fake.queue(Behaviour(delay=3))
    exc, got = attempt(fake, stream=stream, timeout=0.2)
    assert isinstance(exc, UpstreamTimeout) and exc.status == 504 and exc.retryable and got == []


def test_timeout_between_chunks(fake):
    fake.queue(Behaviour(stall_after=5, text="a b c d e f"))
    exc, got = attempt(fake, stream=True, timeout=0.3)
    assert isinstance(exc, UpstreamTimeout) and len(got) >= 1


def test_provider_timeout_is_the_default(fake):
    from decimal import Decimal

    from dsl.ast import Duration
    fake.queue(Behaviour(delay=3))
    exc, _ = attempt(fake, provider=fake.provider(timeout=Duration(Decimal("0.2"))))
    assert isinstance(exc, UpstreamTimeout)


def test_connection_refused_is_upstream_connect():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = Provider(name="dead", kind="openai", base_url=f"http://127.0.0.1:{port}/v1?token=abc",
                        key=EnvRef("K"))

    async def go():
        adapter = make_adapter(provider, {"K": "sk-dead-secret"})
        try:
            await adapter.chat(Target("a", "dead", "m"), BODY)
        finally:
            await adapter.aclose()
    with pytest.raises(UpstreamConnect) as info:
        run(go())
    assert "sk-dead-secret" not in str(info.value) and "token=abc" not in str(info.value)


# --------------------------------------------------------------------------- helpers


def test_redact():
    text = "GET https://x.test/v1/models/m:generate?key=AIza123&alt=sse failed; Authorization: Bearer sk-abc; s3cr3t!"
    out = redact(text, ["s3cr3t!"])
    assert "AIza123" not in out and "sk-abc" not in out and "s3cr3t!" not in out and "alt=sse" not in out


def test_openai_echoed_key_never_reaches_the_client():
    raw = b'{"error": {"message": "Incorrect API key provided: sk-live-0123456789abcdef.", "type": "invalid_request_error"}}'
    exc = status_error("openai", 401, raw, {}, ["sk-live-0123456789abcdef"])
    assert "sk-live" not in exc.message and exc.code == "upstream_auth_failed"
    # Whatever the status, a key complaint is the gateway's credentials failing, never the client's 400.
    exc = status_error("openai", 400, raw, {}, ["sk-live-0123456789abcdef"])
    assert "sk-live" not in exc.message and exc.code == "upstream_auth_failed" and exc.status == 502
    # A relayed 400 message that echoes the key is redacted.
    raw = b'{"error": {"message": "bad request from sk-live-0123456789abcdef", "type": "invalid_request_error"}}'
    exc = status_error("openai", 400, raw, {}, ["sk-live-0123456789abcdef"])
    assert "sk-live" not in exc.message and "bad request from ***" in exc.message


@pytest.mark.parametrize("seconds, header", [(None, None), (0.0, "1"), (0.2, "1"), (1.0, "1"), (1.01, "2"),
                                             (30, "30")])
def test_upstream_retry_after_header_is_whole_seconds_rounded_up(seconds, header):
    for status in (429, 503):
        headers = {} if seconds is None else {"retry-after-ms": str(int(seconds * 1000))}
        exc = status_error("p", status, b"", headers)
        assert exc.headers() == ({} if header is None else {"retry-after": header})
    assert status_error("p", 500, b"", {"retry-after": "5"}).headers() == {}  # a 502 to the client: no promise


def test_parse_retry_after():
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({}) is None


def test_sse_parser_handles_split_frames_crlf_and_comments():
    p = SSEParser()
    events = p.feed(b": comment\r\nevent: a\r\ndata: {\"x\"")
    events += p.feed(b":1}\r\n\r\ndata: line1\ndata: line2\n\ndata: tail")
    events += p.close()
    assert events == [("a", '{"x":1}'), ("message", "line1\nline2"), ("message", "tail")]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="unknown kind"):
        make_adapter(Provider(name="x", kind="cohere"), {})
