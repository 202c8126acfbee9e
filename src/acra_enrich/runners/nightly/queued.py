"""The nightly lane's registry jobs, which `run nightly --worker` runs beside `nightly_tenant`:
- `staging_upsert` (jobs.enqueue_staging_upsert; params `uens` or `since`): those staging rows
  into `companies`, then `enrich_candidates` jobs of ENRICH_BATCH live companies each;
- `enrich_candidates` (jobs.enqueue_enrich_candidates; params `company_ids`): the pipeline for
  them, SCHED_COMPANY_CONCURRENCY at once, with the worker's shared clients.

What each does is runners/job_work.py's, as for the express lane's twins. An enrich job has one
`enrichment_runs` row (kind `nightly`, params `job_id` and `job_type`), found again by its next
attempt, which skips the companies that already have their history row from the job. A job that
names a tenant reads and writes through that tenant's row-level security.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.db import make_pool
from acra_enrich.jobs import ENRICH_CANDIDATES, STAGING_UPSERT, JobType, RunningJob
from acra_enrich.runners.job_work import ALREADY_DONE, company_ids, enrich_in_job, job_companies, queue_staged
from acra_enrich.runners.nightly.kit import NightlyKit
from acra_enrich.runners.nightly.watch import NightlyWatch
from acra_enrich.runners.statuses import excluded_status_patterns
from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.runners.nightly.sql", "nightly.sql")
ENRICH_BATCH = 10


class QueuedJobs:
    def __init__(self, settings: Settings, pool: ConnectionPool, kit: NightlyKit, watch: NightlyWatch,
                 log: Any) -> None:
        self.settings = settings
        self.pool = pool  # not pinned to a tenant: for jobs that name none
        self.kit = kit
        self.watch = watch
        self.log = log
        self.excluded = excluded_status_patterns(settings.excluded_statuses)
        self.company_slots = asyncio.Semaphore(settings.sched_company_concurrency)

    def job_types(self) -> dict[str, JobType]:
        return {STAGING_UPSERT: JobType(self.stage), ENRICH_CANDIDATES: JobType(self.enrich)}

    @contextmanager
    def _pool(self, job: RunningJob) -> Iterator[ConnectionPool]:
        if job.tenant_id is None:
            yield self.pool
            return
        with make_pool(self.settings, min_size=1, tenant_id=job.tenant_id) as pool:
            yield pool

    async def stage(self, job: RunningJob) -> dict[str, Any]:
        with self._pool(job) as pool:
            report = await asyncio.to_thread(partial(queue_staged, pool, job, enrich_type=ENRICH_CANDIDATES,
                                                     lane="nightly", batch_size=ENRICH_BATCH,
                                                     excluded=self.excluded, carried={}))
        self.log.info("staging_upserted", job_id=job.job_id, batch_size=ENRICH_BATCH, **report)
        return report

    async def enrich(self, job: RunningJob) -> dict[str, Any]:
        ids = company_ids(job)
        with self._pool(job) as pool:
            run_id = await asyncio.to_thread(self._run_of, pool, job)
            done, companies = await asyncio.to_thread(job_companies, pool, job.job_id, ids)
            deps = self.kit.for_tenant(pool)
            log = self.log.bind(job_id=job.job_id, run_id=run_id)
            outcome: Counter[str] = Counter({ALREADY_DONE: len(done), "missing": len(ids) - len(companies)})

            async def one(company: Any) -> None:
                async with self.company_slots:
                    t = time.monotonic()
                    status, error = await enrich_in_job(deps, pool, company, run_id=run_id, tenant_id=job.tenant_id,
                                                        job_id=job.job_id, logger=log)
                    outcome[status] += 1
                    if status != ALREADY_DONE:
                        await self.watch.company_done(status, time.monotonic() - t, error, run_id, log)

            try:
                async with asyncio.TaskGroup() as group:
                    for company in companies:
                        if company.company_id not in done:
                            group.create_task(one(company))
            except ExceptionGroup as eg:  # the queue records the first cause, not the group
                raise eg.exceptions[0] from None
            report = {"run_id": run_id, "companies": len(ids), **{k: v for k, v in outcome.items() if v}}
            await asyncio.to_thread(self._finish, pool, run_id, outcome, report)
        return report

    def _run_of(self, pool: ConnectionPool, job: RunningJob) -> int:
        with pool.connection() as conn:
            found = conn.execute(_Q["run_of_enrich_job"], {"job_id": job.job_id, "job_type": job.job_type}).fetchone()
            if found is not None:
                conn.execute(_Q["reopen_run"], {"run_id": found[0]})
                return int(found[0])
            (run_id,) = fetch_one(conn, _Q["start_run"], {"tenant_id": job.tenant_id, "params": Jsonb(
                {"job_id": job.job_id, "job_type": job.job_type, "company_ids": job.params.get("company_ids")})})
            return int(run_id)

    @staticmethod
    def _finish(pool: ConnectionPool, run_id: int, outcome: Counter[str], report: dict[str, Any]) -> None:
        processed = sum(n for status, n in outcome.items() if status not in (ALREADY_DONE, "missing"))
        with pool.connection() as conn:
            conn.execute(_Q["finish_run"], {"run_id": run_id, "status": "done", "processed": processed,
                                            "skipped": outcome[ALREADY_DONE] + outcome["missing"],
                                            "failed": outcome["failed"], "summary": Jsonb(report)})
