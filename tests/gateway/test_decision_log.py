"""The decision log: real lines from a real gateway held to schemas/decision-log.schema.json; content
logging off by default and redacted when on; the redaction pass on realistic samples in several
languages and formats; the rotated-file sink."""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Iterator

import httpx
import jsonschema
import pytest

from gateway.observe import DECISIONS_LOGGER
from gateway.redact import iban_ok, luhn, redact

from .conftest import REPO, GatewayServer

SCHEMA = json.loads((REPO / "schemas" / "decision-log.schema.json").read_text())
POLICY = """
provider mock kind mock
provider gone kind openai base_url "http://127.0.0.1:9/v1" key env(OPEN_ROUTER_TEST_GONE_KEY)

model small = mock/"mock-small" price in 0.15 out 0.60 per 1M
model large = mock/"mock-large" price in 2.50 out 10.00 per 1M
model dead  = gone/"dead" price 0
model embed = mock/"mock-embed" price in 0.02 out 0 per 1M supports embeddings

route embeddings
  when model == "embed"
  use embed

route interactive
  when header "x-latency-class" == "interactive" and team == "eng"
  use large

route fails-over
  when model == "dead"
  use dead
  fallback small

default
  use small
"""


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))


def serve(tmp: Path, **overrides: Any) -> GatewayServer:
    d = tmp / "p"
    d.mkdir()
    (d / "main.policy").write_text(POLICY)
    return GatewayServer(policies=d, db_url=f"sqlite:///{tmp / 'k.db'}", settings_overrides=overrides)


@pytest.fixture()
def lines() -> Iterator[Lines]:
    h = Lines()
    logger = logging.getLogger(DECISIONS_LOGGER)
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(h)
    try:
        yield h
    finally:
        logger.removeHandler(h)
        logger.setLevel(level)


def traffic(srv: GatewayServer, content: str = "hello") -> None:
    url, auth = srv.base_url, {"authorization": f"Bearer {srv.key}"}
    msgs = [{"role": "user", "content": content}]
    with httpx.Client(base_url=url, headers=auth, timeout=30) as c:
        assert c.post("/v1/chat/completions", json={"model": "any", "messages": msgs}).status_code == 200
        assert c.post("/v1/chat/completions", json={"model": "x", "messages": msgs},
                      headers={"x-latency-class": "interactive", "x-other": "secret-ish"}).status_code == 200
        with c.stream("POST", "/v1/chat/completions", json={"model": "x", "stream": True, "messages": msgs}) as r:
            assert r.status_code == 200 and list(r.iter_lines())
        assert c.post("/v1/chat/completions", json={"model": "dead", "messages": msgs}).status_code == 200
        assert c.post("/v1/embeddings", json={"model": "embed", "input": content}).status_code == 200
        assert c.post("/v1/chat/completions", json={"model": "x"}).status_code == 400
    assert httpx.post(url + "/v1/chat/completions", json={"model": "x", "messages": msgs}).status_code == 401


def wait_lines(h: Lines, n: int) -> list[dict[str, Any]]:
    import time

    end = time.monotonic() + 10
    while len(h.lines) < n and time.monotonic() < end:
        time.sleep(0.02)
    return h.lines


def test_real_lines_hold_to_the_schema(tmp_path: Path, lines: Lines) -> None:
    with serve(tmp_path) as srv:
        traffic(srv)
        got = wait_lines(lines, 7)
    assert len(got) == 7
    for line in got:
        jsonschema.validate(line, SCHEMA)
        assert "content" not in line  # off by default
        assert srv.key not in json.dumps(line)
    plain, interactive, streamed, failover, embed, bad, unauth = got
    assert plain["rule"] == "default" and plain["served"]["upstream"] == "mock-small"
    assert plain["key"] == srv.key_id and plain["team"] == "eng" and plain["project"] == "proj"
    assert plain["app"] == "tests" and plain["cost_center"] == "cc-1"
    assert plain["usage"]["prompt_tokens"] > 0 and plain["cost"] and plain["currency"] == "USD"
    assert plain["candidates"] == [{"model": "small", "provider": "mock", "upstream": "mock-small",
                                    "role": "candidate", "outcome": "served"}]
    assert plain["facts"]["prompt_tokens"] > 0 and plain["facts"]["headers"] == {}
    # The conditions that decided it, where they are written, and only the headers they read.
    assert interactive["rule"] == "interactive" and interactive["model"] == "large"
    tests = [(c["test"], c["result"]) for c in interactive["conditions"] if c["rule"] == "interactive"]
    assert ('header "x-latency-class" == "interactive"', True) in tests
    assert all(c["at"].endswith(tuple(f":{n}" for n in range(1, 40))) or ":" in c["at"] for c in interactive["conditions"])
    assert interactive["facts"]["headers"] == {"x-latency-class": "interactive"}
    assert streamed["stream"] is True and streamed["ttft_ms"] is not None
    # Failover: the first candidate failed (its key is unset), the fallback served.
    assert [c["outcome"] for c in failover["candidates"]][1] == "served"
    assert failover["candidates"][0]["outcome"].startswith("failed: ")
    assert len(failover["attempts"]) == 2 and failover["status"] == 200
    assert embed["rule"] == "embeddings" and embed["route"] == "/v1/embeddings"
    assert bad["status"] == 400 and bad["error"] and bad["rule"] is None
    assert unauth["status"] == 401 and unauth["key"] is None


