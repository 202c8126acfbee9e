"""The express lane (`acra-enrich run express`): enrich the registry rows operations want fresh
within the hour, continuously, beside (never instead of) the nightly work.

It dispatches only two job types of the `express` lane:
- `acra_express_staging_upsert` (params: `uens` or `since`): brings those staging rows into
  `companies` and queues `acra_express_enrich` jobs of EXPRESS_BATCH_SIZE live companies each;
- `acra_express_enrich` (params: `company_ids`): runs the pipeline for them, EXPRESS_CONCURRENCY
  companies at once (per dispatcher), one history row per company and job, under one
  `enrichment_runs` row of kind `express` per dispatcher run.

EXPRESS_DAILY_CAP counts companies per Asia/Singapore day in the database (all dispatchers
together); a job that meets it waits for the next day. `batch_size`, `concurrency` and
`daily_cap` in a job's params override the settings only with `authorized: true`.
EXPRESS_TENANT_ID pins every database write of the lane to one tenant (row-level security).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from croniter import croniter
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from acra_enrich.budget import try_spend
from acra_enrich.config import Settings
from acra_enrich.db import connect, database_dsn, make_pool
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.discover.find_domain import Company
from acra_enrich.enrich.pipeline import TRANSIENT_DB_ERRORS, PipelineDeps
from acra_enrich.errors import ConfigError
from acra_enrich.jobs import (
    EXPRESS_ENRICH,
    EXPRESS_STAGING_UPSERT,
    ClaimedJob,
    Dispatcher,
    JobType,
    RetryPolicy,
    RunningJob,
    enqueue_express_staging_upsert,
)
from acra_enrich.jobs.kinds import OVERRIDES
from acra_enrich.registry.acra_ingest import LoadReport
from acra_enrich.runners.job_work import (
    ALREADY_DONE,
    company_ids,
    enrich_in_job,
    job_companies,
    queue_staged,
    staging_params,
)
from acra_enrich.runners.alerts import Spike, TimedFailureMonitor
from acra_enrich.runners.metrics import ExpressMetrics, LaneDepths
from acra_enrich.runners.signals import on_stop_signals
from acra_enrich.runners.statuses import excluded_status_patterns
from acra_enrich.sqlfiles import fetch_one, load_queries
from acra_enrich.vendors import SlackClient, make_vendor_web_client

_Q = load_queries("acra_enrich.runners.sql", "express.sql")
SINGAPORE = ZoneInfo("Asia/Singapore")
DAILY_CAP_COUNTER = "acra_express"  # vendor_usage row counting companies per Asia/Singapore day
DEFAULT_CRON = "*/15 * * * *"
STALE_RUN_S = 600.0  # an express run without a heartbeat for this long was killed
log = structlog.get_logger("acra_enrich.express")


@dataclass(frozen=True)
class ExpressParams:
    concurrency: int
    batch_size: int
    daily_cap: int
    tenant_id: int | None
    once: bool = False
    cron: str | None = None  # None: continuous

    @classmethod
    def from_settings(cls, settings: Settings, *, once: bool = False, cron: bool = False,
                      concurrency: int | None = None) -> ExpressParams:
        if concurrency is not None and concurrency < 1:
            raise ConfigError("--concurrency must be at least 1")
        if once and cron:
            raise ConfigError("--once drains the lane now and exits; --cron drains it at each slot: give one")
        schedule = None if once else (settings.express_cron or (DEFAULT_CRON if cron else None))
        return cls(concurrency=concurrency or settings.express_concurrency, batch_size=settings.express_batch_size,
                   daily_cap=settings.express_daily_cap, tenant_id=settings.express_tenant_id, once=once,
                   cron=schedule)


@dataclass
class ExpressSummary:
    run_id: int | None
    status: str = "done"  # done | interrupted | failed
    stop_reason: str = "queue drained"
    processed: int = 0
    failed: int = 0
    already_done: int = 0  # companies an earlier attempt of the same job had finished
    deferred_jobs: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    jobs: dict[str, int] = field(default_factory=dict)
    alerts: int = 0
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["by_status"] = dict(self.by_status)
        data["duration_s"] = round(self.duration_s, 3)
        data["companies_per_hour"] = round(self.processed * 3600 / self.duration_s, 1) if self.duration_s else 0.0
        return data


def next_singapore_midnight(now: datetime | None = None) -> datetime:
    local = (now or datetime.now(timezone.utc)).astimezone(SINGAPORE)
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), SINGAPORE)


def ensure_express_tenant(conn: psycopg.Connection, tenant_id: int) -> None:
    """EXPRESS_TENANT_ID's tenant must exist and be active; it is created on first use."""
    created = conn.execute(_Q["ensure_tenant"], {"tenant_id": tenant_id}).fetchone()
    if not conn.autocommit:
        conn.commit()
    if created is not None:
        log.warning("tenant_created", tenant_id=tenant_id, name=created[0],
                    note=f"EXPRESS_TENANT_ID={tenant_id} did not exist; created it for the express lane")
        return
    name, status = fetch_one(conn, _Q["tenant_status"], {"tenant_id": tenant_id})
    if status != "active":
        raise ConfigError(f"EXPRESS_TENANT_ID={tenant_id}: tenant {name!r} is {status}; activate it or "
                          "pin the express lane to another tenant")


