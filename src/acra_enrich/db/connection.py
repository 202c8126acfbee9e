"""Connections: which database, a pool, and the tenant context that row-level security reads."""

from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import psycopg
from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings, get_settings
from acra_enrich.errors import DatabaseUnavailable

TENANT_ROLE = "acra_enrich_tenant"
SET_TENANT_ROLE = "SET LOCAL ROLE acra_enrich_tenant"
# The session-long form of tenant_context: the same setting and role, for a connection that
# serves one tenant only (a pinned runner's pool or dispatcher).
PIN_TENANT_SQL = "SELECT set_config('request.tenant_id', %s, false)"
SET_TENANT_ROLE_SESSION = "SET ROLE acra_enrich_tenant"


@lru_cache(maxsize=8)
def _embedded(home: str) -> str:
    from acra_enrich.db.embedded import embedded_dsn

    return embedded_dsn(Path(home))


def database_dsn(settings: Settings | None = None) -> str:
    """POSTGRES_DSN when set, else the embedded server's DSN (starting it if needed)."""
    settings = settings or get_settings()
    if settings.postgres_dsn is not None:
        return settings.postgres_dsn.get_secret_value()
    return _embedded(str(settings.home))


def describe_dsn(dsn: str) -> str:
    """The DSN with any password removed, for logs and `db status`."""
    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "<unparseable DSN>"
    info.pop("password", None)
    return " ".join(f"{k}={v}" for k, v in sorted(info.items()) if v)


def connect(settings: Settings | None = None, *, autocommit: bool = False) -> psycopg.Connection:
    settings = settings or get_settings()
    return connect_dsn(database_dsn(settings), autocommit=autocommit, timeout_s=settings.db_connect_timeout_s)


def connect_dsn(dsn: str, *, autocommit: bool = False, timeout_s: float = 10) -> psycopg.Connection:
    """A connection, or DatabaseUnavailable (exit 3) naming the server without its password."""
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=max(1, int(timeout_s)))
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(f"cannot reach the database ({describe_dsn(dsn)}): {reason}") from None


def make_pool(settings: Settings | None = None, *, min_size: int = 1, tenant_id: int | None = None) -> ConnectionPool:
    """A psycopg pool for long-running work; fails fast (exit 3) if the database is down.

    With `tenant_id`, every connection of the pool acts for that tenant for its whole life
    (see `pin_tenant`): a runner pinned to a tenant cannot write another tenant's rows."""
    settings = settings or get_settings()
    dsn = database_dsn(settings)

    def configure(conn: psycopg.Connection) -> None:
        assert tenant_id is not None
        pin_tenant(conn, tenant_id)

    pool = ConnectionPool(
        dsn,
        min_size=min_size,
        max_size=max(min_size, settings.db_pool_max_size),
        timeout=settings.db_connect_timeout_s,
        kwargs={"connect_timeout": int(settings.db_connect_timeout_s)},
        configure=configure if tenant_id is not None else None,
        open=False,
    )
    try:
        pool.open(wait=True, timeout=settings.db_connect_timeout_s)
    except Exception as exc:  # PoolTimeout wraps the real connection error
        pool.close()
        raise DatabaseUnavailable(f"cannot reach the database ({describe_dsn(dsn)}): {exc}") from None
    return pool


def pin_tenant(conn: psycopg.Connection, tenant_id: int) -> None:
    """Make every later statement on `conn` act for `tenant_id` (row-level security)."""
    conn.execute(PIN_TENANT_SQL, (str(int(tenant_id)),))
    conn.execute(SET_TENANT_ROLE_SESSION)
    if not conn.autocommit:
        conn.commit()


@contextmanager
def tenant_context(conn: psycopg.Connection, tenant_id: int) -> Iterator[psycopg.Connection]:
    """Run a transaction as tenant `tenant_id`: RLS policies then show only that tenant's rows.

    Both settings are transaction-local, so a pooled connection never leaks a tenant
    into the next borrower.
    """
    with conn.transaction():
        conn.execute("SELECT set_config('request.tenant_id', %s, true)", (str(int(tenant_id)),))
        conn.execute(SET_TENANT_ROLE)
        yield conn
