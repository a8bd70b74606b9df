"""Alembic environment: runs on the connection that :mod:`relay.storage.database` hands over."""

from __future__ import annotations

from alembic import context

from relay.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with 'relay db upgrade', not the alembic command")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
