"""`open-router usage report|bill|export` over a real ledger: figures, formats, schemas, reconciliation to
the cent, and one clear line with exit 2 for bad parameters."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest

from gateway.billing.ledger import TABLE, to_pico
from gateway.db import make_engine, upgrade

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas"

POLICY = """
provider p kind mock
model a = p/"x" price in 1 out 2 per 1M
default use a
cost_center "eng"
cost_center "research"
cost_center "platform-cc"
shared "contract" 1200 USD per month split 60% "eng", 40% "research"
shared "platform" team "platform" split by usage
"""


def _row(i: int, team: str, cc: str | None, cost: str, status: int = 200, model: str = "a",
         day: int = 3, latency: float = 10.0) -> dict:
    return {"id": f"row{i}", "request_id": f"r{i}", "ts": datetime(2026, 11, day, 12, tzinfo=timezone.utc),
            "route": "/v1/chat/completions", "key_id": "key_1", "team": team, "project": None, "app": None,
            "cost_center": cc, "user": None, "requested_model": model, "model": model, "upstream": "x",
            "provider": "p", "rule": "default", "arm": None, "attempts": 1, "status": status, "error_code": None,
            "prompt_tokens": 100, "completion_tokens": 50, "cached_tokens": 0, "reasoning_tokens": 0,
            "cost_pico": to_pico(Decimal(cost)), "currency": "USD", "priced": True, "usage_estimated": False,
            "latency_ms": latency, "ttft_ms": None, "stream": False, "policy_version": "v1"}


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    engine = make_engine(url)
    upgrade(engine)
    rows = [_row(i, "eng", "eng", "0.001", latency=float(i)) for i in range(1, 11)]
    rows += [_row(11, "eng", "eng", "0.3333335", status=502), _row(12, "research", "research", "0.6666665"),
             _row(13, "platform", "platform-cc", "9.995"), _row(14, "eng", None, "0.005"),
             _row(15, "eng", "eng", "5", day=30), _row(16, "eng", "eng", "7", day=1)]
    rows[-1]["ts"] = datetime(2026, 12, 1, tzinfo=timezone.utc)  # outside November
    with engine.begin() as conn:
        conn.execute(TABLE.insert(), rows)
    engine.dispose()
    return url


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", "usage", *args], capture_output=True, text=True,
                          cwd=ROOT)


def test_report_json_matches_its_schema_and_adds_up(db: str) -> None:
    r = run("report", "--by", "team,cost-center", "--period", "2026-11", "--format", "json", "--db", db)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    jsonschema.validate(data, json.loads((SCHEMAS / "usage-report.schema.json").read_text()))
    total = data["totals"][0]
    assert total["requests"] == 15 and total["errors"] == 1
    exact = sum(Decimal(x) for x in ["0.001"] * 10 + ["0.3333335", "0.6666665", "9.995", "0.005", "5"])
    assert Decimal(total["cost_exact"]) == exact and total["cost"] == "16.01"
    assert sum(Decimal(g["cost"]) for g in data["groups"]) == Decimal(total["cost"])  # to the cent
    eng = next(g for g in data["groups"] if g["team"] == "eng" and g["cost-center"] == "eng")
    assert eng["requests"] == 12 and eng["latency_p50_ms"] == 6.0 and eng["error_rate"] == round(1 / 12, 6)


def test_report_filters_csv_and_table(db: str) -> None:
    r = run("report", "--by", "model", "--team", "research", "--format", "csv", "--db", db)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert r.returncode == 0 and len(rows) == 1 and rows[0]["requests"] == "1" and rows[0]["cost"] == "0.67"
    r = run("report", "--by", "team", "--from", "2026-11-01", "--to", "2026-11-03", "--db", db)
    assert r.returncode == 0 and "TOTAL" in r.stdout and "research" in r.stdout
    r = run("report", "--from", "2026-11-04", "--to", "2026-11-29", "--db", db)
    assert r.returncode == 0 and "no requests" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["--by", "colour"], "cannot group by 'colour'"),
    (["--period", "2026-13"], "not a calendar month"),
    (["--period", "Nov"], "not a period"),
    (["--from", "2026-11-05", "--to", "2026-11-01"], "is not before"),
    (["--from", "yesterday"], "not a date"),
    (["--period", "2026-11", "--from", "2026-11-01"], "not both"),
])
def test_bad_parameters_are_one_line_and_exit_2(db: str, args: list[str], needle: str) -> None:
    r = run("report", *args, "--db", db)
    assert r.returncode == 2 and needle in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr


def test_the_bill_reconciles_to_the_cent(db: str, tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "main.policy").write_text(POLICY)
    r = run("bill", "--period", "2026-11", "--policies", str(tmp_path / "p"), "--format", "json", "--db", db)
    assert r.returncode == 0, r.stderr
    bill = json.loads(r.stdout)
    direct = Decimal(bill["direct_total"])
    assert direct == Decimal("16.01") and Decimal(bill["shared_total"]) == Decimal("1200.00")
    assert sum(Decimal(ln["cost"]) for ln in bill["lines"]) == direct
    centers = {c["cost_center"]: c for c in bill["cost_centers"]}
    assert sum(Decimal(c["total"]) for c in centers.values()) == Decimal(bill["total"]) == direct + Decimal("1200")
    assert Decimal(centers["platform-cc"]["direct"]) == 0  # its team's usage is shared out ...
    platform = sum(Decimal(c["shares"].get("platform", "0")) for c in centers.values())
    assert abs(platform - Decimal("9.995")) <= Decimal("0.005")  # one rounding for the whole bill
    assert Decimal(centers["eng"]["shares"]["contract"]) == Decimal("720.00")
    text = run("bill", "--period", "2026-11", "--policies", str(tmp_path / "p"), "--db", db)
    assert text.returncode == 0 and "Total: 1216.01 USD" in text.stdout and "By cost center" in text.stdout
    r = run("bill", "--policies", str(tmp_path / "p"), "--db", db)
    assert r.returncode == 2 and "bounded period" in r.stderr
    # Half a month bills half the monthly contract.
    r = run("bill", "--from", "2026-11-01", "--to", "2026-11-15", "--policies", str(tmp_path / "p"),
            "--format", "json", "--db", db)
    assert Decimal(json.loads(r.stdout)["shared_total"]) == Decimal("600.00")


def test_export_rows_match_the_ledger_row_schema(db: str) -> None:
    r = run("export", "--period", "2026-11", "--db", db)
    assert r.returncode == 0, r.stderr
    schema = json.loads((SCHEMAS / "ledger-row.schema.json").read_text())
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == 15
    for obj in lines:
        jsonschema.validate(obj, schema)
    assert sum(Decimal(o["cost"]) for o in lines) == Decimal("16.01")
