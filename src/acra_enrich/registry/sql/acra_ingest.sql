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
-- are built once after the copy (a sort) instead of row by row. Names match migrations
-- 0001 and 0008. The table is empty: truncating it lets the copy store its rows frozen and
-- all-visible (COPY FREEZE), so the next load reads the line-key index without the table.
-- The rebuild sorts a million keys per index: in memory it is a third quicker than spilled.
SET LOCAL maintenance_work_mem = '256MB';
TRUNCATE staging_acra_companies;
DROP INDEX staging_acra_companies_load_idx, staging_acra_companies_line_key_idx;
ALTER TABLE staging_acra_companies
    DROP CONSTRAINT staging_acra_companies_uen_key,
    DROP CONSTRAINT staging_acra_companies_pkey

-- name: restore_staging_indexes
-- Fails with a unique violation when the file holds a UEN twice; the caller then reloads
-- through the merge, which keeps the last occurrence.
ALTER TABLE staging_acra_companies
    ADD CONSTRAINT staging_acra_companies_pkey PRIMARY KEY (id),
    ADD CONSTRAINT staging_acra_companies_uen_key UNIQUE (uen);
CREATE INDEX staging_acra_companies_load_idx ON staging_acra_companies (load_id, id);
CREATE INDEX staging_acra_companies_line_key_idx ON staging_acra_companies (line_key) INCLUDE (row_hash)

-- name: create_load_table
CREATE TEMP TABLE acra_load (
    {column_defs},
    row_hash text NOT NULL,
    line_key bigint NOT NULL,
    line_no bigint NOT NULL
) ON COMMIT DROP

-- name: merge_memory
-- The comparison of every line's hash with staging's, and the search for repeated lines,
-- are hash joins and aggregates over the whole file: in memory they take a fraction of the
-- time they take spilled to disk in batches (the default is 4 MB).
SET LOCAL work_mem = '128MB'

-- name: create_seen_table
-- Pass one of a merge: the hash of every line (of the line as published, as row_hash is)
-- and its key (the hash's first 8 bytes as a bigint, as line_key is).
CREATE TEMP TABLE acra_seen (
    row_hash text NOT NULL,
    line_key bigint NOT NULL,
    line_no  bigint NOT NULL
) ON COMMIT DROP

-- name: last_seen_line
SELECT max(line_no) FROM acra_seen

-- name: unknown_lines
-- Lines no staging row carries: new, changed or malformed. A line whose hash a row carries
-- is that row's very line (the line includes the UEN), checked and stored before. Searched
-- by the bigint key (a cheap hash join on an index-only scan), checked on the whole hash.
SELECT a.line_no
FROM acra_seen a
WHERE NOT EXISTS (SELECT 1 FROM staging_acra_companies s WHERE s.line_key = a.line_key AND s.row_hash = a.row_hash)
ORDER BY a.line_no

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

-- name: supersede_repeated_known_lines
-- A UEN twice in one file, both times the line staging holds: the last occurrence is kept.
-- (Repeated new lines are among the loaded ones, for supersede_duplicate_uens.)
WITH repeated AS (
    SELECT line_key, row_hash, max(line_no) AS kept_line FROM acra_seen GROUP BY line_key, row_hash HAVING count(*) > 1
)
INSERT INTO acra_reject (line_no, reason, raw_text)
SELECT a.line_no, 'duplicate UEN ' || s.uen || ' in file: superseded by line ' || r.kept_line, row_to_json(s)::text
FROM repeated r
JOIN acra_seen a ON a.line_key = r.line_key AND a.row_hash = r.row_hash AND a.line_no < r.kept_line
JOIN staging_acra_companies s ON s.line_key = r.line_key AND s.row_hash = r.row_hash

-- name: find_loaded_and_known_lines
-- A UEN with a new or changed line and also the line staging holds (a UEN twice in one
-- file): the pairs, found with one pass over the file's hashes. Empty when nothing changed.
CREATE TEMP TABLE acra_pairs ON COMMIT DROP AS
SELECT l.line_no AS loaded_line, a.line_no AS known_line, s.uen, row_to_json(s)::text AS stored
FROM acra_load l
JOIN staging_acra_companies s ON s.uen = l.uen
JOIN acra_seen a ON a.line_key = s.line_key AND a.row_hash = s.row_hash

-- name: supersede_loaded_by_known_lines
-- ... the stored line later: it wins, so the earlier line is not merged.
WITH later AS (
    SELECT loaded_line, max(known_line) AS kept_line FROM acra_pairs WHERE known_line > loaded_line
    GROUP BY loaded_line
),
removed AS (
    DELETE FROM acra_load l USING later WHERE l.line_no = later.loaded_line
    RETURNING l.*, later.kept_line
)
INSERT INTO acra_reject (line_no, reason, raw_text)
SELECT line_no, 'duplicate UEN ' || uen || ' in file: superseded by line ' || kept_line, row_to_json(removed)::text
FROM removed

-- name: supersede_known_by_loaded_lines
-- ... the stored line first, a new or changed line later: the stored one is rejected (once).
INSERT INTO acra_reject (line_no, reason, raw_text)
SELECT DISTINCT ON (p.known_line)
       p.known_line, 'duplicate UEN ' || p.uen || ' in file: superseded by line ' || p.loaded_line, p.stored
FROM acra_pairs p
JOIN acra_load l ON l.line_no = p.loaded_line
WHERE p.loaded_line > p.known_line
  AND NOT EXISTS (SELECT 1 FROM acra_reject r WHERE r.line_no = p.known_line)
ORDER BY p.known_line, p.loaded_line DESC

-- name: merge_into_staging
-- Columns the file lacks keep the staging row's current value (from e); for a
-- full-shape file no column comes from e and PostgreSQL removes the join. row_hash is
-- the hash of the source line, so a row counts as changed when its line changed; a row
-- inserted or changed takes the load's id.
WITH merged AS (
    INSERT INTO staging_acra_companies AS s ({columns}, row_hash, line_key, source_file, source_line, load_id)
    SELECT {columns}, r.row_hash, r.line_key, %(source_file)s, r.line_no, %(load_id)s
    FROM (
        SELECT {select_list}, t.row_hash, t.line_key, t.line_no
        FROM acra_load t
        LEFT JOIN staging_acra_companies e ON e.uen = t.uen
    ) r
    ON CONFLICT (uen) DO UPDATE
    SET {update_list},
        row_hash = EXCLUDED.row_hash,
        line_key = EXCLUDED.line_key,
        source_file = EXCLUDED.source_file,
        source_line = EXCLUDED.source_line,
        load_id = EXCLUDED.load_id,
        changed_at = now()
    WHERE s.row_hash IS DISTINCT FROM EXCLUDED.row_hash
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged

-- name: drop_load_tables
DROP TABLE IF EXISTS acra_load, acra_seen, acra_pairs, acra_reject

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
