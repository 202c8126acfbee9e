-- Candidates for a name from the ACRA registry: staged entities and companies with a UEN.
-- pg_trgm is not available on every server we run on (the embedded one lacks it), so
-- this is a substring scan on the name's most distinctive word; the caller scores the
-- candidates with rapidfuzz on normalised names.

-- name: candidates
SELECT uen, name, status FROM (
    SELECT uen, entity_name AS name, entity_status_description AS status, 0 AS origin
    FROM staging_acra_companies
    WHERE entity_name ILIKE %(pattern)s
    UNION ALL
    SELECT uen, name, status, 1 AS origin
    FROM companies
    WHERE uen IS NOT NULL AND name ILIKE %(pattern)s
) AS c
ORDER BY origin
LIMIT %(limit)s
