"""Hostile input against a live gateway (the default mock policy): every reproducer of issue 7 and its
kin answers OpenAI's 4xx with the right ``param``, never blames a deployment (every circuit stays
closed, every error rate zero), never stalls the server (/healthz answers while they run) and never
grows it without bound (RSS); what OpenAI accepts is served.

The barrage sends a few hundred bodies of each hostile kind concurrently, polling /healthz meanwhile,
then checks /admin/models/status and that a normal request is served on its first attempt.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import httpx
import pytest

from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import contract_validator

MSG = [{"role": "user", "content": "hello"}]
SCHEMAS_BAD = [
    {"properties": {"a": "string"}, "required": ["a"]},
    {"type": "object", "required": 5},
    {"type": "object", "properties": {"a": {"enum": {}}}},
]


def raw(body: dict) -> bytes:
    """JSON as a client library writes it: a lone surrogate becomes the escape \\ud800 (valid JSON text)."""
    return json.dumps(body, ensure_ascii=True).encode()


def tool(parameters: Any, name: str = "f") -> dict:
    return {"type": "function", "function": {"name": name, "parameters": parameters}}


# (name, route, raw body, status, param, code or None)
CASES: list[tuple[str, str, bytes, int, str | None, str | None]] = [
    ("surrogate-content", "chat", raw({"model": "gpt-4o", "messages": [{"role": "user", "content": "\ud800"}]}),
     400, "messages[0].content", "invalid_value"),
    ("surrogate-in-part", "chat", raw({"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "ok \udfff"}]}]}), 400, "messages[0].content[0].text", "invalid_value"),
    ("surrogate-metadata-key", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "metadata": {"\ud83d": "x"}}),
     400, "metadata", "invalid_value"),
    ("surrogate-tool-description", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "tools": [
        {"type": "function", "function": {"name": "f", "description": "\udc00"}}]}),
     400, "tools[0].function.description", "invalid_value"),
    ("surrogate-embeddings", "emb", raw({"model": "text-embedding-3-small", "input": ["ok", "\ud800"]}),
     400, "input[1]", "invalid_value"),
    ("overflow-metadata", "chat", b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],'
                                  b'"metadata":{"a":1e999}}', 400, "metadata.a", "invalid_value"),
    ("overflow-tool-schema", "chat", b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],'
                                     b'"tools":[{"type":"function","function":{"name":"f","parameters":'
                                     b'{"type":"object","properties":{"a":{"type":"number","maximum":-1e999}}}}}]}',
     400, "tools[0].function.parameters.properties.a.maximum", "invalid_value"),
    ("nan-literal", "chat", b'{"model":"gpt-4o-mini","messages":[],"temperature":NaN}', 400, None, "invalid_json"),
    *[(f"schema-{i}", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "tools": [tool(s)]}),
       400, "tools[0].function.parameters", "invalid_value") for i, s in enumerate(SCHEMAS_BAD)],
    ("schema-not-object", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "tools": [tool({"type": "string"})]}),
     400, "tools[0].function.parameters", "invalid_value"),
    ("schema-too-deep", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "tools": [tool(
        {"type": "object", "properties": {"a": json.loads('{"items":' * 40 + "{}" + "}" * 40)}})]}),
     400, "tools[0].function.parameters", "invalid_value"),
    ("response-format-schema", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "response_format": {
        "type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "required": "a"}}}}),
     400, "response_format.json_schema.schema", "invalid_value"),
    ("dimensions-huge", "emb", raw({"model": "text-embedding-3-small", "input": "x", "dimensions": 20_000_000}),
     400, "dimensions", "invalid_value"),
    ("dimensions-above-model", "emb", raw({"model": "text-embedding-3-small", "input": "x", "dimensions": 1537}),
     400, "dimensions", "invalid_value"),
    ("embeddings-inputs", "emb", raw({"model": "text-embedding-3-small", "input": ["x"] * 2049}),
     400, "input", "invalid_value"),
    ("stop-5", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "stop": list("abcde")}), 400, "stop", None),
    ("logit-bias-301", "chat", raw({"model": "gpt-4o-mini", "messages": MSG,
                                    "logit_bias": {str(i): 1 for i in range(301)}}), 400, "logit_bias", None),
    ("logit-bias-value", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "logit_bias": {"1": 101}}),
     400, "logit_bias.1", None),
    ("metadata-17", "chat", raw({"model": "gpt-4o-mini", "messages": MSG,
                                 "metadata": {str(i): "v" for i in range(17)}}), 400, "metadata", None),
    ("metadata-long-key", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "metadata": {"k" * 65: "v"}}),
     400, "metadata", None),
    ("metadata-long-value", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "metadata": {"k": "v" * 513}}),
     400, "metadata.k", None),
    ("tools-129", "chat", raw({"model": "gpt-4o-mini", "messages": MSG,
                               "tools": [tool({"type": "object"}, f"f{i}") for i in range(129)]}), 400, "tools", None),
    ("n-129", "chat", raw({"model": "gpt-4o-mini", "messages": MSG, "n": 129}), 400, "n", None),
    ("embeddings-chat-model", "emb", raw({"model": "gpt-4o", "input": "x"}), 404, "model", "model_not_found"),
    ("image-no-vision", "chat", raw({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is it"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]}),
     400, "messages[0].content[1]", "unsupported_parameter"),
]
LIMITS = {"stop-5": "4", "logit-bias-301": "300", "metadata-17": "16", "metadata-long-key": "64",
          "metadata-long-value": "512", "tools-129": "128", "n-129": "128", "embeddings-inputs": "2048",
          "dimensions-above-model": "1536", "schema-too-deep": "32", "logit-bias-value": "100"}
PATHS = {"chat": "/v1/chat/completions", "emb": "/v1/embeddings"}


@pytest.fixture(scope="module")
def client(gateway: GatewayServer) -> Any:
    with httpx.Client(base_url=gateway.base_url, timeout=60,
                      headers={"Authorization": f"Bearer {gateway.key}", "Content-Type": "application/json"}) as c:
        yield c


def check_error(r: httpx.Response, status: int, param: str | None, code: str | None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    contract_validator("ErrorResponse").validate(body)
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    if code is not None:
        assert err["code"] == code, err
    assert "Traceback" not in err["message"] and "upstream" not in err["message"]
    return err


def circuits(gateway: GatewayServer) -> list[dict]:
    r = httpx.get(gateway.base_url + "/admin/models/status", headers={"Authorization": f"Bearer {gateway.admin_key}"})
    assert r.status_code == 200
    return r.json()["data"]


def assert_untouched(gateway: GatewayServer) -> None:
    for m in circuits(gateway):
        assert (m["circuit"], m["failures"], m["consecutive_failures"], m["error_rate"]) == ("closed", 0, 0, 0.0), m


@pytest.mark.parametrize("name, route, body, status, param, code", CASES, ids=[c[0] for c in CASES])
def test_each_hostile_body_gets_openai_error_naming_the_param(client: httpx.Client, gateway: GatewayServer,
                                                              name: str, route: str, body: bytes, status: int,
                                                              param: str | None, code: str | None) -> None:
    err = check_error(client.post(PATHS[route], content=body), status, param, code)
    if name in LIMITS:
        assert LIMITS[name] in err["message"], err["message"]
    assert_untouched(gateway)


ACCEPTED: list[tuple[str, dict, Any]] = [
    ("custom-tool", {"model": "gpt-4o", "messages": MSG, "tools": [
        {"type": "custom", "custom": {"name": "sql", "description": "run SQL",
                                      "format": {"type": "grammar", "grammar": {"definition": "start: /.+/",
                                                                                 "syntax": "lark"}}}}],
        "tool_choice": {"type": "custom", "custom": {"name": "sql"}}},
     lambda c: c["message"]["tool_calls"][0]["type"] == "custom"
     and c["message"]["tool_calls"][0]["custom"]["name"] == "sql"),
    ("allowed-tools", {"model": "gpt-4o-mini", "messages": MSG, "tools": [tool({"type": "object"}, "a"),
                                                                        tool({"type": "object"}, "b")],
                       "tool_choice": {"type": "allowed_tools", "allowed_tools": {
                           "mode": "required", "tools": [{"type": "function", "function": {"name": "b"}}]}}},
     lambda c: c["message"]["tool_calls"][0]["function"]["name"] == "b"),
    ("legacy-function-role", {"model": "gpt-4o-mini", "messages": [
        *MSG, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "42"}]},
     lambda c: c["message"]["content"].startswith("Mock reply")),
    ("legacy-functions", {"model": "gpt-4o-mini", "messages": MSG,
                          "functions": [{"name": "f", "parameters": {"type": "object", "required": ["x"],
                                                                    "properties": {"x": {"type": "integer"}}}}]},
     lambda c: c["finish_reason"] == "function_call" and "x" in json.loads(c["message"]["function_call"]["arguments"])),
    ("whole-floats", {"model": "gpt-4o-mini", "messages": MSG, "n": 2.0, "seed": 0.0, "max_tokens": 50.0},
     lambda c: c["index"] in (0, 1)),
    ("vision-model", {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
     lambda c: c["message"]["content"].startswith("Mock reply")),
    ("bool-subschema", {"model": "gpt-4o-mini", "messages": MSG, "tools": [tool(
        {"type": "object", "properties": {"a": True}, "required": ["a"]})]},
     lambda c: c["finish_reason"] == "tool_calls"),
]


@pytest.mark.parametrize("name, body, ok", ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_what_openai_accepts_is_served(client: httpx.Client, name: str, body: dict, ok: Any) -> None:
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 200, r.text
    choices = r.json()["choices"]
    assert choices and all(ok(c) for c in choices), choices


def test_streamed_custom_tool_call_and_whole_dimensions(client: httpx.Client) -> None:
    body = {"model": "gpt-4o", "messages": MSG, "stream": True,
            "tools": [{"type": "custom", "custom": {"name": "sql"}}]}
    with client.stream("POST", "/v1/chat/completions", json=body) as r:
        assert r.status_code == 200
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: {")]
    calls = [tc for e in events for ch in e["choices"] for tc in ch["delta"].get("tool_calls") or ()]
    assert calls and calls[0]["type"] == "custom" and calls[0]["custom"]["name"] == "sql"
    r = client.post("/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x", "dimensions": 1536.0})
    assert r.status_code == 200 and len(r.json()["data"][0]["embedding"]) == 1536


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096  # the gateway runs in this process's thread


BARRAGE_KINDS = ["surrogate-content", "schema-0", "schema-1", "schema-2", "overflow-metadata", "dimensions-huge",
                 "embeddings-chat-model", "image-no-vision"]
PER_KIND = 200


def test_a_barrage_of_hostile_bodies_leaves_every_circuit_closed(client: httpx.Client,
                                                                 gateway: GatewayServer) -> None:
    by_name = {c[0]: c for c in CASES}
    jobs = [by_name[k] for k in BARRAGE_KINDS for _ in range(PER_KIND)]
    rss_before = _rss_bytes()
    health: list[tuple[int, float]] = []
    done = threading.Event()

    def poll() -> None:
        with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
            while not done.is_set():
                t0 = time.perf_counter()
                status = c.get("/healthz").status_code
                health.append((status, time.perf_counter() - t0))
                time.sleep(0.02)

    async def barrage() -> list[tuple[str, httpx.Response]]:
        sem = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=gateway.base_url, timeout=60, headers=dict(client.headers)) as c:
            async def one(job: tuple) -> tuple[str, httpx.Response]:
                async with sem:
                    return job[0], await c.post(PATHS[job[1]], content=job[2])
            return await asyncio.gather(*(one(j) for j in jobs))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    t0 = time.perf_counter()
    try:
        results = asyncio.run(barrage())
    finally:
        done.set()
        poller.join(10)
    elapsed = time.perf_counter() - t0
    for name, r in results:
        _, _, _, status, param, code = by_name[name]
        check_error(r, status, param, code)
    assert_untouched(gateway)
    # /healthz kept answering while the barrage ran (latencies printed for the record, not asserted:
    # the machine is shared; a stalled loop would show up as no answers or multi-second ones).
    assert health and all(s == 200 for s, _ in health)
    worst = max(t for _, t in health)
    assert worst < 5.0, worst
    grew = _rss_bytes() - rss_before
    assert grew < 200 * 2**20, grew
    lat = sorted(t for _, t in health)
    print(f"\n{len(jobs)} hostile requests in {elapsed:.2f}s; /healthz polled {len(lat)} times, "
          f"p50 {lat[len(lat) // 2] * 1000:.1f} ms, max {worst * 1000:.1f} ms; RSS grew {grew / 2**20:.1f} MB")
    # A normal request is served on its first attempt, on the model the hostile requests named.
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": MSG})
    assert r.status_code == 200 and r.headers["x-open-router-attempts"] == "1"
    assert r.headers["x-open-router-model"] == "gpt-4o"


def test_a_large_embeddings_request_within_limits_does_not_stall_healthz(client: httpx.Client,
                                                                          gateway: GatewayServer) -> None:
    """512 inputs × 1536 dimensions (786k values, ~16 MB of JSON) is built off the loop: /healthz answers
    while it is being computed."""
    body = {"model": "text-embedding-3-small", "input": [f"text {i}" for i in range(512)], "dimensions": 1536}
    out: dict[str, Any] = {}

    def big() -> None:
        with httpx.Client(base_url=gateway.base_url, timeout=120, headers=dict(client.headers)) as c:
            out["r"] = c.post("/v1/embeddings", json=body)

    t = threading.Thread(target=big)
    t.start()
    answered = 0
    with httpx.Client(base_url=gateway.base_url, timeout=30) as c:
        while t.is_alive():
            assert c.get("/healthz").status_code == 200
            answered += 1
            time.sleep(0.01)
    t.join()
    r = out["r"]
    assert r.status_code == 200
    data = r.json()["data"]
    assert len(data) == 512 and {len(d["embedding"]) for d in data} == {1536}
    assert answered >= 1
    assert_untouched(gateway)
