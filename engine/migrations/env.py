"""Alembic environment: always run on a connection handed over by engine.schema."""

from __future__ import annotations

from alembic import context

from duban.engine.rows import METADATA

config = context.config
connection = config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,  # the SQLModel rows and every other table
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
