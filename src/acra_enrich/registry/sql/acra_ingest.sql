-- Loading one ACRA file: COPY into a session-local table, then merge into staging by UEN.
-- {columns}, {select_list} and {update_list} are filled with quoted identifiers from the
-- column contract (acra_columns.FULL_COLUMNS); everything else is plain SQL.

-- name: lock_staging_for_load
-- Loads take turns: each decides between a direct copy and a merge from what it sees.
SELECT pg_advisory_xact_lock(hashtext('acra_enrich.ingest_acra'))

-- name: staging_is_empty
SELECT NOT EXISTS (SELECT 1 FROM staging_acra_companies)

-- name: drop_staging_indexes
-- Bulk-load mode, only for an EMPTY staging table inside the load's transaction: indexes
-- are built once after the copy (a sort) instead of row by row. Names match migration 0001.
ALTER TABLE staging_acra_companies
    DROP CONSTRAINT staging_acra_companies_uen_key,
    DROP CONSTRAINT staging_acra_companies_pkey

-- name: restore_staging_indexes
-- Fails with a unique violation when the file holds a UEN twice; the caller then reloads
-- through the merge, which keeps the last occurrence.
ALTER TABLE staging_acra_companies
    ADD CONSTRAINT staging_acra_companies_pkey PRIMARY KEY (id),
    ADD CONSTRAINT staging_acra_companies_uen_key UNIQUE (uen)

-- name: create_load_table
CREATE TEMP TABLE acra_load (
    {column_defs},
    row_hash text NOT NULL,
    line_no bigint NOT NULL
) ON COMMIT DROP

-- name: create_reject_table
CREATE TEMP TABLE acra_reject (
    line_no  bigint NOT NULL,
    reason   text NOT NULL,
    raw_text text NOT NULL
) ON COMMIT DROP

-- name: supersede_duplicate_uens
-- A UEN twice in one file: the last occurrence wins, earlier ones become rejects.
WITH dup AS (
    SELECT line_no, uen, max(line_no) OVER (PARTITION BY uen) AS kept_line
    FROM acra_load
    WHERE uen IN (SELECT uen FROM acra_load GROUP BY uen HAVING count(*) > 1)
),
removed AS (
    DELETE FROM acra_load a
    USING dup
    WHERE a.line_no = dup.line_no AND dup.line_no < dup.kept_line
    RETURNING a.*, dup.kept_line
)
INSERT INTO acra_reject (line_no, reason, raw_text)
SELECT line_no,
       'duplicate UEN ' || uen || ' in file: superseded by line ' || kept_line,
       row_to_json(removed)::text
FROM removed

-- name: merge_into_staging
-- Columns the file lacks keep the staging row's current value (from e); for a
-- full-shape file no column comes from e and PostgreSQL removes the join. row_hash is
-- the hash of the source line, so a row counts as changed when its line changed.
WITH merged AS (
    INSERT INTO staging_acra_companies AS s ({columns}, row_hash, source_file, source_line)
    SELECT {columns}, r.row_hash, %(source_file)s, r.line_no
    FROM (
        SELECT {select_list}, t.row_hash, t.line_no
        FROM acra_load t
        LEFT JOIN staging_acra_companies e ON e.uen = t.uen
    ) r
    ON CONFLICT (uen) DO UPDATE
    SET {update_list},
        row_hash = EXCLUDED.row_hash,
        source_file = EXCLUDED.source_file,
        source_line = EXCLUDED.source_line,
        changed_at = now()
    WHERE s.row_hash IS DISTINCT FROM EXCLUDED.row_hash
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged

-- name: clear_file_rejects
-- The rejects of a file describe its latest load only.
DELETE FROM staging_acra_rejects WHERE source_file = %(source_file)s

-- name: save_file_rejects
INSERT INTO staging_acra_rejects (source_file, line_no, reason, raw_text)
SELECT %(source_file)s, line_no, reason, raw_text
FROM acra_reject

-- name: start_load
INSERT INTO registry_loads (kind, source_file) VALUES (%(kind)s, %(source_file)s) RETURNING load_id

-- name: finish_load
UPDATE registry_loads
SET status = %(status)s, rows_read = %(rows_read)s, inserted = %(inserted)s, updated = %(updated)s,
    unchanged = %(unchanged)s, rejected = %(rejected)s, error = %(error)s, ended_at = now()
WHERE load_id = %(load_id)s
