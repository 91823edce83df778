"""The shared-memory counter file beyond the store contract (test_stores.py): interleavings across two
handles on one file (what two workers do) never exceed a cap and keep `reserved` equal to the live
reservations; two real processes hammering one file end exact; an operation cut off halfway is replayed
whole from the redo record; a full file refuses instead of passing."""
from __future__ import annotations

import multiprocessing
import struct
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from gateway.limits.core import BUDGET, OK, SEED, BudgetLine, Hold, RateLine, StoreError
from gateway.limits.shm import REDO, ShmStore

CAP = 1000
KEYS = ("b:team:eng", "b:project:p")
FAR = 1e12

ops = st.lists(st.one_of(
    st.tuples(st.just("reserve"), st.integers(0, 1), st.integers(1, 400),
              st.sets(st.sampled_from(KEYS), min_size=1), st.booleans()),
    st.tuples(st.just("settle"), st.integers(0, 30), st.floats(0, 1)),
    st.tuples(st.just("release"), st.integers(0, 30)),
    st.tuples(st.just("tick"), st.integers(1, 50)),
), max_size=60)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_two_handles_never_exceed_the_cap(tmp_path_factory: Any, program: list) -> None:
    path = tmp_path_factory.mktemp("shm") / "c.shm"
    a, b = ShmStore(path, slots=64, holds=64), ShmStore(path, slots=64, holds=64)
    try:
        for k in KEYS:
            a.seed_now(k, 0, FAR)
        now = 0.0
        live: list[tuple[Any, Hold, int]] = []  # (handle that reserved, hold, amount)
        n = 0
        for op in program:
            if op[0] == "reserve":
                _, which, amount, keys, short = op
                n += 1
                h = Hold(f"r{n}", tuple(BudgetLine(k, CAP, (), FAR) for k in sorted(keys)), (amount,), (),
                         now + (5 if short else 1e9))
                if (a, b)[which].reserve_now(h, now).status == OK:
                    live.append(((a, b)[which], h, amount))
            elif op[0] in ("settle", "release") and live:
                s, h, amount = live.pop(op[1] % len(live))
                cost = int(amount * op[2]) if op[0] == "settle" else 0
                s.settle_now(h, amount, cost, None, now)
            elif op[0] == "tick":
                now += op[1]
                # a reserve through either handle sweeps what expired (at most once a second per handle)
                a.reserve_now(Hold(f"t{n}", (), (), (), FAR), now)
                b.reserve_now(Hold(f"u{n}", (), (), (), FAR), now)
                live = [x for x in live if x[1].expires > now]  # swept: a late settle is test_stores' case
            state = a.status_now(KEYS)
            for k in KEYS:
                spent, reserved = state[k]
                assert reserved >= 0 and spent + reserved <= CAP, (k, spent, reserved)
                expected = sum(amt for _, h, amt in live
                               if any(line.key == k for line in h.budgets))
                assert reserved == expected, (k, reserved, expected)
    finally:
        a.close()
        b.close()


def _hammer(path: str, worker: int, n: int, out: Any) -> None:
    store = ShmStore(path)
    spent = ok = 0
    for i in range(n):
        h = Hold(f"w{worker}-{i}", (BudgetLine("b:team:eng", 50_000, (), FAR),), (100,),
                 (RateLine("rpm:team:eng", 60.0 / 1e9, 1, 10**9, "requests"),), FAR)
        r = store.reserve_now(h, 1000.0 + i * 1e-3)
        if r.status == OK:
            ok += 1
            cost = 37 + (i % 50)
            store.settle_now(h, 100, cost, None, 1000.0)
            spent += cost
        else:
            assert r.status == BUDGET
    store.close()
    out.put((ok, spent))


def test_two_processes_end_exact(tmp_path: Path) -> None:
    path = str(tmp_path / "c.shm")
    s = ShmStore(path)
    s.seed_now("b:team:eng", 0, FAR)
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(path, w, 1500, q)) for w in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
        assert p.exitcode == 0
    spent, reserved = s.status_now(["b:team:eng"])["b:team:eng"]
    assert reserved == 0
    assert spent == sum(r[1] for r in results)  # every settle counted once, none lost between processes
    assert spent <= 50_000 and spent > 50_000 - 100  # the cap stopped both, within one reservation
    s.close()


class _Dies(ShmStore):
    """Arms the redo record and applies only the first half of the writes, as a process killed midway
    (once: then it commits normally)."""

    died = False

    def _commit(self, writes: list[tuple[int, bytes]]) -> None:
        if self.died:
            return super()._commit(writes)
        self.died = True
        mm = self._mm
        for i, (off, data) in enumerate(writes):
            struct.pack_into("<Q8s", mm, REDO + 8 + 16 * i, off, data)
        struct.pack_into("<II", mm, REDO, 1, len(writes))
        for off, data in writes[: len(writes) // 2]:
            mm[off:off + 8] = data
        raise SystemExit("killed")


def test_an_operation_cut_off_halfway_is_replayed_whole(tmp_path: Path) -> None:
    path = tmp_path / "c.shm"
    good = ShmStore(path, slots=64, holds=64)
    good.seed_now("b:a", 10, FAR)
    good.seed_now("b:b", 20, FAR)
    dying = _Dies(path, slots=64, holds=64)
    two = Hold("r", (BudgetLine("b:a", 1000, (), FAR), BudgetLine("b:b", 1000, (), FAR)), (300,), (), FAR)
    with pytest.raises(SystemExit):
        dying.reserve_now(two, 1.0)
    # the next operation through any handle finishes the cut-off one first: both budgets hold the 300
    assert good.status_now(["b:a", "b:b"]) == {"b:a": (10, 300), "b:b": (20, 300)}
    dying.settle_now(two, 300, 120, None, 2.0)  # and the reservation it recorded settles normally
    assert good.status_now(["b:a", "b:b"]) == {"b:a": (130, 0), "b:b": (140, 0)}
    good.close()
    dying.close()


def test_a_full_file_refuses_rather_than_passes(tmp_path: Path) -> None:
    s = ShmStore(tmp_path / "c.shm", slots=4, holds=2)
    for i in range(4):
        s.seed_now(f"b:{i}", 0, FAR)
    with pytest.raises(StoreError):
        s.seed_now("b:one-too-many", 0, FAR)
    assert s.reserve_now(Hold("x", (BudgetLine("b:new", 10, (), FAR),), (1,), (), FAR), 1.0).status == SEED
    line = (BudgetLine("b:0", 10, (), FAR),)
    for i in range(2):
        assert s.reserve_now(Hold(f"h{i}", line, (1,), (), FAR), 1.0).status == OK
    with pytest.raises(StoreError):  # more reservations in flight than the file holds
        s.reserve_now(Hold("h3", line, (1,), (), FAR), 1.0)
    assert s.status_now(["b:0"]) == {"b:0": (0, 2)}  # the refused one left nothing behind
    s.close()


def test_not_a_counter_file(tmp_path: Path) -> None:
    p = tmp_path / "c.shm"
    p.write_bytes(b"something else entirely" * 10)
    with pytest.raises(StoreError, match="not an Open-Router counter file"):
        ShmStore(p)
