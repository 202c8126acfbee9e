"""The three queue engines bench/queue.py and bench/queue_guarantees.py put side by side: the
product's own layer (acra_enrich.jobs on background_jobs), bare pgqueuer and bare procrastinate.

Each adapter, through its engine's own public API: installs the engine's schema, queues jobs
with the engine's own enqueue, and runs one worker process of the engine's own worker (the
product's Dispatcher, pgqueuer's QueueManager with the psycopg driver, procrastinate's
Worker). A worker runs in a forked child process; the parent only watches the database.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

PROBE_TYPE = "probe"  # every engine's job type / entrypoint / task name in the probes
NOOP_QUEUE = "bench"  # procrastinate's queue for the throughput jobs


@dataclass(frozen=True)
class ProbeSpec:
    """One probe worker: what its handler does with the job it is given."""

    role: str  # "A", "B", ...: written beside every event it logs
    hold_s: float = 0.0  # the handler sleeps this long (a "long" job)
    fail: bool = False  # the handler raises after its hold
    stall_s: float = 1.5  # heartbeat-lapse threshold after which others may take its jobs
    continuous: bool = False  # keep waiting for work (else drain what is ready and exit)
    max_attempts: int = 2  # runs before a failing job is final
    reenqueue_key: str | None = None  # while running, enqueue another job with this key


PROBE_LOG_DDL = """CREATE TABLE IF NOT EXISTS probe_log (
    role text NOT NULL, job_id bigint, event text NOT NULL, detail text,
    at timestamptz NOT NULL DEFAULT clock_timestamp())"""
FAILURE_TEXT = "probe failure raised by worker"


async def _log(conn: psycopg.AsyncConnection[Any], role: str, job_id: int | None, event: str,
               detail: str | None = None) -> None:
    await conn.execute("INSERT INTO probe_log (role, job_id, event, detail) VALUES (%s, %s, %s, %s)",
                       (role, job_id, event, detail))


def quiet_child(log_path: Path) -> None:
    """A worker child's stdout/stderr go to one file, not between the parent's lines."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


class Engine:
    name: str
    tables: tuple[str, ...]  # every table the engine keeps its jobs' state in
    pending_sql: str  # true while any job is waiting or running
    live_with_key_sql: str  # live (waiting or running) jobs holding an idempotency key

    def install(self, dsn: str) -> None:
        raise NotImplementedError

    def enqueue_noops(self, dsn: str, count: int) -> None:
        raise NotImplementedError

    def work(self, dsn: str, concurrency: int) -> None:
        """One worker process: run no-op jobs until the queue is drained, then return."""
        raise NotImplementedError

    def done_count(self, conn: psycopg.Connection) -> int:
        raise NotImplementedError

    def enqueue_probe(self, dsn: str, *, key: str | None = None, max_attempts: int = 2) -> int | None:
        """Queue one probe job; None when the engine kept it out as a duplicate of `key`."""
        raise NotImplementedError

    def probe_worker(self, dsn: str, spec: ProbeSpec) -> None:
        raise NotImplementedError

    def job_state(self, conn: psycopg.Connection, job_id: int) -> str:
        """The job's status as the engine's table says ('(row deleted)' when it is gone)."""
        raise NotImplementedError

    async def _probe_step(self, dsn: str, log: psycopg.AsyncConnection[Any], spec: ProbeSpec, job_id: int,
                          first_run: list[bool]) -> None:
        """What every probe handler does, whatever the engine."""
        await _log(log, spec.role, job_id, "start")
        if spec.reenqueue_key is not None and first_run[0]:
            first_run[0] = False
            again = await asyncio.to_thread(self.enqueue_probe, dsn, key=spec.reenqueue_key)
            cur = await log.execute(self.live_with_key_sql, (spec.reenqueue_key,))
            live = (await cur.fetchone() or (0,))[0]
            await _log(log, spec.role, job_id, "reenqueue", f"{again}|{live}")
        await asyncio.sleep(spec.hold_s)
        await _log(log, spec.role, job_id, "end")
        if spec.fail:
            raise RuntimeError(f"{FAILURE_TEXT} {spec.role} (job {job_id})")


