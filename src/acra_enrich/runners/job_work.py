"""What the staging and enrich jobs of both lanes do, whoever dispatches them: the express lane's
`acra_express_staging_upsert` / `acra_express_enrich` (runners/express.py) and the nightly lane's
`staging_upsert` / `enrich_candidates` (runners/nightly/queued.py).

A staging job upserts the staged rows it names (`uens`) or those changed `since` into
`companies` and queues enrich jobs of `batch_size` live companies, each keyed by the staging
job and its batch number (a retried staging job queues no second copy). An enrich job's
companies each get one history row tied to the job (`enrich_company(..., job_id=)`): a retried
job skips those an earlier attempt finished.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from acra_enrich.enrich.discover.find_domain import Company
from acra_enrich.enrich.persist.store import PersistInput, persist
from acra_enrich.enrich.pipeline import TRANSIENT_DB_ERRORS, PipelineDeps, enrich_company
from acra_enrich.jobs import PermanentJobError, RunningJob
from acra_enrich.jobs.queue import enqueue_once
from acra_enrich.registry.company_sync import sync_companies, upsert_company
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.runners.sql", "express.sql")
ALREADY_DONE = "already_done"
# Not a company's fault: the job ends (and the queue retries it) or the dispatcher stops.
PASS_THROUGH: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, asyncio.CancelledError)


def staging_params(job: RunningJob) -> tuple[list[str] | None, datetime | None]:
    """(uens, since) of a staging job; a job with neither, or a bad time, fails at once."""
    uens, since = job.params.get("uens"), job.params.get("since")
    if not (isinstance(uens, list) and uens) and not isinstance(since, str):
        raise PermanentJobError("params: expected `uens` (a non-empty list) or `since` (an ISO time)")
    try:
        since_at = datetime.fromisoformat(since) if isinstance(since, str) else None
    except ValueError:
        raise PermanentJobError(f"params.since {since!r}: not an ISO 8601 time") from None
    return ([str(u) for u in uens] if isinstance(uens, list) and uens else None), since_at


def queue_staged(pool: ConnectionPool, job: RunningJob, *, enrich_type: str, lane: str, batch_size: int,
                 excluded: list[str], carried: dict[str, Any]) -> dict[str, Any]:
    """Run a staging job (blocking; see the module docstring); its report."""
    uens, since_at = staging_params(job)
    report: dict[str, Any] = {"enrich_jobs": 0, "companies": 0}
    args: dict[str, Any]
    with pool.connection() as conn:
        if uens:
            report["not_in_staging"] = [u for u in uens if upsert_company(conn, u) is None]
            query, args = _Q["staged_companies_by_uens"], {"uens": uens}
        else:
            report["synced"] = sync_companies(conn, since=since_at).as_dict()
            query, args = _Q["staged_companies_since"], {"since": since_at}
        conn.commit()
        with conn.transaction(), conn.cursor(name=f"{lane}_stage_{job.job_id}") as cur:
            cur.execute(query, {**args, "excluded": excluded})
            batch_no = 0
            while rows := cur.fetchmany(batch_size):
                enqueue_once(conn, enrich_type, {
                    **carried, "company_ids": [r[0] for r in rows],
                    "staged_at": job.created_at.isoformat(), "parent_job_id": job.job_id,
                }, lane=lane, tenant_id=job.tenant_id, priority=job.priority,
                    idempotency_key=f"{lane}:{job.job_id}:{batch_no}", max_attempts=job.max_attempts)
                batch_no += 1
                report["companies"] += len(rows)
            report["enrich_jobs"] = batch_no
    return report


def company_ids(job: RunningJob) -> list[int]:
    ids = job.params.get("company_ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise PermanentJobError("params.company_ids: expected a list of company ids")
    return ids


def job_companies(pool: ConnectionPool, job_id: int, ids: list[int]) -> tuple[set[int], list[Company]]:
    """(companies an earlier attempt of the job finished, the job's companies that exist)."""
    with pool.connection() as conn:
        done = {r[0] for r in conn.execute(_Q["done_in_job"], {"job_id": job_id})}
        found = {r[0]: Company(*r) for r in conn.execute(_Q["companies_by_id"], {"ids": ids})}
    return done, [found[i] for i in ids if i in found]


async def enrich_in_job(deps: PipelineDeps, pool: ConnectionPool, company: Company, *, run_id: int | None,
                        tenant_id: int | None, job_id: int, logger: Any) -> tuple[str, str | None]:
    """(status, error) of one company of an enrich job; ALREADY_DONE when an earlier attempt of
    the job recorded it. A failure of the company's own (a bug or bad data in persist) is recorded
    as its history row; the database going away or a cancel ends the job (PASS_THROUGH)."""
    row_log = logger.bind(uen=company.uen, company_id=company.company_id)
    t = time.monotonic()
    try:
        result = await enrich_company(deps, company, run_id=run_id, tenant_id=tenant_id, job_id=job_id,
                                      logger=logger)
        return result.status, result.error
    except psycopg.errors.UniqueViolation:
        row_log.info("already_recorded", note="an earlier attempt of this job finished this company")
        return ALREADY_DONE, None
    except PASS_THROUGH:
        raise
    except Exception as exc:  # a bug or bad data in persist: record it, go on with the job
        error = f"{type(exc).__name__}: {exc}"[:2000]
        row_log.error("company_failed", error=error)

        def record() -> None:
            with pool.connection() as conn:
                persist(conn, PersistInput(company_id=company.company_id, status="failed", run_id=run_id,
                                           tenant_id=tenant_id, job_id=job_id, error=error,
                                           duration_ms=int((time.monotonic() - t) * 1000)))

        try:
            await asyncio.to_thread(record)
        except psycopg.errors.UniqueViolation:
            return ALREADY_DONE, None
        return "failed", error
