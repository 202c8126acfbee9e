-- company_mapping: alias -> canonical company_id.
-- Order of trust for one mention: real mappings before TEMP placeholders, then the
-- row's priority (lower wins), then the mention's own order of keys (strongest first:
-- uen, plan code, account name, customer name, normalised names).

-- Every mention of a chunk in one statement. Its keys arrive by slot, each slot one string
-- of the chunk's aliases separated by U+001F ('' where a mention has none): UEN, plan code,
-- account name, customer name, normalised customer name, normalised account name. Each
-- mention (numbered from 0) that has a mapping gets one row, its best, in mention order.
-- (Whether the registry knows a UEN matters only for a mention without a real mapping:
-- registry_uens asks that of the few there are.)
-- name: find_many
WITH k AS (
    SELECT a.i - 1 AS idx, slot.ord, slot.match_type, a.alias
    FROM (VALUES (1, 'uen', %(uen)s), (2, 'plan_code', %(plan_code)s), (3, 'account_name', %(account_name)s),
                 (4, 'customer_name', %(customer_name)s), (5, 'normalized_name', %(name_key)s),
                 (6, 'normalized_name', %(account_key)s)) AS slot(ord, match_type, aliases)
    CROSS JOIN LATERAL unnest(string_to_array(slot.aliases, E'\x1f', '')) WITH ORDINALITY AS a(alias, i)
    WHERE a.alias IS NOT NULL
), hit AS (
    -- Every mapping under any alias of the chunk, in one scan of the index that leads with
    -- the alias (a probe per key costs PostgreSQL a third more).
    SELECT m.match_type, m.alias, m.company_id, m.source, m.priority, m.confidence
    FROM company_mapping m
    WHERE m.alias = ANY (ARRAY(SELECT alias FROM k))
)
SELECT DISTINCT ON (k.idx) k.idx, hit.match_type, hit.alias, hit.company_id, hit.source, hit.priority,
       hit.confidence
FROM k
JOIN hit ON hit.match_type = k.match_type AND hit.alias = k.alias
ORDER BY k.idx, (hit.source = %(temp_source)s), hit.priority, k.ord

-- Of these UENs, those the ACRA registry we hold knows (loaded, or still in staging).
-- name: registry_uens
SELECT u.uen FROM unnest(%(uens)s::text[]) AS u(uen)
WHERE EXISTS (SELECT 1 FROM companies c WHERE c.uen = u.uen)
   OR EXISTS (SELECT 1 FROM staging_acra_companies s WHERE s.uen = u.uen)

-- find_many for one mention, in the shape a single call needs: fixed parameters (a key
-- the mention lacks is NULL and matches nothing), so PostgreSQL plans it once per
-- session rather than on every call, as it does for a statement over arrays.
-- name: find_one
SELECT b.match_type, b.alias, b.company_id, b.source, b.priority, b.confidence,
       (b.source IS NULL OR b.source = %(temp_source)s) AND %(uen)s::text IS NOT NULL
       AND (EXISTS (SELECT 1 FROM companies c WHERE c.uen = %(uen)s)
            OR EXISTS (SELECT 1 FROM staging_acra_companies s WHERE s.uen = %(uen)s)) AS registry_uen
FROM (SELECT) AS one
LEFT JOIN LATERAL (
    SELECT m.match_type, m.alias, m.company_id, m.source, m.priority, m.confidence
    FROM (VALUES (1, 'uen', %(uen)s::text), (2, 'plan_code', %(plan_code)s::text),
                 (3, 'account_name', %(account_name)s::text), (4, 'customer_name', %(customer_name)s::text),
                 (5, 'normalized_name', %(name_key)s::text), (6, 'normalized_name', %(account_key)s::text))
        AS k(ord, match_type, alias)
    JOIN company_mapping m ON m.match_type = k.match_type AND m.alias = k.alias
    ORDER BY (m.source = %(temp_source)s), m.priority, k.ord
    LIMIT 1
) AS b ON true

-- A provider's answer refreshes that provider's own rows and replaces placeholders;
-- it never overwrites an imported mapping or another provider's answer.
-- name: cache_upsert
INSERT INTO company_mapping AS m (alias, match_type, priority, company_id, source, confidence)
SELECT * FROM unnest(%(aliases)b::text[], %(types)b::text[], %(priorities)b::int[],
                     %(company_ids)b::text[], %(sources)b::text[], %(confidences)b::real[])
ON CONFLICT (match_type, alias) DO UPDATE
SET company_id = EXCLUDED.company_id, priority = EXCLUDED.priority, source = EXCLUDED.source,
    confidence = EXCLUDED.confidence, updated_at = now()
WHERE m.source IN (EXCLUDED.source, %(temp_source)s)
  AND (m.company_id, m.priority, m.source, m.confidence)
      IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.priority, EXCLUDED.source, EXCLUDED.confidence)
RETURNING m.match_type, m.alias, m.company_id, m.source, m.priority, m.confidence, (xmax = 0) AS inserted

-- One row per key asked for, in the order asked (company_id NULL: no row yet).
-- name: existing_for_keys
SELECT k.match_type, k.alias, m.company_id, m.source, m.priority, m.confidence
FROM unnest(%(types)b::text[], %(aliases)b::text[]) WITH ORDINALITY AS k(match_type, alias, ord)
LEFT JOIN company_mapping m ON m.match_type = k.match_type AND m.alias = k.alias
ORDER BY k.ord

-- A TEMP id is remembered under keys nobody has mapped yet; the keys it could not take
-- (another caller got there first) are the ones not returned.
-- name: placeholder_insert
INSERT INTO company_mapping (alias, match_type, priority, company_id, source)
SELECT alias, match_type, priority, company_id, %(temp_source)s
FROM unnest(%(aliases)b::text[], %(types)b::text[], %(priorities)b::int[], %(company_ids)b::text[])
    AS p(alias, match_type, priority, company_id)
ON CONFLICT (match_type, alias) DO NOTHING
RETURNING match_type, alias

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
