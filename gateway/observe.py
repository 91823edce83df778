"""Observability: the decision log (one JSON line per request on the "open_router.decisions" logger, to
stdout or a size-rotated file) and log configuration. The metrics are gateway/metrics.py's (re-exported
here as ``Metrics``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import sys
from pathlib import Path
from typing import Any

from .metrics import Metrics  # noqa: F401 - the Metrics the app wires (moved to gateway/metrics.py)

DECISIONS_LOGGER = "open_router.decisions"


class DecisionLog:
    """One JSON line per request, written after the response on the next loop turn (off the hot path)."""

    def __init__(self, enabled: bool = True, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger(DECISIONS_LOGGER)
        self.enabled = enabled

    def wants(self) -> bool:
        """Whether a line would be written (so the recorder builds one only then)."""
        return self.enabled and self.logger.isEnabledFor(logging.INFO)

    def emit(self, record: dict[str, Any]) -> None:
        if not self.wants():
            return
        try:
            asyncio.get_running_loop().call_soon(self._write, record)
        except RuntimeError:  # no loop (tests calling directly): write now
            self._write(record)

    def before_write(self, fn: Any) -> None:
        """Run ``fn`` just before the next line is written (it completes that line: the recorder's traced
        conditions), on the same deferred loop turn."""
        if not self.enabled or not self.logger.isEnabledFor(logging.INFO):
            return
        try:
            asyncio.get_running_loop().call_soon(fn)
        except RuntimeError:
            fn()

    def _write(self, record: Any) -> None:
        self.logger.info(json.dumps(record, separators=(",", ":"), default=str))


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "INFO", fmt: str = "text", stream: Any = None, *,
                      decision_file: Path | str | None = None, max_bytes: int = 100 * 1024 * 1024,
                      backups: int = 5) -> None:
    """Root logging for `serve`: text or JSON lines on stderr; decision lines are bare JSON either way, with
    the logs (default), on stdout (``decision_file="-"``) or in a file rotated at ``max_bytes`` keeping
    ``backups`` old files."""
    stream = stream or sys.stderr
    root = logging.getLogger()
    root.setLevel(level)
    for h in list(root.handlers):
        root.removeHandler(h)
    handler = logging.StreamHandler(stream)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)

    decisions = logging.getLogger(DECISIONS_LOGGER)
    for h in list(decisions.handlers):
        decisions.removeHandler(h)
    dh: logging.Handler
    if decision_file is None:
        dh = logging.StreamHandler(stream)
    elif str(decision_file) == "-":
        dh = logging.StreamHandler(sys.stdout)
    else:
        Path(decision_file).parent.mkdir(parents=True, exist_ok=True)
        dh = logging.handlers.RotatingFileHandler(decision_file, maxBytes=max_bytes, backupCount=backups,
                                                  encoding="utf-8")
    dh.setFormatter(logging.Formatter("%(message)s"))  # the message already is one JSON object
    decisions.addHandler(dh)
    decisions.propagate = False
    # The decision log is the record of which rule and policy version decided each request: the log level
    # quiets diagnostics, not it (OPEN_ROUTER_DECISION_LOG turns it off).
    decisions.setLevel(logging.INFO)
