"""Alembic environment of the store.

Normally run programmatically by :func:`storage.db.open_store`, which passes its open
connection in ``config.attributes["connection"]``; no alembic.ini is needed. For manual
use (``alembic`` CLI) the URL comes from ``sqlalchemy.url`` or env DUALREC_DB_URL.
"""
from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from storage.models import Base, include_object

config = context.config
target_metadata = Base.metadata


def _configure(connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      include_object=include_object, compare_type=True)


def run_migrations_offline() -> None:
    url = config.get_main_option("sqlalchemy.url") or os.environ["DUALREC_DB_URL"]
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ["DUALREC_DB_URL"]
    engine = create_engine(url)
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
