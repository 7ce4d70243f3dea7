"""Alembic environment of the API database; run programmatically by :func:`ondemand.api.db.migrate`."""

from __future__ import annotations

from alembic import context

from ondemand.api.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through ondemand.api.db.migrate
    raise RuntimeError("run migrations through ondemand.api.db.migrate(engine)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
