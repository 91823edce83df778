"""Unique ids without a system call each: request ids, ledger row ids, completion ids.

`os.urandom` costs a system call, and on some hosts (sandboxes) tens of microseconds; the hot path made
two or three per request. An id here is a random 48-bit prefix, drawn once per process (again after a
fork, so workers never share it), and a 48-bit counter: 24 hex characters, unique across processes and
restarts with overwhelming probability, in order within a process. They are identifiers, not secrets.
"""
from __future__ import annotations

import itertools
import os

__all__ = ["hex24"]

_prefix = ""
_counter = itertools.count()


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(6).hex()
    _counter = itertools.count(int.from_bytes(os.urandom(3), "big"))  # not from zero: restarts differ too


def hex24() -> str:
    """24 hex characters, unique to this process and call."""
    return f"{_prefix}{next(_counter) & 0xFFFFFFFFFFFF:012x}"


_reseed()
os.register_at_fork(after_in_child=_reseed)
