"""The job queue on PostgreSQL (`background_jobs`) that the express and nightly lanes stand on.

Queue work:  enqueue(conn, job_type, params, lane=..., idempotency_key=...) and the named
             twins enqueue_staging_upsert / enqueue_express_staging_upsert /
             enqueue_enrich_candidates / enqueue_express_enrich.
Run it:      Dispatcher(dsn, lane=..., job_types={name: JobType(handler, timeout_s, max_running)},
             concurrency=N).run(once=False); a handler is `async def handler(job: RunningJob)`
             returning a JSON-able dict (kept as the job's result) or None. It may raise
             PermanentJobError (fail now) or call job.defer(until, reason) (wait, not counted).
Operate it:  list_jobs, get_job, cancel_job, retry_job, queue_depth.

docs/queue.md explains why this is our own engine rather than pgqueuer or procrastinate.
"""

from acra_enrich.jobs.dispatcher import DispatchStats, Dispatcher, JobType, RetryPolicy
from acra_enrich.jobs.kinds import (
    ENRICH_CANDIDATES,
    EXPRESS_ENRICH,
    EXPRESS_STAGING_UPSERT,
    STAGING_UPSERT,
    enqueue_enrich_candidates,
    enqueue_express_enrich,
    enqueue_express_staging_upsert,
    enqueue_staging_upsert,
)
from acra_enrich.jobs.model import LANES, ClaimedJob, Deferred, Enqueued, Lane, PermanentJobError, RunningJob
from acra_enrich.jobs.queue import JobNotFound, cancel_job, enqueue, get_job, list_jobs, queue_depth, retry_job

__all__ = [
    "ENRICH_CANDIDATES", "EXPRESS_ENRICH", "EXPRESS_STAGING_UPSERT", "LANES", "STAGING_UPSERT",
    "ClaimedJob", "Deferred", "DispatchStats", "Dispatcher", "Enqueued", "JobNotFound", "JobType", "Lane",
    "PermanentJobError", "RetryPolicy", "RunningJob",
    "cancel_job", "enqueue", "enqueue_enrich_candidates", "enqueue_express_enrich",
    "enqueue_express_staging_upsert", "enqueue_staging_upsert", "get_job", "list_jobs", "queue_depth",
    "retry_job",
]
