"""Model-status alerts: the rules' syntax; one episode fires once and resolves once on a real HealthBoard
(error rate over a window, p95 latency, an open circuit, a model selector); and through a real gateway, a
failing fake upstream sends one schema-valid `model.alert` and, once it recovers, one `model.resolved` to
a webhook receiver on 127.0.0.1 — while the requests themselves never wait on it."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest

from dsl.decision import Target
from gateway.errors import UpstreamError
from gateway.health import HealthBoard
from gateway.model_alerts import ModelAlerts, parse_rules
from tests.gateway.conftest import GatewayServer
from tests.gateway.fakes import Behaviour, FakeUpstream
from tests.gateway.limits.helpers import Receiver
from tests.gateway.promtext import sample

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "alert.schema.json").read_text())


def test_rules_parse_and_bad_rules_say_which() -> None:
    rules = parse_rules("error_rate > 20% over 2m min 10; p95 > 1.5s; gpt-4o: circuit open ;")
    assert [(r.metric, r.threshold, r.window, r.min_samples, r.selector) for r in rules] == [
        ("error_rate", 0.2, 120.0, 10, None), ("p95_ms", 1500.0, None, 5, None),
        ("circuit_open", 0.0, None, 1, "gpt-4o")]
    for bad in ("error_rate > 2", "p95 > 10%", "latency > 5ms", "error_rate >", "circuit open; circuit open"):
        with pytest.raises(ValueError):
            parse_rules(bad)
    from gateway.settings import Settings

    with pytest.raises(ValueError, match="p95 > fast"):
        Settings(model_alerts="p95 > fast")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def test_an_episode_fires_once_and_resolves_once() -> None:
    clock = Clock()
    board = HealthBoard(clock=clock, window=60, failure_threshold=100, min_window_requests=1000)
    a = Target(provider="p", upstream="a-1", model="a")
    b = Target(provider="p", upstream="b-1", model="b")
    sink = Sink()
    alerts = ModelAlerts(board, parse_rules("error_rate > 0.5 over 30s min 4; b: p95 > 100ms min 3"), sink,
                         clock=clock)
    for _ in range(3):
        board.success(a, 10)
        board.success(b, 500)  # slow
    assert [e["type"] for e in alerts.evaluate()] == ["model.alert"]  # b's p95 (a: 3 outcomes, under min 4)
    assert sink.events[0]["rule"]["metric"] == "p95_ms" and sink.events[0]["model"]["upstream"] == "b-1"
    for _ in range(5):
        board.failure(a, UpstreamError("boom"))
    fired = alerts.evaluate()
    assert [(e["type"], e["model"]["upstream"]) for e in fired] == [("model.alert", "a-1")]
    assert fired[0]["value"] == pytest.approx(5 / 8)
    for _ in range(3):
        clock.t += 1
        assert alerts.evaluate() == []  # still firing: no second alert for the same episode
    clock.t += 31  # a's failures leave its 30 s window (b's slow successes stay in the board's 60 s)
    board.success(a, 10)
    resolved = alerts.evaluate()  # a: one outcome left in its window, under min 4: no data resolves it
    assert [(e["type"], e["model"]["upstream"]) for e in resolved] == [("model.resolved", "a-1")]
    assert resolved[0]["id"] == fired[0]["id"] and resolved[0]["value"] is None
    assert [k[2] for k in alerts.open] == ["b-1"]
    assert alerts.evaluate() == []
    for e in sink.events:
        jsonschema.validate({**e, "sent_at": 0.0}, SCHEMA)


def test_circuit_open_and_its_selector() -> None:
    clock = Clock()
    board = HealthBoard(clock=clock, failure_threshold=2, cooldown=5)
    x, y = Target(provider="p", upstream="x-1", model="x"), Target(provider="p", upstream="y-1", model="y")
    sink = Sink()
    alerts = ModelAlerts(board, parse_rules("p/x-1: circuit open"), sink, clock=clock)
    for t in (x, y):
        board.failure(t, UpstreamError("down"))
        board.failure(t, UpstreamError("down"))
    assert [(e["type"], e["model"]["upstream"]) for e in alerts.evaluate()] == [("model.alert", "x-1")]
    clock.t += 6  # half open: still not closed, still the same episode
    assert alerts.evaluate() == []
    board.success(x, 5)
    assert [e["type"] for e in alerts.evaluate()] == ["model.resolved"]


def test_through_the_gateway_to_a_webhook(tmp_path: Path) -> None:
    with FakeUpstream("openai", key="sk-test") as fake, Receiver() as hook:
        (tmp_path / "p").mkdir()
        (tmp_path / "p" / "main.policy").write_text(
            f'provider up kind openai base_url "{fake.base_url}" key env({fake.key_env})\n'
            'model m = up/"gpt-4o-mini"\ndefault\n  use m\n')
        server = GatewayServer(policies=tmp_path / "p", db_url=f"sqlite:///{tmp_path / 'gw.db'}", env=fake.env,
                               settings_overrides={"alert_webhook": hook.url, "model_alert_interval": 0.05,
                                                   "model_alerts": "error_rate > 0.5 over 300s min 4"})
        with server as g, httpx.Client(base_url=g.base_url, timeout=30,
                                       headers={"authorization": f"Bearer {g.key}"}) as c:
            body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
            fake.default = Behaviour(status=500)
            t0 = time.monotonic()
            codes = [c.post("/v1/chat/completions", json=body).status_code for _ in range(4)]
            assert all(code >= 500 for code in codes)
            assert hook.wait_for(1)[0]["type"] == "model.alert"
            fake.default = Behaviour(text="fine")
            failures = len(fake.requests)  # attempts, retries included
            for _ in range(failures + 1):  # then more successes than failures in the window
                assert c.post("/v1/chat/completions", json=body).status_code == 200
            bodies = hook.wait_for(2)
            assert time.monotonic() - t0 < 20
            assert [b["type"] for b in bodies] == ["model.alert", "model.resolved"]
            assert bodies[0]["id"] == bodies[1]["id"]
            for b in bodies:
                jsonschema.validate(b, SCHEMA)
            text = c.get("/metrics").text
            assert sample(text, "open_router_model_alerts_total",
                          rule="error_rate > 0.5 over 300s min 4", state="fired") == 1
            assert sample(text, "open_router_model_alerts_total",
                          rule="error_rate > 0.5 over 300s min 4", state="resolved") == 1
