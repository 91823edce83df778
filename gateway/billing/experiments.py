"""A/B experiment reports over the ledger: for one rule (a split or a ramp), per arm — requests, error rate,
latency p50 / p95, time to first token, cost per request, tokens per request — with 95 % confidence
intervals, and each arm's difference from the baseline arm with its interval. What
`open-router experiments report RULE` and GET /admin/experiments/RULE answer.

Intervals (95 %, two-sided):
  means (latency, TTFT, cost, tokens)   Welch's t: mean ± t(df) · s/√n; a difference of two means uses
                                        Welch's standard error √(s₁²/n₁ + s₂²/n₂) and Welch–Satterthwaite df.
                                        t quantiles by the Cornish–Fisher expansion (Hill 1970; within 1 % of
                                        the exact value from df = 2, within 0.1 % from df = 5).
  error rate                            Wilson's score interval; a difference of two rates, Newcombe's hybrid
                                        score interval (method 10), built from the two Wilson intervals.
  p50 / p95                             reported without an interval.

An error is a request the gateway answered with status ≥ 500, 408 or 429 (the serving side failed);
other 4xx are the client's and count as requests only. The baseline is the arm with the most requests
(ties: by name), or the one named. A warning is added when an arm has fewer than MIN_SAMPLES requests
(too few to tell), and, per figure, when a difference's interval contains 0 (no difference shown).
"""
from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import sqlalchemy as sa

from .ledger import TABLE, from_pico
from .reports import Period, _where

__all__ = ["MIN_SAMPLES", "experiment_report", "t_quantile", "welch", "wilson"]

MIN_SAMPLES = 30
Z = NormalDist().inv_cdf(0.975)  # 1.959963...
_FIGURES = (("latency_ms", "latency"), ("ttft_ms", "ttft"), ("cost", "cost"), ("tokens", "tokens"))


def t_quantile(df: float, z: float = Z) -> float:
    """The 97.5 % quantile of Student's t with ``df`` degrees of freedom (Cornish–Fisher; df 1 exact)."""
    if df <= 1:
        return 12.706204736174705
    z2 = z * z
    g1 = (z2 + 1) * z / 4
    g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
    g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
    g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
    return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4


