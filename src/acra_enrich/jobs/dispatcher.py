"""The dispatcher: claims jobs of one lane and runs their handlers, N at a time.

Guarantees it keeps (each tested in tests/test_jobs_*.py):
- a job runs in one worker at a time: claims use `FOR UPDATE SKIP LOCKED`, and every later
  write names the claim's lease token, so a worker whose lease expired cannot touch the job;
- running jobs heartbeat (every lease/4); a job whose worker died (kill -9) is recovered by
  whichever dispatcher of its lane looks next, never by a task someone must schedule;
- a failure is retried after an exponential backoff with jitter until `max_attempts`, then
  the job is `failed` with its error text; a per-job timeout counts as a failure and is
  separate from the stall threshold (the lease);
- an operator's cancel stops a running job (NOTIFY, and the heartbeat as a fallback);
- idle, it sleeps on LISTEN acra_jobs until work arrives, the next deferred job is due or
  the poll interval (a fallback for lost notifications) has passed: no busy loop;
- on stop, running jobs get a grace period to finish; the rest are released (queued again,
  the attempt not counted).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from acra_enrich.db.connection import PIN_TENANT_SQL, SET_TENANT_ROLE_SESSION
from acra_enrich.errors import DatabaseUnavailable
from acra_enrich.jobs.model import ClaimedJob, Deferred, PermanentJobError, RunningJob
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.jobs.sql", "queue.sql")
log = structlog.get_logger("acra_enrich.jobs")

Handler = Callable[[RunningJob], Awaitable[dict[str, Any] | None]]
RECONNECT_TRIES = 5
ERROR_TEXT_MAX = 4000


@dataclass(frozen=True)
class JobType:
    """How a dispatcher runs one job type."""

    handler: Handler
    timeout_s: float | None = None  # default per-job timeout; a job's own timeout_s wins
    max_running: int | None = None  # across every dispatcher of the lane; expired leases don't count


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff before attempt n+1: base * 2**(n-1), capped, times a random factor in [0.5, 1.5)
    so jobs that failed together do not come back together."""

    base_s: float = 10.0
    max_s: float = 900.0

    def delay_s(self, attempt: int) -> float:
        return min(self.max_s, self.base_s * 2 ** max(0, attempt - 1)) * (0.5 + random.random())


@dataclass
class DispatchStats:
    claimed: int = 0
    done: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    deferred: int = 0
    released: int = 0
    lost: int = 0  # leases lost to stall recovery: the job is someone else's now
    recovered: int = 0  # stalled jobs of other (dead) workers put back
    claim_queries: int = 0  # how often it asked for work (an idle dispatcher asks rarely)


class Observer(Protocol):
    """Told about every job's end (metrics, progress); must not block."""

    def job_ended(self, job: ClaimedJob, outcome: str, seconds: float) -> None: ...


@dataclass
class _Running:
    job: ClaimedJob
    view: RunningJob
    task: asyncio.Task[None]
    started: float = field(default_factory=time.monotonic)
    lease_lost: bool = False
    releasing: bool = False


