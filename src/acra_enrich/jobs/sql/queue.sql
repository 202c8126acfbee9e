-- The job queue on background_jobs. A claimed job carries a fresh lease_token; every write
-- a worker makes about its job names that token, so once a lease has expired and the job was
-- recovered, the old worker's late writes match no row (it learns it lost the job).

-- name: enqueue
-- One live job per (tenant, idempotency key): a conflicting enqueue inserts nothing and the
-- caller reads the live job with `live_job_by_key` (a fresh snapshot sees it).
INSERT INTO background_jobs (tenant_id, job_type, lane, params, priority, max_attempts, run_after,
                             idempotency_key, timeout_s)
VALUES (%(tenant_id)s, %(job_type)s, %(lane)s, %(params)s, %(priority)s, %(max_attempts)s,
        coalesce(%(run_after)s, now()), %(idempotency_key)s, %(timeout_s)s)
ON CONFLICT (coalesce(tenant_id, 0), idempotency_key)
    WHERE idempotency_key IS NOT NULL AND status IN ('queued', 'running')
    DO NOTHING
RETURNING job_id

-- name: live_job_by_key
SELECT job_id FROM background_jobs
WHERE coalesce(tenant_id, 0) = coalesce(%(tenant_id)s::bigint, 0) AND idempotency_key = %(idempotency_key)s
  AND status IN ('queued', 'running')

-- name: job_by_key
-- Any job with this key, finished ones included (newest first).
SELECT job_id FROM background_jobs
WHERE coalesce(tenant_id, 0) = coalesce(%(tenant_id)s::bigint, 0) AND idempotency_key = %(idempotency_key)s
ORDER BY job_id DESC LIMIT 1

-- name: lock_lane_claims
-- Claims of job types with a cross-process cap are taken one dispatcher at a time per lane,
-- so two dispatchers never both take the last free place (held to the end of the transaction).
SELECT pg_advisory_xact_lock(hashtext('acra_jobs:' || %(lane)s))

