"""Schema migrations (alembic, plain SQL revisions in db/migrations/versions)."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from acra_enrich.db.connection import connect_dsn


def _alembic_config(dsn: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("acra_enrich.db") / "migrations"))
    cfg.attributes["dsn"] = dsn
    return cfg


def head_revision() -> str:
    heads = ScriptDirectory.from_config(_alembic_config("")).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"migration history has {len(heads)} heads: {heads}")
    return heads[0]


def current_revision(conn: psycopg.Connection) -> str | None:
    exists = conn.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class SchemaState:
    current: str | None
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def schema_state(conn: psycopg.Connection) -> SchemaState:
    return SchemaState(current=current_revision(conn), head=head_revision())


def upgrade(dsn: str) -> None:
    """Bring the database to the newest schema; safe to run from several processes at once."""
    command.upgrade(_alembic_config(dsn), "head")


def ensure_schema(dsn: str, *, timeout_s: float = 10) -> SchemaState:
    """Upgrade only when needed, so that every command can call it cheaply at start.

    DatabaseUnavailable (exit 3) when the server cannot be reached within `timeout_s`."""
    with connect_dsn(dsn, autocommit=True, timeout_s=timeout_s) as conn:
        state = schema_state(conn)
    if not state.up_to_date:
        upgrade(dsn)
        with connect_dsn(dsn, autocommit=True, timeout_s=timeout_s) as conn:
            state = schema_state(conn)
    return state
