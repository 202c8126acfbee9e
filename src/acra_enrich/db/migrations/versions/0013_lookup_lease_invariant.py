"""lookup_requests: a row holds a lease exactly while it is being processed.

The finish fences each row by (id, lease_until) alone. With `status = 'processing'` in
that fence too, PostgreSQL matched the partial lease index and read every row in flight
(every worker's batch, and the dead versions not yet vacuumed) to finish one batch: with
four workers a finish read three times the rows it needed. This constraint makes the
shorter fence exactly as strict (a lease is never left on a row that is not processing),
and keeps it so whatever writes the table.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No code ever left such rows; a hand edit might have. A stray lease is dropped, and a
    # processing row without one is made reclaimable at once (as if its worker had died).
    op.execute("UPDATE lookup_requests SET lease_until = NULL WHERE status <> 'processing' AND lease_until IS NOT NULL")
    op.execute("UPDATE lookup_requests SET lease_until = now() WHERE status = 'processing' AND lease_until IS NULL")
    op.execute("""
        ALTER TABLE lookup_requests ADD CONSTRAINT lookup_requests_lease_while_processing
            CHECK ((status = 'processing') = (lease_until IS NOT NULL))
    """)


def downgrade() -> None:
    op.execute("ALTER TABLE lookup_requests DROP CONSTRAINT lookup_requests_lease_while_processing")
