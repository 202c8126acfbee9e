"""Which search provider found a company's website: domain_checks.search_provider (search yield).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, no default: added in place, existing rows untouched.
    op.execute("ALTER TABLE domain_checks ADD COLUMN search_provider text")
    op.execute("CREATE INDEX search_cache_fetched_idx ON search_cache (fetched_at)")
    op.execute("CREATE INDEX domain_checks_checked_idx ON domain_checks (checked_at) WHERE found_by = 'search'")


def downgrade() -> None:
    op.execute("DROP INDEX domain_checks_checked_idx")
    op.execute("DROP INDEX search_cache_fetched_idx")
    op.execute("ALTER TABLE domain_checks DROP COLUMN search_provider")