SAMPLES = [
    # (text, kinds that must be masked, strings that must be gone)
    ("Hi, I'm John. Mail me at john.doe+billing@example.com or call (415) 555-0132.", {"email", "phone"},
     ["john.doe+billing@example.com", "555-0132"]),
    ("Hola, soy María: maría.garcía@correo.es, móvil +34 612 34 56 78, IBAN ES91 2100 0418 4502 0005 1332.",
     {"email", "phone", "iban"}, ["maría.garcía@correo.es", "612 34 56 78", "ES91 2100 0418 4502 0005 1332"]),
    ("Bitte buchen Sie von DE89370400440532013000 ab; Rückfragen an +49 30 1234567.", {"iban", "phone"},
     ["DE89370400440532013000", "1234567"]),
    ("Ma carte: 4000 0025 0000 3155, expiration 12/27. Tél. 06 12 34 56 78.", {"card", "phone"},
     ["4000 0025 0000 3155", "06 12 34 56 78"]),
    ("我的邮箱是 wang.wei@example.cn，手机号 +86 138 0013 8000，卡号 6222-0212-3456-7894", {"email", "phone", "card"},
     ["wang.wei@example.cn", "138 0013 8000", "6222-0212-3456-7894"]),
    ("カード番号は 5500000000000004 です。連絡先: tanaka@example.jp", {"card", "email"},
     ["5500000000000004", "tanaka@example.jp"]),
    ("use OPENAI_API_KEY=sk-proj-Abc123xyz789Def456ghi and AKIAIOSFODNN7EXAMPLE; Authorization: Bearer "
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N", {"api_key"},
     ["sk-proj-Abc123xyz789Def456ghi", "AKIAIOSFODNN7EXAMPLE", "eyJhbGciOiJIUzI1NiJ9"]),
    ('{"customer": {"email": "ops@acme.io", "card": "378282246310005", "iban": "GB82 WEST 1234 5698 7654 32"}}',
     {"email", "card", "iban"}, ["ops@acme.io", "378282246310005", "GB82 WEST 1234 5698 7654 32"]),
    ("Привет! Пишите на ivan.petrov@mail.ru или звоните +7 912 345-67-89.", {"email", "phone"},
     ["ivan.petrov@mail.ru", "345-67-89"]),
    ("مرحبا، بريدي ahmed@example.ae ورقمي 00971 50 123 4567", {"email", "phone"}, ["ahmed@example.ae", "123 4567"]),
]


@pytest.mark.parametrize("text,kinds,gone", SAMPLES)
def test_redaction_masks_the_samples(text: str, kinds: set[str], gone: list[str]) -> None:
    out, found = redact(text)
    assert kinds <= found
    for g in gone:
        assert g not in out


@pytest.mark.parametrize("text", [
    "Order #4111111111111112 shipped on 2026-03-14; total 1234.56 EUR for 3 items.",  # fails Luhn
    "Version 2.14.3 of the app, build 20260314, port 8080, 42 tokens.",
    "The IBAN DE00 0000 0000 0000 0000 00 is invalid (bad checksum).",
])
def test_redaction_leaves_ordinary_text(text: str) -> None:
    out, found = redact(text)
    assert found == set() and out == text


def test_checksums() -> None:
    assert luhn("4111111111111111") and not luhn("4111111111111112")
    assert iban_ok("DE89 3704 0044 0532 0130 00") and not iban_ok("DE88 3704 0044 0532 0130 00")


def test_content_logging_is_redacted_when_on(tmp_path: Path, lines: Lines) -> None:
    secret = "Hola, escribe a maría@correo.es y carga la tarjeta 4111 1111 1111 1111"
    with serve(tmp_path, log_content=True) as srv:
        r = httpx.post(srv.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {srv.key}"},
                       json={"model": "x", "messages": [{"role": "user", "content": secret}]})
        assert r.status_code == 200
        got = wait_lines(lines, 1)
    line = got[0]
    jsonschema.validate(line, SCHEMA)
    text = json.dumps(line, ensure_ascii=False)
    assert "maría@correo.es" not in text and "4111 1111 1111 1111" not in text
    c = line["content"]
    assert c["messages"][0]["content"].startswith("Hola, escribe a [email]") and "[card]" in c["messages"][0]["content"]
    assert c["masked_fields"][0] == "messages" and set(c["masked_kinds"]) >= {"email", "card"}
    assert "completion" in c  # the mock echoes the prompt: redacted too
    assert "maría@correo.es" not in c["completion"]


def test_the_file_sink_rotates_by_size(tmp_path: Path) -> None:
    from gateway.observe import DecisionLog, configure_logging

    root = logging.getLogger()
    decisions = logging.getLogger(DECISIONS_LOGGER)
    saved = (root.level, list(root.handlers), decisions.level, list(decisions.handlers), decisions.propagate)
    path = tmp_path / "logs" / "decisions.jsonl"
    try:
        configure_logging("INFO", "text", decision_file=path, max_bytes=2048, backups=2)
        log = DecisionLog()
        for i in range(100):
            log.emit({"request_id": f"req_{i}", "pad": "x" * 100})
        for h in decisions.handlers:
            h.close()
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        decisions.setLevel(saved[2])
        decisions.handlers[:] = saved[3]
        decisions.propagate = saved[4]
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"]  # retention: 2 old files
    last = [json.loads(x) for x in path.read_text().splitlines()]
    assert last[-1]["request_id"] == "req_99" and all(p.stat().st_size <= 2048 for p in path.parent.iterdir())
