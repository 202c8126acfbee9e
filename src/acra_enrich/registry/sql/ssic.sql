-- name: create_ssic_load_table
CREATE TEMP TABLE ssic_load (
    code text PRIMARY KEY, title text NOT NULL, level text NOT NULL, parent_code text, section text
) ON COMMIT DROP

-- name: merge_ssic
-- A code already present keeps its row unless the title or hierarchy differs.
WITH merged AS (
    INSERT INTO ssic_ref AS r (code, title, level, parent_code, section, source)
    SELECT code, title, level, parent_code, section, %(source)s FROM ssic_load
    ON CONFLICT (code) DO UPDATE
    SET title = EXCLUDED.title, level = EXCLUDED.level, parent_code = EXCLUDED.parent_code,
        section = EXCLUDED.section, source = EXCLUDED.source, updated_at = now()
    WHERE (r.title, r.level, r.parent_code, r.section)
          IS DISTINCT FROM (EXCLUDED.title, EXCLUDED.level, EXCLUDED.parent_code, EXCLUDED.section)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM merged

-- name: ssic_ref_is_empty
SELECT NOT EXISTS (SELECT 1 FROM ssic_ref)
