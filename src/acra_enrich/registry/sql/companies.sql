-- staging_acra_companies -> companies (the PRD 20 seed mapping).
-- Both queries take the same parameters: a staging id range (after_id, upto_id], an
-- optional uen, an optional since (changed_at lower bound) and optional loads (the rows
-- those loads inserted or changed); the bulk sync walks id ranges, the per-company upsert
-- passes one uen. The sync plans each chunk for its values (plan_cache_mode), so the NULL
-- tests fold away and a chunk of an incremental sync reads the load index, not the range.
-- Registry columns are refreshed; website_domain and every enriched column are never
-- written here, and registered-address columns only fill gaps.

-- name: adopt_companies_without_uen
-- Fallback identity: a company known without a UEN (entered by hand, resolved from a
-- mention) takes the UEN of the one staging row with the same lower(name) and year.
WITH src AS (
    SELECT s.uen, lower(s.entity_name) AS lname,
           CASE WHEN s.registration_incorporation_date ~ '^\d{4}-\d{2}-\d{2}'
                THEN substr(s.registration_incorporation_date, 1, 4)::int END AS year
    FROM staging_acra_companies s
    WHERE s.id > %(after_id)s AND s.id <= %(upto_id)s
      AND (%(uen)s::text IS NULL OR s.uen = %(uen)s::text)
      AND (%(since)s::timestamptz IS NULL OR s.changed_at >= %(since)s::timestamptz)
      AND (%(loads)s::bigint[] IS NULL OR s.load_id = ANY(%(loads)s::bigint[]))
      AND NOT EXISTS (SELECT 1 FROM companies c WHERE c.uen = s.uen)
),
candidates AS (
    SELECT c.company_id, min(src.uen) AS uen, count(*) AS n
    FROM companies c
    JOIN src ON lower(c.name) = src.lname AND coalesce(c.incorporation_year, 0) = coalesce(src.year, 0)
    WHERE c.uen IS NULL
    GROUP BY c.company_id
)
UPDATE companies c
SET uen = candidates.uen, updated_at = now()
FROM candidates
WHERE c.company_id = candidates.company_id AND candidates.n = 1

-- name: upsert_companies
WITH src AS (
    SELECT s.uen,
           btrim(s.entity_name) AS name,
           s.entity_type_description AS entity_type,
           nullif(regexp_replace(coalesce(s.primary_ssic_code, ''), '\D', '', 'g'), '') AS industry_code,
           s.primary_ssic_description,
           CASE WHEN s.registration_incorporation_date ~ '^\d{4}-\d{2}-\d{2}'
                THEN substr(s.registration_incorporation_date, 1, 4)::int END AS incorporation_year,
           nullif(btrim(s.entity_status_description), '') AS status,
           nullif(concat_ws(' ',
               nullif(btrim(s.block), ''), nullif(btrim(s.street_name), ''),
               CASE WHEN nullif(btrim(s.level_no), '') IS NOT NULL
                    THEN '#' || btrim(s.level_no) || coalesce('-' || nullif(btrim(s.unit_no), ''), '') END,
               nullif(btrim(s.building_name), '')), '') AS hq_address,
           CASE WHEN btrim(s.postal_code) ~ '^\d{6}$' THEN btrim(s.postal_code) END AS hq_postal_code
    FROM staging_acra_companies s
    WHERE s.id > %(after_id)s AND s.id <= %(upto_id)s
      AND (%(uen)s::text IS NULL OR s.uen = %(uen)s::text)
      AND (%(since)s::timestamptz IS NULL OR s.changed_at >= %(since)s::timestamptz)
      AND (%(loads)s::bigint[] IS NULL OR s.load_id = ANY(%(loads)s::bigint[]))
      AND nullif(btrim(s.entity_name), '') IS NOT NULL
),
mapped AS (
    SELECT src.*,
           coalesce(r.title, nullif(btrim(src.primary_ssic_description), '')) AS industry_norm
    FROM src
    LEFT JOIN ssic_ref r ON r.code = src.industry_code
),
upserted AS (
    INSERT INTO companies AS c (
        uen, name, entity_type, industry_code, industry_norm, industry, incorporation_year, status,
        hq_address, hq_postal_code, hq_city, hq_country, last_seen)
    SELECT uen, name, entity_type, industry_code, industry_norm, industry_norm, incorporation_year, status,
           hq_address, hq_postal_code,
           CASE WHEN hq_postal_code IS NOT NULL THEN 'Singapore' END,
           CASE WHEN hq_postal_code IS NOT NULL THEN 'Singapore' END,
           now()
    FROM mapped
    ON CONFLICT (uen) DO UPDATE
    SET name = EXCLUDED.name,
        entity_type = EXCLUDED.entity_type,
        industry_code = EXCLUDED.industry_code,
        industry_norm = EXCLUDED.industry_norm,
        industry = EXCLUDED.industry,
        incorporation_year = EXCLUDED.incorporation_year,
        status = EXCLUDED.status,
        hq_address = coalesce(c.hq_address, EXCLUDED.hq_address),
        hq_postal_code = coalesce(c.hq_postal_code, EXCLUDED.hq_postal_code),
        hq_city = coalesce(c.hq_city, EXCLUDED.hq_city),
        hq_country = coalesce(c.hq_country, EXCLUDED.hq_country),
        last_seen = now(),
        updated_at = now()
    WHERE (c.name, c.entity_type, c.industry_code, c.industry_norm, c.incorporation_year, c.status)
          IS DISTINCT FROM
          (EXCLUDED.name, EXCLUDED.entity_type, EXCLUDED.industry_code, EXCLUDED.industry_norm,
           EXCLUDED.incorporation_year, EXCLUDED.status)
       OR (c.hq_address IS NULL AND EXCLUDED.hq_address IS NOT NULL)
       OR (c.hq_postal_code IS NULL AND EXCLUDED.hq_postal_code IS NOT NULL)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated,
       (SELECT count(*) FROM mapped) AS seen
FROM upserted

-- name: company_id_by_uen
SELECT company_id FROM companies WHERE uen = %(uen)s

-- name: staging_id_bounds
SELECT coalesce(min(id), 0) - 1 AS before_first, coalesce(max(id), 0) AS last
FROM staging_acra_companies
WHERE (%(since)s::timestamptz IS NULL OR changed_at >= %(since)s::timestamptz)
  AND (%(loads)s::bigint[] IS NULL OR load_id = ANY(%(loads)s::bigint[]))

-- name: staging_rows
SELECT count(*) FROM staging_acra_companies

-- name: plan_per_chunk
-- Each chunk's statement planned for its own values (see the note at the top).
SET LOCAL plan_cache_mode = force_custom_plan

-- name: loads_to_sync
-- Loads whose rows no sync has taken yet. A load commits its rows and its `done` together,
-- so every row of a load listed here is visible.
SELECT load_id FROM registry_loads
WHERE kind = 'acra' AND status = 'done' AND synced_at IS NULL
ORDER BY load_id

-- name: mark_loads_synced
UPDATE registry_loads SET synced_at = now()
WHERE load_id = ANY(%(loads)s::bigint[]) AND synced_at IS NULL
