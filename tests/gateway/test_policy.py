"""Policy snapshots: leases, the swap, and when a retired snapshot's adapters close."""
from __future__ import annotations

import asyncio
from pathlib import Path

from gateway.policy import LoadedPolicy, PolicyStore, load_policy_dir

POLICY = """
provider a  kind mock
provider b  kind mock base_url "mock://?latency_ms=1"
model m1 = a/"x"  price in 1 out 2 per 1M
model m2 = b/"y"  price in 3 out 4 per 1M
default
  use m1
  fallback m2
"""


class Closing:
    """Stands in for an adapter: counts its closes."""

    def __init__(self) -> None:
        self.closed = 0

    async def aclose(self) -> None:
        self.closed += 1


def _load(tmp: Path, text: str, name: str) -> LoadedPolicy:
    d = tmp / name
    d.mkdir()
    (d / "main.policy").write_text(text)
    return load_policy_dir(d)


def test_snapshot_holds_its_version_files_and_prices(tmp_path: Path) -> None:
    snap = _load(tmp_path, POLICY, "one")
    assert snap.files == (str(tmp_path / "one" / "main.policy"),)
    assert snap.version == snap.policy.version
    t = snap.policy.target("m2")
    assert (t.provider, t.upstream, t.price_in, t.price_out) == ("b", "y", 3, 4)
    assert snap.policy.target("nope") is None
    bound = snap.with_adapters({}, 4)
    assert sorted(bound.adapters) == ["a", "b"] and bound.policy is snap.policy


def test_with_adapters_reuses_only_unchanged_providers(tmp_path: Path) -> None:
    one = _load(tmp_path, POLICY, "one").with_adapters({}, 4)
    # Provider b moves (another line) but is declared alike; provider a changes its base_url.
    changed = POLICY.replace('provider a  kind mock', 'provider a  kind mock base_url "mock://?dims=8"')
    changed = "# a comment moves every line\n" + changed
    two = _load(tmp_path, changed, "two").with_adapters({}, 4, reuse=one)
    assert two.adapters["b"] is one.adapters["b"]
    assert two.adapters["a"] is not one.adapters["a"]


def test_a_retired_snapshot_closes_its_unshared_adapters_after_its_last_lease(tmp_path: Path) -> None:
    async def go() -> None:
        shared, old_only, new_only = Closing(), Closing(), Closing()
        base = _load(tmp_path, POLICY, "one")
        old = LoadedPolicy(base.policy, base.policy_set, base.files, adapters={"a": old_only, "b": shared})
        new = LoadedPolicy(base.policy, base.policy_set, base.files, adapters={"a": new_only, "b": shared})
        store = PolicyStore(old)
        first, second = store.acquire(), store.acquire()
        assert first is second is old and store.in_use(old) == 2
        assert store.swap(new) is old
        assert store.current is new and store.acquire() is new
        store.release(first)
        await asyncio.sleep(0)
        assert old_only.closed == 0  # one request still holds the old version
        store.release(second)
        for _ in range(3):
            await asyncio.sleep(0)
        assert (old_only.closed, shared.closed, new_only.closed) == (1, 0, 0)
        store.release(new)
        await store.aclose()
        assert (old_only.closed, shared.closed, new_only.closed) == (1, 1, 1)

    asyncio.run(go())


def test_a_snapshot_with_no_requests_retires_at_the_swap(tmp_path: Path) -> None:
    async def go() -> None:
        gone = Closing()
        base = _load(tmp_path, POLICY, "one")
        store = PolicyStore(LoadedPolicy(base.policy, base.policy_set, base.files, adapters={"a": gone}))
        store.swap(LoadedPolicy(base.policy, base.policy_set, base.files, adapters={}))
        for _ in range(3):
            await asyncio.sleep(0)
        assert gone.closed == 1

    asyncio.run(go())