class Dispatcher:
    def __init__(
        self, dsn: str, *, lane: str, job_types: Mapping[str, JobType], concurrency: int = 1,
        lease_s: float = 60.0, poll_s: float = 30.0, grace_s: float = 60.0, retry: RetryPolicy | None = None,
        worker_id: str | None = None, observer: Observer | None = None, connect_timeout_s: float = 10.0,
        tenant_id: int | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not job_types:
            raise ValueError("a dispatcher needs at least one job type")
        self.dsn = dsn
        self.lane = lane
        self.job_types = dict(job_types)
        self.concurrency = concurrency
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.retry = retry or RetryPolicy()
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.observer = observer
        self.connect_timeout_s = connect_timeout_s
        self.tenant_id = tenant_id  # pinned: its connections see and write only this tenant's jobs
        self.stats = DispatchStats()
        self.log = log.bind(lane=lane, worker=self.worker_id)
        self._names = list(self.job_types)
        self._caps = [self.job_types[n].max_running for n in self._names]
        self._running: dict[int, _Running] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._hurry = asyncio.Event()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._db_lock = asyncio.Lock()
        self._finishing: list[tuple[ClaimedJob, dict[str, Any] | None, asyncio.Future[bool]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._next_recovery = 0.0

    # --- control -------------------------------------------------------------------------

    def stop(self, *, hurry: bool = False) -> None:
        """Stop claiming; running jobs get the grace period (none with hurry)."""
        self._stop.set()
        if hurry:
            self._hurry.set()
        self._wake.set()

    @property
    def running(self) -> int:
        return len(self._running)

    async def run(self, *, once: bool = False) -> DispatchStats:
        """Work until stopped; with `once`, until nothing is ready and nothing runs."""
        self._conn = await self._connect()
        listener = await self._listener()
        tasks = [asyncio.create_task(self._listen(listener)), asyncio.create_task(self._heartbeats())]
        self.log.info("dispatcher_start", job_types=self._names, concurrency=self.concurrency, once=once,
                      lease_s=self.lease_s)
        try:
            await self._loop(once)
        finally:
            await self._drain()
            if self._flusher is not None:  # completions of jobs stopped while they waited for it
                await asyncio.gather(self._flusher, return_exceptions=True)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._conn.close()
            self.log.info("dispatcher_stop", **self.stats.__dict__)
        return self.stats

    async def _loop(self, once: bool) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before the claim: work notified while claiming wakes the next sleep
            if time.monotonic() >= self._next_recovery:
                await self._recover()
            free = self.concurrency - len(self._running)
            claimed = await self._claim(free) if free > 0 else []
            for job in claimed:
                self._start(job)
            if once and not claimed and not self._running:
                return
            if claimed and len(claimed) == free:
                continue  # there may be more ready: claim again once a slot frees
            await self._sleep(once)

    async def _sleep(self, once: bool) -> None:
        """Until a notification, a job's end (its task sets the wake event too), a stop, the
        next deferred job's time, the next stall check or the poll interval."""
        timeout = min(self.poll_s, max(0.0, self._next_recovery - time.monotonic()))
        if len(self._running) < self.concurrency and not once:
            async def next_due(conn: psycopg.AsyncConnection[Any]) -> Any:
                cur = await conn.execute(_Q["next_due"], {"lane": self.lane, "job_types": self._names})
                return (await cur.fetchone() or (None,))[0]

            due = await self._db(next_due)
            if due is not None:
                timeout = min(timeout, max(0.05, (due - datetime.now(timezone.utc)).total_seconds()))
        with contextlib.suppress(TimeoutError):  # the timeout is one of the alarms, not an error
            await asyncio.wait_for(self._wake.wait(), timeout)

    # --- database --------------------------------------------------------------------------

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        try:
            conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True,
                                                         connect_timeout=max(1, int(self.connect_timeout_s)))
        except psycopg.OperationalError as exc:
            raise DatabaseUnavailable(f"job dispatcher cannot reach the database: {exc}") from None
        if self.tenant_id is not None:
            await conn.execute(PIN_TENANT_SQL, (str(self.tenant_id),))
            await conn.execute(SET_TENANT_ROLE_SESSION)
        return conn

    async def _db(self, call: Callable[[psycopg.AsyncConnection[Any]], Awaitable[Any]]) -> Any:
        """One statement (or transaction) on the dispatcher's connection; reconnects with
        backoff when the connection drops, DatabaseUnavailable when the database stays away."""
        async with self._db_lock:
            for n in range(RECONNECT_TRIES):
                try:
                    assert self._conn is not None
                    if self._conn.closed:
                        self._conn = await self._connect()
                    return await call(self._conn)
                except (psycopg.OperationalError, DatabaseUnavailable) as exc:
                    if n == RECONNECT_TRIES - 1:
                        raise DatabaseUnavailable(f"job dispatcher lost the database: {exc}") from None
                    delay = min(30.0, 0.5 * 2**n) * (0.5 + random.random())
                    self.log.warning("db_retry", error=str(exc).strip()[:300], retry_in_s=round(delay, 2))
                    if self._conn is not None and not self._conn.closed:
                        await self._conn.close()
                    await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def _claim(self, limit: int) -> list[ClaimedJob]:
        params = {"lane": self.lane, "job_types": self._names, "caps": self._caps, "limit": limit,
                  "worker": self.worker_id, "lease_s": self.lease_s}
        capped = any(c is not None for c in self._caps)

        async def claim(conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
            cur = conn.cursor(row_factory=dict_row)
            if not capped:
                # One statement is atomic on its own: no BEGIN/COMMIT round trips around it.
                await cur.execute(_Q["claim"], params)
                return await cur.fetchall()
            async with conn.transaction():  # the lane lock is held to the end of the transaction
                await conn.execute(_Q["lock_lane_claims"], {"lane": self.lane})
                await cur.execute(_Q["claim"], params)
                return await cur.fetchall()

        rows = await self._db(claim)
        self.stats.claim_queries += 1
        jobs = [ClaimedJob(job_id=r["job_id"], job_type=r["job_type"], lane=r["lane"], tenant_id=r["tenant_id"],
                           params=r["params"], priority=r["priority"], attempt=r["attempts"],
                           max_attempts=r["max_attempts"], timeout_s=r["timeout_s"], lease_token=r["lease_token"],
                           created_at=r["created_at"]) for r in rows]
        jobs.sort(key=lambda j: (-j.priority, j.job_id))
        self.stats.claimed += len(jobs)
        return jobs

    async def _write(self, query: str, params: dict[str, Any]) -> Any:
        async def call(conn: psycopg.AsyncConnection[Any]) -> Any:
            cur = await conn.execute(query, params)
            return await cur.fetchone()

        return await self._db(call)

    async def _recover(self) -> None:
        self._next_recovery = time.monotonic() + max(1.0, self.lease_s / 2)

        async def recover(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
            cur = await conn.execute(_Q["recover_stalled"], {"lane": self.lane})
            return await cur.fetchall()

        for job_id, job_type, status, attempts in await self._db(recover):
            self.stats.recovered += 1
            self.log.warning("job_recovered", job_id=job_id, job_type=job_type, now=status, attempts=attempts,
                             reason="lease expired: its worker stopped heartbeating")

    # --- running a job ------------------------------------------------------------------------

    def _start(self, job: ClaimedJob) -> None:
        view = RunningJob(job_id=job.job_id, job_type=job.job_type, lane=job.lane, tenant_id=job.tenant_id,
                          params=job.params, priority=job.priority, attempt=job.attempt, max_attempts=job.max_attempts,
                          created_at=job.created_at)
        task = asyncio.create_task(self._execute(job, view), name=f"job-{job.job_id}")
        self._running[job.job_id] = _Running(job, view, task)
        task.add_done_callback(lambda _t: self._wake.set())
        self.log.info("job_claimed", job_id=job.job_id, job_type=job.job_type, attempt=job.attempt,
                      tenant_id=job.tenant_id)

    async def _execute(self, job: ClaimedJob, view: RunningJob) -> None:
        spec = self.job_types[job.job_type]
        timeout = job.timeout_s or spec.timeout_s
        outcome = "error"
        try:
            try:
                async with asyncio.timeout(timeout):
                    result = await spec.handler(view)
            except asyncio.CancelledError:
                outcome = await self._interrupted(job)
                if outcome == "abandoned":
                    raise
            except Deferred as d:
                outcome = await self._defer(job, d)
            except TimeoutError:
                outcome = await self._fail(job, f"timed out after {timeout:g} s (per-job timeout)", final=False)
            except PermanentJobError as exc:
                outcome = await self._fail(job, f"{exc}", final=True)
            except Exception as exc:
                outcome = await self._fail(job, f"{type(exc).__name__}: {exc}", final=False)
            else:
                outcome = "done" if await self._finish(job, result) else self._lost(job)
        except DatabaseUnavailable as exc:
            # The job's end could not be recorded: its lease runs out and it is taken up again.
            outcome = "unrecorded"
            self.log.error("job_unrecorded", job_id=job.job_id, job_type=job.job_type, error=str(exc)[:300])
        finally:
            entry = self._running.pop(job.job_id, None)
            seconds = time.monotonic() - entry.started if entry else 0.0
            if self.observer is not None:
                self.observer.job_ended(job, outcome, seconds)

    async def _interrupted(self, job: ClaimedJob) -> str:
        """The handler's task was cancelled: by an operator's cancel, a lost lease or a stop."""
        entry = self._running.get(job.job_id)
        if entry is not None and entry.lease_lost:
            return self._lost(job)
        if entry is not None and entry.view.cancelled.is_set():
            await self._write(_Q["confirm_cancelled"], {"job_id": job.job_id, "token": job.lease_token,
                                                         "reason": "cancelled by an operator while running"})
            self.stats.cancelled += 1
            self.log.info("job_cancelled", job_id=job.job_id, job_type=job.job_type)
            return "cancelled"
        if entry is not None and entry.releasing:
            await asyncio.shield(self._write(_Q["release"], {"job_id": job.job_id, "token": job.lease_token}))
            self.stats.released += 1
            self.log.info("job_released", job_id=job.job_id, job_type=job.job_type,
                          note="stopping: queued again, the attempt not counted")
            return "released"
        return "abandoned"

    async def _finish(self, job: ClaimedJob, result: dict[str, Any] | None) -> bool:
        """Mark done; completions are written in groups by one flusher at a time."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._finishing.append((job, result, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_finished(), name="finish-flusher")
        ok = await done
        if ok:
            self.stats.done += 1
            self.log.info("job_done", job_id=job.job_id, job_type=job.job_type, attempt=job.attempt)
        return ok

    async def _flush_finished(self) -> None:
        """Write the completions waiting, group after group, until none is left. One turn of
        the loop first: the jobs that end in the same turn (a batch claimed together) join
        the first group instead of one writing alone and the rest after it."""
        await asyncio.sleep(0)
        while self._finishing:
            batch, self._finishing = self._finishing, []
            params = {"job_ids": [j.job_id for j, _, _ in batch], "tokens": [j.lease_token for j, _, _ in batch],
                      "results": [Jsonb(r) if r is not None else None for _, r, _ in batch]}

            async def write(conn: psycopg.AsyncConnection[Any]) -> set[int]:
                cur = await conn.execute(_Q["finish"], params)
                return {row[0] for row in await cur.fetchall()}

            try:
                finished = await self._db(write)
            except Exception as exc:  # each job of the group is told (DatabaseUnavailable: "unrecorded")
                for _, _, fut in batch:
                    if not fut.done():
                        fut.set_exception(exc)
                continue
            for j, _, fut in batch:
                if not fut.done():
                    fut.set_result(j.job_id in finished)

    async def _fail(self, job: ClaimedJob, error: str, *, final: bool) -> str:
        delay = self.retry.delay_s(job.attempt)
        row = await self._write(_Q["fail"], {"job_id": job.job_id, "token": job.lease_token,
                                             "error": error[:ERROR_TEXT_MAX], "final": final, "delay_s": delay})
        if row is None:
            return self._lost(job)
        if row[0] == "failed":
            self.stats.failed += 1
            self.log.error("job_failed", job_id=job.job_id, job_type=job.job_type, attempt=job.attempt,
                           max_attempts=job.max_attempts, error=error[:500])
            return "failed"
        self.stats.retried += 1
        self.log.warning("job_retry", job_id=job.job_id, job_type=job.job_type, attempt=job.attempt,
                         max_attempts=job.max_attempts, retry_in_s=round(delay, 1), error=error[:500])
        return "retried"

    async def _defer(self, job: ClaimedJob, deferred: Deferred) -> str:
        row = await self._write(_Q["defer"], {"job_id": job.job_id, "token": job.lease_token,
                                              "run_after": deferred.until, "reason": deferred.reason})
        if row is None:
            return self._lost(job)
        self.stats.deferred += 1
        self.log.info("job_deferred", job_id=job.job_id, job_type=job.job_type, until=deferred.until.isoformat(),
                      reason=deferred.reason)
        return "deferred"

    def _lost(self, job: ClaimedJob) -> str:
        self.stats.lost += 1
        self.log.warning("lease_lost", job_id=job.job_id, job_type=job.job_type,
                         note="the lease expired and the job was recovered; this worker's result is not recorded")
        return "lost"

    # --- background: notifications, heartbeats, stop -------------------------------------------

    async def _listener(self) -> psycopg.AsyncConnection[Any]:
        conn = await self._connect()
        await conn.execute("LISTEN acra_jobs")
        await conn.execute("LISTEN acra_jobs_cancel")
        return conn

    async def _listen(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Wake on new work and stop cancelled jobs; a lost listening connection is opened
        again (polling and heartbeats cover the gap, so nothing is missed for long)."""
        failures = 0
        try:
            while True:
                try:
                    async for note in conn.notifies():
                        failures = 0
                        if note.channel == "acra_jobs" and note.payload == self.lane:
                            self._wake.set()
                        elif note.channel == "acra_jobs_cancel" and note.payload.isdigit():
                            self._cancel_local(int(note.payload))
                except psycopg.OperationalError as exc:
                    failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(failures, 6)) * (0.5 + random.random())
                    self.log.warning("listen_lost", error=str(exc).strip()[:300], retry_in_s=round(delay, 2))
                    await conn.close()
                    await asyncio.sleep(delay)
                    try:
                        conn = await self._listener()
                    except (psycopg.OperationalError, DatabaseUnavailable) as again:
                        self.log.warning("listen_reconnect_failed", error=str(again).strip()[:300])
                        continue
                    self._wake.set()  # work may have arrived while nobody listened
        finally:
            await conn.close()

    def _cancel_local(self, job_id: int) -> None:
        entry = self._running.get(job_id)
        if entry is not None and not entry.view.cancelled.is_set():
            entry.view.cancelled.set()
            entry.task.cancel()

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(max(0.2, self.lease_s / 4))
            entries = list(self._running.values())
            if not entries:
                continue

            async def beat(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
                cur = await conn.execute(_Q["heartbeat"], {
                    "lease_s": self.lease_s, "job_ids": [e.job.job_id for e in entries],
                    "tokens": [e.job.lease_token for e in entries]})
                return await cur.fetchall()

            try:
                alive = dict(await self._db(beat))
            except Exception as exc:  # keep beating: a dead heartbeat would hand every job to others
                self.log.error("heartbeat_failed", error=f"{type(exc).__name__}: {exc}"[:300])
                continue
            for entry in entries:
                if entry.task.done():
                    continue
                if entry.job.job_id not in alive:
                    entry.lease_lost = True
                    entry.task.cancel()
                elif alive[entry.job.job_id]:
                    self._cancel_local(entry.job.job_id)

    async def _drain(self) -> None:
        """Let running jobs finish within the grace period, then release the rest."""
        if not self._running:
            return
        if not self._hurry.is_set():
            self.log.info("draining", running=len(self._running), grace_s=self.grace_s)
            hurry = asyncio.ensure_future(self._hurry.wait())
            deadline = time.monotonic() + self.grace_s
            while self._running and not self._hurry.is_set() and time.monotonic() < deadline:
                await asyncio.wait({*(r.task for r in self._running.values()), hurry},
                                   timeout=deadline - time.monotonic(), return_when=asyncio.FIRST_COMPLETED)
            hurry.cancel()
        entries = list(self._running.values())
        for entry in entries:
            entry.releasing = True
            entry.task.cancel()
        await asyncio.gather(*(e.task for e in entries), return_exceptions=True)
