-- lookup_requests: one open (pending/processing) request per normalised name.
-- A claim sets status = 'processing' and a lease; the lease timestamp is also the claim
-- token, so a worker whose lease expired (and whose row was reclaimed) cannot finish it.

-- Names arrive deduplicated by normalised name, in the order they were asked for (so
-- ids follow that order). A name with an open request gets that request; a NULL id means
-- the open request changed hands during the statement (finished, or another caller's
-- insert not yet visible): ask again.
-- name: enqueue_many
WITH wanted AS (
    SELECT * FROM unnest(%(names)b::text[], %(keys)b::text[]) WITH ORDINALITY AS w(name, normalized_name, ord)
), inserted AS (
    -- (names with an open request are not even tried: a conflicting insert would use up an id)
    INSERT INTO lookup_requests (name, normalized_name)
    SELECT name, normalized_name FROM wanted w
    WHERE NOT EXISTS (SELECT 1 FROM lookup_requests o
                      WHERE o.normalized_name = w.normalized_name AND o.status IN ('pending', 'processing'))
    ORDER BY ord
    ON CONFLICT (normalized_name) WHERE status IN ('pending', 'processing') DO NOTHING
    RETURNING id, normalized_name
)
SELECT coalesce(i.id, o.id), i.id IS NOT NULL AS created
FROM wanted w
LEFT JOIN inserted i ON i.normalized_name = w.normalized_name
LEFT JOIN lookup_requests o
       ON i.id IS NULL AND o.normalized_name = w.normalized_name AND o.status IN ('pending', 'processing')
ORDER BY w.ord

-- name: open_requests
SELECT k.normalized_name, o.id
FROM unnest(%(keys)b::text[]) AS k(normalized_name)
JOIN lookup_requests o ON o.normalized_name = k.normalized_name AND o.status IN ('pending', 'processing')

