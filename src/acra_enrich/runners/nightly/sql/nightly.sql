-- The nightly per-tenant DAG. Every query here runs on a connection pinned to the tenant
-- (row-level security), except those marked "system".

-- name: try_tenant_lock
-- system: one run per tenant at a time (session lock, released when the run ends or dies)
SELECT pg_try_advisory_lock(hashtext('acra_nightly'), %(tenant_id)s::int)

-- name: tenant_unlock
SELECT pg_advisory_unlock(hashtext('acra_nightly'), %(tenant_id)s::int)

-- name: sync_lock
-- system: one registry sync at a time, whichever tenant's run asks for it
SELECT pg_advisory_lock(hashtext('acra_nightly_sync'))

-- name: sync_unlock
SELECT pg_advisory_unlock(hashtext('acra_nightly_sync'))

-- name: start_run
INSERT INTO enrichment_runs (kind, tenant_id, params) VALUES ('nightly', %(tenant_id)s, %(params)s)
RETURNING run_id

-- name: get_run
SELECT run_id, status, params FROM enrichment_runs WHERE run_id = %(run_id)s AND kind = 'nightly'

-- name: run_of_job
-- The run an earlier attempt of this queue job started (it resumes).
SELECT run_id FROM enrichment_runs
WHERE kind = 'nightly' AND params ->> 'job_id' = %(job_id)s::text AND status <> 'done'
ORDER BY run_id DESC LIMIT 1

-- name: close_abandoned_runs
-- Under the tenant lock no other run of the tenant is alive: a `running` one was killed.
UPDATE enrichment_runs
SET status = 'interrupted', ended_at = coalesce(ended_at, now()),
    summary = coalesce(summary, '{}'::jsonb) || jsonb_build_object('stop_reason', 'killed (found running at a later start)')
WHERE kind = 'nightly' AND status = 'running' AND run_id <> %(run_id)s
RETURNING run_id

-- name: reopen_run
UPDATE enrichment_runs SET status = 'running', ended_at = NULL WHERE run_id = %(run_id)s

-- name: finish_run
UPDATE enrichment_runs
SET status = %(status)s, ended_at = now(), processed = %(processed)s, skipped = %(skipped)s, failed = %(failed)s,
    summary = %(summary)s
WHERE run_id = %(run_id)s

-- name: stages
SELECT stage, status, payload FROM run_manifests WHERE run_id = %(run_id)s

-- name: start_stage
INSERT INTO run_manifests (tenant_id, run_id, stage, status)
VALUES (%(tenant_id)s, %(run_id)s, %(stage)s, 'running')
ON CONFLICT (tenant_id, run_id, stage) DO UPDATE SET status = 'running', updated_at = now()

-- name: end_stage
UPDATE run_manifests SET status = %(status)s, payload = %(payload)s, updated_at = now()
WHERE run_id = %(run_id)s AND stage = %(stage)s

-- name: last_staging_mark
-- The staging change time the tenant's latest finished refresh saw.
SELECT (payload ->> 'staging_changed_at')::timestamptz FROM run_manifests
WHERE stage = 'refresh_companies' AND status = 'done' AND payload ? 'staging_changed_at'
ORDER BY updated_at DESC LIMIT 1

-- name: staging_changed_at
SELECT max(changed_at) FROM staging_acra_companies