# --- the product: acra_enrich.jobs ------------------------------------------------------------


class Product(Engine):
    name = "acra_enrich.jobs"
    tables = ("background_jobs",)
    pending_sql = "SELECT EXISTS (SELECT 1 FROM background_jobs WHERE status IN ('queued', 'running'))"
    live_with_key_sql = ("SELECT count(*) FROM background_jobs WHERE idempotency_key = %s "
                         "AND status IN ('queued', 'running')")

    def __init__(self, home: Path) -> None:
        self.home = home  # its log file lives here, as `run express` writes one

    def install(self, dsn: str) -> None:
        """Nothing: fresh_database ran the product's migrations."""

    def enqueue_noops(self, dsn: str, count: int) -> None:
        from acra_enrich.jobs import EXPRESS_ENRICH, enqueue

        with psycopg.connect(dsn) as conn, conn.transaction():
            for _ in range(count):
                enqueue(conn, EXPRESS_ENRICH, {}, lane="express")

    def _settings(self) -> Any:
        from acra_enrich.config import load_settings
        from acra_enrich.logs import configure_logging

        settings = load_settings(acra_enrich_home=self.home, postgres_dsn=None)
        configure_logging(settings, stderr=False)  # as `run express` logs: one JSON line per event
        return settings

    def work(self, dsn: str, concurrency: int) -> None:
        from acra_enrich.jobs import EXPRESS_ENRICH, EXPRESS_STAGING_UPSERT, Dispatcher, JobType, RetryPolicy

        settings = self._settings()

        async def noop(job: Any) -> None:
            return None

        # The express dispatcher's shape (runners/express.py): its lane, both its job types,
        # the settings' lease, poll, grace and retry policy; no caps (express sets none).
        dispatcher = Dispatcher(
            dsn, lane="express", job_types={EXPRESS_STAGING_UPSERT: JobType(noop), EXPRESS_ENRICH: JobType(noop)},
            concurrency=concurrency, lease_s=settings.jobs_lease_s, poll_s=settings.express_poll_interval_s,
            grace_s=settings.express_grace_s, retry=RetryPolicy(settings.jobs_retry_base_s, settings.jobs_retry_max_s))
        asyncio.run(dispatcher.run(once=True))

    def done_count(self, conn: psycopg.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM background_jobs WHERE status = 'done'").fetchone()[0])  # type: ignore[index]

    def enqueue_probe(self, dsn: str, *, key: str | None = None, max_attempts: int = 2) -> int | None:
        from acra_enrich.jobs import enqueue

        with psycopg.connect(dsn) as conn:
            queued = enqueue(conn, PROBE_TYPE, {}, lane="express", idempotency_key=key, max_attempts=max_attempts)
        return queued.job_id if queued.created else None

    def probe_worker(self, dsn: str, spec: ProbeSpec) -> None:
        from acra_enrich.jobs import Dispatcher, JobType, RetryPolicy

        self._settings()

        async def main() -> None:
            log = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            first = [True]

            async def handler(job: Any) -> None:
                await self._probe_step(dsn, log, spec, job.job_id, first)

            dispatcher = Dispatcher(dsn, lane="express", job_types={PROBE_TYPE: JobType(handler)}, concurrency=1,
                                    lease_s=spec.stall_s, poll_s=0.5, worker_id=spec.role,
                                    retry=RetryPolicy(base_s=0.05, max_s=0.1))
            stats = await dispatcher.run(once=not spec.continuous)
            await _log(log, spec.role, None, "stats", f"done={stats.done} lost={stats.lost} "
                       f"recovered={stats.recovered}")

        asyncio.run(main())

    def job_state(self, conn: psycopg.Connection, job_id: int) -> str:
        row = conn.execute("SELECT status, locked_by FROM background_jobs WHERE job_id = %s", (job_id,)).fetchone()
        if row is None:
            return "(row deleted)"
        return f"{row[0]} by {row[1]}" if row[0] == "running" else str(row[0])


# --- bare pgqueuer ------------------------------------------------------------------------------


class PgQueuer(Engine):
    name = "pgqueuer"
    tables = ("pgqueuer", "pgqueuer_log")
    pending_sql = "SELECT EXISTS (SELECT 1 FROM pgqueuer WHERE status IN ('queued', 'picked'))"
    live_with_key_sql = "SELECT count(*) FROM pgqueuer WHERE dedupe_key = %s AND status IN ('queued', 'picked')"

    @staticmethod
    def queries(conn: psycopg.AsyncConnection[Any]) -> Any:
        from pgqueuer import PsycopgDriver, Queries

        return Queries(PsycopgDriver(conn))  # the driver wants an autocommit connection

    def install(self, dsn: str) -> None:
        async def go() -> None:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                await self.queries(conn).install()  # its own install query (what `pgq install` runs)

        asyncio.run(go())

    def enqueue_noops(self, dsn: str, count: int) -> None:
        async def go() -> None:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                q = self.queries(conn)
                for start in range(0, count, 5000):
                    n = min(5000, count - start)
                    await q.enqueue(["noop"] * n, [None] * n, [0] * n)  # its batch enqueue

        asyncio.run(go())

    def work(self, dsn: str, concurrency: int) -> None:
        from pgqueuer import QueueManager
        from pgqueuer.types import QueueExecutionMode

        async def main() -> None:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            qm = QueueManager(self.queries(conn))

            @qm.entrypoint("noop")
            async def noop(job: Any) -> None:
                return None

            # Its per-process concurrency cap is max_concurrent_tasks, which must be at least
            # twice the batch it claims per statement.
            await qm.run(mode=QueueExecutionMode.drain, batch_size=max(1, concurrency // 2),
                         max_concurrent_tasks=max(2, concurrency))

        asyncio.run(main())

    def done_count(self, conn: psycopg.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'").fetchone()[0])  # type: ignore[index]

    def enqueue_probe(self, dsn: str, *, key: str | None = None, max_attempts: int = 2) -> int | None:
        async def go() -> int | None:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                ids = await self.queries(conn).enqueue(PROBE_TYPE, None, dedupe_key=key, on_conflict="skip")
            return ids[0]

        return asyncio.run(go())

    def probe_worker(self, dsn: str, spec: ProbeSpec) -> None:
        from pgqueuer import DatabaseRetryEntrypointExecutor, QueueManager
        from pgqueuer.types import QueueExecutionMode

        async def main() -> None:
            log = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            qm = QueueManager(self.queries(await psycopg.AsyncConnection.connect(dsn, autocommit=True)))
            first = [True]

            # Its retrying executor counts retries: max_attempts=n-1 gives n runs. 'hold'
            # keeps a finally failed job in its table with status 'failed'.
            def executor(parameters: Any) -> Any:
                return DatabaseRetryEntrypointExecutor(parameters=parameters, max_attempts=spec.max_attempts - 1,
                                                       initial_delay=timedelta(seconds=0.05))

            @qm.entrypoint(PROBE_TYPE, on_failure="hold", executor_factory=executor)
            async def probe(job: Any) -> None:
                await self._probe_step(dsn, log, spec, job.id, first)

            mode = QueueExecutionMode.continuous if spec.continuous else QueueExecutionMode.drain
            await qm.run(mode=mode, batch_size=1, heartbeat_timeout=timedelta(seconds=spec.stall_s),
                         dequeue_timeout=timedelta(seconds=0.5))

        asyncio.run(main())

    def job_state(self, conn: psycopg.Connection, job_id: int) -> str:
        row = conn.execute("SELECT status FROM pgqueuer WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            last = conn.execute("SELECT status FROM pgqueuer_log WHERE job_id = %s ORDER BY id DESC LIMIT 1",
                                (job_id,)).fetchone()
            return f"(row deleted; last logged '{last[0]}')" if last else "(row deleted)"
        return str(row[0])


# --- bare procrastinate ---------------------------------------------------------------------------


class Procrastinate(Engine):
    name = "procrastinate"
    tables = ("procrastinate_jobs", "procrastinate_events")
    pending_sql = "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))"
    live_with_key_sql = ("SELECT count(*) FROM procrastinate_jobs WHERE queueing_lock = %s "
                         "AND status IN ('todo', 'doing')")

    @staticmethod
    def app(dsn: str, spec: ProbeSpec | None = None, on_probe: Callable[[Any], Awaitable[None]] | None = None) -> Any:
        import procrastinate

        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

        @app.task(name="noop", queue=NOOP_QUEUE)
        async def noop() -> None:
            return None

        # RetryStrategy counts retries: max_attempts=n-1 gives n runs (0 would mean "forever").
        attempts = spec.max_attempts if spec else 1
        retry = procrastinate.RetryStrategy(max_attempts=attempts - 1) if attempts > 1 else False

        @app.task(name=PROBE_TYPE, queue=PROBE_TYPE, retry=retry, pass_context=True)
        async def probe(context: Any) -> None:
            assert on_probe is not None
            await on_probe(context)

        return app

    def install(self, dsn: str) -> None:
        async def go() -> None:
            app = self.app(dsn)
            async with app.open_async():
                await app.schema_manager.apply_schema_async()  # its schema manager

        asyncio.run(go())

    def enqueue_noops(self, dsn: str, count: int) -> None:
        async def go() -> None:
            app = self.app(dsn)
            async with app.open_async():
                task = app.tasks["noop"]
                for start in range(0, count, 5000):
                    await task.batch_defer_async(*([{}] * min(5000, count - start)))  # its batch defer

        asyncio.run(go())

    def work(self, dsn: str, concurrency: int) -> None:
        async def main() -> None:
            app = self.app(dsn)
            async with app.open_async():
                await app.run_worker_async(queues=[NOOP_QUEUE], concurrency=concurrency, wait=False,
                                           install_signal_handlers=False)

        asyncio.run(main())

    def done_count(self, conn: psycopg.Connection) -> int:
        return int(conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'").fetchone()[0])  # type: ignore[index]

    def enqueue_probe(self, dsn: str, *, key: str | None = None, max_attempts: int = 2) -> int | None:
        from procrastinate.exceptions import AlreadyEnqueued

        async def go() -> int | None:
            app = self.app(dsn)
            async with app.open_async():
                try:
                    return int(await app.tasks[PROBE_TYPE].configure(queueing_lock=key).defer_async())
                except AlreadyEnqueued:
                    return None

        return asyncio.run(go())

    def probe_worker(self, dsn: str, spec: ProbeSpec) -> None:
        async def main() -> None:
            log = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
            first = [True]

            async def on_probe(context: Any) -> None:
                await self._probe_step(dsn, log, spec, context.job.id, first)

            app = self.app(dsn, spec, on_probe)
            async with app.open_async():
                await app.run_worker_async(
                    queues=[PROBE_TYPE], concurrency=1, wait=spec.continuous, install_signal_handlers=False,
                    name=spec.role, update_heartbeat_interval=spec.stall_s / 3, stalled_worker_timeout=spec.stall_s,
                    fetch_job_polling_interval=0.5)

        asyncio.run(main())

    async def retry_stalled(self, dsn: str, seconds_since_heartbeat: float) -> list[int]:
        """procrastinate's documented stalled-jobs recipe (howto/production/retry_stalled_jobs),
        which a user must schedule as a periodic task: get_stalled_jobs, then retry_job each."""
        app = self.app(dsn)
        async with app.open_async():
            stalled = list(await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat))
            for job in stalled:
                await app.job_manager.retry_job(job)
        return [int(job.id) for job in stalled]

    def job_state(self, conn: psycopg.Connection, job_id: int) -> str:
        row = conn.execute("SELECT status, worker_id FROM procrastinate_jobs WHERE id = %s", (job_id,)).fetchone()
        if row is None:
            return "(row deleted)"
        return str(row[0])

