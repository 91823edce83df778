"""Hot reload: watch the policy directory, load a changed set off the event loop, swap it in only when it
is whole and valid; otherwise keep serving the last good version and make the rejection visible.

    reloader = Reloader(store, directory, env=os.environ, pool_size=256)
    await reloader.reload("sighup")      # also: the watcher, POST /admin/policy/reload
    reloader.status()                    # what GET /admin/policy shows

A load reads, parses, checks and compiles in a worker thread, with dsl's garbage-collector pause turned
off for it (``dsl.syntax.GC_PAUSE``: pausing the collector from a thread pauses it for the whole server).
A set is accepted only when the files' fingerprints (names, sizes, SHA-256 of their bytes) are the same
before and after the load; otherwise something is still writing (an editor's save-by-rename, a ``git
checkout`` touching many files, a Kubernetes ConfigMap's ``..data`` symlink swap), so the reloader waits
a debounce and reads again. A set whose fingerprint equals the live one's is "unchanged" and swaps
nothing, so a burst of events becomes exactly one reload. The swap itself runs on the loop: adapters are
made for the new snapshot (an unchanged provider keeps its adapter and warm pool) and one reference store
replaces the live snapshot; requests in flight finish on the snapshot they leased.

Anything that goes wrong — a syntax or check error, a half-written file, a directory that vanished or
became unreadable, an oversized or non-UTF-8 file, a symlink loop, an unexpected exception — is a
rejected attempt: logged with its diagnostics (file:line:col), passed to the listeners (metrics, audit)
and kept as ``last_error``. It never crashes the server and never leaves it without a policy.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import stat
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import dsl
from dsl.loading import MAX_BYTES
from dsl.syntax import GC_PAUSE

from .policy import LoadedPolicy, PolicyStore, budget_subject_warnings, load_policy_dir

log = logging.getLogger("open_router.reload")

POLICY_SUFFIX = ".policy"
CONSISTENCY_TRIES = 8  # reads of a set that keeps changing before the attempt is rejected
HISTORY = 200  # attempts kept for /admin/policy


@dataclass(frozen=True)
class FileState:
    """One policy file as read: its name in the directory, size and SHA-256 (or why it could not be read)."""

    name: str
    size: int
    sha256: str | None  # None: not read (too large or unreadable; ``problem`` says which)
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "size": self.size, "sha256": self.sha256}
        if self.problem:
            out["problem"] = self.problem
        return out


Fingerprint = tuple[Any, ...]


def fingerprint(directory: Path) -> Fingerprint:
    """What a load of ``directory`` would read: the top-level policy files (symlinks followed, as a
    ConfigMap mount needs) with sizes and hashes, or a marker of why the directory cannot be listed.
    Never raises for a missing, unreadable or looping path."""
    try:
        if not directory.is_dir():
            if directory.is_file():
                return (_file_state(directory, directory.name),)
            return (("missing", str(directory)),)
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        return (("unreadable", exc.strerror or str(exc)),)
    out: list[Any] = []
    for name in entries:
        if not name.endswith(POLICY_SUFFIX):
            continue
        path = directory / name
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
        except OSError as exc:  # a dangling link, a loop (ELOOP), a file gone since the listing
            if name.startswith("."):
                continue
            out.append(FileState(name, 0, None, exc.strerror or str(exc)))
            continue
        out.append(_file_state(path, name))
    return tuple(out)


def _file_state(path: Path, name: str) -> FileState:
    try:
        size = os.stat(path).st_size
        if size > MAX_BYTES:
            return FileState(name, size, None, "too large")
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        return FileState(name, 0, None, exc.strerror or str(exc))
    return FileState(name, len(data), hashlib.sha256(data).hexdigest())


def _files(fp: Fingerprint) -> list[dict[str, Any]]:
    return [f.as_json() for f in fp if isinstance(f, FileState)]


@dataclass
class Attempt:
    """One reload attempt: when, why, what came of it."""

    at: float  # unix time the attempt ended (for "activated": the moment the new version went live)
    reason: str  # "watch", "sighup", "admin", "start"
    outcome: str  # "activated", "unchanged", "rejected"
    version: str | None  # the version activated (or still live, when unchanged or rejected)
    previous: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # file names added, removed or altered
    error: str | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0  # from the start of the attempt to its end

    def as_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 6), "reason": self.reason, "outcome": self.outcome,
                "version": self.version, "previous": self.previous, "files": self.files,
                "changed": self.changed, "error": self.error, "diagnostics": self.diagnostics,
                "seconds": round(self.seconds, 4)}


class _Moved(Exception):
    """The files changed while they were being loaded."""


def missing_keys(snapshot: LoadedPolicy, env: Mapping[str, str]) -> list[str]:
    """A warning per provider whose ``key env(NAME)`` (or header env()) is unset in ``env``: its first
    request would fail over with provider_key_missing."""
    out: list[str] = []
    for name, provider in sorted(snapshot.policy.providers.items()):
        refs = [provider.key] + [v for _, v in provider.headers]
        for ref in refs:
            var = getattr(ref, "name", None)
            if var and not env.get(var):
                out.append(f"provider {name}: environment variable {var} is unset (its requests will fail "
                           f"over with provider_key_missing)")
    return out


Listener = Callable[[Attempt], None]


class Reloader:
    """Loads, checks and swaps policy versions into a PolicyStore; one per process (per worker)."""

    def __init__(self, store: PolicyStore, directory: Path | str, *, env: Mapping[str, str],
                 pool_size: int, keys: Any = None, debounce: float = 0.2) -> None:
        self.store = store
        self.directory = Path(directory)
        self.env = env
        self.pool_size = pool_size
        self.keys = keys  # a KeyStore: W192 warnings against its subjects, refreshed on each activation
        self.debounce = debounce
        self.listeners: list[Listener] = []
        self.history: deque[Attempt] = deque(maxlen=HISTORY)
        self.last_attempt: Attempt | None = None
        self.last_error: Attempt | None = None
        self.active_files: Fingerprint = ()
        self._rejected_files: Fingerprint = ("none",)
        self.active_since: float = store.current.loaded_at
        self.key_warnings: list[str] = missing_keys(store.current, env)
        self.watching = False
        self._lock = asyncio.Lock()
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ loading

    def prime(self) -> None:
        """Fingerprint the files the live snapshot came from (at start, before serving), so a first event
        that changes nothing reloads nothing."""
        self.active_files = fingerprint(self.directory)

    def _load(self, known: tuple[Fingerprint, ...]) -> tuple[Fingerprint, LoadedPolicy | None, list[str]]:
        """In a worker thread: a consistent load, (fingerprint, snapshot or None when the files are as
        ``known``, subject warnings). Raises dsl.PolicyError, OSError, _Moved, or whatever a bug raises."""
        GC_PAUSE.set(False)  # this thread's context only (to_thread runs us in a copy)
        for _ in range(CONSISTENCY_TRIES):
            before = fingerprint(self.directory)
            if before in known:
                return before, None, []
            try:
                _refuse_unreadable(self.directory, before)
                loaded = load_policy_dir(self.directory)
            except (dsl.PolicyError, OSError):
                if fingerprint(self.directory) != before:
                    time.sleep(self.debounce)
                    continue
                raise
            after = fingerprint(self.directory)
            if after == before:
                subjects: list[str] = []
                if self.keys is not None:
                    try:
                        subjects = budget_subject_warnings(loaded, self.keys.subjects())
                    except Exception:  # the key store is down: the warnings wait for the next look
                        subjects = list(self.store.subject_warnings)
                return after, loaded, subjects
            time.sleep(self.debounce)
        raise _Moved()

    async def reload(self, reason: str = "admin") -> Attempt:
        """Load the directory and swap it in if it is valid and different; one attempt at a time."""
        async with self._lock:
            return await self._reload(reason)

    async def _reload(self, reason: str) -> Attempt:
        t0 = time.perf_counter()
        store = self.store
        live = store.current
        # The watcher skips a set already rejected as it is; an operator's reload tries it again.
        known = (self.active_files, self._rejected_files) if reason == "watch" else (self.active_files,)
        try:
            fp, loaded, subjects = await asyncio.to_thread(self._load, known)
        except Exception as exc:  # every failure is a rejection; the live version keeps serving
            attempt = self._rejected(reason, live, exc, t0)
        else:
            if loaded is None:
                attempt = Attempt(time.time(), reason, "unchanged", live.version, live.version, _files(fp),
                                  seconds=time.perf_counter() - t0)
            else:
                try:
                    new = loaded.with_adapters(self.env, self.pool_size, reuse=live)
                except Exception as exc:  # an adapter that cannot be made (a bad base_url, say)
                    attempt = self._rejected(reason, live, exc, t0)
                else:
                    store.swap(new)
                    store.subject_warnings = subjects
                    changed = _changed(self.active_files, fp)
                    self.active_files, self.active_since = fp, time.time()
                    self.key_warnings = missing_keys(new, self.env)
                    attempt = Attempt(self.active_since, reason, "activated", new.version, live.version,
                                      _files(fp), changed, seconds=time.perf_counter() - t0)
                    log.info("policy reload (%s): activated %s (was %s; files changed: %s) in %.3fs", reason,
                             new.version, live.version, ", ".join(changed) or "-", attempt.seconds)
                    for w in self.key_warnings:
                        log.warning("policy %s: %s", new.version, w)
        self._record(attempt)
        return attempt

    def _rejected(self, reason: str, live: LoadedPolicy, exc: BaseException, t0: float) -> Attempt:
        diagnostics: list[dict[str, Any]] = []
        if isinstance(exc, dsl.PolicyError):
            diagnostics = [d.as_json() | {"headline": d.headline()} for d in exc.diagnostics]
            error = "the policy did not load:\n" + exc.render()
        elif isinstance(exc, _Moved):
            error = "the policy files kept changing while they were read; will load them when they settle"
        elif isinstance(exc, OSError):
            error = f"cannot read {self.directory}: {exc.strerror or exc}"
        else:
            log.error("policy reload failed unexpectedly", exc_info=exc)
            error = f"the policy load failed unexpectedly: {type(exc).__name__}: {exc}"[:2000]
        fp = self._rejected_files = fingerprint(self.directory)
        attempt = Attempt(time.time(), reason, "rejected", live.version, live.version, _files(fp),
                          _changed(self.active_files, fp), error, diagnostics, time.perf_counter() - t0)
        self.store.last_error = error
        self.last_error = attempt
        log.warning("policy reload (%s): rejected; still serving %s. %s", reason, live.version, error)
        return attempt

    def _record(self, attempt: Attempt) -> None:
        self.last_attempt = attempt
        self.history.append(attempt)
        for listener in self.listeners:
            try:
                listener(attempt)
            except Exception:  # a listener's bug must not undo a reload
                log.exception("reload listener failed")

    # ------------------------------------------------------------------ watching

    def start(self) -> None:
        """Watch the directory from now on (on the running loop)."""
        if self._task is None:
            self._stop = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._watch(), name="policy-watch")

    async def stop(self) -> None:
        if self._task is not None and self._stop is not None:
            self._stop.set()
            self._task.cancel()
            try:
                await self._task
            except BaseException:
                pass
            self._task = None
            self.watching = False

    async def _watch(self) -> None:
        from watchfiles import awatch

        assert self._stop is not None
        step = max(int(self.debounce * 1000), 20)
        while not self._stop.is_set():
            target = self.directory if self.directory.is_dir() else self.directory.parent
            if not target.is_dir():  # gone: say so once (the attempt is "unchanged" after), look again soon
                self.watching = False
                await self.reload("watch")
                await _sleep_or(self._stop, 1.0)
                continue
            ino = _inode(self.directory)
            self.watching = False
            try:
                # An empty batch comes every rust_timeout: the first says the watch is registered, so
                # reloading then catches whatever changed while nothing watched.
                async for changes in awatch(target, stop_event=self._stop, debounce=max(step * 10, 1600),
                                            step=step, recursive=True, ignore_permission_denied=True,
                                            raise_interrupt=False, yield_on_timeout=True, rust_timeout=300):
                    if not changes and self.watching:
                        continue
                    self.watching = True
                    await self.reload("watch")
                    if _inode(self.directory) != ino:  # replaced or removed: watch the new one
                        break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the watch itself failed (the directory went away under it, say)
                log.warning("watching %s failed: %s; retrying", target, exc)
                self.watching = False
                await _sleep_or(self._stop, 1.0)

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """What GET /admin/policy reports about reloading."""
        return {
            "watching": self.watching,
            "directory": str(self.directory),
            "active_since": round(self.active_since, 6),
            "files": _files(self.active_files),
            "last_attempt": self.last_attempt.as_json() if self.last_attempt else None,
            "last_error": self.last_error.as_json() if self.last_error else None,
            "history": [a.as_json() for a in self.history if a.outcome != "unchanged"][-50:],
        }


def _refuse_unreadable(directory: Path, fp: Fingerprint) -> None:
    """A policy file that cannot be read (a symlink loop, a dangling link, no permission) rejects the set:
    dsl's listing would skip it, and a version without that file's routes is not the one intended."""
    from dsl.ast import Span
    from dsl.errors import Diagnostic, PolicySyntaxError

    bad = [f for f in fp if isinstance(f, FileState) and f.problem and f.problem != "too large"]
    if bad:
        raise PolicySyntaxError([Diagnostic("E004", "error", f"cannot read the file: {f.problem}",
                                            Span(str(directory / f.name), 1, 1, 1, 1)) for f in bad])


def _changed(old: Fingerprint, new: Fingerprint) -> list[str]:
    a = {f.name: f for f in old if isinstance(f, FileState)}
    b = {f.name: f for f in new if isinstance(f, FileState)}
    return sorted(n for n in a.keys() | b.keys() if a.get(n) != b.get(n))


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), seconds)
    except asyncio.TimeoutError:
        pass


__all__ = ["Attempt", "FileState", "Reloader", "fingerprint", "missing_keys"]
