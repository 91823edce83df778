"""Shared-cost allocation reconciles to the cent: largest remainder on adversarial amounts (hypothesis),
fixed percentages, by usage, and a shared scope's usage moved out and spread."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.billing.allocation import SharedCost, allocate, largest_remainder
from gateway.billing.pricing import to_cents

D = Decimal
money = st.decimals(min_value=D("0"), max_value=D("100000"), places=6, allow_nan=False, allow_infinity=False)
weights = st.dictionaries(st.text("abcdefgh", min_size=1, max_size=3), money, min_size=1, max_size=8)


def test_largest_remainder_examples() -> None:
    assert largest_remainder(D("100.00"), {"a": D(1), "b": D(1), "c": D(1)}) == \
        {"a": D("33.34"), "b": D("33.33"), "c": D("33.33")}  # the tie goes by name
    assert largest_remainder(D("0.01"), {"x": D(1), "y": D(2)}) == {"x": D("0.00"), "y": D("0.01")}
    assert largest_remainder(D("10"), {"a": D(0), "b": D(0)}) == {"a": D("5.00"), "b": D("5.00")}
    assert largest_remainder(D("1"), {}) == {}


@given(money, weights)
def test_parts_always_add_up_to_the_amount_in_cents(amount: Decimal, w: dict[str, Decimal]) -> None:
    parts = largest_remainder(amount, w)
    assert sum(parts.values(), D(0)) == to_cents(amount)
    assert all(p == p.quantize(D("0.01")) and p >= 0 for p in parts.values())
    total_w = sum(w.values(), D(0))
    if total_w > 0:
        for k, p in parts.items():  # each part within a cent of its exact share
            assert abs(p - to_cents(amount) * w[k] / total_w) < D("0.01")


@given(st.dictionaries(st.sampled_from(["eng", "research", "ops", "sales"]), money, min_size=1),
       st.lists(money, max_size=3), money)
def test_the_bill_reconciles(direct: dict[str, Decimal], flats: list[Decimal], platform: Decimal) -> None:
    shared = [SharedCost(f"flat-{i}", a, percentages=({"eng": D(60), "research": D(40)} if i % 2 else None))
              for i, a in enumerate(flats)]
    shared.append(SharedCost("platform", scope=("team", "platform")))
    direct = dict(direct)
    moved = {"ops": min(platform, direct.get("ops", D(0)))}
    alloc = allocate(direct, {("team", "platform"): moved}, shared)
    flat_total = sum((to_cents(a) for a in flats), D(0))
    assert alloc.shared_total == flat_total
    assert sum((line.total for line in alloc.lines.values()), D(0)) == to_cents(sum(direct.values(), D(0))) + flat_total
    assert alloc.total == alloc.direct_total + alloc.shared_total


def test_fixed_shares_by_usage_and_a_shared_scope() -> None:
    direct = {"eng": D("300.004"), "research": D("100.001"), "platform-cc": D("50")}
    shared = [SharedCost("contract", D("1200"), percentages={"eng": D(60), "research": D(40)}),
              SharedCost("support", D("100")),  # by usage
              SharedCost("platform", scope=("team", "platform"))]
    alloc = allocate(direct, {("team", "platform"): {"platform-cc": D("50")}}, shared, ["eng", "research", "ops"])
    eng, research, ops, plat = (alloc.lines[n] for n in ("eng", "research", "ops", "platform-cc"))
    assert eng.from_shares["contract"] == D("720.00") and research.from_shares["contract"] == D("480.00")
    # support by direct usage once the shared scope's usage is moved out: 300 : 100 : 0
    assert eng.from_shares["support"] == D("75.00") and research.from_shares["support"] == D("25.00")
    assert plat.direct == D("0.00")  # the platform team's usage moved out of its own cost center ...
    assert eng.from_shares["platform"] + research.from_shares["platform"] + plat.from_shares.get("platform", 0) \
        == D("50.00")  # ... and spread
    assert ops.total == D("0")
    assert sum((line.total for line in alloc.lines.values()), D(0)) == D("450.00") + D("1300")  # 450.005, half to even
