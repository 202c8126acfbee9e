"""Which load last inserted or changed each staging row, and which loads `sync companies` has
taken: the sync after a refresh reads only the rows the refresh changed. And each row's line
key (the first 8 bytes of its row hash as a bigint) with an index holding both: a reload
compares every line's hash with staging's by reading that index, not the table.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE staging_acra_companies ADD COLUMN load_id bigint")
    # (load_id, id): the sync walks id ranges of the rows of its loads.
    op.execute("CREATE INDEX staging_acra_companies_load_idx ON staging_acra_companies (load_id, id)")
    op.execute("ALTER TABLE staging_acra_companies ADD COLUMN line_key bigint")
    # The loader computes it in Python; rows loaded before get it from their hex row hash.
    op.execute("UPDATE staging_acra_companies SET line_key = ('x' || substr(row_hash, 1, 16))::bit(64)::bigint "
               "WHERE row_hash ~ '^[0-9a-f]{16}'")
    op.execute("CREATE INDEX staging_acra_companies_line_key_idx ON staging_acra_companies (line_key) INCLUDE (row_hash)")
    # That read skips the table only on pages vacuumed since they changed: vacuum after a
    # monthly refresh's few percent, not after the default fifth of the table.
    op.execute("ALTER TABLE staging_acra_companies SET (autovacuum_vacuum_scale_factor = 0.01, "
               "autovacuum_vacuum_threshold = 1000)")
    op.execute("ALTER TABLE registry_loads ADD COLUMN synced_at timestamptz")
    # Rows loaded before this revision carry no load id, so no incremental sync can find them:
    # their loads count as synced (`sync companies --full` takes every row, once, if in doubt).
    op.execute("UPDATE registry_loads SET synced_at = coalesce(ended_at, started_at) WHERE kind = 'acra'")


def downgrade() -> None:
    op.execute("ALTER TABLE registry_loads DROP COLUMN synced_at")
    op.execute("ALTER TABLE staging_acra_companies RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold)")
    op.execute("DROP INDEX staging_acra_companies_line_key_idx")
    op.execute("ALTER TABLE staging_acra_companies DROP COLUMN line_key")
    op.execute("DROP INDEX staging_acra_companies_load_idx")
    op.execute("ALTER TABLE staging_acra_companies DROP COLUMN load_id")
