"""Alembic environment: runs against a connection handed in by engine.store.migrate, or the settings' URL."""
from __future__ import annotations

from alembic import context

from engine.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from engine.settings import load_settings
    from engine.store.db import Store

    store = Store(load_settings().database_url)
    with store.engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        conn.commit()


run_migrations()
