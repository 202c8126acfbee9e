"""Partial index of companies without a registry status, so `db status` counts them cheaply.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Such companies count as live for every runner: operators need to see how many there are.
    op.execute("CREATE INDEX companies_status_null_idx ON companies (company_id) WHERE status IS NULL")


def downgrade() -> None:
    op.execute("DROP INDEX companies_status_null_idx")
