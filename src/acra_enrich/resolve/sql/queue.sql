-- lookup_requests: one open (pending/processing) request per normalised name.
-- A claim sets status = 'processing' and a lease; the lease timestamp is also the claim
-- token, so a worker whose lease expired (and whose row was reclaimed) cannot finish it.

-- name: enqueue
INSERT INTO lookup_requests (name, normalized_name)
VALUES (%(name)s, %(normalized_name)s)
ON CONFLICT (normalized_name) WHERE status IN ('pending', 'processing') DO NOTHING
RETURNING id

-- name: open_request
SELECT id, status FROM lookup_requests
WHERE normalized_name = %(normalized_name)s AND status IN ('pending', 'processing')

-- A lease that ran out means its worker died mid-batch: the row goes back to pending
-- (the lost try counts as an attempt, so a row that kills workers cannot loop forever).
-- name: reclaim_expired
WITH expired AS (
    SELECT id FROM lookup_requests
    WHERE status = 'processing' AND lease_until < now()
    ORDER BY id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE lookup_requests r
SET attempts = r.attempts + 1,
    status = CASE WHEN r.attempts + 1 > %(retry_max)s THEN 'failed' ELSE 'pending' END,
    next_attempt_at = now(),
    lease_until = NULL,
    last_error = 'lease expired: the worker that claimed it stopped before finishing',
    updated_at = now()
FROM expired
WHERE r.id = expired.id
RETURNING r.id, r.status

-- name: claim
WITH ready AS (
    SELECT id FROM lookup_requests
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
)
UPDATE lookup_requests r
SET status = 'processing', lease_until = now() + make_interval(secs => %(lease_s)s), updated_at = now()
FROM ready
WHERE r.id = ready.id
RETURNING r.id, r.name, r.normalized_name, r.attempts, r.lease_until, r.created_at

-- name: peek_ready
SELECT id, name, normalized_name, attempts, created_at
FROM lookup_requests
WHERE (status = 'pending' AND next_attempt_at <= now())
   OR (status = 'processing' AND lease_until < now())
ORDER BY next_attempt_at, id
LIMIT %(batch_size)s

-- name: mark_done_many
UPDATE lookup_requests r
SET status = 'done', company_id = d.company_id, lease_until = NULL, updated_at = now()
FROM unnest(%(ids)s::bigint[], %(leases)s::timestamptz[], %(company_ids)s::text[]) AS d(id, lease_until, company_id)
WHERE r.id = d.id AND r.status = 'processing' AND r.lease_until = d.lease_until
RETURNING r.id

-- Retry n (n = attempts so far) waits retry_delay * 2^(n-1) seconds; after retry_max
-- retries have failed too, the request is failed for good.
-- name: mark_failed
UPDATE lookup_requests
SET attempts = attempts + 1,
    status = CASE WHEN attempts + 1 > %(retry_max)s THEN 'failed' ELSE 'pending' END,
    next_attempt_at = CASE WHEN attempts + 1 > %(retry_max)s THEN next_attempt_at
                           ELSE now() + make_interval(secs => %(retry_delay_s)s * power(2, attempts)) END,
    lease_until = NULL,
    last_error = %(error)s,
    updated_at = now()
WHERE id = %(id)s AND status = 'processing' AND lease_until = %(lease_until)s
RETURNING status, attempts, next_attempt_at

-- name: release
UPDATE lookup_requests
SET status = 'pending', lease_until = NULL, last_error = %(reason)s,
    next_attempt_at = now() + make_interval(secs => %(delay_s)s), updated_at = now()
WHERE id = %(id)s AND status = 'processing' AND lease_until = %(lease_until)s
RETURNING id

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
