"""A revenue figure the company's own pages state: companies.revenue_stated_sgd, as written and
where (the first source of scoring/revenue.py's rule).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns without defaults: added in place, existing rows untouched.
    op.execute("ALTER TABLE companies ADD COLUMN revenue_stated_sgd bigint, ADD COLUMN revenue_stated_text text, "
               "ADD COLUMN revenue_stated_url text")


def downgrade() -> None:
    op.execute("ALTER TABLE companies DROP COLUMN revenue_stated_url, DROP COLUMN revenue_stated_text, "
               "DROP COLUMN revenue_stated_sgd")
