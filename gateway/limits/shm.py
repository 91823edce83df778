"""The shared-memory store: the worker processes of one machine share counters in one memory-mapped file,
each operation a few loads and stores under an exclusive ``flock`` on that file — on the event loop
thread, with no thread hop and no SQL (microseconds; `serve --workers N`'s default without Redis).

Atomic: every operation runs `core.evaluate` and its writes while holding the lock, so a reservation is all
or none across processes exactly as in the memory store. Crash-safe: the writes of one operation are first
recorded in the file's redo record (offset, 8 bytes each), the record is armed, the writes are applied,
then it is disarmed; whoever takes the lock next and finds it armed applies it again (the values are
absolute, so twice is once). A process killed in the middle therefore leaves either none or all of its
operation, and ``flock`` is released by the kernel when its holder dies. Durability is the page cache's
(the file outlives processes, not necessarily a power cut): a counter that is missing is seeded from the
ledger, as with every store.

Layout (little-endian)::

    header   4096 B   magic, geometry, the hold-allocation hint, the redo record (up to 250 writes)
    slots    n × 40 B key digest (blake2b-128; all-zero = empty), v1, v2, expires (f64)
                      budget: v1 spent, v2 reserved (int64 nano) · rate: v1 tat (f64) · claim: neither
    hold exp m × 8 B  each reservation's expiry (0.0 = free): one array, so the sweep reads it at once
    holds    m × 152 B owner token (pid, sequence), amount (int64), line count, up to 16 × (slot u32,
                      the slot's key digest prefix 4 B)

Slots are an open-addressing table (linear probing); a slot whose ``expires`` has passed is reused by the
next insert on its probe path, so the table needs no deletion. A budget counter expires at period end plus
the grace; a rate slot at its tat (after which its state equals idle); a claim at its ttl. A reservation
that expires (its request vanished) is swept — its amount taken back off each budget slot it holds, if the
slot still holds that key — by whichever process reserves next, at most once a second.

Capacity (defaults: 65,536 keys, 16,384 reservations in flight, 16 budgets per request): a full table is a
`StoreError` (503 ``budget_store_unavailable``, or fail-open), never a silent pass.
"""
from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import struct
import time
from pathlib import Path
from typing import Iterable

from .core import OK, Hold, Result, StoreError, evaluate

MAGIC = b"ORLIMIT1"
HEADER = 4096
SLOT = 40
HOLD = 152
MAX_LINES = 16
REDO = 64  # armed u32, count u32, then (offset u64, 8 bytes) entries
MAX_REDO = (HEADER - REDO - 8) // 16
SWEEP_EVERY = 1.0
ZERO16 = bytes(16)
_Q = struct.Struct("<q")
_D = struct.Struct("<d")
_SLOT = struct.Struct("<16sqqd")
_SLOT_RATE = struct.Struct("<16sdqd")
_ENTRY = struct.Struct("<Q8s")
_LINE = struct.Struct("<I4s")
_ARM = struct.Struct("<II")
_HOLDHEAD = struct.Struct("<QqII")
DISARM = bytes(4)