-- name: refresh_candidates
-- The tenant's ICP candidates, rebuilt set-based from companies (see tenants/icp.py for what
-- each criterion does). A criterion is true / false / null (unknown); unknown passes.
WITH judged AS (
    SELECT c.company_id,
           -- a section's divisions by equality (hashed), not as 80 LIKE patterns per company
           CASE WHEN cardinality(%(ssic_patterns)s::text[]) + cardinality(%(ssic_divisions)s::text[]) = 0
                     AND %(industry_regex)s::text IS NULL THEN NULL
                ELSE coalesce(left(c.industry_code, 2) = ANY(%(ssic_divisions)s::text[]), false)
                     OR coalesce(c.industry_code LIKE ANY(%(ssic_patterns)s::text[]), false)
                     OR coalesce(concat_ws(' ', c.industry_norm, c.industry) ~* %(industry_regex)s::text, false)
           END AS industry,
           CASE WHEN %(statuses)s::text[] IS NULL
                THEN NOT (lower(coalesce(c.status, '')) LIKE ANY(%(excluded)s::text[]))
                ELSE coalesce(lower(c.status) LIKE ANY(%(statuses)s::text[]), false)
           END AS status,
           CASE WHEN %(emp_given)s AND c.employees_est IS NOT NULL
                THEN c.employees_est BETWEEN coalesce(%(emp_min)s::int, 0) AND coalesce(%(emp_max)s::int, 2147483647)
           END AS employees,
           CASE WHEN %(year_given)s AND c.incorporation_year IS NOT NULL
                THEN c.incorporation_year BETWEEN coalesce(%(year_min)s::int, 0) AND coalesce(%(year_max)s::int, 9999)
           END AS incorporation,
           CASE WHEN %(sectors)s::text[] IS NOT NULL AND c.hq_postal_code IS NOT NULL
                THEN left(c.hq_postal_code, 2) = ANY(%(sectors)s::text[])
           END AS district,
           CASE WHEN %(keyword_regex)s::text IS NOT NULL
                THEN coalesce(concat_ws(' ', c.name, c.industry_norm, c.about_text) ~* %(keyword_regex)s::text, false)
           END AS keywords
    FROM companies c
),
kept AS (
    SELECT company_id,
           jsonb_build_object('industry', industry, 'status', status)
           || CASE WHEN %(emp_given)s THEN jsonb_build_object('employees', employees) ELSE '{}' END
           || CASE WHEN %(year_given)s THEN jsonb_build_object('incorporation', incorporation) ELSE '{}' END
           || CASE WHEN %(sectors)s::text[] IS NOT NULL THEN jsonb_build_object('district', district) ELSE '{}' END
           || CASE WHEN %(keyword_regex)s::text IS NOT NULL THEN jsonb_build_object('keywords', keywords) ELSE '{}' END
           AS fit,
           -- real, as stored: a double would differ from it and rewrite the row every night
           ((2 + CASE WHEN %(emp_given)s THEN coalesce(employees::int, 0.5) ELSE 0 END
              + CASE WHEN %(year_given)s THEN coalesce(incorporation::int, 0.5) ELSE 0 END
              + CASE WHEN %(sectors)s::text[] IS NOT NULL THEN coalesce(district::int, 0.5) ELSE 0 END
              + CASE WHEN %(keyword_regex)s::text IS NOT NULL THEN keywords::int ELSE 0 END)
           / (2 + %(emp_given)s::int + %(year_given)s::int + (%(sectors)s::text[] IS NOT NULL)::int
                + (%(keyword_regex)s::text IS NOT NULL)::int))::real AS fit_score
    FROM judged
    WHERE industry AND status AND employees IS NOT false AND incorporation IS NOT false AND district IS NOT false
),
-- Old and new side by side in one hash join, so a night when little changed writes little
-- (an upsert would probe the primary key for every candidate: 4 x slower at 1.3M candidates).
diff AS (
    SELECT coalesce(k.company_id, ic.company_id) AS company_id, k.fit, k.fit_score,
           k.company_id IS NULL AS gone
    FROM kept k
    FULL JOIN (SELECT company_id, fit, fit_score FROM icp_candidates WHERE tenant_id = %(tenant_id)s) ic
           ON ic.company_id = k.company_id
    WHERE k.company_id IS NULL OR ic.company_id IS NULL
       OR (ic.fit, ic.fit_score) IS DISTINCT FROM (k.fit, k.fit_score)
),
dropped AS (
    DELETE FROM icp_candidates ic USING diff d
    WHERE d.gone AND ic.tenant_id = %(tenant_id)s AND ic.company_id = d.company_id
    RETURNING 1
),
upserted AS (
    INSERT INTO icp_candidates AS ic (tenant_id, company_id, fit, fit_score)
    SELECT %(tenant_id)s, company_id, fit, fit_score FROM diff WHERE NOT gone
    ON CONFLICT (tenant_id, company_id) DO UPDATE
    SET fit = EXCLUDED.fit, fit_score = EXCLUDED.fit_score, refreshed_at = now()
    RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM kept) AS candidates,
       (SELECT count(*) FROM upserted WHERE inserted) AS added,
       (SELECT count(*) FROM upserted WHERE NOT inserted) AS changed,
       (SELECT count(*) FROM dropped) AS removed

-- name: analyze_candidates
-- After a refresh that wrote many rows: the target selection that follows is planned on them.
ANALYZE icp_candidates

-- name: selected_today
-- Companies the tenant's other runs for the same day (Asia/Singapore) took: the daily cap counts them.
SELECT count(DISTINCT t.company_id)
FROM nightly_targets t
JOIN enrichment_runs r ON r.run_id = t.run_id
WHERE t.run_id <> %(run_id)s AND r.params ->> 'day' = %(day)s

