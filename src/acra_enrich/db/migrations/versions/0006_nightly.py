"""The nightly lane: Odoo keys named by environment variable (no key stored), ICP candidates,
per-run targets, the Odoo ids kept per tenant, scheduler slots, and the revenue bucket's source.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TENANT_TABLES = ("icp_candidates", "nightly_targets", "odoo_records")

UPGRADE = """
-- An API key never sits in the database: the connection names the environment variable that
-- holds it. A key stored by an earlier version is dropped; its connection now reads
-- ODOO_API_KEY_<tenant id> (README: upgrading).
ALTER TABLE odoo_connections ADD COLUMN api_key_env text;
UPDATE odoo_connections SET api_key_env = 'ODOO_API_KEY_' || tenant_id;
ALTER TABLE odoo_connections
    ALTER COLUMN api_key_env SET NOT NULL,
    ADD CONSTRAINT odoo_connections_api_key_env_check CHECK (api_key_env ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    DROP COLUMN api_key;

-- The companies that fit a tenant's ICP, rebuilt set-based from companies by each nightly run.
-- fit: per criterion true / false / null (unknown, e.g. no employee estimate yet).
CREATE TABLE icp_candidates (
    tenant_id    bigint NOT NULL REFERENCES tenants (tenant_id),
    company_id   bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    fit          jsonb NOT NULL,
    fit_score    real NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, company_id)
);
CREATE INDEX icp_candidates_rank_idx ON icp_candidates (tenant_id, fit_score DESC, company_id);

-- One nightly run's daily target set and each company's progress through its stages, so a
-- resumed run repeats no company a stage already finished.
CREATE TABLE nightly_targets (
    tenant_id     bigint NOT NULL REFERENCES tenants (tenant_id),
    run_id        bigint NOT NULL REFERENCES enrichment_runs (run_id),
    company_id    bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    position      integer NOT NULL,
    tier          text NOT NULL CHECK (tier IN ('never_enriched', 'stale', 'updated')),
    enrich_status text,
    sync_status   text,
    sync_error    text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, run_id, company_id)
);
CREATE INDEX nightly_targets_company_idx ON nightly_targets (tenant_id, company_id);

-- What a tenant's Odoo holds for a company: the partner, the lead and the contacts' partners,
-- and the values last written (a field an Odoo user changed since is left as they set it).
CREATE TABLE odoo_records (
    tenant_id     bigint NOT NULL REFERENCES tenants (tenant_id),
    company_id    bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    partner_id    integer,
    lead_id       integer,
    contacts      jsonb NOT NULL DEFAULT '{}',
    pushed        jsonb NOT NULL DEFAULT '{}',
    synced_at     timestamptz,
    last_error    text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, company_id)
);

-- One row per scheduler slot: the process whose insert wins fires it, whatever the number of
-- scheduler processes.
CREATE TABLE scheduler_slots (
    slot_at   timestamptz PRIMARY KEY,
    cron      text NOT NULL,
    fired_at  timestamptz NOT NULL DEFAULT now(),
    fired_by  text NOT NULL,
    missed    boolean NOT NULL DEFAULT false,
    jobs      integer NOT NULL DEFAULT 0
);

-- A rephrased rationale per feature vector, so the LLM is asked once per distinct vector.
CREATE TABLE rationale_cache (
    features_hash text PRIMARY KEY,
    rationale     text NOT NULL,
    model         text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE companies ADD COLUMN revenue_source text;
ALTER TABLE lead_scores
    ADD COLUMN run_id bigint REFERENCES enrichment_runs (run_id),
    ADD COLUMN features_hash text,
    ADD COLUMN rationale_source text;
"""

POLICY_SQL = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {table}_tenant_isolation ON {table}
    USING (tenant_id = nullif(current_setting('request.tenant_id', true), '')::bigint)
    WITH CHECK (tenant_id = nullif(current_setting('request.tenant_id', true), '')::bigint);
GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO acra_enrich_tenant;
"""

DOWNGRADE = """
ALTER TABLE lead_scores DROP COLUMN rationale_source, DROP COLUMN features_hash, DROP COLUMN run_id;
ALTER TABLE companies DROP COLUMN revenue_source;
DROP TABLE rationale_cache;
DROP TABLE scheduler_slots;
DROP TABLE odoo_records;
DROP TABLE nightly_targets;
DROP TABLE icp_candidates;
ALTER TABLE odoo_connections ADD COLUMN api_key text NOT NULL DEFAULT '';
ALTER TABLE odoo_connections DROP COLUMN api_key_env;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    for table in TENANT_TABLES:
        op.execute(POLICY_SQL.format(table=table))
    # Tables without tenant data that a tenant session still reads or writes.
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON scheduler_slots, rationale_cache TO acra_enrich_tenant")


def downgrade() -> None:
    op.execute(DOWNGRADE)
