"""Caches for domain discovery: search answers and per-company discovery outcomes.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = """
-- One answer per search query, so the same company never costs a second search.
CREATE TABLE search_cache (
    query       text PRIMARY KEY,
    provider    text NOT NULL,
    results     jsonb NOT NULL,
    fetched_at  timestamptz NOT NULL DEFAULT now()
);

-- The latest discovery outcome per company, misses included: a company without a site is
-- not searched again within ENRICH_RECHECK_DAYS.
CREATE TABLE domain_checks (
    company_id  bigint PRIMARY KEY REFERENCES companies (company_id) ON DELETE CASCADE,
    outcome     text NOT NULL CHECK (outcome IN ('found', 'no_site', 'unverified')),
    domain      text,
    found_by    text,
    confidence  real,
    candidates  jsonb NOT NULL DEFAULT '[]',
    checked_at  timestamptz NOT NULL DEFAULT now()
);
"""


def upgrade() -> None:
    op.execute(SCHEMA)


def downgrade() -> None:
    op.execute("DROP TABLE domain_checks; DROP TABLE search_cache;")
