"""Initial schema: every table of DESIGN.md section 3, with row-level security on tenant data.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Tables that hold one tenant's data. Sessions in a tenant context run as this role
# (acra_enrich.db.tenant_context), so the policies bind even when the login role is a
# superuser or the table owner; system work (runners, migrations) runs as the login role.
TENANT_ROLE = "acra_enrich_tenant"
TENANT_TABLES = (
    "enrichment_runs",
    "company_enrichment_runs",
    "lead_features",
    "lead_scores",
    "background_jobs",
    "icp_rules",
    "odoo_connections",
    "run_manifests",
)

SCHEMA = """
CREATE TABLE tenants (
    tenant_id   bigint PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'disabled')),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per ACRA entity exactly as published (all text), keyed by UEN.
CREATE TABLE staging_acra_companies (
    id bigserial PRIMARY KEY,
    issuance_agency_id text,
    uen text COLLATE "C" NOT NULL,  -- ASCII identifiers: byte order makes the index cheap
    entity_name text,
    entity_type_description text,
    business_constitution_description text,
    company_type_description text,
    paf_constitution_description text,
    entity_status_description text,
    registration_incorporation_date text,
    uen_issue_date text,
    address_type text,
    block text,
    street_name text,
    level_no text,
    unit_no text,
    building_name text,
    postal_code text,
    other_address_line1 text,
    other_address_line2 text,
    account_due_date text,
    annual_return_date text,
    no_of_charges text,
    primary_ssic_code text,
    primary_ssic_description text,
    primary_user_described_activity text,
    secondary_ssic_code text,
    secondary_ssic_description text,
    secondary_user_described_activity text,
    no_of_officers text,
    former_entity_name1 text,
    former_entity_name2 text,
    former_entity_name3 text,
    former_entity_name4 text,
    former_entity_name5 text,
    former_entity_name6 text,
    former_entity_name7 text,
    former_entity_name8 text,
    former_entity_name9 text,
    former_entity_name10 text,
    former_entity_name11 text,
    former_entity_name12 text,
    former_entity_name13 text,
    former_entity_name14 text,
    former_entity_name15 text,
    paid_up_capital1_currency text,
    paid_up_capital1_ordinary text,
    paid_up_capital1_preference text,
    paid_up_capital1_others text,
    paid_up_capital2_currency text,
    paid_up_capital2_ordinary text,
    paid_up_capital2_preference text,
    paid_up_capital2_others text,
    paid_up_capital3_currency text,
    paid_up_capital3_ordinary text,
    paid_up_capital3_preference text,
    paid_up_capital3_others text,
    paid_up_capital4_currency text,
    paid_up_capital4_ordinary text,
    paid_up_capital4_preference text,
    paid_up_capital4_others text,
    paid_up_capital5_currency text,
    paid_up_capital5_ordinary text,
    paid_up_capital5_preference text,
    paid_up_capital5_others text,
    paid_up_capital6_currency text,
    paid_up_capital6_ordinary text,
    paid_up_capital6_preference text,
    paid_up_capital6_others text,
    paid_up_capital7_currency text,
    paid_up_capital7_ordinary text,
    paid_up_capital7_preference text,
    paid_up_capital7_others text,
    paid_up_capital8_currency text,
    paid_up_capital8_ordinary text,
    paid_up_capital8_preference text,
    paid_up_capital8_others text,
    paid_up_capital9_currency text,
    paid_up_capital9_ordinary text,
    paid_up_capital9_preference text,
    paid_up_capital9_others text,
    paid_up_capital10_currency text,
    paid_up_capital10_ordinary text,
    paid_up_capital10_preference text,
    paid_up_capital10_others text,
    uen_of_audit_firm1 text,
    name_of_audit_firm1 text,
    uen_of_audit_firm2 text,
    name_of_audit_firm2 text,
    uen_of_audit_firm3 text,
    name_of_audit_firm3 text,
    uen_of_audit_firm4 text,
    name_of_audit_firm4 text,
    uen_of_audit_firm5 text,
    name_of_audit_firm5 text,
    row_hash    text NOT NULL,
    source_file text NOT NULL,
    source_line bigint,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staging_acra_companies_uen_key UNIQUE (uen)
);
-- Bulk loads draw millions of ids: a per-session cache avoids a sequence lock per row.
ALTER SEQUENCE staging_acra_companies_id_seq CACHE 1000;

CREATE TABLE staging_acra_rejects (
    id          bigserial PRIMARY KEY,
    source_file text NOT NULL,
    line_no     bigint NOT NULL,
    reason      text NOT NULL,
    raw_text    text NOT NULL,
    rejected_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT staging_acra_rejects_file_line_key UNIQUE (source_file, line_no)
);

