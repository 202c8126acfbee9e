"""The direct runner (`acra-enrich run direct`): a manual, long-running, resumable sweep that
enriches companies straight from ACRA staging, in stable id order, with no ICP filter.

Which rows: live ones (status not in the excluded list; no status counts as live) that the
skip policy lets through, read a page at a time through a server-side cursor, so memory
and transactions stay small over millions of rows. For each: upsert into `companies` ->
skip check again (another process may have been faster) -> daily cap -> the pipeline ->
history row. Progress is a `service_progress` marker (key `acra_direct`): the highest
staging id below which every row is finished, so a restart after any stop, `kill -9`
included, continues without skipping unfinished rows; the skip policy keeps it from
enriching a finished company again within the recheck window.

One sweep at a time per database (an advisory lock): two would fight over the marker.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, NamedTuple, Protocol

import psycopg
import structlog
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.db import connect, make_pool
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.discover.find_domain import Company
from acra_enrich.enrich.persist.store import PersistInput, persist
from acra_enrich.enrich.pipeline import TRANSIENT_DB_ERRORS, PipelineDeps, enrich_company
from acra_enrich.enrich.slots import Place, WorkSlots
from acra_enrich.errors import ConfigError, DatabaseUnavailable
from acra_enrich.budget import try_spend
from acra_enrich.registry.company_sync import upsert_company
from acra_enrich.runners.alerts import FailureSpikeMonitor, Spike
from acra_enrich.runners.metrics import DirectMetrics
from acra_enrich.runners.signals import on_stop_signals
from acra_enrich.runners.statuses import excluded_status_patterns
from acra_enrich.runners.watermark import Watermark
from acra_enrich.sqlfiles import fetch_one, load_queries
from acra_enrich.vendors import SlackClient, make_vendor_web_client

_Q = load_queries("acra_enrich.runners.sql", "direct.sql")
_COMPANY_Q = load_queries("acra_enrich.enrich.sql", "persist.sql")  # the pipeline's Company record
# The progress bar's ETA counts exactly what the pages will return: the page query itself,
# counted, so the selection and skip policy are written once.
_COUNT_ELIGIBLE = sql.SQL("SELECT count(*) FROM (\n{}\n) AS eligible").format(sql.SQL(_Q["eligible_page"]))
MARKER_KEY = "acra_direct"
DAILY_CAP_COUNTER = "acra_direct"  # vendor_usage row counting companies per Asia/Singapore day
DAILY_CAP_REACHED = "daily cap reached"
RETRY_BACKOFF_S = 1.0  # first retry after a transient error; doubles, with jitter, up to RETRY_BACKOFF_MAX_S
RETRY_BACKOFF_MAX_S = 60.0
PAUSE_MAX_S = 3600.0
PAGE_ROWS = 50  # rows per selection page (at least 4 per concurrent slot)
DRY_RUN_PAGE_ROWS = 1000  # a dry run only logs each row: fewer, larger pages
log = structlog.get_logger("acra_enrich.direct")


class RunnerBusy(ConfigError):
    """Another direct sweep holds the lock on this database (exit 2)."""


@dataclass(frozen=True)
class DirectParams:
    """What one sweep does; environment defaults, CLI flags override them."""

    batch_limit: int | None = None
    concurrency: int = 1
    start_after_id: int | None = None
    start_from_uen: str | None = None
    daily_cap: int = 0
    skip_if_any_history: bool = False
    recheck_days: int = 30
    force: bool = False
    dry_run: bool = False
    excluded_statuses: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings, **flags: Any) -> DirectParams:
        values: dict[str, Any] = {
            "batch_limit": settings.acra_direct_batch_limit,
            "concurrency": settings.acra_direct_concurrency,
            "start_after_id": settings.acra_direct_start_after_id,
            "start_from_uen": settings.acra_direct_start_from_uen,
            "daily_cap": settings.acra_direct_daily_cap,
            "skip_if_any_history": settings.enrich_skip_if_any_history,
            "recheck_days": settings.enrich_recheck_days,
            "excluded_statuses": tuple(settings.excluded_statuses),
        }
        given = {k: v for k, v in flags.items() if v is not None}
        if "start_after_id" in given or "start_from_uen" in given:  # a flag's anchor replaces the environment's
            values["start_after_id"] = values["start_from_uen"] = None
        values.update(given)
        params = cls(**values)
        if params.start_after_id is not None and params.start_from_uen:
            raise ConfigError("give one start anchor: ACRA_DIRECT_START_AFTER_ID (--start-after-id) or "
                              "ACRA_DIRECT_START_FROM_UEN (--start-from-uen), not both")
        if params.concurrency < 1 or (params.batch_limit is not None and params.batch_limit < 1):
            raise ConfigError("--concurrency and --limit must be at least 1")
        return params

    def status_patterns(self) -> list[str]:
        return excluded_status_patterns(self.excluded_statuses)


@dataclass
class DirectSummary:
    run_id: int | None
    status: str  # done | interrupted | failed
    stop_reason: str
    start_after: int
    marker: int
    processed: int = 0  # companies that went through the pipeline (failed ones included)
    skipped: int = 0
    failed: int = 0
    selected: int = 0  # dry run: companies that would be enriched
    by_status: Counter[str] = field(default_factory=Counter)
    alerts: int = 0
    duration_s: float = 0.0
    dry_run: bool = False
    search: dict[str, dict[str, float | int]] = field(default_factory=dict)  # per provider: calls, yield ...

    @property
    def companies_per_hour(self) -> float:
        return self.processed * 3600.0 / self.duration_s if self.duration_s > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["by_status"] = dict(self.by_status)
        data["duration_s"] = round(self.duration_s, 3)
        data["companies_per_hour"] = round(self.companies_per_hour, 1)
        return data


class Observer(Protocol):
    """What a front end (the CLI's progress bar) is told as the sweep goes."""

    def started(self, run_id: int | None, total: int | None) -> None: ...
    def advanced(self, uen: str, status: str) -> None: ...
    def skipped(self, count: int) -> None: ...


class _Row(NamedTuple):
    id: int
    uen: str
    name: str | None


class _Stop:
    """SIGINT/SIGTERM: the first stops taking rows and lets in-flight companies finish
    within the grace period; a second abandons them at once."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.hurry = asyncio.Event()
        self.reason = ""

    def request(self, reason: str) -> None:
        if self.requested.is_set():
            if reason.startswith("signal"):
                self.hurry.set()
            return
        self.reason = reason
        self.requested.set()

    def install(self) -> Callable[[], None]:
        return on_stop_signals(lambda sig: self.request(f"signal {sig.name}"))


async def run_direct(settings: Settings, params: DirectParams, *, observer: Observer | None = None,
                     stop: asyncio.Event | None = None) -> DirectSummary:
    """Run one sweep to its end (source exhausted, batch limit, daily cap or a stop request).

    `stop`, when given, is an extra way to ask for a graceful stop (tests, embedding)."""
    control = connect(settings, autocommit=True)
    try:
        if not fetch_one(control, _Q["try_runner_lock"])[0]:
            raise RunnerBusy("another `acra-enrich run direct` is running on this database; "
                             "stop it first (SIGTERM) or wait for it to finish")
        start_after = _start_after(control, params)
        if not params.dry_run:
            for (run_id,) in control.execute(_Q["close_abandoned_runs"]).fetchall():
                log.warning("abandoned_run_closed", run_id=run_id)
        sweep = _Sweep(settings, params, start_after, observer)
        return await sweep.run(control, stop)
    except psycopg.OperationalError as exc:
        raise DatabaseUnavailable(f"lost the database: {exc}") from None
    finally:
        control.close()


def _start_after(conn: psycopg.Connection, params: DirectParams) -> int:
    """Explicit anchors win; otherwise resume from the marker; otherwise the beginning."""
    if params.start_after_id is not None:
        return params.start_after_id
    if params.start_from_uen:
        uen = params.start_from_uen.strip().upper()
        row = conn.execute(_Q["staging_id_of_uen"], {"uen": uen}).fetchone()
        if row is None:
            raise ConfigError(f"ACRA_DIRECT_START_FROM_UEN / --start-from-uen: UEN {uen!r} is not in staging "
                              "(load it with `acra-enrich ingest acra`)")
        return int(row[0])
    row = conn.execute(_Q["read_marker"], {"key": MARKER_KEY}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


class _Sweep:
    def __init__(self, settings: Settings, params: DirectParams, start_after: int, observer: Observer | None) -> None:
        self.settings = settings
        self.params = params
        self.observer = observer
        self.watermark = Watermark(start_after)
        self.summary = DirectSummary(run_id=None, status="done", stop_reason="source exhausted",
                                     start_after=start_after, marker=start_after, dry_run=params.dry_run)
        self.metrics = DirectMetrics()
        self.monitor = FailureSpikeMonitor(settings.acra_direct_error_window,
                                           settings.acra_direct_error_alert_threshold)
        self.stop = _Stop()
        # A company waiting for a web search gives its slot up (the search lane parks it).
        self.slots = WorkSlots(params.concurrency)
        self.pending: set[asyncio.Future[None]] = set()
        self.started = 0
        self.fatal: BaseException | None = None
        self.paused_until = 0.0
        self.ending: str | None = None  # why the sweep ended normally (limit, cap)
        self.saved_marker = start_after
        self.save_lock = asyncio.Lock()
        self.page_size = DRY_RUN_PAGE_ROWS if params.dry_run else max(PAGE_ROWS, 4 * params.concurrency)
        self.log = log
        self.pool: ConnectionPool | None = None
        self.deps: PipelineDeps | None = None
        self.slack: SlackClient | None = None
        self.t0 = time.monotonic()

    # --- the run ------------------------------------------------------------------------

    async def run(self, control: psycopg.Connection, external_stop: asyncio.Event | None) -> DirectSummary:
        params, settings = self.params, self.settings
        self.metrics.start(settings)  # before the run row: a busy port must not leave a run behind
        if not params.dry_run:
            try:
                (run_id,) = fetch_one(control, _Q["start_run"], {"params": Jsonb(self._params_json())})
            except BaseException:
                self.metrics.close()
                raise
            self.summary.run_id = run_id
            self.log = log.bind(run_id=run_id)
        self.log.info("run_start", **self._params_json())
        if settings.metrics_prometheus_enable:
            self.log.info("metrics_serving", port=settings.metrics_port, path="/metrics")
        uninstall = self.stop.install()
        watcher = asyncio.ensure_future(self._forward(external_stop)) if external_stop else None
        try:
            if self.observer is not None:
                self.observer.started(self.summary.run_id, await asyncio.to_thread(self._count_total, control))
            with make_pool(settings, min_size=1) as pool:
                self.pool = pool
                if params.dry_run:
                    await self._dispatch()
                else:
                    async with open_pipeline(settings, pool) as deps, make_vendor_web_client(settings) as vendor_web:
                        self.deps = deps
                        self.metrics.search.lane = deps.search_lane
                        self.slack = SlackClient(vendor_web, settings)
                        try:
                            await self._dispatch()
                        except DatabaseUnavailable as exc:
                            self._lost_database(exc)
                        finally:
                            await self._drain()
                        await self._save_progress(force=True)
        except (psycopg.OperationalError, DatabaseUnavailable) as exc:
            self.fatal = self.fatal or exc
        finally:
            uninstall()
            if watcher is not None:
                watcher.cancel()
            self.metrics.close()
        return self._finish(control)

    def _lost_database(self, exc: BaseException) -> None:
        """Nothing can be persisted any more: stop at once, in-flight companies included."""
        self.fatal = self.fatal or exc
        self.stop.request("database unavailable")
        self.stop.hurry.set()

    async def _forward(self, external: asyncio.Event) -> None:
        await external.wait()
        self.stop.request("stop requested")

    def _finish(self, control: psycopg.Connection) -> DirectSummary:
        s = self.summary
        s.duration_s = time.monotonic() - self.t0
        lane = self.deps.search_lane if self.deps is not None else None
        if lane is not None:
            s.search = {name: stats.as_dict() for name, stats in lane.stats().items() if stats.calls}
        s.marker = self.saved_marker if not s.dry_run else self.watermark.marker
        if self.fatal is not None:
            s.status, s.stop_reason = "failed", f"database unavailable: {self.fatal}"
        elif self.stop.requested.is_set():
            s.status, s.stop_reason = "interrupted", self.stop.reason
        elif self.ending is not None:
            s.stop_reason = self.ending
        if s.run_id is not None:
            try:
                control.execute(_Q["finish_run"], {
                    "run_id": s.run_id, "status": s.status, "processed": s.processed, "skipped": s.skipped,
                    "failed": s.failed, "summary": Jsonb(s.as_dict())})
            except psycopg.OperationalError as exc:
                self.fatal = self.fatal or exc
        self.log.info("run_summary", **s.as_dict())
        if self.fatal is not None:
            raise DatabaseUnavailable(f"lost the database during the run: {self.fatal}") from None
        return s

    # --- selection ------------------------------------------------------------------------

    def _query_params(self, after_id: int) -> dict[str, Any]:
        p = self.params
        return {"after_id": after_id, "excluded": p.status_patterns(), "force": p.force,
                "any_history": p.skip_if_any_history, "recheck_days": p.recheck_days}

    def _read_page(self, after_id: int) -> tuple[list[_Row], int]:
        """The next eligible rows and the id they were read up to, in one short transaction.

        Rows are read up to the table's top id as of this page, so a row loaded while the
        sweep runs is either in a later page or beyond the marker, never passed over."""
        assert self.pool is not None
        with self.pool.connection() as conn, conn.transaction():
            top = fetch_one(conn, _Q["top_id"])[0] or 0
            with conn.cursor(name="acra_direct_page") as cur:
                cur.execute(_Q["eligible_page"], {**self._query_params(after_id), "upto_id": top,
                                                  "page_size": self.page_size})
                rows = [_Row(*r) for r in cur.fetchmany(self.page_size)]
        return rows, top

    def _live_in_range(self, after_id: int, upto_id: int) -> int:
        assert self.pool is not None
        with self.pool.connection() as conn:
            return int(fetch_one(conn, _Q["live_in_range"], {**self._query_params(after_id), "upto_id": upto_id})[0])

    def _count_total(self, conn: psycopg.Connection) -> int:
        top = fetch_one(conn, _Q["top_id"])[0] or 0
        return int(fetch_one(conn, _COUNT_ELIGIBLE, {**self._query_params(self.watermark.marker), "upto_id": top,
                                                     "page_size": self.params.batch_limit or 2**62})[0])

    def _going(self) -> bool:
        return self.ending is None and not self.stop.requested.is_set()

    async def _dispatch(self) -> None:
        after = self.watermark.marker
        while self._going():
            page, top = await self._retrying(lambda: asyncio.to_thread(self._read_page, after), self.log)
            consumed = 0
            for row in page:
                if not await self._take(row):
                    break
                consumed += 1
            if consumed < len(page):  # stopped mid-page: the rest stays for the next run
                upto = page[consumed - 1].id if consumed else after
            else:
                upto = top if len(page) < self.page_size else page[-1].id
            if upto > after:
                # Live rows in the covered range that the page did not return were skipped by policy.
                live = await self._retrying(lambda: asyncio.to_thread(self._live_in_range, after, upto), self.log)
                self._count_skipped(live - consumed)
                self.watermark.pass_over(upto)
                after = upto
            if len(page) < self.page_size and consumed == len(page):
                return  # source exhausted

    async def _take(self, row: _Row) -> bool:
        """Start work on one row; False when the sweep must stop taking rows."""
        p = self.params
        if p.batch_limit is not None and self.started >= p.batch_limit:
            self.ending = f"batch limit of {p.batch_limit} reached"
            return False
        if not await self._wait_until_unpaused() or not await self._acquire_slot():
            return False
        row_log = self.log.bind(uen=row.uen, staging_id=row.id)
        row_log.info("select", name=row.name, dry_run=p.dry_run)
        if p.dry_run:
            self.slots.release()
            self.watermark.take(row.id)
            self.watermark.finish(row.id)
            self.started += 1
            self.summary.selected += 1
            if self.observer is not None:
                self.observer.advanced(row.uen, "selected")
            return True
        t = time.monotonic()
        try:
            prepared = await self._retrying(lambda: asyncio.to_thread(self._prepare, row), row_log)
        except BaseException:
            self.slots.release()
            raise
        if prepared == DAILY_CAP_REACHED:
            self.slots.release()
            self.ending = f"daily cap of {p.daily_cap} companies reached (Asia/Singapore day)"
            return False
        self.watermark.take(row.id)
        if isinstance(prepared, str):  # skipped after all, or vanished from staging
            row_log.info("skip", reason=prepared)
            self.slots.release()
            self.watermark.finish(row.id)
            self._count_skipped(1)
            return True
        row_log.info("upsert", company_id=prepared.company_id, duration_ms=int((time.monotonic() - t) * 1000))
        self.started += 1
        task = asyncio.create_task(self._enrich(row, prepared))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)
        return True

    def _prepare(self, row: _Row) -> Company | str:
        """Upsert the company, check the skip policy again, take one unit of the daily cap."""
        assert self.pool is not None
        p = self.params
        with self.pool.connection() as conn:
            company_id = upsert_company(conn, row.uen)
            conn.commit()
            if company_id is None:
                return "no longer in staging"
            if not p.force and fetch_one(conn, _Q["recently_enriched"], {
                    "company_id": company_id, "any_history": p.skip_if_any_history,
                    "recheck_days": p.recheck_days})[0]:
                return "enriched meanwhile by another process"
            conn.commit()
            if p.daily_cap and not try_spend(conn, DAILY_CAP_COUNTER, 1, p.daily_cap, "day"):
                return DAILY_CAP_REACHED
            return Company(*fetch_one(conn, _COMPANY_Q["company_by_uen"], {"key": row.uen.strip().upper()}))

    async def _acquire_slot(self) -> bool:
        if not self.slots.locked():  # a free slot: no need to race it against a stop request
            await self.slots.acquire()
            if self.stop.requested.is_set():
                self.slots.release()
                return False
            return True
        acquire = asyncio.ensure_future(self.slots.acquire())
        stopping = asyncio.ensure_future(self.stop.requested.wait())
        await asyncio.wait({acquire, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if self.stop.requested.is_set():
            if acquire.done() and not acquire.cancelled():
                self.slots.release()
            acquire.cancel()
            return False
        return True

    # --- one company -------------------------------------------------------------------------

    async def _enrich(self, row: _Row, company: Company) -> None:
        deps = self.deps
        assert deps is not None
        row_log = self.log.bind(uen=company.uen, company_id=company.company_id)
        self.metrics.in_flight.inc()
        t = time.monotonic()
        place = Place(self.slots)
        try:
            try:
                result = await self._retrying(
                    lambda: enrich_company(deps, company, run_id=self.summary.run_id, logger=self.log, place=place),
                    row_log)
                status, error = result.status, result.error
            except (DatabaseUnavailable, asyncio.CancelledError):
                raise
            except Exception as exc:  # a bug or bad data in persist: record it, go on with the sweep
                status, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
                row_log.error("company_failed", error=error)
                await asyncio.to_thread(self._record_failure, company, error, int((time.monotonic() - t) * 1000))
        except DatabaseUnavailable as exc:
            self._lost_database(exc)
            return
        finally:
            self.metrics.in_flight.dec()
            place.give_up()
        self.metrics.latency.observe(time.monotonic() - t)
        self._account(row, company, status, error)
        try:
            await self._save_progress()
        except DatabaseUnavailable as exc:
            self._lost_database(exc)

    async def _retrying(self, attempt: Callable[[], Any], row_log: Any) -> Any:
        """Retry transient database errors with jittered backoff; DatabaseUnavailable when
        the database stays away (the sweep cannot go on without it)."""
        retries = self.settings.acra_direct_retries
        for n in range(retries + 1):
            try:
                return await attempt()
            except TRANSIENT_DB_ERRORS as exc:
                if n == retries:
                    raise DatabaseUnavailable(f"{type(exc).__name__}: {exc}".strip()) from None
                delay = min(RETRY_BACKOFF_MAX_S, RETRY_BACKOFF_S * 2**n) * (1 + random.random())
                row_log.warning("transient_error", attempt=n + 1, error=f"{type(exc).__name__}: {exc}"[:300],
                                retry_in_s=round(delay, 2))
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _record_failure(self, company: Company, error: str, duration_ms: int) -> None:
        assert self.pool is not None
        with self.pool.connection() as conn:
            persist(conn, PersistInput(company_id=company.company_id, status="failed", run_id=self.summary.run_id,
                                       error=error, duration_ms=duration_ms))

    def _account(self, row: _Row, company: Company, status: str, error: str | None) -> None:
        s = self.summary
        self.watermark.finish(row.id)
        s.processed += 1
        s.by_status[status] += 1
        self.metrics.processed.labels(status=status).inc()
        failed = status == "failed"
        if failed:
            s.failed += 1
            self.metrics.failures.inc()
        if self.observer is not None:
            self.observer.advanced(company.uen or "", status)
        spike = self.monitor.record(error, failed)
        if spike is not None:
            self._alert(spike)

    def _count_skipped(self, n: int) -> None:
        if n > 0:
            self.summary.skipped += n
            self.metrics.skipped.inc(n)
            if self.observer is not None:
                self.observer.skipped(n)

    # --- progress, alerts, pauses ---------------------------------------------------------------

    async def _save_progress(self, *, force: bool = False) -> None:
        """Write the marker (when it moved) and the run's counters."""
        if self.params.dry_run or self.pool is None:
            return
        async with self.save_lock:
            marker = self.watermark.marker
            if marker == self.saved_marker and not force:
                return
            s = self.summary
            values = {"key": MARKER_KEY, "last_id": marker, "run_id": s.run_id, "processed": s.processed,
                      "skipped": s.skipped, "failed": s.failed,
                      "details": Jsonb({"run_id": s.run_id, "in_flight": self.watermark.in_flight})}

            def write() -> None:
                assert self.pool is not None
                with self.pool.connection() as conn, conn.transaction():
                    conn.execute(_Q["write_marker"], values)
                    conn.execute(_Q["update_run_counters"], values)

            await self._retrying(lambda: asyncio.to_thread(write), self.log)
            self.saved_marker = marker
            self.metrics.marker.set(marker)

    def _alert(self, spike: Spike) -> None:
        self.summary.alerts += 1
        self.log.warning("failure_spike", failures=spike.failures, window=spike.total,
                         ratio_pct=round(spike.ratio_pct, 1), threshold_pct=spike.threshold_pct,
                         top_errors=spike.top_errors)
        if self.settings.acra_direct_pause_on_error_spike:
            pause = min(PAUSE_MAX_S, self.settings.acra_direct_pause_s * 2 ** (self.monitor.consecutive - 1))
            self.paused_until = time.monotonic() + pause
            self.log.warning("paused", seconds=pause, reason="failure spike")
        if self.slack is not None:
            task = asyncio.ensure_future(self._post_alert(spike))
            self.pending.add(task)  # drained like a company, so a stop does not lose the alert
            task.add_done_callback(self.pending.discard)

    async def _post_alert(self, spike: Spike) -> None:
        assert self.slack is not None
        outcome = await self.slack.post(spike.message(self.summary.run_id))
        self.log.info("alert_sent", channel="slack", status=outcome.status, detail=outcome.detail)

    async def _wait_until_unpaused(self) -> bool:
        remaining = self.paused_until - time.monotonic()
        if remaining > 0:
            try:
                await asyncio.wait_for(self.stop.requested.wait(), remaining)
            except asyncio.TimeoutError:
                self.log.info("resumed", after_pause_s=round(remaining, 1))
        return not self.stop.requested.is_set()

    async def _drain(self) -> None:
        """Let in-flight companies finish: all of them at a normal end; within the grace
        period once a stop is requested; none after a second signal."""
        deadline: float | None = None
        hurry = asyncio.ensure_future(self.stop.hurry.wait())
        try:
            while self.pending and not self.stop.hurry.is_set():
                waiters: set[asyncio.Future[Any]] = {*self.pending, hurry}
                if self.stop.requested.is_set():
                    if deadline is None:
                        deadline = time.monotonic() + self.settings.acra_direct_grace_s
                        self.log.info("draining", in_flight=len(self.pending),
                                      grace_s=self.settings.acra_direct_grace_s)
                    if deadline <= time.monotonic():
                        break
                    await asyncio.wait(waiters, timeout=deadline - time.monotonic(),
                                       return_when=asyncio.FIRST_COMPLETED)
                else:
                    stopping = asyncio.ensure_future(self.stop.requested.wait())
                    await asyncio.wait({*waiters, stopping}, return_when=asyncio.FIRST_COMPLETED)
                    stopping.cancel()
        finally:
            hurry.cancel()
        if self.pending:
            self.log.warning("abandoned_in_flight", companies=len(self.pending),
                             note="not marked finished; the next run takes them again")
            for task in list(self.pending):
                task.cancel()
            await asyncio.gather(*self.pending, return_exceptions=True)

    def _params_json(self) -> dict[str, Any]:
        data = asdict(self.params)
        data["start_after"] = self.summary.start_after
        data["excluded_statuses"] = list(self.params.excluded_statuses)
        return data
