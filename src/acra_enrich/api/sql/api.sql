-- The admin API's own reads (runs and jobs come from runners/sql/runs.sql and acra_enrich.jobs).

-- name: ping
SELECT 1

-- name: vendor_usage
-- Units spent in the current Asia/Singapore window of each vendor (as acra_enrich.budget counts).
SELECT vendor, window_kind, units FROM vendor_usage
WHERE window_start = date_trunc(window_kind, now() AT TIME ZONE 'Asia/Singapore') AT TIME ZONE 'Asia/Singapore'

-- name: tenant_status
SELECT status FROM tenants WHERE tenant_id = %(tenant_id)s
