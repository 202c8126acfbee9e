-- name: server_version
SELECT current_setting('server_version')

-- name: table_estimates
-- Planner estimates (-1 = never analysed): exact counts of big tables would scan millions
-- of rows just to print a summary.
SELECT c.relname, c.reltuples::bigint
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'alembic_version'
ORDER BY c.relname

-- name: recent_loads
SELECT load_id, kind, source_file, status, rows_read, inserted, updated, unchanged, rejected, started_at, ended_at
FROM registry_loads ORDER BY load_id DESC LIMIT 5

-- name: recent_runs
-- The owner's view (no tenant context): every tenant's runs and the direct sweeps.
SELECT run_id, kind, tenant_id, status, started_at, ended_at, processed, skipped, failed,
       summary ->> 'stop_reason' AS stop_reason
FROM enrichment_runs ORDER BY run_id DESC LIMIT 5

-- name: progress_markers
SELECT key, last_id, updated_at FROM service_progress ORDER BY key

-- name: companies_without_status
-- They count as live for every runner (a file without a status column leaves them so).
SELECT count(*) FROM companies WHERE status IS NULL

-- name: search_yield
-- Per provider over the last 7 days: searches answered (one search_cache row per query it
-- answered) and websites verified from its results (domain_checks found by search).
SELECT s.provider, count(*) AS searches,
       (SELECT count(*) FROM domain_checks d
        WHERE d.found_by = 'search' AND d.search_provider = s.provider
          AND d.checked_at > now() - interval '7 days') AS verified
FROM search_cache s
WHERE s.fetched_at > now() - interval '7 days'
GROUP BY s.provider ORDER BY s.provider
