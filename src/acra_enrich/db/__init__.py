"""Database access: which database, connections, tenant context, migrations."""

from acra_enrich.db.connection import connect, database_dsn, describe_dsn, make_pool, tenant_context
from acra_enrich.db.migrate import ensure_schema, schema_state, upgrade

__all__ = [
    "connect",
    "database_dsn",
    "describe_dsn",
    "ensure_schema",
    "make_pool",
    "schema_state",
    "tenant_context",
    "upgrade",
]
