-- `fetch acra`: what has been loaded already, and the rejects of superseded file versions.

-- name: file_loaded
-- A fetched file's name carries its dataset id and the publisher's stamp: loaded once, done.
SELECT EXISTS (
    SELECT 1 FROM registry_loads WHERE kind = 'acra' AND source_file = %(source_file)s AND status = 'done')

-- name: clear_superseded_rejects
-- Rejects describe a dataset's latest file only (as they do for a file loaded by hand).
DELETE FROM staging_acra_rejects
WHERE starts_with(source_file, %(dataset_prefix)s) AND source_file <> %(source_file)s

