"""Policy snapshots: one frozen `LoadedPolicy` per policy version, and the `PolicyStore` that serves the
live one.

A LoadedPolicy holds everything one version needs: the compiled Policy, the parsed set it came from, its
files, version and warnings, and the adapters for its providers. The store swaps the live snapshot with
a single reference store. A request leases the snapshot it is decided with (``acquire``) and gives it
back when it is recorded (``release``), so everything it does in between — every attempt, every
fallback — uses that version's providers and prices, never a newer one's. The adapters of a retired
snapshot that no other snapshot shares are closed once its last request is released.

The store swaps; it does not watch files (reloading is built on top of ``PolicyStore.swap``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import dsl
from dsl.ast import Provider

from .providers.base import Adapter
from .providers.registry import make_adapter

log = logging.getLogger("open_router.policy")


@dataclass(frozen=True, eq=False)
class LoadedPolicy:
    """One policy version, ready to serve. Compared and hashed by identity (one object per load)."""

    policy: Any  # dsl.tree.Policy
    policy_set: Any  # dsl.PolicySet it was compiled from (budgets against the key store, reviews)
    files: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # the checker's headlines, on the policy alone
    loaded_at: float = field(default_factory=time.time)
    adapters: Mapping[str, Adapter] = field(default_factory=dict)  # provider name → adapter

    @property
    def version(self) -> str:
        return self.policy.version

    def with_adapters(self, env: Mapping[str, str], pool_size: int,
                      reuse: LoadedPolicy | None = None) -> LoadedPolicy:
        """This snapshot with an adapter for each of its providers. A provider declared exactly as in
        ``reuse`` keeps that snapshot's adapter (and its warm connection pool)."""
        old = reuse.adapters if reuse is not None else {}
        old_decls = reuse.policy.providers if reuse is not None else {}
        adapters: dict[str, Adapter] = {}
        for name, provider in self.policy.providers.items():
            prev = old.get(name)
            if prev is not None and _same_provider(old_decls.get(name), provider):
                adapters[name] = prev
            else:
                adapters[name] = make_adapter(provider, env, limit=pool_size)
        return replace(self, adapters=adapters)


def _same_provider(a: Provider | None, b: Provider) -> bool:
    """Declared alike, wherever in the files (the span does not matter)."""
    return a is not None and replace(a, span=b.span) == b


def load_policy_dir(directory: Path | str) -> LoadedPolicy:
    """Parse, check and compile a policy directory (its top-level *.policy files, in name order) or file,
    without adapters (``with_adapters`` adds them). Raises dsl.PolicyError, whose diagnostics say what and
    where."""
    from dsl.syntax import policy_paths

    files = policy_paths([directory])
    ps, policy, warnings = dsl.load_policy_set(files)
    return LoadedPolicy(policy, ps, tuple(str(f) for f in files), tuple(w.headline() for w in warnings))


def budget_subject_warnings(snapshot: LoadedPolicy, subjects: Mapping[str, set[str]]) -> list[str]:
    """W192 headlines: the policy's budgets and limits for a team, project, app, cost center or key that
    none of the active keys (``subjects``: KeyStore.subjects()) carries — a typo, or a key not made yet."""
    if snapshot.policy_set is None:
        return []
    from dsl.check import check_budget_subjects

    return [d.headline() for d in check_budget_subjects(snapshot.policy_set, subjects)]


class PolicyStore:
    """The live snapshot (``current``), leases on it, and the retired snapshots still in use.

    ``current`` is replaced by one attribute store, so a reader sees the old snapshot or the new one,
    never a mix. ``acquire`` / ``release`` count the requests holding each snapshot; both are a dict
    update on the event loop thread (no lock: one loop per process)."""

    def __init__(self, snapshot: LoadedPolicy) -> None:
        self.current = snapshot
        self.subject_warnings: list[str] = []  # W192s against the key store, as of the last check
        self.last_error: str | None = None  # the last rejected load (reloads report it)
        self._leases: dict[LoadedPolicy, int] = {}
        self._retired: list[LoadedPolicy] = []
        self._closing: set[asyncio.Task[None]] = set()

    @property
    def version(self) -> str:
        return self.current.version

    @property
    def policy(self) -> Any:
        return self.current.policy

    # ------------------------------------------------------------------ leases

    def acquire(self) -> LoadedPolicy:
        """The live snapshot, held for one request until ``release``."""
        snap = self.current
        leases = self._leases
        leases[snap] = leases.get(snap, 0) + 1
        return snap

    def release(self, snap: LoadedPolicy) -> None:
        leases = self._leases
        n = leases.get(snap, 0) - 1
        if n > 0:
            leases[snap] = n
            return
        leases.pop(snap, None)
        if snap is not self.current and snap in self._retired:
            self._retire_now(snap)

    def in_use(self, snap: LoadedPolicy) -> int:
        """How many requests hold ``snap``."""
        return self._leases.get(snap, 0)

    # ------------------------------------------------------------------ swapping

    def swap(self, new: LoadedPolicy) -> LoadedPolicy:
        """Serve ``new`` from now on; the previous snapshot is retired (its unshared adapters close when
        its last request is released, at once when it has none). Returns the previous snapshot."""
        old, self.current = self.current, new
        self.last_error = None
        if old is not new:
            self._retired.append(old)
            if not self._leases.get(old):
                self._retire_now(old)
        return old

    def _retire_now(self, snap: LoadedPolicy) -> None:
        self._retired.remove(snap)
        keep = {id(a) for s in (self.current, *self._retired) for a in s.adapters.values()}
        closing = [a for a in snap.adapters.values() if id(a) not in keep]
        if not closing:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a swap before serving): nothing was opened on one
            return
        task = loop.create_task(_close_all(closing))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every adapter of every snapshot (at shutdown)."""
        adapters: dict[int, Adapter] = {}
        for snap in (self.current, *self._retired):
            for a in snap.adapters.values():
                adapters[id(a)] = a
        self._retired.clear()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        await _close_all(list(adapters.values()))


async def _close_all(adapters: list[Adapter]) -> None:
    for adapter in adapters:
        try:
            await adapter.aclose()
        except Exception:  # closing must go on for the others
            log.exception("closing adapter %r failed", adapter)


__all__ = ["LoadedPolicy", "PolicyStore", "budget_subject_warnings", "load_policy_dir"]
