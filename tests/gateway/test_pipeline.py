"""The request pipeline end to end, against fake upstreams on 127.0.0.1: usage reaches the recording step
for every kind of request (asked of every upstream on every stream, stripped from what a client that did
not ask receives), every request is recorded exactly once with what the ledger will need, and a request
finishes on the policy snapshot it was decided with even when a new one is swapped in meanwhile."""
from __future__ import annotations

import asyncio
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import httpx
import pytest

from gateway.policy import load_policy_dir
from tests.e2e.conftest import Fakes, fakes, fakes_policy  # noqa: F401 - fakes: the e2e fixture, used here too
from tests.gateway.conftest import GatewayServer, policy_dir
from tests.gateway.fakes import Behaviour, FakeUpstream


class Records:
    """A settler that keeps every Served the recorder hands it, by request id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[Any] = []

    def __call__(self, s: Any) -> None:
        with self.lock:
            self.items.append(s)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()

    def of(self, request_id: str, timeout: float = 5.0) -> Any:
        # A stream is recorded as its generator closes, which can be just after the client read [DONE].
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [s for s in self.items if s.request_id == request_id]
            if found:
                assert len(found) == 1, f"request {request_id} recorded {len(found)} times"
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"request {request_id} was never recorded")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, fakes: Fakes) -> Iterator[GatewayServer]:
    tmp = tmp_path_factory.mktemp("pipeline")
    s = GatewayServer(policies=policy_dir(tmp, fakes_policy(fakes)), db_url=f"sqlite:///{tmp / 'keys.db'}",
                      env=fakes.env)
    with s:
        yield s


@pytest.fixture
def records(server: GatewayServer, fakes: Fakes) -> Iterator[Records]:
    r = Records()
    server.gw.recorder.settlers.append(r)
    fakes.reset()
    yield r
    server.gw.recorder.settlers.remove(r)
    fakes.reset()


def _post(server: GatewayServer, body: dict, rid: str) -> httpx.Response:
    return httpx.post(server.base_url + "/v1/chat/completions", json=body, timeout=20,
                      headers={"authorization": f"Bearer {server.key}", "x-request-id": rid})


def _sse(server: GatewayServer, body: dict, rid: str) -> list[Any]:
    events: list[Any] = []
    with httpx.stream("POST", server.base_url + "/v1/chat/completions", json={**body, "stream": True},
                      headers={"authorization": f"Bearer {server.key}", "x-request-id": rid}, timeout=20) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line.startswith("data: "):
                data = line[6:]
                events.append(data if data == "[DONE]" else json.loads(data))
    return events


MSG = [{"role": "user", "content": "count to five"}]


@pytest.mark.parametrize("model,fake", [("oai", "openai"), ("claude", "anthropic"), ("gem", "gemini")])
def test_a_stream_reports_usage_to_the_record_but_not_to_a_client_that_did_not_ask(
        server: GatewayServer, fakes: Fakes, records: Records, model: str, fake: str) -> None:
    upstream: FakeUpstream = getattr(fakes, fake)
    upstream.default = Behaviour(text="one two three four five", usage=(17, 9))
    events = _sse(server, {"model": model, "messages": MSG}, f"req-usage-{fake}")
    chunks = [e for e in events if e != "[DONE]"]
    assert events[-1] == "[DONE]"
    assert chunks and all("usage" not in c for c in chunks)  # no usage key, no usage-only chunk
    assert all(c["choices"] for c in chunks)
    if fake == "openai":
        assert upstream.last.json["stream_options"] == {"include_usage": True}
    s = records.of(f"req-usage-{fake}")
    assert s.status == 200 and s.stream
    assert s.usage is not None and not s.usage.estimated
    assert (s.usage.prompt_tokens, s.usage.completion_tokens) == (17, 9)
    assert s.final_usage() == s.usage
    assert s.ttft is not None and s.ttft > 0


@pytest.mark.parametrize("model,fake", [("oai", "openai"), ("claude", "anthropic"), ("gem", "gemini")])
def test_a_client_that_asks_for_usage_gets_the_usage_chunk(server: GatewayServer, fakes: Fakes,
                                                           records: Records, model: str, fake: str) -> None:
    getattr(fakes, fake).default = Behaviour(text="hi there", usage=(5, 3))
    events = _sse(server, {"model": model, "messages": MSG, "stream_options": {"include_usage": True}},
                  f"req-asked-{fake}")
    usage_chunks = [e for e in events if e != "[DONE]" and e.get("usage")]
    assert len(usage_chunks) == 1
    assert usage_chunks[0]["usage"]["prompt_tokens"] == 5
    assert usage_chunks[0]["usage"]["completion_tokens"] == 3
    assert records.of(f"req-asked-{fake}").usage.completion_tokens == 3


def test_non_streamed_usage_and_scope_reach_the_record(server: GatewayServer, fakes: Fakes,
                                                       records: Records) -> None:
    fakes.anthropic.default = Behaviour(text="hello", usage=(40, 12))
    r = _post(server, {"model": "claude", "messages": MSG, "user": "u-7"}, "req-plain")
    assert r.status_code == 200
    s = records.of("req-plain")
    assert (s.usage.prompt_tokens, s.usage.completion_tokens, s.usage.estimated) == (40, 12, False)
    p = s.principal
    assert (p.team, p.project, p.app, p.cost_center, p.key_id) == ("eng", "proj", "tests", "cc-1", server.key_id)
    assert s.target.model == "claude" and s.target.price_in == 3 and s.target.price_out == 15
    assert s.decision.rule == "default" and s.decision.facts.user == "u-7"
    assert s.policy_version == r.headers["x-open-router-policy"]
    assert s.snapshot is None  # the lease went back at finish


def test_a_cut_stream_is_billed_on_an_estimate_of_what_was_relayed(server: GatewayServer, fakes: Fakes,
                                                                   records: Records) -> None:
    fakes.openai.default = Behaviour(text="a fairly long answer that the upstream never finishes sending",
                                     stream_cut_after=3)
    events = _sse(server, {"model": "oai", "messages": MSG}, "req-cut")
    assert "error" in events[-1]  # the cut reaches the client as an error event, not [DONE]
    s = records.of("req-cut")
    assert s.status == 502
    u = s.final_usage()
    assert u.estimated and u.completion_tokens > 0 and u.prompt_tokens == s.decision.facts.prompt_tokens


def test_attempts_of_a_failed_request_reach_the_record(server: GatewayServer, fakes: Fakes,
                                                       records: Records) -> None:
    fakes.anthropic.default = Behaviour(status=500)
    fakes.openai.default = Behaviour(status=503)
    r = _post(server, {"model": "claude-then-oai", "messages": MSG}, "req-allfail")
    assert r.status_code >= 500
    s = records.of("req-allfail")
    assert s.status == r.status_code
    assert [a.target.model for a in s.attempts] == ["claude", "oai"]
    assert s.final_usage() is not None and s.final_usage().estimated


def test_every_request_is_recorded_exactly_once(server: GatewayServer, fakes: Fakes, records: Records) -> None:
    fakes.anthropic.queue(Behaviour(status=500))
    bodies: list[tuple[str, dict, bool]] = [
        ("once-plain", {"model": "oai", "messages": MSG}, False),
        ("once-stream", {"model": "gem", "messages": MSG}, True),
        ("once-failover", {"model": "claude-then-oai", "messages": MSG}, False),
        ("once-bad", {"model": "oai", "messages": "not a list"}, False),
        ("once-unknown", {"model": "no-such-model", "messages": MSG}, False),
    ]
    for rid, body, stream in bodies:
        if stream:
            _sse(server, body, rid)
        else:
            _post(server, body, rid)
    r = httpx.post(server.base_url + "/v1/chat/completions", json={"model": "oai", "messages": MSG},
                   headers={"authorization": "Bearer sk-wrong", "x-request-id": "once-401"})
    assert r.status_code == 401
    statuses = {rid: records.of(rid).status for rid, _, _ in bodies}
    statuses["once-401"] = records.of("once-401").status
    assert statuses["once-plain"] == statuses["once-stream"] == statuses["once-failover"] == 200
    assert statuses["once-bad"] == 400 and statuses["once-401"] == 401
    assert len(records.of("once-failover").attempts) == 2
    time.sleep(0.1)
    assert len(records.items) == len(bodies) + 1


def _run(server: GatewayServer, coro: Any) -> Any:
    assert server._loop is not None
    return asyncio.run_coroutine_threadsafe(coro, server._loop).result(10)


def test_a_request_finishes_on_the_snapshot_it_was_decided_with(tmp_path: Any, fakes: Fakes) -> None:
    """Swap in a version whose provider points elsewhere while a request is in flight: the in-flight
    request still reaches the old upstream and names the old version; the next one goes to the new one;
    the old adapter is closed once its last request is done, and not before."""
    second = FakeUpstream("openai", key="sk-second").start()
    try:
        text = fakes_policy(fakes)
        d = policy_dir(tmp_path, text)
        env = {**fakes.env, "SECOND_KEY": "sk-second"}
        with GatewayServer(policies=d, db_url=f"sqlite:///{tmp_path / 'k.db'}", env=env) as srv:
            fakes.reset()
            # The in-flight request's first attempt fails after the swap, so its retry looks the provider
            # up again: it must still be the old version's.
            fakes.openai.queue(Behaviour(status=500, delay=1.0))
            fakes.openai.default = Behaviour(text="from the first")
            second.default = Behaviour(text="from the second")
            store = srv.gw.policies
            old = store.current
            with ThreadPoolExecutor(1) as pool:
                slow = pool.submit(_post, srv, {"model": "oai-once", "messages": MSG}, "snap-old")
                deadline = time.monotonic() + 5
                while store.in_use(old) == 0 and time.monotonic() < deadline:
                    time.sleep(0.01)
                assert store.in_use(old) == 1
                new_dir = tmp_path / "new"
                new_dir.mkdir()
                (new_dir / "main.policy").write_text(text.replace(
                    f'base_url "{fakes.openai.base_url}"     key env({fakes.openai.key_env})',
                    f'base_url "{second.base_url}"     key env(SECOND_KEY)'))
                new = load_policy_dir(new_dir).with_adapters(env, 8, reuse=old)

                async def swap() -> None:
                    store.swap(new)

                _run(srv, swap())
                old_adapter = old.adapters["up-openai"]
                assert new.adapters["up-anthropic"] is old.adapters["up-anthropic"]  # unchanged: shared
                assert new.adapters["up-openai"] is not old_adapter
                fresh = _post(srv, {"model": "oai", "messages": MSG}, "snap-new")
                assert fresh.json()["choices"][0]["message"]["content"] == "from the second"
                assert fresh.headers["x-open-router-policy"] == new.version
                assert old_adapter._session is not None and not old_adapter._session.closed  # still in use
                r = slow.result(10)
            assert r.json()["choices"][0]["message"]["content"] == "from the first"
            assert r.headers["x-open-router-attempts"] == "2"
            assert r.headers["x-open-router-policy"] == old.version != new.version
            deadline = time.monotonic() + 5
            while (old_adapter._session is not None) and time.monotonic() < deadline:
                time.sleep(0.01)
            assert old_adapter._session is None  # closed once the last request on the old version ended
            assert store.in_use(old) == 0
    finally:
        second.stop()
