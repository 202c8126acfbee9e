"""The enriched companies by enrichment time: the nightly target set's stale and updated tiers
start from them (a few thousand a day) instead of walking every ICP candidate (a million for
a registry-wide profile) to find them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: the never-enriched majority of a fresh registry costs nothing to index.
    op.execute("CREATE INDEX IF NOT EXISTS companies_enriched_at_idx ON companies (enriched_at) "
               "WHERE enriched_at IS NOT NULL")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS companies_enriched_at_idx")