-- name: select_targets
-- The daily target set: candidates never enriched, then stale (enriched before the recheck
-- window), then updated (registry changed since the last enrichment, or enriched since this
-- tenant last scored them); best ICP fit first in each tier. Candidates another run of the
-- tenant took for the same day, and fresh ones the tenant already scored, are left out.
-- Each tier walks the candidates in fit order and stops at the cap, so a shortlist of 20 out
-- of a million candidates reads a few dozen rows, not the million.
WITH today AS (
    SELECT DISTINCT t.company_id
    FROM nightly_targets t JOIN enrichment_runs r ON r.run_id = t.run_id
    WHERE t.run_id <> %(run_id)s AND r.params ->> 'day' = %(day)s
),
-- Written once and inlined into each tier (NOT MATERIALIZED): every tier keeps a plan and a
-- LIMIT of its own.
candidate AS NOT MATERIALIZED (
    SELECT ic.company_id, ic.fit_score, c.uen, c.enriched_at,
           c.enriched_at < now() - make_interval(days => %(recheck_days)s) AS stale
    FROM icp_candidates ic JOIN companies c ON c.company_id = ic.company_id
    WHERE ic.tenant_id = %(tenant_id)s AND ic.company_id NOT IN (SELECT company_id FROM today)
),
never_enriched AS (
    SELECT company_id, fit_score FROM candidate WHERE enriched_at IS NULL
    ORDER BY fit_score DESC, company_id LIMIT %(cap)s
),
stale AS (
    SELECT company_id, fit_score FROM candidate WHERE stale
    ORDER BY fit_score DESC, company_id LIMIT %(cap)s
),
updated AS (
    SELECT k.company_id, k.fit_score
    FROM candidate k
    LEFT JOIN lead_scores ls ON ls.tenant_id = %(tenant_id)s AND ls.company_id = k.company_id
    LEFT JOIN staging_acra_companies s ON s.uen = k.uen
    WHERE NOT k.stale AND (s.changed_at > k.enriched_at OR ls.company_id IS NULL OR ls.scored_at < k.enriched_at)
    ORDER BY k.fit_score DESC, k.company_id LIMIT %(cap)s
),
chosen AS (
    SELECT company_id, tier,
           row_number() OVER (ORDER BY array_position(ARRAY['never_enriched', 'stale', 'updated'], tier),
                                       fit_score DESC, company_id) AS position
    FROM (SELECT *, 'never_enriched' AS tier FROM never_enriched
          UNION ALL SELECT *, 'stale' FROM stale
          UNION ALL SELECT *, 'updated' FROM updated) AS tiers
)
INSERT INTO nightly_targets (tenant_id, run_id, company_id, position, tier)
SELECT %(tenant_id)s, %(run_id)s, company_id, position, tier FROM chosen
WHERE position <= %(cap)s
RETURNING company_id, position, tier

-- name: targets
SELECT t.company_id, t.position, t.tier, t.enrich_status, t.sync_status, c.name, c.uen, c.website_domain
FROM nightly_targets t JOIN companies c ON c.company_id = t.company_id
WHERE t.run_id = %(run_id)s
ORDER BY t.position

-- name: reconcile_enriched
-- A company whose history row of this run exists is done, even if the process died before
-- it could say so here.
UPDATE nightly_targets t SET enrich_status = h.status, updated_at = now()
FROM company_enrichment_runs h
WHERE t.run_id = %(run_id)s AND t.enrich_status IS NULL AND h.run_id = t.run_id AND h.company_id = t.company_id
RETURNING t.company_id

-- name: mark_fresh
-- Enriched within the recheck window (by any runner): nothing to crawl again, only to score.
UPDATE nightly_targets t SET enrich_status = 'fresh', updated_at = now()
FROM companies c
WHERE t.run_id = %(run_id)s AND t.enrich_status IS NULL AND c.company_id = t.company_id
  AND c.enriched_at >= now() - make_interval(days => %(recheck_days)s)
RETURNING t.company_id

-- name: set_enrich_status
UPDATE nightly_targets SET enrich_status = %(status)s, updated_at = now()
WHERE run_id = %(run_id)s AND company_id = %(company_id)s

-- name: unverified_emails
-- Addresses of this run's companies without a verdict yet (company addresses and contacts').
SELECT DISTINCT e.email
FROM lead_emails e JOIN nightly_targets t ON t.company_id = e.company_id
WHERE t.run_id = %(run_id)s AND e.verification_status = 'unverified'
ORDER BY e.email

