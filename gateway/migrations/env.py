"""Alembic's environment for the gateway's schema: runs on the connection gateway.db.upgrade hands it
(online only; the gateway always migrates a live database)."""
from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
