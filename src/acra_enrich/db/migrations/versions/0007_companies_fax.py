"""Fax numbers are their own field: companies.fax and the history row's faxes.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without defaults: added in place, existing rows untouched.
    op.execute("ALTER TABLE companies ADD COLUMN fax text")
    op.execute("ALTER TABLE company_enrichment_runs ADD COLUMN faxes jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE company_enrichment_runs DROP COLUMN faxes")
    op.execute("ALTER TABLE companies DROP COLUMN fax")
