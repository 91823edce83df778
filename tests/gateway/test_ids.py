"""Ids without a system call each: the format clients see, uniqueness within a process and across a fork."""
from __future__ import annotations

import os
import re

from gateway.ids import hex24


def test_format_and_uniqueness() -> None:
    ids = [hex24() for _ in range(20000)]
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_a_forked_worker_draws_its_own_prefix() -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report an id and leave at once
        os.write(w, hex24().encode())
        os._exit(0)
    os.close(w)
    child = os.read(r, 64).decode()
    os.waitpid(pid, 0)
    mine = hex24()
    assert re.fullmatch(r"[0-9a-f]{24}", child) and child[:12] != mine[:12]
