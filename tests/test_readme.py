"""README.md's "Five minutes with it" runs as written: its ```sh and ```python blocks, extracted from the
README (the source of truth, not a copy), run in order in one bash in a temp dir laid out like a fresh
clone after the install line (policies/ copied, .venv linking to the venv of this interpreter), with
8080 rewritten to a free port. The curl must print an OpenAI-shaped completion, the Python snippet the
mock's reply; the section's own last block stops the server, and the process group is killed regardless.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gateway.fakes import validate_chat

REPO = Path(__file__).resolve().parents[1]
SECTION = "## Five minutes with it"
MARK = "@@readme-block-done@@"
_BLOCK_RE = re.compile(r"^```(sh|python)\n(.*?)^```$", re.S | re.M)


def section_blocks(readme: str) -> list[tuple[str, str]]:
    """[(language, code)] of the section's fenced sh/python blocks, in order."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    body = readme[start : end if end >= 0 else len(readme)]
    return [(m.group(1), m.group(2)) for m in _BLOCK_RE.finditer(body)]


def script_of(blocks: list[tuple[str, str]], port: int) -> str:
    """One bash script: sh blocks as they are, python blocks fed to .venv/bin/python (as the README says to
    run them, in the same shell); a marker line after each block so the outputs can be told apart."""
    parts = ["set -u"]
    for lang, code in blocks:
        code = code.replace("8080", str(port))
        if lang == "sh":
            parts.append(code)
        else:
            parts.append(f".venv/bin/python - <<'README_PY'\n{code}README_PY")
        parts.append(f"printf '\\n{MARK}\\n'")
    return "\n".join(parts) + "\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_section_has_the_expected_blocks() -> None:
    blocks = section_blocks((REPO / "README.md").read_text())
    langs = [lang for lang, _ in blocks]
    assert langs.count("python") == 1 and langs[0] == "sh" and langs[-1] == "sh", langs
    text = "\n".join(code for _, code in blocks)
    assert "serve &" in text and "kill %1" in text and "8080" in text
    assert 'os.environ["KEY"]' in text and "export KEY=" in text


@pytest.mark.timeout(90)
def test_five_minutes_with_it_runs_as_written(tmp_path: Path) -> None:
    if shutil.which("curl") is None or shutil.which("bash") is None:
        pytest.skip("the README section needs bash and curl on PATH")
    pytest.importorskip("openai")
    blocks = section_blocks((REPO / "README.md").read_text())
    port = free_port()
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    venv = Path(sys.executable).parent.parent  # the whole venv, so .venv/bin/python finds its pyvenv.cfg
    if not (venv / "bin" / "open-router").exists() or not (venv / "pyvenv.cfg").exists():
        pytest.skip(f"not run from the repo's venv ({venv} has no bin/open-router or pyvenv.cfg)")
    (tmp_path / ".venv").symlink_to(venv, target_is_directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPEN_ROUTER_")}
    env.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1",  # openai is installed: no network
               OPEN_ROUTER_PORT=str(port))  # serve's own default (8080) is not in the README's text
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(["bash", "-c", script_of(blocks, port)], cwd=tmp_path, env=env, stdout=out,
                                stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        rc = proc.wait(75)
        stdout, stderr = out_path.read_text(), err_path.read_text()
        where = f"\n--- stdout\n{stdout}\n--- stderr\n{stderr[-3000:]}"
        assert rc == 0, where
        outputs = stdout.split(f"\n{MARK}\n")
        assert len(outputs) == len(blocks) + 1, where  # every block ran to its marker
        completions = [json.loads(line) for line in outputs[0].splitlines() if line.startswith('{"id"')]
        assert len(completions) == 1, where
        validate_chat(completions[0])
        assert completions[0]["choices"][0]["message"]["content"] == "Mock reply to: hello"
        py_index = [lang for lang, _ in blocks].index("python")
        assert outputs[py_index].strip().splitlines()[-1] == "Mock reply to: hi", where
        assert (tmp_path / "open-router.db").exists()  # the key went where the README says
        assert f"listening on http://127.0.0.1:{port}" in stdout, where
        _assert_server_gone(port)  # the section's own `kill %1` stopped it
    finally:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """End the script's process group (bash and the `serve &` it started), whatever state it is in."""
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        pgid = proc.pid
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                proc.poll()
                return
            time.sleep(0.05)
    proc.poll()


def _assert_server_gone(port: int) -> None:
    """`kill %1` stopped the server: nothing listens on its port any more (it may take a moment)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"something still listens on {port} after the section's `kill %1`")