def enqueue_express_for_load(conn: psycopg.Connection, settings: Settings, load_id: int,
                             report: LoadReport) -> int | None:
    """`ingest acra FILE --express`: one express staging job for the rows this load inserted or
    changed (those whose changed_at is not before the load began); None when there are none."""
    if report.inserted + report.updated == 0:
        return None
    (started_at,) = fetch_one(conn, _Q["load_started_at"], {"load_id": load_id})
    if settings.express_tenant_id is not None:
        ensure_express_tenant(conn, settings.express_tenant_id)
    job = enqueue_express_staging_upsert(conn, since=started_at, tenant_id=settings.express_tenant_id,
                                         idempotency_key=f"express:load:{load_id}")
    conn.commit()
    return job.job_id


class ExpressRunner:
    """One express dispatcher process: its run row, pipeline, metrics, alerts and job handlers."""

    def __init__(self, settings: Settings, params: ExpressParams) -> None:
        self.settings = settings
        self.params = params
        self.summary = ExpressSummary(run_id=None)
        self.metrics = ExpressMetrics()
        self.monitor = TimedFailureMonitor(settings.express_error_window_min * 60,
                                           settings.express_error_alert_threshold, runner="express")
        self.company_slots = asyncio.Semaphore(params.concurrency)
        self.excluded = excluded_status_patterns(settings.excluded_statuses)
        self.pool: ConnectionPool | None = None
        self.deps: PipelineDeps | None = None
        self.slack: SlackClient | None = None
        self.dispatcher: Dispatcher | None = None
        self.stopping = asyncio.Event()
        self.pending: set[asyncio.Future[Any]] = set()
        self.log = log
        self.t0 = time.monotonic()

    # --- the run ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None) -> ExpressSummary:
        settings, params = self.settings, self.params
        with connect(settings, autocommit=True) as control:
            if params.tenant_id is not None:
                ensure_express_tenant(control, params.tenant_id)
            for (run_id,) in control.execute(_Q["close_stale_runs"], {"stale_s": STALE_RUN_S}).fetchall():
                log.warning("abandoned_run_closed", run_id=run_id, kind="express")
            self.metrics.start(settings)
            try:
                (run_id,) = fetch_one(control, _Q["start_run"], {"tenant_id": params.tenant_id,
                                                                  "params": Jsonb(asdict(params))})
            except BaseException:
                self.metrics.close()
                raise
            self.summary.run_id = run_id
            self.log = log.bind(run_id=run_id)
            self.log.info("run_start", **asdict(params))
            uninstall = on_stop_signals(self._on_signal)
            watcher = asyncio.ensure_future(self._forward(stop)) if stop is not None else None
            try:
                await self._serve()
            except TRANSIENT_DB_ERRORS as exc:
                self.summary.status, self.summary.stop_reason = "failed", f"database unavailable: {exc}"
                raise
            finally:
                uninstall()
                if watcher is not None:
                    watcher.cancel()
                self.metrics.close()
                self._finish(control)
        return self.summary

    async def _serve(self) -> None:
        settings = self.settings
        with make_pool(settings, min_size=1, tenant_id=self.params.tenant_id) as pool:
            self.pool = pool
            async with open_pipeline(settings, pool) as deps, make_vendor_web_client(settings) as vendor_web:
                self.deps = deps
                self.slack = SlackClient(vendor_web, settings)
                LaneDepths(lambda: self.pool).bind(self.metrics.queue_depth)
                try:
                    if self.params.cron is None:
                        await self._dispatch(once=self.params.once)
                    else:
                        await self._cron_loop(self.params.cron)
                finally:
                    if self.pending:
                        await asyncio.gather(*self.pending, return_exceptions=True)

    async def _dispatch(self, *, once: bool) -> None:
        settings = self.settings
        self.dispatcher = Dispatcher(
            database_dsn(settings), lane="express",
            job_types={EXPRESS_STAGING_UPSERT: JobType(self.stage), EXPRESS_ENRICH: JobType(self.enrich)},
            # Jobs overlap so a job's last slow company does not idle the others' slots; the
            # company semaphore is what bounds the work.
            concurrency=self.params.concurrency + 1, lease_s=settings.jobs_lease_s,
            poll_s=settings.express_poll_interval_s, grace_s=settings.express_grace_s,
            retry=RetryPolicy(settings.jobs_retry_base_s, settings.jobs_retry_max_s),
            observer=self, tenant_id=self.params.tenant_id, connect_timeout_s=settings.db_connect_timeout_s)
        if self.stopping.is_set():
            return
        stats = await self.dispatcher.run(once=once)
        for key, value in asdict(stats).items():
            self.summary.jobs[key] = self.summary.jobs.get(key, 0) + value

    async def _cron_loop(self, expression: str) -> None:
        slots = croniter(expression, datetime.now(SINGAPORE))
        while not self.stopping.is_set():
            slot: datetime = slots.get_next(datetime)
            wait = (slot - datetime.now(SINGAPORE)).total_seconds()
            self.log.info("next_slot", at=slot.isoformat(), in_s=round(wait, 1), cron=expression)
            try:
                await asyncio.wait_for(self.stopping.wait(), max(0.0, wait))
                return
            except TimeoutError:
                self.log.info("slot_start", at=slot.isoformat())
            await self._dispatch(once=True)

    def _finish(self, control: psycopg.Connection) -> None:
        s = self.summary
        s.duration_s = time.monotonic() - self.t0
        if self.stopping.is_set() and s.status == "done":
            s.status, s.stop_reason = "interrupted", "stop requested"
        try:
            control.execute(_Q["finish_run"], {"run_id": s.run_id, "status": s.status, "processed": s.processed,
                                               "failed": s.failed, "summary": Jsonb(s.as_dict())})
        except psycopg.OperationalError as exc:
            self.log.error("run_not_closed", error=str(exc).strip()[:300])
        self.log.info("run_summary", **s.as_dict())

    # --- stopping ----------------------------------------------------------------------------

    def request_stop(self, hurry: bool = False) -> None:
        first = not self.stopping.is_set()
        self.stopping.set()
        if self.dispatcher is not None:
            self.dispatcher.stop(hurry=hurry or not first)

    def _on_signal(self, sig: signal.Signals) -> None:
        self.log.info("stop_requested", signal=sig.name, second=self.stopping.is_set())
        self.request_stop()

    async def _forward(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.request_stop()

    # --- job: staging upsert -------------------------------------------------------------------

    def _overrides(self, job: RunningJob) -> dict[str, int]:
        given = {k: job.params[k] for k in OVERRIDES if job.params.get(k) is not None}
        if given and job.params.get("authorized") is not True:
            self.log.warning("overrides_ignored", job_id=job.job_id, overrides=given,
                             reason="params.authorized is not true")
            return {}
        return given

    async def stage(self, job: RunningJob) -> dict[str, Any]:
        overrides = self._overrides(job)
        batch_size = overrides.get("batch_size", self.params.batch_size)
        carried = {k: job.params[k] for k in ("authorized", *OVERRIDES) if k in job.params}
        staging_params(job)  # a bad job fails before any work
        assert self.pool is not None
        work = partial(queue_staged, self.pool, job, enrich_type=EXPRESS_ENRICH, lane="express", batch_size=batch_size,
                       excluded=self.excluded, carried=carried)
        report = await asyncio.to_thread(work)
        self.log.info("staging_upserted", job_id=job.job_id, batch_size=batch_size, **report)
        return report

    # --- job: enrich companies -------------------------------------------------------------------

    async def enrich(self, job: RunningJob) -> dict[str, Any]:
        ids = company_ids(job)
        overrides = self._overrides(job)
        job_slots = asyncio.Semaphore(overrides.get("concurrency", self.params.concurrency))
        cap = overrides.get("daily_cap", self.params.daily_cap)
        staged_at = datetime.fromisoformat(job.params["staged_at"]) if job.params.get("staged_at") else job.created_at
        assert self.pool is not None
        done, companies = await asyncio.to_thread(job_companies, self.pool, job.job_id, ids)
        todo = [c for c in companies if c.company_id not in done]
        outcome: Counter[str] = Counter(already_done=len(done), missing=len(ids) - len(companies))
        cap_reached = asyncio.Event()

        async def one(company: Company) -> None:
            async with job_slots, self.company_slots:
                if cap_reached.is_set():
                    return
                if cap and not await asyncio.to_thread(self._spend_cap, cap):
                    cap_reached.set()
                    return
                outcome[await self._enrich_one(job, company, staged_at)] += 1

        try:
            async with asyncio.TaskGroup() as group:
                for company in todo:
                    group.create_task(one(company))
        except ExceptionGroup as eg:  # the queue records the first cause, not the group
            raise eg.exceptions[0] from None
        self.summary.already_done += outcome["already_done"]
        if cap_reached.is_set():
            self.summary.deferred_jobs += 1
            job.defer(next_singapore_midnight(), f"EXPRESS_DAILY_CAP of {cap} companies reached for today "
                      "(Asia/Singapore); the rest of this job runs tomorrow")
        return {"companies": len(ids), **{k: v for k, v in outcome.items() if v}}

    def _spend_cap(self, cap: int) -> bool:
        assert self.pool is not None
        with self.pool.connection() as conn:
            return try_spend(conn, DAILY_CAP_COUNTER, 1, cap, "day")

    async def _enrich_one(self, job: RunningJob, company: Company, staged_at: datetime) -> str:
        deps = self.deps
        assert deps is not None and self.pool is not None
        self.metrics.in_flight.inc()
        try:
            status, error = await enrich_in_job(deps, self.pool, company, run_id=self.summary.run_id,
                                                tenant_id=job.tenant_id, job_id=job.job_id,
                                                logger=self.log.bind(job_id=job.job_id))
        finally:
            self.metrics.in_flight.dec()
        if status == ALREADY_DONE:
            return status
        self._account(status, error, staged_at)
        return status

    def _account(self, status: str, error: str | None, staged_at: datetime) -> None:
        s = self.summary
        s.processed += 1
        s.by_status[status] += 1
        self.metrics.processed.labels(status=status).inc()
        self.metrics.latency.observe(max(0.0, (datetime.now(timezone.utc) - staged_at).total_seconds()))
        failed = status == "failed"
        if failed:
            s.failed += 1
            self.metrics.failures.inc()
        spike = self.monitor.record(error, failed)
        if spike is not None:
            self._alert(spike)
        self._spawn(asyncio.to_thread(self._save_counters))

    def _save_counters(self) -> None:
        assert self.pool is not None
        s = self.summary
        with self.pool.connection() as conn:
            conn.execute(_Q["update_run"], {"run_id": s.run_id, "processed": s.processed, "failed": s.failed})
            conn.commit()

    # --- dispatcher observer, alerts, queue depth ---------------------------------------------------

    def job_ended(self, job: ClaimedJob, outcome: str, seconds: float) -> None:
        self.metrics.jobs.labels(outcome=outcome).inc()

    def _alert(self, spike: Spike) -> None:
        self.summary.alerts += 1
        self.log.warning("failure_spike", failures=spike.failures, window=spike.total,
                         ratio_pct=round(spike.ratio_pct, 1), threshold_pct=spike.threshold_pct,
                         top_errors=spike.top_errors)
        if self.slack is not None:
            self._spawn(self._post_alert(spike))

    async def _post_alert(self, spike: Spike) -> None:
        assert self.slack is not None
        outcome = await self.slack.post(spike.message(self.summary.run_id))
        self.log.info("alert_sent", channel="slack", status=outcome.status, detail=outcome.detail)

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.pending.add(task)  # awaited before the run ends, so a stop loses no alert or counter
        task.add_done_callback(self.pending.discard)


async def run_express(settings: Settings, params: ExpressParams, *, stop: asyncio.Event | None = None) -> ExpressSummary:
    return await ExpressRunner(settings, params).run(stop)
