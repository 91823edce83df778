"""The audit trail: an append-only, hash-chained record of admin actions (keys created and revoked, policy
reloads asked for) and policy activations and rejections, in the gateway's database (table audit_log,
migration 0003_audit).

    audit = AuditLog(engine)
    audit.append("admin:3f9c…", "key.create", "key_ab12", {"team": "eng"})   # never a secret
    audit.verify()                    # (ok, rows checked, first bad row id or None, why)

Each row's hash is SHA-256 over the previous row's hash and the row's canonical JSON (id, ts, actor,
action, subject, details), so an altered row, a deleted row or a reordering breaks the chain that
``open-router audit verify`` walks. ``prev_hash`` is unique: two writers racing for the same tail cannot
fork it (the loser's insert fails, and it retries on the new tail). Nothing in the API alters the table.
The actor names an admin credential by a fingerprint of it (``admin:`` and 12 hex digits), never the key.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timezone
from typing import Any, Mapping

import sqlalchemy as sa

log = logging.getLogger("open_router.audit")
GENESIS = "0" * 64
_meta = sa.MetaData()
TABLE = sa.Table(
    "audit_log", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("ts", sa.String(40), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("subject", sa.String(256)),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)


def fingerprint(secret: str | None) -> str:
    """Which admin credential acted, without the credential."""
    if not secret:
        return "admin:none"
    return "admin:" + hashlib.sha256(secret.encode()).hexdigest()[:12]


def _canonical(details: Mapping[str, Any]) -> str:
    return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def row_hash(prev: str, id_: int, ts: str, actor: str, action: str, subject: str | None, details: str) -> str:
    body = json.dumps([id_, ts, actor, action, subject, details], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev + "\n" + body).encode()).hexdigest()


class AuditLog:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._pending: set[asyncio.Task[None]] = set()

    def append(self, actor: str, action: str, subject: str | None = None,
               details: Mapping[str, Any] | None = None) -> int:
        """Add one row at the tail of the chain; its id."""
        text = _canonical(details or {})
        for _ in range(20):
            ts = datetime.now(timezone.utc).isoformat(timespec="microseconds")
            try:
                with self.engine.begin() as conn:
                    last = conn.execute(sa.select(TABLE.c.id, TABLE.c.hash).order_by(TABLE.c.id.desc())
                                        .limit(1)).first()
                    prev, id_ = (last.hash, last.id + 1) if last else (GENESIS, 1)
                    h = row_hash(prev, id_, ts, actor, action, subject, text)
                    conn.execute(TABLE.insert().values(id=id_, ts=ts, actor=actor, action=action, subject=subject,
                                                       details=text, prev_hash=prev, hash=h))
                return id_
            except sa.exc.IntegrityError:  # another writer took this tail: chain onto the new one
                continue
        raise RuntimeError("could not append to the audit log: the tail kept moving")

    async def add(self, actor: str, action: str, subject: str | None = None,
                  details: Mapping[str, Any] | None = None) -> None:
        """``append`` in a worker thread; a failure is logged, never raised into the request."""
        try:
            await asyncio.to_thread(self.append, actor, action, subject, details)
        except Exception as exc:
            log.error("audit append failed (%s %s): %s", action, subject, type(exc).__name__)

    def add_soon(self, actor: str, action: str, subject: str | None = None,
                 details: Mapping[str, Any] | None = None) -> None:
        """``add`` as a task on the running loop (from a synchronous callback); now when there is no loop."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            try:
                self.append(actor, action, subject, details)
            except Exception as exc:
                log.error("audit append failed (%s %s): %s", action, subject, type(exc).__name__)
            return
        task = loop.create_task(self.add(actor, action, subject, details))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the appends still under way (at shutdown)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def query(self, *, action: str | None = None, actor: str | None = None, subject: str | None = None,
              since: str | None = None, until: str | None = None, limit: int = 100,
              before_id: int | None = None) -> list[dict[str, Any]]:
        """Rows newest first, filtered (``action`` may end with ``.*`` for a family: ``policy.*``)."""
        q = sa.select(TABLE).order_by(TABLE.c.id.desc()).limit(max(1, min(limit, 1000)))
        if action:
            q = q.where(TABLE.c.action.like(action[:-1] + "%") if action.endswith("*") else TABLE.c.action == action)
        if actor:
            q = q.where(TABLE.c.actor == actor)
        if subject:
            q = q.where(TABLE.c.subject == subject)
        if since:
            q = q.where(TABLE.c.ts >= since)
        if until:
            q = q.where(TABLE.c.ts < until)
        if before_id:
            q = q.where(TABLE.c.id < before_id)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        return [{"id": r.id, "ts": r.ts, "actor": r.actor, "action": r.action, "subject": r.subject,
                 "details": json.loads(r.details), "hash": r.hash} for r in rows]

    def verify(self) -> tuple[bool, int, int | None, str | None]:
        """Walk the chain: (ok, rows checked, the first bad row's id, what is wrong with it)."""
        prev, expect_id, n = GENESIS, 1, 0
        with self.engine.connect() as conn:
            for r in conn.execute(sa.select(TABLE).order_by(TABLE.c.id)):
                n += 1
                if r.id != expect_id:
                    return False, n, r.id, f"row {expect_id} is missing (the next row is {r.id})"
                if r.prev_hash != prev:
                    return False, n, r.id, "its prev_hash does not match the row before it"
                if row_hash(prev, r.id, r.ts, r.actor, r.action, r.subject, r.details) != r.hash:
                    return False, n, r.id, "its content does not match its hash (altered)"
                prev, expect_id = r.hash, r.id + 1
        return True, n, None, None


def policy_listener(audit: AuditLog) -> Any:
    """A Reloader listener: every activation and rejection, with files, hashes and diagnostics."""
    def on_attempt(attempt: Any) -> None:
        if attempt.outcome == "unchanged":
            return
        audit.add_soon(f"reload:{attempt.reason}", f"policy.{attempt.outcome}", attempt.version,
                       {"previous": attempt.previous, "files": attempt.files, "changed": attempt.changed,
                        "diagnostics": [d.get("headline") for d in attempt.diagnostics],
                        "error": (attempt.error or "")[:2000] or None})
    return on_attempt


__all__ = ["AuditLog", "fingerprint", "policy_listener", "row_hash"]
