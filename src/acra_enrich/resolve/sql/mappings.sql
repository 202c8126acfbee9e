-- company_mapping: alias -> canonical company_id.
-- Order of trust for one mention: real mappings before TEMP placeholders, then the
-- row's priority (lower wins), then the match type's own rank.

-- name: find_best
SELECT m.match_type, m.alias, m.company_id, m.source, m.priority, m.confidence
FROM unnest(%(types)s::text[], %(aliases)s::text[]) AS k(match_type, alias)
JOIN company_mapping m ON m.match_type = k.match_type AND m.alias = k.alias
ORDER BY (m.source = %(temp_source)s), m.priority,
         array_position(%(type_order)s::text[], m.match_type)
LIMIT 1

-- name: find_best_many
SELECT DISTINCT ON (k.idx) k.idx, m.match_type, m.alias, m.company_id, m.source, m.priority, m.confidence
FROM unnest(%(idx)s::int[], %(types)s::text[], %(aliases)s::text[]) AS k(idx, match_type, alias)
JOIN company_mapping m ON m.match_type = k.match_type AND m.alias = k.alias
ORDER BY k.idx, (m.source = %(temp_source)s), m.priority,
         array_position(%(type_order)s::text[], m.match_type)

-- name: known_uen
SELECT EXISTS (SELECT 1 FROM companies WHERE uen = %(uen)s)
    OR EXISTS (SELECT 1 FROM staging_acra_companies WHERE uen = %(uen)s)

-- A provider's answer refreshes that provider's own rows and replaces placeholders;
-- it never overwrites an imported mapping or another provider's answer.
-- name: cache_upsert
INSERT INTO company_mapping AS m (alias, match_type, priority, company_id, source, confidence)
SELECT * FROM unnest(%(aliases)s::text[], %(types)s::text[], %(priorities)s::int[],
                     %(company_ids)s::text[], %(sources)s::text[], %(confidences)s::real[])
ON CONFLICT (match_type, alias) DO UPDATE
SET company_id = EXCLUDED.company_id, priority = EXCLUDED.priority, source = EXCLUDED.source,
    confidence = EXCLUDED.confidence, updated_at = now()
WHERE m.source IN (EXCLUDED.source, %(temp_source)s)
  AND (m.company_id, m.priority, m.source, m.confidence)
      IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.priority, EXCLUDED.source, EXCLUDED.confidence)
RETURNING m.match_type, m.alias, (xmax = 0) AS inserted

-- name: existing_for_keys
SELECT k.match_type, k.alias, m.company_id, m.source, m.priority, m.confidence
FROM unnest(%(types)s::text[], %(aliases)s::text[]) AS k(match_type, alias)
LEFT JOIN company_mapping m ON m.match_type = k.match_type AND m.alias = k.alias

-- name: placeholder_insert
INSERT INTO company_mapping (alias, match_type, priority, company_id, source)
SELECT * FROM unnest(%(aliases)s::text[], %(types)s::text[], %(priorities)s::int[],
                     %(company_ids)s::text[], %(sources)s::text[])
ON CONFLICT (match_type, alias) DO NOTHING

-- Bulk import: rows are COPied into a session-temporary stage, then merged in one
-- statement; within one file the last row for a key wins.
-- name: import_stage_create
CREATE TEMP TABLE mapping_import_stage (
    line_no     bigint NOT NULL,
    alias       text NOT NULL,
    match_type  text NOT NULL,
    priority    integer NOT NULL,
    company_id  text NOT NULL,
    source      text NOT NULL,
    confidence  real
) ON COMMIT DROP

-- name: import_merge
WITH latest AS (
    SELECT DISTINCT ON (match_type, alias) alias, match_type, priority, company_id, source, confidence
    FROM mapping_import_stage
    ORDER BY match_type, alias, line_no DESC
), merged AS (
    INSERT INTO company_mapping AS m (alias, match_type, priority, company_id, source, confidence)
    SELECT alias, match_type, priority, company_id, source, confidence FROM latest
    ON CONFLICT (match_type, alias) DO UPDATE
    SET company_id = EXCLUDED.company_id, priority = EXCLUDED.priority, source = EXCLUDED.source,
        confidence = EXCLUDED.confidence, updated_at = now()
    WHERE (m.company_id, m.priority, m.source, m.confidence)
          IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.priority, EXCLUDED.source, EXCLUDED.confidence)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated,
       (SELECT count(*) FROM latest) AS distinct_keys
FROM merged

-- name: import_classify
WITH latest AS (
    SELECT DISTINCT ON (match_type, alias) alias, match_type, priority, company_id, source, confidence
    FROM mapping_import_stage
    ORDER BY match_type, alias, line_no DESC
)
SELECT l.match_type, l.alias, l.company_id, l.priority, l.source, l.confidence,
       CASE WHEN m.id IS NULL THEN 'insert' ELSE 'update' END AS action,
       m.company_id AS previous_company_id
FROM latest l
LEFT JOIN company_mapping m ON m.match_type = l.match_type AND m.alias = l.alias
WHERE m.id IS NULL
   OR (m.company_id, m.priority, m.source, m.confidence)
      IS DISTINCT FROM (l.company_id, l.priority, l.source, l.confidence)

-- name: import_distinct_keys
SELECT count(*) FROM (SELECT DISTINCT match_type, alias FROM mapping_import_stage) AS d
