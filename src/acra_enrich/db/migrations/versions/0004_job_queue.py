"""The job queue on background_jobs: idempotency keys, heartbeats, cancellation, per-job
timeouts, NOTIFY on new work, and the job a history row was written for.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE background_jobs
    ADD COLUMN idempotency_key  text,
    ADD COLUMN cancel_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN heartbeat_at     timestamptz,
    ADD COLUMN timeout_s        real CHECK (timeout_s > 0),
    -- A new token per claim: every write a worker makes about its job names the token, so a
    -- worker whose lease expired (and whose job was recovered) can no longer change it.
    ADD COLUMN lease_token      uuid;

-- One live job per key and tenant: a second enqueue while the first is queued or running
-- returns the first. Once it has finished, the key is free again.
CREATE UNIQUE INDEX background_jobs_idempotency_idx
    ON background_jobs (coalesce(tenant_id, 0), idempotency_key)
    WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'running');
-- Operators list recent jobs; db status counts the finished ones of the last day.
-- When the next deferred or backed-off job of a lane becomes due (an idle dispatcher's alarm).
CREATE INDEX background_jobs_due_idx ON background_jobs (lane, run_after) WHERE status = 'queued';
CREATE INDEX background_jobs_created_idx ON background_jobs (created_at DESC);
CREATE INDEX background_jobs_finished_idx ON background_jobs (finished_at)
    WHERE status IN ('done', 'failed', 'cancelled');

-- Idle dispatchers sleep on LISTEN acra_jobs; the payload is the lane. pg_notify folds
-- identical payloads of one transaction into one, so a bulk enqueue wakes them once.
CREATE FUNCTION background_jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('acra_jobs', NEW.lane);
    RETURN NULL;
END
$$;
CREATE TRIGGER background_jobs_queued
    AFTER INSERT OR UPDATE OF status, run_after ON background_jobs
    FOR EACH ROW WHEN (NEW.status = 'queued')
    EXECUTE FUNCTION background_jobs_notify();

-- A retried express job must not write a second history row for a company it finished.
ALTER TABLE company_enrichment_runs ADD COLUMN job_id bigint;
CREATE UNIQUE INDEX company_enrichment_runs_job_company_idx
    ON company_enrichment_runs (job_id, company_id) WHERE job_id IS NOT NULL;
"""

DOWNGRADE = """
DROP INDEX company_enrichment_runs_job_company_idx;
ALTER TABLE company_enrichment_runs DROP COLUMN job_id;
DROP TRIGGER background_jobs_queued ON background_jobs;
DROP FUNCTION background_jobs_notify();
DROP INDEX background_jobs_finished_idx;
DROP INDEX background_jobs_created_idx;
DROP INDEX background_jobs_due_idx;
DROP INDEX background_jobs_idempotency_idx;
ALTER TABLE background_jobs
    DROP COLUMN lease_token, DROP COLUMN timeout_s, DROP COLUMN heartbeat_at, DROP COLUMN cancel_requested, DROP COLUMN idempotency_key;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