-- name: set_verification
UPDATE lead_emails e SET verification_status = %(status)s, verified_at = now(), updated_at = now()
FROM nightly_targets t
WHERE t.run_id = %(run_id)s AND e.company_id = t.company_id AND e.email = %(email)s

-- name: lead_inputs
-- What scoring needs of each target company.
SELECT c.company_id, coalesce(ic.fit, '{}'::jsonb) AS fit, c.website_domain, c.jobs_count,
       coalesce(c.tech_stack, '[]'::jsonb) AS tech_stack, c.enriched_at, c.employees_est, c.revenue_stated_sgd,
       (SELECT count(*) FROM lead_emails e WHERE e.company_id = c.company_id AND e.verification_status = 'valid')
           AS verified_emails,
       (SELECT coalesce(array_agg(k.title), '{}') FROM contacts k WHERE k.company_id = c.company_id) AS titles,
       CASE WHEN s.paid_up_capital1_currency ILIKE 'SINGAPORE%%DOLLAR%%' THEN
            coalesce(nullif(regexp_replace(s.paid_up_capital1_ordinary, '[^0-9.]', '', 'g'), '')::numeric, 0)
          + coalesce(nullif(regexp_replace(s.paid_up_capital1_preference, '[^0-9.]', '', 'g'), '')::numeric, 0)
          + coalesce(nullif(regexp_replace(s.paid_up_capital1_others, '[^0-9.]', '', 'g'), '')::numeric, 0)
       END AS paid_up_capital_sgd
FROM nightly_targets t
JOIN companies c ON c.company_id = t.company_id
LEFT JOIN icp_candidates ic ON ic.company_id = t.company_id
LEFT JOIN staging_acra_companies s ON s.uen = c.uen
WHERE t.run_id = %(run_id)s
ORDER BY t.position

-- name: set_revenue
UPDATE companies SET revenue_bucket = %(bucket)s, revenue_source = %(source)s
WHERE company_id = %(company_id)s
  AND (revenue_bucket, revenue_source) IS DISTINCT FROM (%(bucket)s, %(source)s)

-- name: upsert_features
INSERT INTO lead_features (tenant_id, company_id, features)
VALUES (%(tenant_id)s, %(company_id)s, %(features)s)
ON CONFLICT (tenant_id, company_id) DO UPDATE SET features = EXCLUDED.features, computed_at = now()

-- name: upsert_score
INSERT INTO lead_scores (tenant_id, company_id, score, bucket, rationale, run_id, features_hash, rationale_source)
VALUES (%(tenant_id)s, %(company_id)s, %(score)s, %(bucket)s, %(rationale)s, %(run_id)s, %(features_hash)s, 'rules')
ON CONFLICT (tenant_id, company_id) DO UPDATE
SET score = EXCLUDED.score, bucket = EXCLUDED.bucket, rationale = EXCLUDED.rationale, run_id = EXCLUDED.run_id,
    features_hash = EXCLUDED.features_hash, rationale_source = EXCLUDED.rationale_source, scored_at = now()

-- name: to_sync
-- High and Medium companies of this run not yet synced, with what Odoo gets.
SELECT t.company_id, c.uen, c.name, c.website_domain, c.phone, c.hq_address, c.hq_postal_code, c.hq_city,
       ls.score, ls.bucket, ls.rationale,
       (SELECT e.email FROM lead_emails e WHERE e.company_id = c.company_id AND e.verification_status = 'valid'
        ORDER BY split_part(e.email, '@', 1) ~ '^(careers?|jobs?|hr|recruit\w*|noreply|no-reply)$', e.email
        LIMIT 1) AS email
FROM nightly_targets t
JOIN companies c ON c.company_id = t.company_id
JOIN lead_scores ls ON ls.company_id = t.company_id
WHERE t.run_id = %(run_id)s AND t.sync_status IS NULL AND ls.bucket IN ('High', 'Medium')
ORDER BY t.position

-- name: skip_low
UPDATE nightly_targets t SET sync_status = 'not_exported', updated_at = now()
FROM lead_scores ls
WHERE t.run_id = %(run_id)s AND t.sync_status IS NULL AND ls.company_id = t.company_id AND ls.bucket = 'Low'

-- name: primary_contacts
-- Up to three people: decision makers first, then those with an email, by name.
SELECT contact_key, full_name, title, email, phone
FROM contacts
WHERE company_id = %(company_id)s AND full_name IS NOT NULL
ORDER BY (title ~* %(decision_maker)s) DESC NULLS LAST, (email IS NOT NULL) DESC, full_name
LIMIT 3

