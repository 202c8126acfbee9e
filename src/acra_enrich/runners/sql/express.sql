-- The express lane: staging rows asked for -> live companies -> enrich jobs -> history rows.

-- name: ensure_tenant
-- EXPRESS_TENANT_ID's tenant, created on first use (named after the lane; an id suffix when the
-- name is taken by another tenant).
INSERT INTO tenants (tenant_id, name)
SELECT %(tenant_id)s, CASE WHEN EXISTS (SELECT 1 FROM tenants WHERE name = 'acra_express')
                           THEN 'acra_express_' || %(tenant_id)s ELSE 'acra_express' END
ON CONFLICT DO NOTHING
RETURNING name

-- name: tenant_status
SELECT name, status FROM tenants WHERE tenant_id = %(tenant_id)s

-- name: load_started_at
SELECT started_at FROM registry_loads WHERE load_id = %(load_id)s

-- name: staged_companies_by_uens
-- The live companies among these UENs, in registry order.
SELECT c.company_id, s.uen
FROM staging_acra_companies s
JOIN companies c ON c.uen = s.uen
WHERE s.uen = ANY(%(uens)s)
  AND NOT (lower(coalesce(c.status, '')) LIKE ANY(%(excluded)s))
ORDER BY s.id

-- name: staged_uen_count
SELECT count(*) FROM staging_acra_companies WHERE uen = ANY(%(uens)s)

-- name: staged_companies_since
-- The live companies whose registry row was loaded or changed since the time given.
SELECT c.company_id, s.uen
FROM staging_acra_companies s
JOIN companies c ON c.uen = s.uen
WHERE s.changed_at >= %(since)s
  AND NOT (lower(coalesce(c.status, '')) LIKE ANY(%(excluded)s))
ORDER BY s.id

-- name: companies_by_id
SELECT company_id, name, uen, website_domain FROM companies WHERE company_id = ANY(%(ids)s)

-- name: done_in_job
-- Companies that already have their history row from this job (an earlier attempt did them).
SELECT company_id FROM company_enrichment_runs WHERE job_id = %(job_id)s

-- name: start_run
INSERT INTO enrichment_runs (kind, tenant_id, params)
VALUES ('express', %(tenant_id)s, %(params)s)
RETURNING run_id

-- name: update_run
-- Counters and a heartbeat: a run whose heartbeat stops was killed (see close_stale_runs).
UPDATE enrichment_runs
SET processed = %(processed)s, failed = %(failed)s,
    summary = coalesce(summary, '{}'::jsonb) || jsonb_build_object('heartbeat_at', now())
WHERE run_id = %(run_id)s

-- name: finish_run
UPDATE enrichment_runs
SET status = %(status)s, ended_at = now(), processed = %(processed)s, failed = %(failed)s, summary = %(summary)s
WHERE run_id = %(run_id)s

-- name: close_stale_runs
-- Express runs left `running` by a killed dispatcher: several dispatchers may run at once, so
-- only runs whose heartbeat stopped long ago are closed, at their last heartbeat.
UPDATE enrichment_runs
SET status = 'interrupted',
    ended_at = coalesce((summary ->> 'heartbeat_at')::timestamptz, started_at),
    summary = coalesce(summary, '{}'::jsonb) || jsonb_build_object('stop_reason', 'dispatcher stopped heartbeating (killed)')
WHERE kind = 'express' AND status = 'running'
  AND coalesce((summary ->> 'heartbeat_at')::timestamptz, started_at) < now() - make_interval(secs => %(stale_s)s)
RETURNING run_id
