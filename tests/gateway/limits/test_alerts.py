"""Budget alerts reach a webhook receiver on 127.0.0.1 exactly once per threshold per period — in one process
and with two workers — as JSON valid against schemas/alert.schema.json; a receiver that is down delays no
request."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import jsonschema

from tests.gateway.conftest import GatewayServer

from .helpers import REPO, Receiver, Serve, burst, free_port, policy

SCHEMA = json.loads((REPO / "schemas" / "alert.schema.json").read_text())
BUDGET = 'budget team "eng" 0.2 USD per day at 5% alert at 15% alert at 100% block'


def check(bodies: list[dict[str, Any]]) -> None:
    for b in bodies:
        jsonschema.validate(b, SCHEMA)
    ids = Counter(b["id"] for b in bodies)
    assert all(n == 1 for n in ids.values()), ids  # exactly once
    thresholds = sorted(b["threshold"]["percent"] for b in bodies if b["type"] == "budget.threshold")
    # each passed threshold once; spend never reaches the 100% block (reservations stop it first): that is
    # the one budget.blocked event
    assert thresholds == ["15", "5"]
    assert [b["type"] for b in bodies].count("budget.blocked") == 1


def spend_it(base_urls: list[str], key: str) -> None:
    for _ in range(12):  # until refused: every alert threshold passed, and the first block
        out = burst(base_urls, key, 30)
        if out.refused:
            return


def test_each_alert_once_in_one_process(tmp_path: Path) -> None:
    with Receiver() as hook:
        server = GatewayServer(policies=policy(tmp_path, BUDGET), db_url=f"sqlite:///{tmp_path / 'gw.db'}",
                               settings_overrides={"alert_webhook": hook.url})
        with server as g:
            spend_it([g.base_url], g.key)
            check(hook.wait_for(3))


def test_each_alert_once_with_two_workers(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'gw.db'}"
    with Receiver() as hook, Serve(policy(tmp_path, BUDGET), db, "--workers", "2",
                                   env={"OPEN_ROUTER_ALERT_WEBHOOK": hook.url}) as s:
        from gateway.keys import KeyStore

        store = KeyStore(db)
        _, key = store.create("eng")
        store.close()
        spend_it([s.base_url], key)
        check(hook.wait_for(3))


def test_a_receiver_that_is_down_delays_nothing(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
    server = GatewayServer(policies=policy(tmp_path, BUDGET), db_url=f"sqlite:///{tmp_path / 'gw.db'}",
                           settings_overrides={"alert_webhook": dead})
    with server as g:
        out = burst([g.base_url], g.key, 30)
        assert len(out.ok) >= 5 and not out.other
        metrics = httpx.get(g.base_url + "/metrics").text
        # the alert was raised while the requests were answered; its delivery is still being retried
        assert 'open_router_alerts_total{type="budget.threshold",outcome="raised"}' in metrics
        assert 'outcome="sent"' not in metrics
