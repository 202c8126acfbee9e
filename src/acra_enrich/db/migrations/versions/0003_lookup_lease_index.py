"""Index for reclaiming lookup requests whose worker's lease ran out.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX lookup_requests_lease_idx ON lookup_requests (lease_until) WHERE status = 'processing'")


def downgrade() -> None:
    op.execute("DROP INDEX lookup_requests_lease_idx")
