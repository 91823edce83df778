"""A/B experiment reports over a real ledger table (SQLite, migrated): per-arm figures with Welch / Wilson
intervals, the difference between arms, warnings on thin samples; the CLI (a subprocess) and
GET /admin/experiments/RULE answer the same report."""
from __future__ import annotations

import json
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from gateway.billing.experiments import experiment_report, newcombe, t_quantile, welch, wilson
from gateway.billing.ledger import TABLE, to_pico
from gateway.billing.reports import parse_period
from gateway.db import make_engine, upgrade
from tests.gateway.conftest import ADMIN_KEY, GatewayServer, policy_dir

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 3, tzinfo=timezone.utc)


def rows(arm: str, n: int, latency: float, error_rate: float, cost: str, rng: random.Random, rule: str = "ab"):
    for i in range(n):
        yield {"id": f"{rule}-{arm}-{i}", "request_id": f"r-{arm}-{i}", "ts": T0 + timedelta(minutes=i),
               "route": "/v1/chat/completions", "rule": rule, "arm": arm, "model": arm,
               "status": 503 if rng.random() < error_rate else 200, "latency_ms": rng.gauss(latency, 10.0),
               "ttft_ms": rng.gauss(latency / 2, 5.0), "cost_pico": to_pico(Decimal(cost)), "prompt_tokens": 100,
               "completion_tokens": 50 + (i % 3), "priced": True}


def seed(engine: sa.Engine) -> None:
    rng = random.Random(7)
    with engine.begin() as conn:
        conn.execute(sa.insert(TABLE), [*rows("a", 600, 100.0, 0.02, "0.001", rng),
                                        *rows("b", 400, 150.0, 0.10, "0.0004", rng),
                                        *rows("c", 12, 100.0, 0.0, "0.001", rng)])


@pytest.fixture()
def engine(tmp_path: Path) -> sa.Engine:
    e = make_engine(f"sqlite:///{tmp_path / 'ledger.db'}")
    upgrade(e)
    seed(e)
    return e


def test_interval_maths_against_known_values() -> None:
    assert abs(t_quantile(2) - 4.302653) < 0.05 and abs(t_quantile(10) - 2.228139) < 1e-3
    assert abs(t_quantile(30) - 2.042272) < 1e-4 and abs(t_quantile(1e9) - 1.959964) < 1e-6
    low, high = wilson(0, 10)
    assert abs(low) < 1e-12 and abs(high - 0.27753) < 1e-4
    w = welch([1.0, 2.0, 3.0, 4.0])
    assert w["mean"] == 2.5 and abs((w["high"] - w["mean"]) - 3.182446 * (1.290994 / 2)) < 0.01
    d = newcombe(5, 100, 15, 100)
    assert d["low"] < 0.10 < d["high"] and d["low"] > 0  # 15 % vs 5 % is a real difference


def test_per_arm_figures_and_the_difference_with_intervals(engine: sa.Engine) -> None:
    data = experiment_report(engine, "ab")
    arms = {a["arm"]: a for a in data["arms"]}
    assert data["baseline"] == "a" and [a["arm"] for a in data["arms"]] == ["a", "b", "c"]
    a, b = arms["a"], arms["b"]
    assert (a["requests"], b["requests"]) == (600, 400)
    for arm, truth, n in ((a, 100, 600), (b, 150, 400)):
        mean = arm["latency_mean"]
        half = (mean["high"] - mean["low"]) / 2
        assert abs(half - 1.96 * 10 / n ** 0.5) < 0.1 * half  # t · s/√n with s ≈ 10 ms
        assert abs(mean["mean"] - truth) < 3 * half
    assert abs(a["latency_p50_ms"] - 100) < 3 and b["latency_p95_ms"] > b["latency_p50_ms"]
    assert a["error_rate"]["low"] < a["error_rate"]["rate"] < a["error_rate"]["high"]
    assert abs(a["cost_per_request"]["mean"] - 0.001) < 1e-12 and abs(b["tokens_per_request"]["mean"] - 151) < 1
    diff = next(d for d in data["differences"] if d["arm"] == "b")
    assert 45 < diff["latency"]["low"] < 50 < diff["latency"]["high"] < 55
    assert diff["error_rate"]["low"] > 0  # b fails more, and the interval says so
    assert diff["cost"]["high"] < 0 and "latency" not in diff.get("not_significant", [])
    assert any("arm 'c' has 12 requests" in w for w in data["warnings"])
    assert data["methods"]["means"] == "welch_t" and data["methods"]["error_rate"] == "wilson"


def test_period_baseline_and_an_unknown_rule(engine: sa.Engine) -> None:
    day = experiment_report(engine, "ab", parse_period("2026-11-03"), baseline="b")
    assert day["baseline"] == "b" and {a["arm"]: a["requests"] for a in day["arms"]}["a"] == 600
    later = experiment_report(engine, "ab", parse_period("2026-12"))
    assert later["arms"] == [] and "no ledger rows" in later["warnings"][0]


def test_the_cli_prints_the_same_report(engine: sa.Engine, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ledger.db'}"
    out = subprocess.run([sys.executable, "-m", "gateway.cli", "experiments", "report", "ab", "--db", db,
                          "--format", "json"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["arms"] == experiment_report(engine, "ab")["arms"]
    text = subprocess.run([sys.executable, "-m", "gateway.cli", "experiments", "report", "ab", "--db", db],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "Welch's t for means, Wilson for error rates" in text.stdout and "b − a: error rate" in text.stdout
    bad = subprocess.run([sys.executable, "-m", "gateway.cli", "experiments", "report", "ab", "--db", db,
                          "--period", "2026-13"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2 and "not a calendar month" in bad.stderr


def test_the_admin_endpoint(tmp_path: Path) -> None:
    with GatewayServer(policies=policy_dir(tmp_path), db_url=f"sqlite:///{tmp_path / 'k.db'}") as srv:
        seed(srv.gw.keys.engine)
        admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
        with httpx.Client(base_url=srv.base_url, timeout=30) as c:
            r = c.get("/admin/experiments/ab", params={"period": "2026-11"}, headers=admin)
            assert r.status_code == 200 and [a["requests"] for a in r.json()["arms"]] == [600, 400, 12]
            assert c.get("/admin/experiments/ab", headers={"Authorization": f"Bearer {srv.key}"}).status_code in (401, 403)
            bad = c.get("/admin/experiments/ab", params={"period": "nope"}, headers=admin)
            assert bad.status_code == 400 and bad.json()["error"]["param"] == "period"