-- name: odoo_record
SELECT partner_id, lead_id, contacts, pushed FROM odoo_records WHERE company_id = %(company_id)s

-- name: save_odoo_record
INSERT INTO odoo_records (tenant_id, company_id, partner_id, lead_id, contacts, pushed, synced_at, last_error)
VALUES (%(tenant_id)s, %(company_id)s, %(partner_id)s, %(lead_id)s, %(contacts)s, %(pushed)s,
        CASE WHEN %(error)s::text IS NULL THEN now() END, %(error)s)
ON CONFLICT (tenant_id, company_id) DO UPDATE
SET partner_id = EXCLUDED.partner_id, lead_id = EXCLUDED.lead_id, contacts = EXCLUDED.contacts,
    pushed = EXCLUDED.pushed, synced_at = coalesce(EXCLUDED.synced_at, odoo_records.synced_at),
    last_error = EXCLUDED.last_error, updated_at = now()

-- name: set_sync_status
UPDATE nightly_targets SET sync_status = %(status)s, sync_error = %(error)s, updated_at = now()
WHERE run_id = %(run_id)s AND company_id = %(company_id)s

-- name: shortlist
-- The run's companies with their score, bucket, rationale and Odoo state (the console summary).
SELECT t.position, c.uen, c.name, c.website_domain, t.tier, t.enrich_status, ls.score, ls.bucket, ls.rationale,
       t.sync_status, t.sync_error, o.partner_id, o.lead_id
FROM nightly_targets t
JOIN companies c ON c.company_id = t.company_id
LEFT JOIN lead_scores ls ON ls.company_id = t.company_id
LEFT JOIN odoo_records o ON o.company_id = t.company_id
WHERE t.run_id = %(run_id)s
ORDER BY ls.score DESC NULLS LAST, t.position

-- name: budget_snapshot
-- system-wide vendor usage in the current windows (vendor_usage holds no tenant data)
SELECT vendor, window_kind, units FROM vendor_usage
WHERE window_start = date_trunc(window_kind, now() AT TIME ZONE 'Asia/Singapore') AT TIME ZONE 'Asia/Singapore'

-- name: claim_slot
-- system: the first process to insert a slot fires it; every other one finds it taken.
INSERT INTO scheduler_slots (slot_at, cron, fired_by, missed)
VALUES (%(slot_at)s, %(cron)s, %(fired_by)s, %(missed)s)
ON CONFLICT (slot_at) DO NOTHING
RETURNING slot_at

-- name: slot_jobs
UPDATE scheduler_slots SET jobs = %(jobs)s WHERE slot_at = %(slot_at)s

-- name: slot_fired
SELECT fired_at, fired_by, jobs FROM scheduler_slots WHERE slot_at = %(slot_at)s

-- name: latest_run_with_targets
-- The tenant's latest nightly run that shortlisted something (the demo shows it again when
-- today's cap was taken by an earlier demo).
SELECT r.run_id FROM enrichment_runs r
WHERE r.kind = 'nightly' AND EXISTS (SELECT 1 FROM nightly_targets t WHERE t.run_id = r.run_id)
ORDER BY r.run_id DESC LIMIT 1

-- name: rationale_cache_get
-- Rephrased rationales by cache key (scoring/rephrase.py: cache_key), of the model asked now.
SELECT features_hash, rationale FROM rationale_cache
WHERE features_hash = ANY(%(keys)s::text[]) AND model = %(model)s

-- name: rationale_cache_put
INSERT INTO rationale_cache (features_hash, rationale, model) VALUES (%(key)s, %(rationale)s, %(model)s)
ON CONFLICT (features_hash) DO UPDATE
SET rationale = EXCLUDED.rationale, model = EXCLUDED.model, created_at = now()

-- name: set_rationale
UPDATE lead_scores SET rationale = %(rationale)s, rationale_source = %(source)s
WHERE tenant_id = %(tenant_id)s AND company_id = ANY(%(company_ids)s::bigint[])

-- name: run_of_enrich_job
-- The run row of a queued enrich job (runners/nightly/queued.py), whatever became of it: the
-- job's every attempt counts under one run.
SELECT run_id FROM enrichment_runs
WHERE kind = 'nightly' AND params ->> 'job_id' = %(job_id)s::text AND params ->> 'job_type' = %(job_type)s
ORDER BY run_id DESC LIMIT 1
