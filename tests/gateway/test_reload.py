"""Hot reload (gateway/reload.py) through a real gateway: the watcher, SIGHUP's and the admin API's reload,
consistent sets (save-by-rename, many files at once, a ConfigMap's ..data swap), and bad input that never
replaces the last good version."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from .conftest import GatewayServer
from .promtext import sample

HEAD = "provider mock kind mock\n\n"
MODELS = ('model small = mock/"mock-small" price in 0.15 out 0.60 per 1M\n'
          'model large = mock/"mock-large" price in 2.50 out 10.00 per 1M\n')


def policy(default: str = "small", tag: str = "") -> str:
    return f"{HEAD}{MODELS}\n# {tag}\ndefault\n  use {default}\n"


def wait_for(pred: Callable[[], Any], timeout: float = 10.0) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def server(tmp_path: Path) -> Iterator[GatewayServer]:
    d = tmp_path / "policies"
    d.mkdir()
    (d / "main.policy").write_text(policy("small", "v0"))
    srv = GatewayServer(policies=d, db_url=f"sqlite:///{tmp_path / 'k.db'}",
                        settings_overrides={"reload_debounce": 0.05})
    with srv:
        wait_for(lambda: srv.gw.reloader.watching)
        yield srv


def admin(server: GatewayServer) -> dict[str, str]:
    return {"authorization": f"Bearer {server.admin_key}"}


def status(server: GatewayServer) -> dict[str, Any]:
    return httpx.get(server.base_url + "/admin/policy", headers=admin(server)).json()


def chat(server: GatewayServer) -> httpx.Response:
    return httpx.post(server.base_url + "/v1/chat/completions", headers={"authorization": f"Bearer {server.key}"},
                      json={"model": "small", "messages": [{"role": "user", "content": "hi"}]})


def outcomes(server: GatewayServer) -> list[str]:
    return [a.outcome for a in server.gw.reloader.history if a.outcome != "unchanged"]


def test_a_changed_file_is_served_and_a_broken_one_never_is(server: GatewayServer) -> None:
    d = server.policies
    v0 = server.gw.policies.version
    (d / "main.policy").write_text(policy("large", "v1"))
    v1 = wait_for(lambda: server.gw.policies.version != v0 and server.gw.policies.version)
    r = chat(server)
    assert r.status_code == 200 and r.headers["x-open-router-policy"] == v1
    assert r.headers["x-open-router-model"] == "large"

    (d / "main.policy").write_text(policy("large", "v2") + "route broken\n  when model ==\n")
    wait_for(lambda: "rejected" in outcomes(server))
    r = chat(server)
    assert r.status_code == 200 and r.headers["x-open-router-policy"] == v1  # the last good one
    p = status(server)
    assert p["version"] == v1 and p["last_reload_error"]
    err = p["reload"]["last_error"]
    assert err["outcome"] == "rejected" and err["version"] == v1
    d0 = err["diagnostics"][0]
    assert d0["file"].endswith("main.policy") and d0["line"] == 10 and d0["col"] == 16
    assert d0["headline"].startswith(f"{d0['file']}:{d0['line']}:{d0['col']}: error")
    files = p["reload"]["files"]
    assert files[0]["name"] == "main.policy" and len(files[0]["sha256"]) == 64
    metrics = httpx.get(server.base_url + "/metrics").text
    assert sample(metrics, "open_router_policy_reloads_total", outcome="rejected") == 1
    assert sample(metrics, "open_router_policy_reloads_total", outcome="activated") == 1
    assert sample(metrics, "open_router_policy_info", version=v1) == 1
    assert sample(metrics, "open_router_policy_last_reload_failed") == 1

    (d / "main.policy").write_text(policy("small", "v3"))
    wait_for(lambda: server.gw.policies.version not in (v0, v1))
    assert status(server)["last_reload_error"] is None


def test_admin_reload_answers_with_the_attempt(tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    (d / "main.policy").write_text(policy("small"))
    with GatewayServer(policies=d, db_url=f"sqlite:///{tmp_path / 'k.db'}",
                       settings_overrides={"watch": False}) as srv:
        url = srv.base_url + "/admin/policy/reload"
        assert httpx.post(url).status_code in (401, 403)
        r = httpx.post(url, headers=admin(srv))
        assert r.status_code == 200 and r.json()["reload"]["outcome"] == "unchanged"
        (d / "main.policy").write_text(policy("large"))
        time.sleep(0.3)
        assert srv.gw.policies.version == r.json()["version"]  # --no-watch: nothing reloads by itself
        r = httpx.post(url, headers=admin(srv))
        assert r.status_code == 200 and r.json()["reload"]["outcome"] == "activated"
        assert r.json()["reload"]["changed"] == ["main.policy"]
        (d / "main.policy").write_text("route x\n  use nothing_declared\n")
        r = httpx.post(url, headers=admin(srv))
        body = r.json()
        assert r.status_code == 422 and body["error"]["code"] == "policy_rejected"
        assert body["reload"]["diagnostics"] and body["reload"]["version"] == srv.gw.policies.version
        assert srv.gw.reloader.status()["watching"] is False


def test_save_by_rename_and_many_files_at_once_reload_once(server: GatewayServer) -> None:
    d = server.policies
    before = len(outcomes(server))
    tmp = d / ".main.policy.swp"
    tmp.write_text(policy("large", "renamed"))
    os.replace(tmp, d / "main.policy")
    wait_for(lambda: len(outcomes(server)) > before)
    time.sleep(0.4)
    assert outcomes(server)[before:] == ["activated"]

    # A checkout: models move to their own file while the route file starts using a new one. Any mix of
    # old and new files is invalid (an unknown model or a duplicate), so a mixed load would be rejected.
    before = len(outcomes(server))
    (d / "a_models.policy").write_text(HEAD + MODELS + 'model tiny = mock/"mock-small" price 0\n')
    time.sleep(0.01)
    (d / "main.policy").write_text("default\n  use tiny\n")
    wait_for(lambda: len(outcomes(server)) > before)
    time.sleep(0.4)
    assert outcomes(server)[before:] == ["activated"]
    assert chat(server).headers["x-open-router-model"] == "tiny"


def test_a_configmap_symlink_swap_reloads_once(tmp_path: Path) -> None:
    d = tmp_path / "cm"
    d.mkdir()

    def generation(name: str, default: str) -> None:
        g = d / name
        g.mkdir()
        (g / "models.policy").write_text(HEAD + MODELS)
        (g / "routes.policy").write_text(f"default\n  use {default}\n")

    generation("..2026_01_01_a", "small")
    os.symlink("..2026_01_01_a", d / "..data")
    for f in ("models.policy", "routes.policy"):
        os.symlink(f"..data/{f}", d / f)
    with GatewayServer(policies=d, db_url=f"sqlite:///{tmp_path / 'k.db'}",
                       settings_overrides={"reload_debounce": 0.05}) as srv:
        wait_for(lambda: srv.gw.reloader.watching)
        assert chat(srv).headers["x-open-router-model"] == "small"
        generation("..2026_01_02_b", "large")
        os.symlink("..2026_01_02_b", d / "..data_tmp")
        os.replace(d / "..data_tmp", d / "..data")  # kubelet's atomic swap
        wait_for(lambda: [a for a in srv.gw.reloader.history if a.outcome == "activated"])
        time.sleep(0.4)
        assert outcomes(srv) == ["activated"]
        assert chat(srv).headers["x-open-router-model"] == "large"
        assert sorted(f["name"] for f in status(srv)["reload"]["files"]) == ["models.policy", "routes.policy"]


@pytest.mark.parametrize("damage", ["removed", "oversized", "not_utf8", "symlink_loop", "empty_dir"])
def test_bad_input_keeps_the_last_good_version(server: GatewayServer, damage: str) -> None:
    d = server.policies
    good = server.gw.policies.version
    if damage == "removed":
        for f in d.iterdir():
            f.unlink()
        d.rmdir()
    elif damage == "oversized":
        with open(d / "huge.policy", "wb") as f:
            f.truncate(50 * 1024 * 1024)
    elif damage == "not_utf8":
        (d / "main.policy").write_bytes(policy().encode() + b"# caf\xe9\n")
    elif damage == "symlink_loop":
        os.symlink("b.policy", d / "a.policy")
        os.symlink("a.policy", d / "b.policy")
    elif damage == "empty_dir":
        (d / "main.policy").unlink()
    wait_for(lambda: "rejected" in outcomes(server))
    r = chat(server)
    assert r.status_code == 200 and r.headers["x-open-router-policy"] == good
    err = status(server)["reload"]["last_error"]
    assert err["outcome"] == "rejected" and err["error"]
    if damage != "removed":
        assert err["diagnostics"] and err["diagnostics"][0]["code"] == "E004"
    assert httpx.get(server.base_url + "/readyz").status_code == 200

    # Repaired: the watcher picks it up again (a removed directory is watched anew when it comes back).
    if damage == "removed":
        d.mkdir()
    for f in d.iterdir():
        f.unlink()
    (d / "main.policy").write_text(policy("large", "repaired"))
    wait_for(lambda: server.gw.policies.version != good, timeout=15)
    assert chat(server).headers["x-open-router-model"] == "large"


def test_the_load_leaves_the_garbage_collector_running(tmp_path: Path) -> None:
    """dsl pauses the collector while it builds a policy; in the reload thread it must not (the pause is
    process-wide), while a plain dsl load still pauses it."""
    import asyncio
    import gc

    import dsl
    from dsl import syntax
    from gateway.policy import PolicyStore, load_policy_dir
    from gateway.reload import Reloader

    d = tmp_path / "p"
    d.mkdir()
    (d / "main.policy").write_text(policy())
    seen: list[bool] = []
    real = syntax._parse_text

    def spy(text: str, path: str) -> Any:
        seen.append(gc.isenabled())
        return real(text, path)

    syntax._parse_text = spy  # type: ignore[assignment]
    try:
        dsl.load_policy_set([d])
        store = PolicyStore(load_policy_dir(d))
        assert seen == [False, False]
        seen.clear()
        r = Reloader(store, d, env={}, pool_size=4)
        (d / "main.policy").write_text(policy("large"))
        attempt = asyncio.run(r.reload("admin"))
    finally:
        syntax._parse_text = real  # type: ignore[assignment]
    assert attempt.outcome == "activated"
    assert seen == [True]
