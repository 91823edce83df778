"""Spend rebuilt from the ledger: what a budget's subject spent in a period, as the ledger table records it
(SQL SUM over its rows), so a restarted gateway — or a Redis that came back empty — starts from what was
really spent, not from zero.

The ledger's rows are written by gateway/billing/ledger.py; this module only reads them.
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ..billing.ledger import TABLE, from_pico

log = logging.getLogger("open_router.limits")

LEDGER = TABLE  # the ledger's one table definition (gateway/billing/ledger.py)
SCOPE_COLUMNS = {"key": "key_id", "team": "team", "project": "project", "app": "app", "cost_center": "cost_center"}


class LedgerSums:
    """SUM(cost_pico) over the ledger for one budget's subject, currency and period; one engine, made lazily."""

    def __init__(self, url: str, engine: Any = None) -> None:
        self.url = url
        self._engine = engine
        self._lock = threading.Lock()

    def engine(self) -> Any:
        with self._lock:
            if self._engine is None:
                from ..db import make_engine

                self._engine = make_engine(self.url)
            return self._engine

    def spent(self, scope: str, subject: str, currency: str, start: float, end: float) -> Decimal:
        """Blocking (call it from a thread). Raises on a database error."""
        col = LEDGER.c[SCOPE_COLUMNS[scope]]
        q = sa.select(sa.func.coalesce(sa.func.sum(LEDGER.c.cost_pico), 0)).where(
            col == subject, LEDGER.c.currency == currency,
            LEDGER.c.ts >= datetime.fromtimestamp(start, timezone.utc),
            LEDGER.c.ts < datetime.fromtimestamp(end, timezone.utc))
        with self.engine().connect() as conn:
            value = conn.execute(q).scalar()
        return from_pico(value)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


__all__ = ["LEDGER", "LedgerSums", "SCOPE_COLUMNS"]
