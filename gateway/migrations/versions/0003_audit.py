"""The audit trail: admin actions and policy activations, append-only and hash-chained.

Each row's ``hash`` is the SHA-256 of the previous row's hash and this row's canonical content
(gateway/audit.py); ``prev_hash`` is unique, so two writers racing for the same tail cannot fork the chain
(one insert fails and retries on the new tail).

Revision ID: 0003_audit
Revises: 0002_ledger
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_audit"
down_revision = "0002_ledger"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.String(40), nullable=False),  # ISO 8601 UTC, exactly as hashed
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(256), nullable=True),
        sa.Column("details", sa.Text, nullable=False),  # canonical JSON
        sa.Column("prev_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_action", "audit_log", ["action"])
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_ts", "audit_log")
    op.drop_index("ix_audit_log_action", "audit_log")
    op.drop_table("audit_log")
