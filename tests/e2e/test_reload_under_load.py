"""The reload promise under load: 20 official-SDK clients (streams among them) run while the policy is
rewritten 50 times — valid routing changes, broken versions, half-written files, renames and
ConfigMap-style ``..data`` swaps. No request fails, and every response's x-open-router-policy names a
version that was valid and live at some moment between the request's start and its answer, by the
reload log's timestamps."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import openai

from tests.gateway.conftest import GatewayServer

CLIENTS = 20
REWRITES = 50
GAP = 0.22  # seconds between rewrites: ~12 s of rewriting

HEAD = ('provider mock kind mock base_url "mock://?ttfb_ms=2&latency_ms=15"\n\n'
        'model small = mock/"mock-small" price in 0.15 out 0.60 per 1M\n'
        'model large = mock/"mock-large" price in 2.50 out 10.00 per 1M\n\n')


def valid(i: int) -> str:
    target = "large" if i % 2 else "small"
    return f'{HEAD}# revision {i}\nroute asked\n  when model == "pinned"\n  use small\n\ndefault\n  use {target}\n'


def broken(i: int) -> str:
    return f"{HEAD}# revision {i}\nroute asked\n  when model ==\n  use small\n"


class Rewriter:
    """The policy directory laid out as a Kubernetes ConfigMap mount: main.policy -> ..data/main.policy,
    ..data -> the current generation directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.gen = 0
        root.mkdir()
        self._generation(valid(0))
        os.symlink(f"..gen{self.gen}", root / "..data")
        os.symlink("..data/main.policy", root / "main.policy")

    def _generation(self, text: str) -> str:
        self.gen += 1
        g = self.root / f"..gen{self.gen}"
        g.mkdir()
        (g / "main.policy").write_text(text)
        return g.name

    @property
    def target(self) -> Path:
        return self.root / "..data" / "main.policy"

    def in_place(self, text: str) -> None:
        self.target.write_text(text)

    async def half_written(self, text: str) -> None:
        with open(self.target, "w") as f:
            f.write(text[: len(text) // 2])
            f.flush()
            await asyncio.sleep(0.03)
            f.write(text[len(text) // 2:])

    def renamed(self, text: str) -> None:
        tmp = self.target.parent / ".main.policy.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.target)

    def configmap_swap(self, text: str) -> None:
        name = self._generation(text)
        os.symlink(name, self.root / "..data_tmp")
        os.replace(self.root / "..data_tmp", self.root / "..data")


async def rewrite_all(rw: Rewriter) -> None:
    for i in range(1, REWRITES + 1):
        kind = i % 5
        if kind == 0:
            rw.in_place(valid(i))
        elif kind == 1:
            rw.in_place(broken(i))
        elif kind == 2:
            await rw.half_written(valid(i))
        elif kind == 3:
            rw.renamed(valid(i))
        else:
            rw.configmap_swap(valid(i))
        await asyncio.sleep(GAP)


async def client_loop(n: int, base_url: str, key: str, done: asyncio.Event,
                      seen: list[tuple[float, float, str]], failures: list[str]) -> None:
    client = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key=key, max_retries=0, timeout=30)
    i = 0
    try:
        while not done.is_set():
            i += 1
            stream = (n + i) % 3 == 0
            t0 = time.time()
            try:
                raw = await client.chat.completions.with_raw_response.create(
                    model="pinned" if i % 4 == 0 else "gpt-4o-mini", stream=stream,
                    messages=[{"role": "user", "content": f"client {n} request {i}"}])
                t1 = time.time()
                version = raw.headers["x-open-router-policy"]
                if stream:
                    text, finished = "", False
                    async for chunk in raw.parse():
                        for c in chunk.choices:
                            text += c.delta.content or ""
                            finished = finished or c.finish_reason is not None
                    if not (finished and text):
                        failures.append(f"stream without an end: {version}")
                else:
                    body = raw.parse()
                    if not body.choices[0].message.content:
                        failures.append(f"empty answer: {version}")
                seen.append((t0, t1, version))
            except Exception as exc:  # every failure counts
                failures.append(f"{type(exc).__name__}: {exc} ({exc.__cause__!r}) at {time.time() - t0:.3f}s")
    finally:
        await client.close()


def test_reload_under_load_never_serves_a_broken_or_dead_version(tmp_path: Path) -> None:
    rw = Rewriter(tmp_path / "policies")
    srv = GatewayServer(policies=rw.root, db_url=f"sqlite:///{tmp_path / 'k.db'}",
                        settings_overrides={"reload_debounce": 0.05})
    with srv:
        start_version = srv.gw.policies.version
        start_at = srv.gw.reloader.active_since
        seen: list[tuple[float, float, str]] = []
        failures: list[str] = []

        async def main() -> None:
            done = asyncio.Event()
            clients = [asyncio.create_task(client_loop(n, srv.base_url, srv.key, done, seen, failures))
                       for n in range(CLIENTS)]
            await asyncio.sleep(0.3)
            await rewrite_all(rw)
            await asyncio.sleep(0.5)  # the last rewrite's reload
            done.set()
            await asyncio.gather(*clients)

        asyncio.run(main())
        history = list(srv.gw.reloader.history)

    assert failures == []
    activated = [(start_at, start_version)] + [(a.at, a.version) for a in history if a.outcome == "activated"]
    rejected = [a for a in history if a.outcome == "rejected"]
    assert len(activated) >= 30, [a.outcome for a in history]  # 40 valid rewrites, some coalesced
    assert len(rejected) >= 5  # the broken ones (10), and half-written ones caught mid-write
    assert all(a.diagnostics for a in rejected)
    live: dict[str, list[tuple[float, float]]] = {}
    for (at, version), nxt in zip(activated, activated[1:] + [(float("inf"), None)]):
        assert version is not None
        live.setdefault(version, []).append((at, nxt[0]))
    print(f"\n{len(seen)} responses over {len(live)} versions; {len(activated) - 1} activations, "
          f"{len(rejected)} rejections")
    assert len(seen) > 300
    stale = [(t0, t1, v) for t0, t1, v in seen
             if not any(start <= t1 and end >= t0 for start, end in live.get(v, []))]
    assert stale == []
    assert len({v for _, _, v in seen}) >= 10  # the traffic really crossed many versions
