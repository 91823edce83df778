"""/metrics after real traffic, read with prometheus_client's own parser: tokens and cost by model and
team, time to first token, rule counts, circuit state per deployment, in flight, the live version; no
label carries a key, a key id or a user."""
from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from .conftest import GatewayServer
from .promtext import sample


def test_metrics_after_traffic(gateway: GatewayServer) -> None:
    h = {"authorization": f"Bearer {gateway.key}"}
    msgs = [{"role": "user", "content": "count my tokens"}]
    with httpx.Client(base_url=gateway.base_url, headers=h, timeout=30) as c:
        assert c.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs, "user": "u-123"}).status_code == 200
        with c.stream("POST", "/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs, "stream": True}) as r:
            assert r.status_code == 200 and list(r.iter_lines())
        text = c.get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}  # parses, or raises
    assert sample(text, "open_router_tokens_total", model="gpt-4o", team="eng", kind="prompt") >= 2
    assert sample(text, "open_router_tokens_total", model="gpt-4o", team="eng", kind="completion") > 0
    assert sample(text, "open_router_cost_usd_total", model="gpt-4o", team="eng") > 0
    assert sample(text, "open_router_time_to_first_token_seconds_count", route="/v1/chat/completions") >= 1
    assert sample(text, "open_router_rule_requests_total", rule="premium", status="200") >= 2
    assert sample(text, "open_router_circuit_state", provider="mock", upstream="mock-large") == 0
    assert sample(text, "open_router_in_flight") >= 1  # the scrape itself
    assert sample(text, "open_router_policy_info", version=gateway.gw.policies.version) == 1
    assert "open_router_policy_reloads" in families
    labels = {v for f in families.values() for s in f.samples for v in s.labels.values()}
    assert gateway.key not in labels and gateway.key_id not in labels and "u-123" not in labels
