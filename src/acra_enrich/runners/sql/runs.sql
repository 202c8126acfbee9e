-- `acra-enrich runs`: enrichment_runs of every kind, as the owner sees them (all tenants).

-- name: list_runs
SELECT run_id, kind, tenant_id, status, started_at, ended_at, processed, skipped, failed,
       summary ->> 'stop_reason' AS stop_reason
FROM enrichment_runs
WHERE %(kind)s::text IS NULL OR kind = %(kind)s
ORDER BY run_id DESC
LIMIT %(limit)s

-- name: get_run
SELECT run_id, kind, tenant_id, status, started_at, ended_at, processed, skipped, failed, params, summary
FROM enrichment_runs WHERE run_id = %(run_id)s

-- name: history_by_status
SELECT status, count(*) AS companies FROM company_enrichment_runs WHERE run_id = %(run_id)s
GROUP BY status ORDER BY status