def digest(key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


class ShmStore:
    kind = "shm"
    shared = True  # every worker process on this machine

    def __init__(self, path: Path | str, *, slots: int = 65536, holds: int = 16384) -> None:
        self.path = str(path)
        self.healthy = True
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open the counter file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                if size == 0:
                    size = HEADER + slots * SLOT + holds * (8 + HOLD)
                    os.ftruncate(self._fd, size)
                    os.pwrite(self._fd, MAGIC + struct.pack("<II", slots, holds), 0)
                head = os.pread(self._fd, 16, 0)
                if head[:8] != MAGIC:
                    raise StoreError(f"{self.path} is not an Open-Router counter file; remove it or set "
                                     "limits_path to another file")
                self.nslots, self.nholds = struct.unpack("<II", head[8:16])
                if size < HEADER + self.nslots * SLOT + self.nholds * (8 + HOLD):
                    raise StoreError(f"the counter file {self.path} is truncated; remove it")
                self._mm = mmap.mmap(self._fd, size)
                self._replay()
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        except BaseException:
            os.close(self._fd)
            raise
        self._slots0 = HEADER
        self._exp0 = HEADER + self.nslots * SLOT
        self._holds0 = self._exp0 + self.nholds * 8
        self._digests: dict[str, bytes] = {}
        self._where: dict[str, int] = {}  # key → slot index last seen (checked against the digest on use)
        self._mine: dict[str, tuple[int, bytes]] = {}  # rid → (hold index, token): this handle's reservations
        self._token = os.getpid() << 32
        self._pid = os.getpid()
        self._next_sweep = 0.0

    # ------------------------------------------------------------------ the lock and the redo record

    def _lock(self) -> mmap.mmap:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot lock the counter file: {exc}") from None
        mm = self._mm
        if mm[REDO]:
            self._replay()
        return mm

    def _unlock(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _replay(self) -> None:
        mm = self._mm
        armed, count = struct.unpack_from("<II", mm, REDO)
        if armed:
            for i in range(count):
                off, data = _ENTRY.unpack_from(mm, REDO + 8 + 16 * i)
                mm[off:off + 8] = data
            struct.pack_into("<I", mm, REDO, 0)

    def _commit(self, writes: list[tuple[int, bytes]]) -> None:
        """Apply ``writes`` (offset, 8 bytes) all or none, even if this process dies halfway."""
        if not writes:
            return
        if len(writes) > MAX_REDO:
            raise StoreError("too many counter writes for one operation")
        mm = self._mm
        n = len(writes)
        pack = _ENTRY.pack
        mm[REDO + 8:REDO + 8 + 16 * n] = b"".join([pack(off, data) for off, data in writes])
        _ARM.pack_into(mm, REDO, 1, n)
        for off, data in writes:
            mm[off:off + 8] = data
        mm[REDO:REDO + 4] = DISARM

    # ------------------------------------------------------------------ slots

    def _digest(self, key: str) -> bytes:
        d = self._digests.get(key)
        if d is None:
            if len(self._digests) > 100_000:
                self._digests.clear()
                self._where.clear()
            d = self._digests[key] = digest(key)
        return d

    def _find(self, key: str, now: float) -> tuple[int, bool]:
        """(slot index, live?) of ``key``; (-1, False) when absent. An expired slot that still holds the key
        is returned with live False (the caller may reinitialise it in place)."""
        mm = self._mm
        d = self._digest(key)
        i = self._where.get(key)
        if i is not None:
            off = self._slots0 + i * SLOT
            if mm[off:off + 16] == d:
                return i, _D.unpack_from(mm, off + 32)[0] > now
        n = self.nslots
        i = int.from_bytes(d[:8], "little") % n
        for _ in range(n):
            off = self._slots0 + i * SLOT
            got = mm[off:off + 16]
            if got == d:
                self._where[key] = i
                return i, _D.unpack_from(mm, off + 32)[0] > now
            if got == ZERO16:
                return -1, False
            i = (i + 1) % n
        return -1, False

    def _free_slot(self, key: str, now: float, taken: tuple[int, ...] | list[int] = ()) -> int:
        """A slot for a new ``key`` (absent from the table): the first expired or empty one on its path that
        this operation has not ``taken`` already."""
        mm = self._mm
        d = self._digest(key)
        n = self.nslots
        i = int.from_bytes(d[:8], "little") % n
        for _ in range(n):
            off = self._slots0 + i * SLOT
            if (mm[off:off + 16] == ZERO16 or _D.unpack_from(mm, off + 32)[0] <= now) and i not in taken:
                self._where[key] = i
                return i
            i = (i + 1) % n
        raise StoreError(f"the counter file is full ({n} keys); raise its size")

    def _slot_writes(self, i: int, key: str, v1: bytes, v2: bytes, expires: float) -> list[tuple[int, bytes]]:
        off = self._slots0 + i * SLOT
        d = self._digest(key)
        return [(off, d[:8]), (off + 8, d[8:]), (off + 16, v1), (off + 24, v2), (off + 32, _D.pack(expires))]

    # ------------------------------------------------------------------ holds

    def _sweep(self, now: float, writes: list[tuple[int, bytes]], delta: dict[int, int]) -> None:
        """Expired reservations: free each and take its amount back off its budget slots (into ``delta``)."""
        exps = struct.unpack_from(f"<{self.nholds}d", self._mm, self._exp0)
        for h, e in enumerate(exps):
            if 0.0 < e <= now:
                self._free_hold(h, writes, delta)

    def _free_hold(self, h: int, writes: list[tuple[int, bytes]], delta: dict[int, int]) -> None:
        mm = self._mm
        off = self._holds0 + h * HOLD
        _, amount, n, _ = _HOLDHEAD.unpack_from(mm, off)
        for j in range(min(n, MAX_LINES)):
            slot, prefix = _LINE.unpack_from(mm, off + 24 + 8 * j)
            soff = self._slots0 + slot * SLOT
            if mm[soff:soff + 4] == prefix:
                delta[slot] = delta.get(slot, 0) - amount
        writes.append((self._exp0 + 8 * h, _D.pack(0.0)))

    def _alloc_hold(self) -> int:
        mm = self._mm
        n = self.nholds
        start = struct.unpack_from("<I", mm, 16)[0] % n
        for k in range(n):
            h = (start + k) % n
            if _D.unpack_from(mm, self._exp0 + 8 * h)[0] == 0.0:
                struct.pack_into("<I", mm, 16, (h + 1) % n)  # a hint only: not part of any operation
                return h
        raise StoreError(f"{n} reservations in flight: the counter file has no room for more")

    def _held(self, rid: str) -> int:
        """The hold index of ``rid`` if this handle reserved it and it is still held (not settled, not swept
        and reused), else -1. (The Admission settles through the store that reserved.)"""
        mine = self._mine.pop(rid, None)
        if mine is None:
            return -1
        h, token = mine
        mm = self._mm
        off = self._holds0 + h * HOLD
        if mm[off:off + 8] == token and _D.unpack_from(mm, self._exp0 + 8 * h)[0] != 0.0:
            return h
        return -1

    def _budget_writes(self, delta: dict[int, int], writes: list[tuple[int, bytes]], spent_add: dict[int, int]
                       ) -> None:
        mm = self._mm
        for slot in (delta.keys() | spent_add.keys()) if spent_add else delta:
            off = self._slots0 + slot * SLOT
            _, spent, reserved, _ = _SLOT.unpack_from(mm, off)
            if slot in spent_add:
                writes.append((off + 16, _Q.pack(spent + spent_add[slot])))
            if slot in delta:
                writes.append((off + 24, _Q.pack(reserved + delta[slot])))

    # ------------------------------------------------------------------ the operations (sync: atomic)

    def reserve_now(self, h: Hold, now: float) -> Result:
        if len(h.budgets) > MAX_LINES:
            raise StoreError(f"a request under more than {MAX_LINES} budgets")
        mm = self._lock()
        try:
            writes: list[tuple[int, bytes]] = []
            delta: dict[int, int] = {}
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_EVERY
                self._sweep(now, writes, delta)
            slots: list[int] = []
            levels: list[int | None] = []
            for line in h.budgets:
                i, live = self._find(line.key, now)
                slots.append(i)
                if not live:
                    levels.append(None)
                    continue
                _, spent, reserved, _ = _SLOT.unpack_from(mm, self._slots0 + i * SLOT)
                levels.append(spent + reserved + delta.get(i, 0))
            tats: list[float | None] = []
            rate_slots: list[int] = []
            for line in h.rates:
                i, live = self._find(line.key, now)
                rate_slots.append(i)
                tats.append(_D.unpack_from(mm, self._slots0 + i * SLOT + 16)[0] if live else None)
            result, new_tats = evaluate(h, levels, tats, now)
            if result.status is not OK:
                if writes:  # the sweep's
                    self._budget_writes(delta, writes, {})
                    self._commit(writes)
                return result
            new: dict[str, int] = {}  # keys inserted by this operation (not in the table until the commit)
            for line, i, tat in zip(h.rates, rate_slots, new_tats):
                if i >= 0:
                    off = self._slots0 + i * SLOT
                    packed = _D.pack(tat)
                    writes.append((off + 16, packed))
                    writes.append((off + 32, packed))
                    continue
                i = new.get(line.key, -1)
                if i < 0:
                    i = new[line.key] = self._free_slot(line.key, now, list(new.values()))
                writes += self._slot_writes(i, line.key, _D.pack(tat), _Q.pack(0), tat)
            if h.budgets:
                amount = h.amounts[result.option] if h.amounts else 0
                for i in slots:
                    delta[i] = delta.get(i, 0) + amount
                k = self._alloc_hold()
                off = self._holds0 + k * HOLD
                if os.getpid() != self._pid:  # forked: tokens must stay unique per process
                    self._pid, self._token = os.getpid(), os.getpid() << 32
                self._token += 1
                token = _Q.pack(self._token)
                rec = _HOLDHEAD.pack(self._token, amount, len(slots), 0) + b"".join(
                    [_LINE.pack(i, self._digest(line.key)[:4]) for i, line in zip(slots, h.budgets)])
                writes += [(off + j, rec[j:j + 8]) for j in range(0, len(rec), 8)]
                writes.append((self._exp0 + 8 * k, _D.pack(h.expires)))
                self._mine[h.rid] = (k, token)
                if len(self._mine) > 2 * self.nholds:  # reservations that expired unsettled
                    self._mine = {r: m for r, m in self._mine.items()
                                  if mm[self._holds0 + m[0] * HOLD:self._holds0 + m[0] * HOLD + 8] == m[1]}
            self._budget_writes(delta, writes, {})
            self._commit(writes)
            return result
        finally:
            self._unlock()

    def settle_now(self, h: Hold, amount: int, cost: int, tokens: int | None, now: float) -> dict[str, int]:
        """As MemoryStore.settle_now: ``amount`` reserved becomes ``cost`` spent (only the spend is added when
        the reservation already expired); token lines corrected to ``tokens``. Each budget's spend after."""
        mm = self._lock()
        try:
            writes: list[tuple[int, bytes]] = []
            delta: dict[int, int] = {}
            k = self._held(h.rid) if h.budgets else -1
            if k >= 0:
                writes.append((self._exp0 + 8 * k, _D.pack(0.0)))
            spent_add: dict[int, int] = {}
            keys: dict[int, str] = {}
            for line in h.budgets:
                i, live = self._find(line.key, now)
                if i < 0:
                    continue
                keys[i] = line.key
                spent_add[i] = spent_add.get(i, 0) + cost
                if k >= 0:
                    delta[i] = delta.get(i, 0) - amount
            if tokens is not None:
                for line in h.rates:
                    if line.unit == "tokens" and tokens != line.cost:
                        i, live = self._find(line.key, now)
                        if i >= 0 and live:
                            tat = _D.unpack_from(mm, self._slots0 + i * SLOT + 16)[0]
                            new = max(tat + (tokens - line.cost) * line.interval, now)
                            off = self._slots0 + i * SLOT
                            writes += [(off + 16, _D.pack(new)), (off + 32, _D.pack(new))]
            self._budget_writes(delta, writes, spent_add)
            self._commit(writes)
            out = {}
            for i, key in keys.items():
                out[key] = _SLOT.unpack_from(mm, self._slots0 + i * SLOT)[1]
            return out
        finally:
            self._unlock()

    def seed_now(self, key: str, spent: int, expires: float) -> None:
        now = time.time()
        self._lock()
        try:
            i, live = self._find(key, min(now, expires - 1e-9))
            if i >= 0 and live:
                off = self._slots0 + i * SLOT
                if _SLOT.unpack_from(self._mm, off)[1] < spent:
                    self._commit([(off + 16, _Q.pack(spent))])
                return
            if i < 0:
                i = self._free_slot(key, now)
            self._commit(self._slot_writes(i, key, _Q.pack(spent), _Q.pack(0), expires))
        finally:
            self._unlock()

    def claim_now(self, key: str, ttl: float) -> bool:
        now = time.time()
        key = "claim:" + key
        self._lock()
        try:
            i, live = self._find(key, now)
            if live:
                return False
            if i < 0:
                i = self._free_slot(key, now)
            self._commit(self._slot_writes(i, key, _Q.pack(0), _Q.pack(0), now + ttl))
            return True
        finally:
            self._unlock()

    def status_now(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        """Each present counter's (spent, reserved), expired or not (as the memory store until its sweep)."""
        mm = self._lock()
        try:
            out = {}
            for key in keys:
                i, _ = self._find(key, 0.0)
                if i >= 0:
                    _, spent, reserved, _ = _SLOT.unpack_from(mm, self._slots0 + i * SLOT)
                    out[key] = (spent, reserved)
            return out
        finally:
            self._unlock()

    # ------------------------------------------------------------------ the async face every store has

    async def reserve(self, h: Hold, now: float) -> Result:
        return self.reserve_now(h, now)

    async def settle(self, h: Hold, amount: int, cost: int, tokens: int | None, now: float) -> dict[str, int]:
        return self.settle_now(h, amount, cost, tokens, now)

    async def seed(self, key: str, spent: int, expires: float) -> None:
        self.seed_now(key, spent, expires)

    async def claim(self, key: str, ttl: float) -> bool:
        return self.claim_now(key, ttl)

    async def status(self, keys: Iterable[str]) -> dict[str, tuple[int, int]]:
        return self.status_now(keys)

    async def ping(self) -> None:
        self._lock()
        self._unlock()

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            try:
                self._mm.close()
            except BufferError:
                pass
            os.close(self._fd)
            self._fd = -1


__all__ = ["ShmStore", "digest"]