-- name: claim
-- Ready jobs of this lane and these types, highest priority first, then the longest waiting.
-- A capped type gets at most its cap minus its *live* running jobs (an expired lease is a dead
-- worker's job: it does not hold a place). NULL cap = no cap.
WITH live AS (
    SELECT job_type, count(*) AS running
    FROM background_jobs
    WHERE status = 'running' AND lane = %(lane)s AND job_type = ANY(%(job_types)s) AND lease_until > now()
    GROUP BY job_type
), room AS (
    SELECT t.job_type,
           CASE WHEN t.cap IS NULL THEN %(limit)s
                ELSE greatest(0, least(%(limit)s, t.cap - coalesce(live.running, 0))) END AS free
    FROM unnest(%(job_types)s::text[], %(caps)s::int[]) AS t (job_type, cap)
    LEFT JOIN live USING (job_type)
), picked AS (
    SELECT c.job_id
    FROM room
    CROSS JOIN LATERAL (
        SELECT job_id, priority, run_after
        FROM background_jobs
        WHERE status = 'queued' AND lane = %(lane)s AND job_type = room.job_type AND run_after <= now()
        ORDER BY priority DESC, run_after, job_id
        LIMIT room.free
        FOR UPDATE SKIP LOCKED
    ) AS c
    ORDER BY c.priority DESC, c.run_after, c.job_id
    LIMIT %(limit)s
)
UPDATE background_jobs AS j
SET status = 'running', attempts = j.attempts + 1, locked_by = %(worker)s, lease_token = gen_random_uuid(),
    started_at = now(), heartbeat_at = now(), lease_until = now() + make_interval(secs => %(lease_s)s),
    updated_at = now()
FROM picked
WHERE j.job_id = picked.job_id
RETURNING j.job_id, j.job_type, j.lane, j.tenant_id, j.params, j.priority, j.attempts, j.max_attempts,
          j.timeout_s, j.lease_token, j.created_at

-- name: heartbeat
-- Extends this worker's leases; a job missing from the result is no longer this worker's.
UPDATE background_jobs AS j
SET lease_until = now() + make_interval(secs => %(lease_s)s), heartbeat_at = now(), updated_at = now()
FROM unnest(%(job_ids)s::bigint[], %(tokens)s::uuid[]) AS mine (job_id, token)
WHERE j.job_id = mine.job_id AND j.lease_token = mine.token AND j.status = 'running'
RETURNING j.job_id, j.cancel_requested

-- name: finish
-- Completions are written in groups (whatever finished while the previous group was written).
UPDATE background_jobs AS j
SET status = 'done', result = r.result, finished_at = now(), lease_until = NULL, lease_token = NULL,
    updated_at = now()
FROM unnest(%(job_ids)s::bigint[], %(tokens)s::uuid[], %(results)s::jsonb[]) AS r (job_id, token, result)
WHERE j.job_id = r.job_id AND j.lease_token = r.token AND j.status = 'running'
RETURNING j.job_id

-- name: fail
-- A failed attempt: back to the queue after the backoff, or `failed` for good once the job
-- has used its attempts (or the error is one no retry can fix).
UPDATE background_jobs AS j
SET status = CASE WHEN %(final)s OR j.attempts >= j.max_attempts THEN 'failed' ELSE 'queued' END,
    run_after = CASE WHEN %(final)s OR j.attempts >= j.max_attempts THEN j.run_after
                     ELSE now() + make_interval(secs => %(delay_s)s) END,
    finished_at = CASE WHEN %(final)s OR j.attempts >= j.max_attempts THEN now() END,
    last_error = %(error)s, lease_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now()
WHERE j.job_id = %(job_id)s AND j.lease_token = %(token)s AND j.status = 'running'
RETURNING j.status, j.run_after

-- name: defer
-- The job cannot go on before `run_after` (a daily cap): queued again, the attempt not counted.
UPDATE background_jobs AS j
SET status = 'queued', run_after = %(run_after)s, attempts = greatest(j.attempts - 1, 0),
    last_error = %(reason)s, lease_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now()
WHERE j.job_id = %(job_id)s AND j.lease_token = %(token)s AND j.status = 'running'
RETURNING j.job_id

-- name: release
-- A stopping dispatcher hands back a job it did not finish: ready again at once, attempt not counted.
UPDATE background_jobs AS j
SET status = 'queued', run_after = now(), attempts = greatest(j.attempts - 1, 0),
    lease_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now()
WHERE j.job_id = %(job_id)s AND j.lease_token = %(token)s AND j.status = 'running'
RETURNING j.job_id

-- name: confirm_cancelled
UPDATE background_jobs AS j
SET status = 'cancelled', finished_at = now(), lease_until = NULL, lease_token = NULL, updated_at = now(),
    last_error = coalesce(%(reason)s, j.last_error)
WHERE j.job_id = %(job_id)s AND j.lease_token = %(token)s AND j.status = 'running'
RETURNING j.job_id

-- name: recover_stalled
-- Running jobs whose lease expired (their worker was killed or hung): queued again, or failed
-- when that was their last attempt, or cancelled when a cancel was asked for. Row locks and
-- the re-checked condition make this safe against a worker finishing at the same moment:
-- a job that finished first is no longer `running` and is left alone.
UPDATE background_jobs AS j
SET status = CASE WHEN j.cancel_requested THEN 'cancelled'
                  WHEN j.attempts >= j.max_attempts THEN 'failed'
                  ELSE 'queued' END,
    finished_at = CASE WHEN j.cancel_requested OR j.attempts >= j.max_attempts THEN now() END,
    last_error = format('lease expired: worker %%s stopped heartbeating (killed or hung) on attempt %%s',
                        coalesce(j.locked_by, '?'), j.attempts),
    run_after = now(), lease_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now()
WHERE j.job_id IN (
        SELECT job_id FROM background_jobs
        WHERE status = 'running' AND lane = %(lane)s AND lease_until < now()
        ORDER BY lease_until
        LIMIT 100
        FOR UPDATE SKIP LOCKED)
  AND j.status = 'running' AND j.lease_until < now()
RETURNING j.job_id, j.job_type, j.status, j.attempts

-- name: next_due
SELECT min(run_after) FROM background_jobs
WHERE status = 'queued' AND lane = %(lane)s AND job_type = ANY(%(job_types)s)

-- name: cancel
-- Queued: cancelled at once. Running: flagged; its worker is told (NOTIFY, and its next
-- heartbeat) and stops it.
UPDATE background_jobs
SET status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
    finished_at = CASE WHEN status = 'queued' THEN now() ELSE finished_at END,
    cancel_requested = true, updated_at = now()
WHERE job_id = %(job_id)s AND status IN ('queued', 'running')
RETURNING status

-- name: notify_cancel
SELECT pg_notify('acra_jobs_cancel', %(job_id)s::text)

-- name: retry
-- An operator's second chance for a failed or cancelled job: queued now with fresh attempts.
UPDATE background_jobs
SET status = 'queued', attempts = 0, run_after = now(), cancel_requested = false, finished_at = NULL,
    lease_until = NULL, lease_token = NULL, locked_by = NULL, updated_at = now()
WHERE job_id = %(job_id)s AND status IN ('failed', 'cancelled')
RETURNING status

-- name: get_job
SELECT job_id, tenant_id, job_type, lane, status, params, priority, attempts, max_attempts, run_after,
       lease_until, locked_by, heartbeat_at, cancel_requested, timeout_s, idempotency_key, last_error, result,
       created_at, started_at, finished_at, updated_at
FROM background_jobs WHERE job_id = %(job_id)s

-- name: list_jobs
SELECT job_id, tenant_id, job_type, lane, status, priority, attempts, max_attempts, run_after, lease_until,
       locked_by, last_error, created_at, started_at, finished_at
FROM background_jobs
WHERE (%(lane)s::text IS NULL OR lane = %(lane)s)
  AND (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(job_type)s::text IS NULL OR job_type = %(job_type)s)
ORDER BY created_at DESC, job_id DESC
LIMIT %(limit)s

-- name: queue_depth
-- Live jobs per lane and status, with the age of the oldest ready job and the stalled leases;
-- finished jobs of the last 24 hours for context.
SELECT lane, status, count(*) AS jobs,
       extract(epoch FROM now() - min(run_after) FILTER (WHERE status = 'queued' AND run_after <= now()))
           AS oldest_ready_age_s,
       count(*) FILTER (WHERE status = 'queued' AND run_after > now()) AS waiting,
       count(*) FILTER (WHERE status = 'running' AND lease_until < now()) AS stalled
FROM background_jobs
WHERE status IN ('queued', 'running')
   OR (status IN ('done', 'failed', 'cancelled') AND finished_at > now() - interval '24 hours')
GROUP BY lane, status
ORDER BY lane, status