-- One statement claims a batch: rows whose lease ran out first (their worker died
-- mid-batch; the lost try counts as an attempt, so a row that kills workers cannot loop
-- forever: past WDH_LOOKUP_RETRY_MAX it fails instead), then ready pending rows. Each
-- row comes with the company it is mapped to by now, if any (an import, or another
-- worker's answer), so it can be settled without a lookup.
-- name: claim
WITH expired AS (
    SELECT id, true AS expired FROM lookup_requests
    WHERE status = 'processing' AND lease_until < now()
    ORDER BY lease_until, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
), ready AS (
    SELECT id, false AS expired FROM lookup_requests
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
), chosen AS (
    SELECT * FROM expired UNION ALL SELECT * FROM ready
    LIMIT %(batch_size)s
), claimed AS (
    UPDATE lookup_requests r
    SET attempts = r.attempts + c.expired::int,
        status = CASE WHEN c.expired AND r.attempts + 1 > %(retry_max)s THEN 'failed' ELSE 'processing' END,
        lease_until = CASE WHEN c.expired AND r.attempts + 1 > %(retry_max)s THEN NULL
                           ELSE now() + make_interval(secs => %(lease_s)s) END,
        next_attempt_at = CASE WHEN c.expired THEN now() ELSE r.next_attempt_at END,
        last_error = CASE WHEN c.expired THEN 'lease expired: the worker that claimed it stopped before finishing'
                          ELSE r.last_error END,
        updated_at = now()
    FROM chosen c
    WHERE r.id = c.id
    RETURNING r.id, r.name, r.normalized_name, r.attempts, r.lease_until, r.created_at, r.status
)
SELECT c.id, c.name, c.normalized_name, c.attempts, c.lease_until, c.created_at, mapped.company_id
FROM claimed c
LEFT JOIN LATERAL (
    SELECT m.company_id FROM company_mapping m
    WHERE ((m.match_type = 'customer_name' AND m.alias = c.name)
           OR (m.match_type = 'normalized_name' AND m.alias = c.normalized_name))
      AND m.source <> %(temp_source)s
    ORDER BY m.priority, m.match_type = 'normalized_name'
    LIMIT 1
) AS mapped ON true
WHERE c.status = 'processing'
ORDER BY c.id

-- What a claim would take now (plan mode), with the same mapped company.
-- name: peek_ready
SELECT r.id, r.name, r.normalized_name, r.attempts, r.created_at, mapped.company_id
FROM lookup_requests r
LEFT JOIN LATERAL (
    SELECT m.company_id FROM company_mapping m
    WHERE ((m.match_type = 'customer_name' AND m.alias = r.name)
           OR (m.match_type = 'normalized_name' AND m.alias = r.normalized_name))
      AND m.source <> %(temp_source)s
    ORDER BY m.priority, m.match_type = 'normalized_name'
    LIMIT 1
) AS mapped ON true
WHERE (r.status = 'pending' AND r.next_attempt_at <= now())
   OR (r.status = 'processing' AND r.lease_until < now())
ORDER BY r.next_attempt_at, r.id
LIMIT %(batch_size)s

-- One statement finishes claimed rows, each only while its worker still holds the very
-- lease it claimed (a row holds a lease only while processing, by constraint: the fence
-- leaves status out so that the rows are found by id, not by reading every row in
-- flight through the lease index): 'done' (with the answer), 'failed' (retry n waits
-- retry_delay * 2^(n-1) seconds; past retry_max retries it fails for good) or
-- 'released' (handed back untried after delay_s, no attempt counted). The answers'
-- mapping rows are cached in the same statement, by the rule of mappings.sql's
-- cache_upsert (refresh the provider's own rows and placeholders, never an import).
-- name: finish
WITH cached AS (
    INSERT INTO company_mapping AS m (alias, match_type, priority, company_id, source, confidence)
    SELECT * FROM unnest(%(aliases)b::text[], %(types)b::text[], %(priorities)b::int[],
                         %(company_ids)b::text[], %(sources)b::text[], %(confidences)b::real[])
    ON CONFLICT (match_type, alias) DO UPDATE
    SET company_id = EXCLUDED.company_id, priority = EXCLUDED.priority, source = EXCLUDED.source,
        confidence = EXCLUDED.confidence, updated_at = now()
    WHERE m.source IN (EXCLUDED.source, %(temp_source)s)
      AND (m.company_id, m.priority, m.source, m.confidence)
          IS DISTINCT FROM (EXCLUDED.company_id, EXCLUDED.priority, EXCLUDED.source, EXCLUDED.confidence)
), outcome AS (
    SELECT * FROM unnest(%(ids)b::bigint[], %(leases)b::timestamptz[], %(kinds)b::text[],
                         %(answers)b::text[], %(errors)b::text[], %(delays)b::float8[])
        AS o(id, lease_until, kind, company_id, error, delay_s)
)
UPDATE lookup_requests r
SET status = CASE WHEN o.kind = 'done' THEN 'done'
                  WHEN o.kind = 'failed' AND r.attempts + 1 > %(retry_max)s THEN 'failed'
                  ELSE 'pending' END,
    attempts = r.attempts + (o.kind = 'failed')::int,
    company_id = CASE WHEN o.kind = 'done' THEN o.company_id ELSE r.company_id END,
    next_attempt_at = CASE
        WHEN o.kind = 'released' THEN now() + make_interval(secs => o.delay_s)
        WHEN o.kind = 'failed' AND r.attempts + 1 <= %(retry_max)s
            THEN now() + make_interval(secs => %(retry_delay_s)s * power(2, r.attempts))
        ELSE r.next_attempt_at END,
    lease_until = NULL,
    last_error = CASE WHEN o.kind = 'done' THEN r.last_error ELSE o.error END,
    updated_at = now()
FROM outcome o
WHERE r.id = o.id AND r.lease_until = o.lease_until
RETURNING r.id, r.status, r.attempts, r.next_attempt_at

-- name: status_counts
SELECT
    count(*) FILTER (WHERE status = 'pending') AS pending,
    count(*) FILTER (WHERE status = 'pending' AND next_attempt_at <= now()) AS ready,
    count(*) FILTER (WHERE status = 'processing') AS processing,
    count(*) FILTER (WHERE status = 'processing' AND lease_until < now()) AS expired_leases,
    count(*) FILTER (WHERE status = 'done') AS done,
    count(*) FILTER (WHERE status = 'failed') AS failed,
    min(created_at) FILTER (WHERE status = 'pending') AS oldest_pending,
    min(next_attempt_at) FILTER (WHERE status = 'pending' AND next_attempt_at > now()) AS next_retry_at
FROM lookup_requests

-- name: top_errors
SELECT last_error, count(*) AS requests
FROM lookup_requests
WHERE status IN ('failed', 'pending') AND last_error IS NOT NULL
GROUP BY last_error
ORDER BY requests DESC, last_error
LIMIT %(limit)s