CREATE TABLE registry_loads (
    load_id     bigserial PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('acra', 'ssic', 'sync')),
    source_file text,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
    rows_read   bigint NOT NULL DEFAULT 0,
    inserted    bigint NOT NULL DEFAULT 0,
    updated     bigint NOT NULL DEFAULT 0,
    unchanged   bigint NOT NULL DEFAULT 0,
    rejected    bigint NOT NULL DEFAULT 0,
    error       text,
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz
);

CREATE TABLE ssic_ref (
    code        text PRIMARY KEY,
    title       text NOT NULL,
    level       text NOT NULL CHECK (level IN ('section', 'division', 'group', 'class', 'subclass')),
    parent_code text,
    section     text,
    source      text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE companies (
    company_id          bigserial PRIMARY KEY,
    uen                 text COLLATE "C" UNIQUE,
    name                text NOT NULL,
    entity_type         text,
    industry_code       text,
    industry_norm       text,
    industry            text,
    incorporation_year  integer,
    status              text,
    website_domain      text,
    website_source      text,
    website_confidence  real,
    about_text          text,
    employees_est       integer,
    revenue_bucket      text,
    linkedin_url        text,
    hq_address          text,
    hq_postal_code      text,
    hq_city             text,
    hq_country          text,
    phone               text,
    tech_stack          jsonb,
    jobs_count          integer,
    last_seen           timestamptz,
    enriched_at         timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
-- Fallback identity for companies known without a UEN (manual entries, resolved mentions).
CREATE UNIQUE INDEX companies_name_year_no_uen_idx
    ON companies (lower(name), coalesce(incorporation_year, 0)) WHERE uen IS NULL;
CREATE INDEX companies_lower_name_idx ON companies (lower(name));
CREATE INDEX companies_website_domain_idx ON companies (website_domain) WHERE website_domain IS NOT NULL;

CREATE TABLE enrichment_runs (
    run_id      bigserial PRIMARY KEY,
    tenant_id   bigint REFERENCES tenants (tenant_id),
    kind        text NOT NULL CHECK (kind IN ('direct', 'express', 'nightly', 'one')),
    status      text NOT NULL DEFAULT 'running'
                CHECK (status IN ('running', 'done', 'interrupted', 'failed')),
    started_at  timestamptz NOT NULL DEFAULT now(),
    ended_at    timestamptz,
    processed   integer NOT NULL DEFAULT 0,
    skipped     integer NOT NULL DEFAULT 0,
    failed      integer NOT NULL DEFAULT 0,
    params      jsonb NOT NULL DEFAULT '{}',
    summary     jsonb
);

CREATE TABLE company_enrichment_runs (
    id              bigserial PRIMARY KEY,
    run_id          bigint REFERENCES enrichment_runs (run_id),
    tenant_id       bigint REFERENCES tenants (tenant_id),
    company_id      bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('ok', 'partial', 'no_site', 'failed')),
    about_text      text,
    public_emails   jsonb,
    phones          jsonb,
    tech_stack      jsonb,
    jobs_count      integer,
    linkedin_url    text,
    website_domain  text,
    fields          jsonb,
    pages_fetched   integer NOT NULL DEFAULT 0,
    degraded        jsonb NOT NULL DEFAULT '[]',
    error           text,
    duration_ms     integer,
    corpus          text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- The skip policy asks "latest history row of this company".
CREATE INDEX company_enrichment_runs_company_idx ON company_enrichment_runs (company_id, updated_at DESC);
CREATE INDEX company_enrichment_runs_run_idx ON company_enrichment_runs (run_id);

CREATE TABLE contacts (
    contact_id   bigserial PRIMARY KEY,
    company_id   bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    contact_key  text NOT NULL,
    full_name    text,
    first_name   text,
    last_name    text,
    title        text,
    email        text,
    phone        text,
    linkedin_url text,
    source       text NOT NULL,
    source_url   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT contacts_company_key UNIQUE (company_id, contact_key)
);

CREATE TABLE lead_emails (
    id                   bigserial PRIMARY KEY,
    company_id           bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    contact_id           bigint REFERENCES contacts (contact_id) ON DELETE SET NULL,
    email                text NOT NULL,
    source               text NOT NULL,
    source_url           text,
    verification_status  text NOT NULL DEFAULT 'unverified',
    verified_at          timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT lead_emails_company_email_key UNIQUE (company_id, email)
);

CREATE TABLE email_verification_cache (
    email       text PRIMARY KEY,
    status      text NOT NULL,
    sub_status  text,
    provider    text NOT NULL,
    response    jsonb,
    checked_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE lead_features (
    tenant_id    bigint NOT NULL REFERENCES tenants (tenant_id),
    company_id   bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    features     jsonb NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, company_id)
);

CREATE TABLE lead_scores (
    tenant_id   bigint NOT NULL REFERENCES tenants (tenant_id),
    company_id  bigint NOT NULL REFERENCES companies (company_id) ON DELETE CASCADE,
    score       real NOT NULL CHECK (score >= 0 AND score <= 1),
    bucket      text NOT NULL CHECK (bucket IN ('High', 'Medium', 'Low')),
    rationale   text,
    scored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, company_id)
);

CREATE TABLE service_progress (
    key         text PRIMARY KEY,
    last_id     bigint,
    details     jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE background_jobs (
    job_id       bigserial PRIMARY KEY,
    tenant_id    bigint REFERENCES tenants (tenant_id),
    job_type     text NOT NULL,
    lane         text NOT NULL DEFAULT 'nightly' CHECK (lane IN ('express', 'nightly')),
    status       text NOT NULL DEFAULT 'queued'
                 CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    params       jsonb NOT NULL DEFAULT '{}',
    priority     integer NOT NULL DEFAULT 0,
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 3,
    run_after    timestamptz NOT NULL DEFAULT now(),
    lease_until  timestamptz,
    locked_by    text,
    last_error   text,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    started_at   timestamptz,
    finished_at  timestamptz,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX background_jobs_ready_idx
    ON background_jobs (lane, priority DESC, run_after, job_id) WHERE status = 'queued';
CREATE INDEX background_jobs_lease_idx ON background_jobs (lease_until) WHERE status = 'running';

CREATE TABLE icp_rules (
    rule_id     bigserial PRIMARY KEY,
    tenant_id   bigint NOT NULL REFERENCES tenants (tenant_id),
    name        text NOT NULL,
    payload     jsonb NOT NULL DEFAULT '{}',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT icp_rules_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE odoo_connections (
    connection_id  bigserial PRIMARY KEY,
    tenant_id      bigint NOT NULL REFERENCES tenants (tenant_id),
    base_url       text NOT NULL,
    db_name        text NOT NULL,
    username       text NOT NULL,
    api_key        text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT odoo_connections_tenant_key UNIQUE (tenant_id)
);

CREATE TABLE run_manifests (
    manifest_id  bigserial PRIMARY KEY,
    tenant_id    bigint NOT NULL REFERENCES tenants (tenant_id),
    run_id       bigint REFERENCES enrichment_runs (run_id),
    stage        text NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'running', 'done', 'failed')),
    payload      jsonb NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT run_manifests_run_stage_key UNIQUE (tenant_id, run_id, stage)
);

-- Budget accounting shared by every process: one counter per vendor per window.
CREATE TABLE vendor_usage (
    vendor        text NOT NULL,
    window_kind   text NOT NULL CHECK (window_kind IN ('hour', 'day')),
    window_start  timestamptz NOT NULL,
    units         bigint NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vendor, window_kind, window_start)
);

CREATE TABLE company_mapping (
    id           bigserial PRIMARY KEY,
    alias        text NOT NULL,
    match_type   text NOT NULL
                 CHECK (match_type IN ('uen', 'plan_code', 'account_name', 'customer_name', 'normalized_name')),
    priority     integer NOT NULL,
    company_id   text NOT NULL,
    source       text NOT NULL,
    confidence   real,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT company_mapping_alias_key UNIQUE (match_type, alias)
);
CREATE INDEX company_mapping_company_idx ON company_mapping (company_id);

CREATE TABLE lookup_requests (
    id               bigserial PRIMARY KEY,
    name             text NOT NULL,
    normalized_name  text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'done', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    company_id       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- One open request per normalised name, however often it is asked for.
CREATE UNIQUE INDEX lookup_requests_open_name_idx
    ON lookup_requests (normalized_name) WHERE status IN ('pending', 'processing');
CREATE INDEX lookup_requests_ready_idx ON lookup_requests (next_attempt_at, id) WHERE status = 'pending';

CREATE TABLE temp_id_sequence (
    name        text PRIMARY KEY,
    last_value  bigint NOT NULL DEFAULT 0
);
INSERT INTO temp_id_sequence (name, last_value) VALUES ('company', 0);
"""

TENANT_ROLE_SQL = f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TENANT_ROLE}') THEN
        CREATE ROLE {TENANT_ROLE} NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
EXCEPTION
    -- another database of the same cluster created it at the same moment
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;
GRANT {TENANT_ROLE} TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO {TENANT_ROLE};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {TENANT_ROLE};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {TENANT_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {TENANT_ROLE};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {TENANT_ROLE};
"""

# Fail closed: with no tenant set, a tenant session sees and writes nothing.
POLICY_SQL = """
ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
CREATE POLICY {table}_tenant_isolation ON {table}
    USING (tenant_id = nullif(current_setting('request.tenant_id', true), '')::bigint)
    WITH CHECK (tenant_id = nullif(current_setting('request.tenant_id', true), '')::bigint);
"""


def upgrade() -> None:
    op.execute(SCHEMA)
    op.execute(TENANT_ROLE_SQL)
    for table in TENANT_TABLES:
        op.execute(POLICY_SQL.format(table=table))


def downgrade() -> None:
    raise NotImplementedError("the initial schema is not reversible; restore from a backup instead")
