"""Alembic environment: plain SQL migrations over a psycopg 3 connection.

The DSN comes from alembic's config attributes (set by acra_enrich.db.migrate), never from
alembic.ini, so that POSTGRES_DSN and the embedded server are handled in one place.
A transaction-level advisory lock makes two processes upgrading at once take turns.
"""

from __future__ import annotations

import psycopg
from alembic import context
from sqlalchemy import create_engine, pool, text

MIGRATION_LOCK_KEY = 0x61637261  # "acra": any fixed bigint shared by every migrating process

dsn: str = context.config.attributes["dsn"]
engine = create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(dsn), poolclass=pool.NullPool)

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()