def _mean_var(xs: list[float]) -> tuple[float, float]:
    n = len(xs)
    m = sum(xs) / n
    return m, (sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0


def welch(xs: list[float]) -> dict[str, float | int | None]:
    """Mean and its 95 % interval (t with n−1 df)."""
    n = len(xs)
    if n == 0:
        return {"n": 0, "mean": None, "low": None, "high": None}
    m, v = _mean_var(xs)
    if n < 2:
        return {"n": n, "mean": m, "low": None, "high": None}
    half = t_quantile(n - 1) * math.sqrt(v / n)
    return {"n": n, "mean": m, "low": m - half, "high": m + half}


def welch_diff(a: list[float], b: list[float]) -> dict[str, float | None]:
    """mean(b) − mean(a) with Welch's 95 % interval."""
    if len(a) < 2 or len(b) < 2:
        return {"diff": None, "low": None, "high": None, "df": None}
    ma, va = _mean_var(a)
    mb, vb = _mean_var(b)
    sa2, sb2 = va / len(a), vb / len(b)
    se = math.sqrt(sa2 + sb2)
    if se == 0:
        return {"diff": mb - ma, "low": mb - ma, "high": mb - ma, "df": None}
    df = (sa2 + sb2) ** 2 / ((sa2 ** 2) / (len(a) - 1) + (sb2 ** 2) / (len(b) - 1))
    half = t_quantile(df) * se
    return {"diff": mb - ma, "low": mb - ma - half, "high": mb - ma + half, "df": df}


def wilson(k: int, n: int, z: float = Z) -> tuple[float, float]:
    """Wilson's 95 % score interval for k successes in n."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(ka: int, na: int, kb: int, nb: int) -> dict[str, float | None]:
    """rate(b) − rate(a) with Newcombe's hybrid score interval (from the two Wilson intervals)."""
    if na == 0 or nb == 0:
        return {"diff": None, "low": None, "high": None}
    pa, pb = ka / na, kb / nb
    la, ua = wilson(ka, na)
    lb, ub = wilson(kb, nb)
    d = pb - pa
    return {"diff": d, "low": d - math.sqrt((pb - lb) ** 2 + (ua - pa) ** 2),
            "high": d + math.sqrt((ub - pb) ** 2 + (pa - la) ** 2)}


def _quantile(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def _is_error(status: int) -> bool:
    return status >= 500 or status in (408, 429)


def experiment_report(engine: sa.Engine, rule: str, period: Period = Period(None, None),
                      baseline: str | None = None) -> dict[str, Any]:
    """The report as JSON-ready data: ``arms`` (one object per arm), ``differences`` (each other arm minus
    the baseline) and ``warnings``."""
    c = TABLE.c
    q = (sa.select(c.arm, c.status, c.latency_ms, c.ttft_ms, c.cost_pico, c.priced, c.prompt_tokens, c.completion_tokens)
         .where(c.rule == rule, *_where(period, {})))
    per: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, int] = {}
    unpriced: dict[str, int] = {}
    with engine.connect() as conn:
        for arm, status, latency, ttft, cost, priced, prompt, completion in conn.execute(q):
            key = arm if arm is not None else "(no arm)"
            got = per.setdefault(key, {"latency_ms": [], "ttft_ms": [], "cost": [], "tokens": [], "n": []})
            got["n"].append(1.0)
            errors[key] = errors.get(key, 0) + (1 if _is_error(int(status or 0)) else 0)
            if latency is not None:
                got["latency_ms"].append(float(latency))
            if ttft is not None:
                got["ttft_ms"].append(float(ttft))
            if priced and cost is not None:
                got["cost"].append(float(from_pico(cost)))
            else:  # an unpriced model's row: its cost is unknown, not 0
                unpriced[key] = unpriced.get(key, 0) + 1
            got["tokens"].append(float((prompt or 0) + (completion or 0)))
    arms = sorted(per, key=lambda a: (-len(per[a]["n"]), a))
    warnings: list[str] = []
    if baseline is not None and baseline not in per:
        warnings.append(f"no requests for baseline arm {baseline!r}; using {arms[0] if arms else None!r}")
        baseline = None
    base = baseline or (arms[0] if arms else None)
    out_arms = []
    for arm in arms:
        got = per[arm]
        n = len(got["n"])
        low, high = wilson(errors[arm], n)
        row: dict[str, Any] = {
            "arm": arm, "requests": n, "errors": errors[arm],
            "error_rate": {"rate": errors[arm] / n, "low": low, "high": high},
            "latency_p50_ms": _quantile(got["latency_ms"], 0.5), "latency_p95_ms": _quantile(got["latency_ms"], 0.95),
            "ttft_p50_ms": _quantile(got["ttft_ms"], 0.5), "ttft_p95_ms": _quantile(got["ttft_ms"], 0.95),
            "unpriced_requests": unpriced.get(arm, 0),
        }
        for col, name in _FIGURES:
            row[f"{name}_mean" if name in ("latency", "ttft") else f"{name}_per_request"] = welch(got[col])
        out_arms.append(row)
        if n < MIN_SAMPLES:
            warnings.append(f"arm {arm!r} has {n} requests (fewer than {MIN_SAMPLES}): too few to tell")
    diffs = []
    for arm in arms:
        if arm == base:
            continue
        a, b = per[base], per[arm]  # type: ignore[index]
        d: dict[str, Any] = {"arm": arm, "baseline": base,
                             "error_rate": newcombe(errors[base], len(a["n"]), errors[arm], len(b["n"]))}  # type: ignore[index]
        for col, name in _FIGURES:
            d[name] = welch_diff(a[col], b[col])
        for name in ("error_rate", "latency", "ttft", "cost", "tokens"):
            x = d[name]
            if x["low"] is not None and x["low"] <= 0 <= x["high"] and x["diff"] != 0:
                d.setdefault("not_significant", []).append(name)
        diffs.append(d)
    if not per:
        warnings.append(f"no ledger rows for rule {rule!r} in this period")
    elif len(per) == 1:
        warnings.append(f"rule {rule!r} served one arm only ({arms[0]!r}): nothing to compare")
    return {"rule": rule, "period": period.as_json(), "baseline": base, "confidence": 0.95,
            "methods": {"means": "welch_t", "error_rate": "wilson", "error_rate_difference": "newcombe_wilson"},
            "arms": out_arms, "differences": diffs, "warnings": warnings}


def render_text(data: dict[str, Any]) -> str:
    """The report as a plain table, then the differences and the warnings."""
    def f(v: Any, digits: int = 1) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    def ci(x: dict[str, Any], digits: int = 1, scale: float = 1.0) -> str:
        if x.get("mean", x.get("rate", x.get("diff"))) is None:
            return "-"
        mid = x.get("mean", x.get("rate", x.get("diff"))) * scale
        if x.get("low") is None:
            return f(mid, digits)
        return f"{f(mid, digits)} [{f(x['low'] * scale, digits)}, {f(x['high'] * scale, digits)}]"

    lines = [f"experiment {data['rule']}  ({data['period']['from'] or 'start'} – {data['period']['to'] or 'now'}), "
             f"95 % intervals: Welch's t for means, Wilson for error rates"]
    head = ["arm", "requests", "error %", "p50 ms", "p95 ms", "ttft p50", "latency mean ms", "cost/request $",
            "tokens/request"]
    rows = [[a["arm"], str(a["requests"]), ci(a["error_rate"], 2, 100), f(a["latency_p50_ms"]), f(a["latency_p95_ms"]),
             f(a["ttft_p50_ms"]), ci(a["latency_mean"]), ci(a["cost_per_request"], 6), ci(a["tokens_per_request"])]
            for a in data["arms"]]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip())
    for d in data["differences"]:
        lines.append(f"{d['arm']} − {d['baseline']}: error rate {ci(d['error_rate'], 2, 100)} pp, latency "
                     f"{ci(d['latency'])} ms, cost/request {ci(d['cost'], 6)} $, tokens/request {ci(d['tokens'])}"
                     + (f"  (not significant: {', '.join(d['not_significant'])})" if d.get("not_significant") else ""))
    lines += [f"warning: {w}" for w in data["warnings"]]
    return "\n".join(lines)
