"""Virtual keys: the schema the key store had before migrations (hashed secrets, attribution).

Revision ID: 0001_virtual_keys
Revises:
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_virtual_keys"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "virtual_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("team", sa.String(200), nullable=False),
        sa.Column("project", sa.String(200), nullable=True),
        sa.Column("app", sa.String(200), nullable=True),
        sa.Column("cost_center", sa.String(200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("virtual_keys")
