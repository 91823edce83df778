"""Hypothesis: random interleavings of reserve / settle / release / expiry against the in-memory store never
let committed + reserved exceed a budget's cap, and the counters always equal a model's sums."""
from __future__ import annotations

from hypothesis import given, strategies as st

from gateway.limits.core import OK, BudgetLine, Hold
from gateway.limits.memory import MemoryStore

CAP = 1000
KEYS = ("b:team:eng", "b:project:p")

ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(1, 400), st.sets(st.sampled_from(KEYS), min_size=1),
              st.booleans()),
    st.tuples(st.just("settle"), st.integers(0, 30), st.floats(0, 1)),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("tick"), st.integers(1, 50)),
), max_size=80)


@given(ops)
def test_committed_plus_reserved_never_exceeds_the_cap(program: list) -> None:
    s = MemoryStore()
    for k in KEYS:
        s.seed_now(k, 0, 1e12)
    now = 0.0
    open_holds: list[tuple[Hold, int]] = []
    n = 0
    for op in program:
        if op[0] == "reserve":
            _, amount, keys, short = op
            n += 1
            h = Hold(f"r{n}", tuple(BudgetLine(k, CAP, (), 1e12) for k in sorted(keys)), (amount,), (),
                     now + (5 if short else 1e9))
            if s.reserve_now(h, now).status == OK:
                open_holds.append((h, amount))
        elif op[0] in ("settle", "release") and open_holds:
            h, amount = open_holds.pop(op[1] % len(open_holds))
            cost = int(amount * op[2]) if op[0] == "settle" else 0  # actual cost never above the reservation
            s.settle_now(h, amount, cost, None, now)
        elif op[0] == "tick":
            now += op[1]
        for k in KEYS:
            spent, reserved = s.budgets[k][0], s.budgets[k][1]
            assert reserved >= 0
            assert spent + reserved <= CAP, (k, spent, reserved)
        for k in KEYS:
            # reserved is exactly the live holds' amounts on that key (expired ones are swept on reserve)
            expected = sum(a for h, a in open_holds if h.rid in s.holds and any(l.key == k for l in h.budgets))
            assert s.budgets[k][1] == expected
