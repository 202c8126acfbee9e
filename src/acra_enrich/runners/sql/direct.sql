-- The direct runner (runners/direct.py): selection, skip policy, run header, resume marker.
-- "Live" everywhere below: no status, or a status matching none of the excluded prefixes
-- (%(excluded)s holds lower-case LIKE patterns such as 'dissolved%').

-- name: top_id
SELECT max(id) FROM staging_acra_companies

-- name: eligible_page
-- One page of rows to enrich in (after_id, upto_id], in stable id order, read through a
-- server-side cursor. The skip policy is an anti-join against recent history through
-- companies.uen; a company never enriched (or not yet in companies) is always eligible.
-- The LIMIT keeps the plan a fast-start walk of the primary key.
SELECT s.id, s.uen, s.entity_name
FROM staging_acra_companies s
WHERE s.id > %(after_id)s AND s.id <= %(upto_id)s
  AND (coalesce(btrim(s.entity_status_description), '') = ''
       OR NOT lower(btrim(s.entity_status_description)) LIKE ANY (%(excluded)s))
  AND NOT EXISTS (
        SELECT 1
        FROM companies c
        JOIN company_enrichment_runs h ON h.company_id = c.company_id
        WHERE NOT %(force)s  -- inside the subquery: under an OR the planner cannot make it an anti-join
          AND c.uen = s.uen
          AND (%(any_history)s OR h.updated_at > now() - make_interval(days => %(recheck_days)s)))
ORDER BY s.id
LIMIT %(page_size)s

-- name: live_in_range
-- Live rows in (after_id, upto_id]: those the page did not return were skipped by policy.
SELECT count(*)
FROM staging_acra_companies s
WHERE s.id > %(after_id)s AND s.id <= %(upto_id)s
  AND (coalesce(btrim(s.entity_status_description), '') = ''
       OR NOT lower(btrim(s.entity_status_description)) LIKE ANY (%(excluded)s))

-- name: recently_enriched
-- The skip policy again, just before a company is enriched: another process may have
-- enriched it since the page was read.
SELECT EXISTS (
    SELECT 1 FROM company_enrichment_runs h
    WHERE h.company_id = %(company_id)s
      AND (%(any_history)s OR h.updated_at > now() - make_interval(days => %(recheck_days)s)))

-- name: staging_id_of_uen
SELECT id FROM staging_acra_companies WHERE uen = %(uen)s

-- name: read_marker
SELECT last_id FROM service_progress WHERE key = %(key)s

-- name: write_marker
INSERT INTO service_progress (key, last_id, details, updated_at)
VALUES (%(key)s, %(last_id)s, %(details)s, now())
ON CONFLICT (key) DO UPDATE
SET last_id = EXCLUDED.last_id, details = EXCLUDED.details, updated_at = now()

-- name: start_run
INSERT INTO enrichment_runs (kind, params) VALUES ('direct', %(params)s) RETURNING run_id

-- name: update_run_counters
UPDATE enrichment_runs
SET processed = %(processed)s, skipped = %(skipped)s, failed = %(failed)s
WHERE run_id = %(run_id)s

-- name: finish_run
UPDATE enrichment_runs
SET status = %(status)s, ended_at = now(), processed = %(processed)s, skipped = %(skipped)s,
    failed = %(failed)s, summary = %(summary)s
WHERE run_id = %(run_id)s

-- name: close_abandoned_runs
-- Runs a killed process left 'running' (we hold the runner lock, so none is alive):
-- their end is their last history row, their counters what the history shows.
UPDATE enrichment_runs r
SET status = 'interrupted',
    ended_at = coalesce((SELECT max(h.updated_at) FROM company_enrichment_runs h WHERE h.run_id = r.run_id),
                        r.started_at),
    processed = greatest(r.processed,
                         (SELECT count(*) FROM company_enrichment_runs h WHERE h.run_id = r.run_id)),
    failed = greatest(r.failed, (SELECT count(*) FROM company_enrichment_runs h
                                 WHERE h.run_id = r.run_id AND h.status = 'failed')),
    summary = coalesce(r.summary, '{}'::jsonb) || '{"stop_reason": "abandoned (the process died)"}'::jsonb
WHERE r.kind = 'direct' AND r.status = 'running'
RETURNING r.run_id

-- name: try_runner_lock
SELECT pg_try_advisory_lock(hashtext('acra_enrich.run_direct'))

-- name: enriched_sample
SELECT c.uen, c.name, c.website_domain, h.status, jsonb_array_length(h.public_emails) AS emails, h.pages_fetched
FROM company_enrichment_runs h JOIN companies c USING (company_id)
WHERE h.run_id = %(run_id)s AND h.status IN ('ok', 'partial')
ORDER BY h.id
LIMIT %(limit)s
