"""The ledger: one row per request. ``id`` is the gateway's own id for the row (made once, when the request
is recorded), so writing a row twice — a replayed spill file — never makes two; ``request_id`` is the
x-request-id, which a client may repeat.

Revision ID: 0002_ledger
Revises: 0001_virtual_keys
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_ledger"
down_revision = "0001_virtual_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.Column("route", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("team", sa.String(200), nullable=True),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("app", sa.String(200), nullable=True),
        sa.Column("cost_center", sa.String(200), nullable=True),
        sa.Column("user", sa.String(256), nullable=True),
        sa.Column("requested_model", sa.String(256), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("upstream", sa.String(256), nullable=True),
        sa.Column("provider", sa.String(200), nullable=True),
        sa.Column("rule", sa.String(200), nullable=True),
        sa.Column("arm", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error_code", sa.String(100), nullable=True),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reasoning_tokens", sa.Integer, nullable=False, server_default="0"),
        # Exact on every database: SQLite has no decimal type (a Numeric column is stored as a float there),
        # so money is an integer count of 1e-12 of the currency unit (Decimal(cost_pico) / 10**12).
        sa.Column("cost_pico", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("currency", sa.String(3), nullable=False, server_default="USD"),
        sa.Column("priced", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("usage_estimated", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("latency_ms", sa.Float, nullable=False, server_default="0"),
        sa.Column("ttft_ms", sa.Float, nullable=True),
        sa.Column("stream", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("policy_version", sa.String(64), nullable=True),
    )
    op.create_index("ix_ledger_ts", "ledger", ["ts"])
    op.create_index("ix_ledger_request_id", "ledger", ["request_id"])
    op.create_index("ix_ledger_team_ts", "ledger", ["team", "ts"])
    op.create_index("ix_ledger_cost_center_ts", "ledger", ["cost_center", "ts"])


def downgrade() -> None:
    op.drop_table("ledger")
