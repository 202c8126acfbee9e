"""`acra-enrich run nightly --worker`: a dispatcher of the `nightly` lane that runs `nightly_tenant`
jobs, SCHED_TENANT_CONCURRENCY tenants at once, and the lane's `staging_upsert` /
`enrich_candidates` jobs (queued.py), sharing one set of clients and one watch (/metrics with
the lanes' queue depth, failure-spike alerts).

A job's next attempt (after a crash, a lost lease or a stop) resumes the run its earlier
attempt started. A tenant whose run is already in progress elsewhere makes the job wait a
minute (not counted as an attempt); a tenant without an ICP, disabled or unknown fails the
job at once with the reason.
"""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta, timezone
from typing import Any

import structlog

from acra_enrich.config import Settings
from acra_enrich.db import database_dsn, make_pool
from acra_enrich.errors import ConfigError
from acra_enrich.jobs import DispatchStats, Dispatcher, JobType, PermanentJobError, RetryPolicy, RunningJob
from acra_enrich.runners.nightly.dag import NightlyBusy, NightlyParams, run_nightly_for_tenant
from acra_enrich.runners.nightly.kit import open_kit
from acra_enrich.runners.nightly.queued import QueuedJobs
from acra_enrich.runners.metrics import LaneDepths
from acra_enrich.runners.nightly.scheduler import NIGHTLY_TENANT
from acra_enrich.runners.nightly.watch import NightlyWatch
from acra_enrich.runners.signals import on_stop_signals
from acra_enrich.vendors import SlackClient

BUSY_RETRY_S = 60.0
log = structlog.get_logger("acra_enrich.nightly_worker")


async def run_worker(settings: Settings, *, once: bool = False, stop: asyncio.Event | None = None) -> DispatchStats:
    watch = NightlyWatch(settings)
    watch.serve(settings)
    try:
        return await _serve(settings, watch, once, stop)
    finally:
        watch.close()


async def _serve(settings: Settings, watch: NightlyWatch, once: bool, stop: asyncio.Event | None) -> DispatchStats:
    with make_pool(settings, min_size=1) as pool:
        async with open_kit(settings, pool) as kit:
            watch.slack = SlackClient(kit.vendor_web, settings)
            LaneDepths(lambda: pool).bind(watch.metrics.queue_depth)

            async def handle(job: RunningJob) -> dict[str, Any]:
                if job.tenant_id is None:
                    raise PermanentJobError("a nightly_tenant job needs a tenant")
                try:
                    day = date.fromisoformat(str(job.params.get("day")))
                except ValueError:
                    raise PermanentJobError(f"params.day {job.params.get('day')!r}: not a date") from None
                try:
                    summary = await run_nightly_for_tenant(settings, job.tenant_id, NightlyParams(day=day,
                                                                                                  job_id=job.job_id),
                                                           kit=kit, watch=watch)
                except NightlyBusy as exc:
                    job.defer(datetime.now(timezone.utc) + timedelta(seconds=BUSY_RETRY_S), str(exc))
                except ConfigError as exc:
                    raise PermanentJobError(str(exc)) from None
                return {"run_id": summary.run_id, "status": summary.status, "selected": summary.selected,
                        "buckets": dict(summary.buckets), "synced": dict(summary.synced),
                        "degraded": summary.degraded}

            dispatcher = Dispatcher(
                database_dsn(settings), lane="nightly",
                job_types={NIGHTLY_TENANT: JobType(handle), **QueuedJobs(settings, pool, kit, watch, log).job_types()},
                concurrency=settings.sched_tenant_concurrency, lease_s=settings.jobs_lease_s,
                poll_s=settings.sched_poll_interval_s, grace_s=settings.sched_grace_s,
                retry=RetryPolicy(settings.jobs_retry_base_s, settings.jobs_retry_max_s),
                connect_timeout_s=settings.db_connect_timeout_s, observer=watch)
            stopping = stop or asyncio.Event()

            def on_signal(sig: object) -> None:
                dispatcher.stop(hurry=stopping.is_set())
                stopping.set()

            uninstall = on_stop_signals(on_signal)
            watcher = asyncio.ensure_future(_forward(stopping, dispatcher)) if stop is not None else None
            try:
                return await dispatcher.run(once=once)
            finally:
                uninstall()
                if watcher is not None:
                    watcher.cancel()


async def _forward(stop: asyncio.Event, dispatcher: Dispatcher) -> None:
    await stop.wait()
    dispatcher.stop()
