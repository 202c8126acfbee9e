"""Does each queue engine keep the guarantees of issue 12 §1 that an engine might not? Small
probes, each on a fresh database, against bare pgqueuer, bare procrastinate and the product's
layer (acra_enrich.jobs); prints guarantee x engine -> holds / FAILS, with one line of
evidence each.

    .venv/bin/python bench/queue_guarantees.py [--engines acra_enrich.jobs pgqueuer procrastinate]
                                               [--only idempotent_running stalled_recovered ...]

The probes (stall threshold S = 1.5 s for every engine: the product's lease, pgqueuer's
heartbeat_timeout, procrastinate's stalled_worker_timeout / seconds_since_heartbeat):
  idempotent_queued    enqueue twice with the same key while the first job waits
  idempotent_running   the running job's handler enqueues again with its own key
  stalled_recovered    worker A is killed (SIGKILL) inside a job; worker B, an ordinary
                       continuous worker, must run the job again with no task the user wrote
  recovery_vs_finish   the job ends just as recovery runs: recovery must not revive it
  late_completion      worker A hangs (SIGSTOP) inside a job past S, B takes the job over,
                       A wakes (SIGCONT) and completes: B's run must be untouched
  late_retry           as above, but A's late write is a retry; then worker C asks for work:
                       it must not get the job B is running
  failed_with_error    a job that always raises, 2 attempts: status failed, error text kept

Workers are the engines' own (Dispatcher, QueueManager, procrastinate Worker) in forked
child processes; their output goes to bench/out/queue-workers.log. recovery_vs_finish and
late_retry replay the statements a worker issues in a fixed order, through pgqueuer's Queries
and procrastinate's JobManager and, for the product, the dispatcher's own named queries
(jobs/sql/queue.sql: internal, as Dispatcher._claim/_recover/_fail run them). Where an
engine has no automatic recovery (procrastinate), the probes run its documented recipe
(get_stalled_jobs + retry_job, a periodic task the user must write) where recovery is due.

Uses POSTGRES_DSN when set, else the embedded server under bench/out/home. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

from benchdb import fresh_database
from queue_engines import (FAILURE_TEXT, PROBE_LOG_DDL, PROBE_TYPE, Engine, PgQueuer, ProbeSpec, Procrastinate,
                           Product, quiet_child)

BENCH_DB = "acra_enrich_bench_queue_guarantees"
OUT = Path(__file__).resolve().parent / "out"
WORKER_LOG = OUT / "queue-workers.log"
S = 1.5  # the stall threshold every engine is given

Verdict = tuple[bool, str]


# --- plumbing ------------------------------------------------------------------------------------


def _child(engine: Engine, dsn: str, spec: ProbeSpec) -> None:
    quiet_child(WORKER_LOG)
    engine.probe_worker(dsn, spec)


class Workers:
    """The probe's worker processes; every one still alive at the end is killed (they are ours)."""

    def __init__(self, engine: Engine, dsn: str) -> None:
        self.engine, self.dsn = engine, dsn
        self.procs: list[multiprocessing.process.BaseProcess] = []

    def start(self, spec: ProbeSpec) -> multiprocessing.process.BaseProcess:
        proc = multiprocessing.get_context("fork").Process(target=_child, args=(self.engine, self.dsn, spec))
        proc.start()
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *_: object) -> None:
        for proc in self.procs:
            if proc.exitcode is None and proc.pid is not None:
                os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot die
                proc.kill()
            proc.join(10)


def wait_for(check: Callable[[], Any], timeout_s: float, every_s: float = 0.1) -> Any:
    """check() until it returns something truthy or the time is up (then its last value)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(every_s)


def event_at(conn: psycopg.Connection, role: str, event: str, job_id: int | None = None) -> Any:
    row = conn.execute("SELECT at, detail FROM probe_log WHERE role = %s AND event = %s "
                       "AND (%s::bigint IS NULL OR job_id = %s) ORDER BY at LIMIT 1",
                       (role, event, job_id, job_id)).fetchone()
    return row


def runs(conn: psycopg.Connection, job_id: int) -> int:
    return int(conn.execute("SELECT count(*) FROM probe_log WHERE job_id = %s AND event = 'start'",
                            (job_id,)).fetchone()[0])  # type: ignore[index]


def fresh(engine: Engine) -> str:
    dsn = fresh_database(BENCH_DB)
    engine.install(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(PROBE_LOG_DDL)
    return dsn


def queue_one(engine: Engine, dsn: str, *, key: str | None = None, max_attempts: int = 2) -> int:
    job = engine.enqueue_probe(dsn, key=key, max_attempts=max_attempts)
    assert job is not None, "a first enqueue is never a duplicate"
    return job


def recover_by_hand(engine: Engine, dsn: str) -> str:
    """Where the engine's workers recover nothing themselves, run its documented recipe."""
    if isinstance(engine, Procrastinate):
        ids = asyncio.run(engine.retry_stalled(dsn, S))
        return f"; recipe re-queued {ids}"
    return ""


# --- the probes -------------------------------------------------------------------------------


def idempotent_queued(engine: Engine, dsn: str) -> Verdict:
    first = engine.enqueue_probe(dsn, key="same-key")
    second = engine.enqueue_probe(dsn, key="same-key")
    with psycopg.connect(dsn) as conn:
        live = conn.execute(engine.live_with_key_sql, ("same-key",)).fetchone()[0]  # type: ignore[index]
    return live == 1, (f"second enqueue with the key while job {first} waits: "
                       f"{'kept out' if second is None else f'new job {second}'}; {live} live job(s) with the key")


def idempotent_running(engine: Engine, dsn: str) -> Verdict:
    job = queue_one(engine, dsn, key="same-key")
    with Workers(engine, dsn) as workers:
        worker = workers.start(ProbeSpec("A", reenqueue_key="same-key"))
        worker.join(60)
    with psycopg.connect(dsn) as conn:
        row = event_at(conn, "A", "reenqueue", job)
    if row is None:
        return False, f"the worker never ran job {job} (see {WORKER_LOG})"
    again, live = row[1].split("|")
    return live == "1", (f"second enqueue with the key while job {job} runs: "
                         f"{'kept out' if again == 'None' else f'new job {again}'}; {live} live job(s) with the key")


def stalled_recovered(engine: Engine, dsn: str) -> Verdict:
    job = queue_one(engine, dsn)
    with Workers(engine, dsn) as workers, psycopg.connect(dsn, autocommit=True) as conn:
        a = workers.start(ProbeSpec("A", hold_s=3600, stall_s=S))
        if not wait_for(lambda: event_at(conn, "A", "start", job), 60):
            return False, f"worker A never started job {job} (see {WORKER_LOG})"
        assert a.pid is not None
        os.kill(a.pid, signal.SIGKILL)
        killed = time.monotonic()
        workers.start(ProbeSpec("B", stall_s=S, continuous=True))
        wait_s = 8 * S + 5
        if wait_for(lambda: event_at(conn, "B", "start", job), wait_s):
            return True, (f"A killed (SIGKILL) inside job {job}; worker B ran it {time.monotonic() - killed:.1f} s "
                          "later, no user task involved")
        state = engine.job_state(conn, job)
        evidence = f"A killed (SIGKILL) inside job {job}; {wait_s:.0f} s later it is still '{state}' with worker B idle"
        if isinstance(engine, Procrastinate):
            recipe = recover_by_hand(engine, dsn)
            ran = wait_for(lambda: event_at(conn, "B", "start", job), 10)
            evidence += f" (B ran it only after the user-written recipe{recipe})" if ran else recipe
        return False, evidence


def late_completion(engine: Engine, dsn: str) -> Verdict:
    job = queue_one(engine, dsn)
    with Workers(engine, dsn) as workers, psycopg.connect(dsn, autocommit=True) as conn:
        a = workers.start(ProbeSpec("A", hold_s=2 * S, stall_s=S))
        if not wait_for(lambda: event_at(conn, "A", "start", job), 60):
            return False, f"worker A never started job {job} (see {WORKER_LOG})"
        assert a.pid is not None
        os.kill(a.pid, signal.SIGSTOP)  # hung, not dead: its heartbeats stop
        time.sleep(2 * S + 0.5)
        recipe = recover_by_hand(engine, dsn)
        workers.start(ProbeSpec("B", hold_s=60, stall_s=S))
        if not wait_for(lambda: event_at(conn, "B", "start", job), 8 * S + 5):
            return False, f"A hung inside job {job}; B never took it over{recipe}"
        before = engine.job_state(conn, job)
        os.kill(a.pid, signal.SIGCONT)
        ended = wait_for(lambda: event_at(conn, "A", "end", job), 10)
        time.sleep(S + 1.0)  # A's completion is written (pgqueuer buffers it up to 0.1 s)
        after = engine.job_state(conn, job)
        b_running = event_at(conn, "B", "end", job) is None
        stats = wait_for(lambda: event_at(conn, "A", "stats"), 3) if isinstance(engine, Product) else None
    woke = "A woke and its handler returned" if ended else "A woke (its handler was stopped before returning)"
    if stats:
        woke += f" (A: {stats[1]})"
    return before == after and b_running, (f"job {job} taken over by B ('{before}'); {woke}; then, B still "
                                           f"running it, the job is '{after}'{recipe}")


def failed_with_error(engine: Engine, dsn: str) -> Verdict:
    job = queue_one(engine, dsn, max_attempts=2)
    with Workers(engine, dsn) as workers, psycopg.connect(dsn, autocommit=True) as conn:
        workers.start(ProbeSpec("A", fail=True, stall_s=S, continuous=True, max_attempts=2))
        wait_for(lambda: runs(conn, job) >= 2 and not conn.execute(engine.pending_sql).fetchone()[0], 30)  # type: ignore[index]
        time.sleep(1.0)  # let its last status land
        state = engine.job_state(conn, job)
        kept_in = [t for t in engine.tables
                   if conn.execute(f"SELECT EXISTS (SELECT 1 FROM {t} AS r WHERE r::text LIKE %s)",
                                   (f"%{FAILURE_TEXT}%",)).fetchone()[0]]  # type: ignore[index]
        n = runs(conn, job)
    failed = "failed" in state
    where = f"error text kept in {', '.join(kept_in)}" if kept_in else \
        f"error text in none of its tables ({', '.join(engine.tables)})"
    return failed and bool(kept_in), f"job {job} raised on each of {n} runs: '{state}'; {where}"


# recovery_vs_finish and late_retry: the statements a worker issues, replayed in a fixed order.


def recovery_vs_finish(engine: Engine, dsn: str) -> Verdict:
    job = queue_one(engine, dsn)
    return asyncio.run(_REPLAY[type(engine)].recovery_vs_finish(dsn, job))


def late_retry(engine: Engine, dsn: str) -> Verdict:
    job = queue_one(engine, dsn)
    return asyncio.run(_REPLAY[type(engine)].late_retry(dsn, job))


class ProductReplay:
    """The dispatcher's own named queries (internal: Dispatcher._claim/_finish/_recover/_fail)."""

    @staticmethod
    async def _conn(dsn: str) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(dsn, autocommit=True)

    @staticmethod
    async def claim(conn: psycopg.AsyncConnection[Any], worker: str, lease_s: float) -> list[Any]:
        from acra_enrich.jobs.dispatcher import _Q

        cur = await conn.execute(_Q["claim"], {"lane": "express", "job_types": [PROBE_TYPE], "caps": [None],
                                               "limit": 1, "worker": worker, "lease_s": lease_s})
        return [(r[0], r[9]) for r in await cur.fetchall()]  # job_id, lease_token

    async def recovery_vs_finish(self, dsn: str, job: int) -> Verdict:
        from acra_enrich.jobs.dispatcher import _Q

        async with await self._conn(dsn) as conn:
            [(job_id, token)] = await self.claim(conn, "A", S)
            await asyncio.sleep(S + 0.3)  # A's lease has expired...
            await conn.execute(_Q["finish"], {"job_ids": [job_id], "tokens": [token], "results": [None]})
            recovered = await (await conn.execute(_Q["recover_stalled"], {"lane": "express"})).fetchall()
            status = (await (await conn.execute("SELECT status FROM background_jobs WHERE job_id = %s",
                                                (job,))).fetchone() or ["?"])[0]
        return status == "done", (f"job {job} completed by A just after its lease expired, then recovery ran: "
                                  f"recovery touched {len(recovered)} job(s), job is '{status}'")

    async def late_retry(self, dsn: str, job: int) -> Verdict:
        from acra_enrich.jobs.dispatcher import _Q

        async with await self._conn(dsn) as conn:
            [(_, token_a)] = await self.claim(conn, "A", S)
            await asyncio.sleep(S + 0.3)
            await conn.execute(_Q["recover_stalled"], {"lane": "express"})
            assert await self.claim(conn, "B", 60)
            late = await (await conn.execute(_Q["fail"], {"job_id": job, "token": token_a, "error": "late",
                                                          "final": False, "delay_s": 0.0})).fetchone()
            got_c = await self.claim(conn, "C", 60)
            holder = (await (await conn.execute("SELECT locked_by FROM background_jobs WHERE job_id = %s",
                                                (job,))).fetchone() or ["?"])[0]
        return late is None and not got_c, (f"A's late retry of job {job} matched {0 if late is None else 1} row; "
                                            f"C's claim got {len(got_c)} job(s); job held by {holder}")


class PgQueuerReplay:
    """pgqueuer's Queries, as QueueManager calls them (dequeue, log_jobs via its status
    buffer, retry_job on RetryRequested)."""

    @staticmethod
    async def dequeue(q: Any, worker: uuid.UUID) -> list[Any]:
        from pgqueuer.queries import EntrypointExecutionParameter

        return list(await q.dequeue(batch_size=1, entrypoints={PROBE_TYPE: EntrypointExecutionParameter(0)},
                                    queue_manager_id=worker, global_concurrency_limit=None,
                                    heartbeat_timeout=timedelta(seconds=S)))

    async def recovery_vs_finish(self, dsn: str, job: int) -> Verdict:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            q = PgQueuer.queries(conn)
            [picked] = await self.dequeue(q, uuid.uuid4())
            await asyncio.sleep(S + 0.3)  # A's heartbeat is stale...
            await q.log_jobs([(picked, "successful", None)])  # ...A's completion lands first
            again = await self.dequeue(q, uuid.uuid4())  # recovery: the stale re-pick in the dequeue
            rows = await (await conn.execute("SELECT status FROM pgqueuer WHERE id = %s", (job,))).fetchall()
        state = rows[0][0] if rows else "(row deleted: finished)"
        return not again, (f"job {job} completed by A just after its heartbeat went stale, then B's dequeue "
                           f"(which re-picks stale jobs) got {len(again)} job(s); job is {state}")

    async def late_retry(self, dsn: str, job: int) -> Verdict:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            q = PgQueuer.queries(conn)
            [mine_a] = await self.dequeue(q, uuid.uuid4())
            await asyncio.sleep(S + 0.3)
            b = await self.dequeue(q, uuid.uuid4())  # B re-picks the stale job
            await q.retry_job(mine_a, timedelta(0), None)  # A's late retry
            c = await self.dequeue(q, uuid.uuid4())
        return not c, (f"B took job {job} over ({len(b)} job); after A's late retry, C's dequeue got "
                       f"{[int(j.id) for j in c]} while B still runs it")


class ProcrastinateReplay:
    """procrastinate's JobManager, as its Worker calls it (fetch_job, finish_job, retry_job),
    and its documented stalled-jobs recipe (get_stalled_jobs + retry_job)."""

    async def recovery_vs_finish(self, dsn: str, job: int) -> Verdict:
        from procrastinate.jobs import Status

        app = Procrastinate.app(dsn)
        async with app.open_async():
            jm = app.job_manager
            worker_a = await jm.register_worker()
            picked = await jm.fetch_job(queues=[PROBE_TYPE], worker_id=worker_a)
            await asyncio.sleep(S + 0.3)  # A's heartbeat is stale
            stalled = list(await jm.get_stalled_jobs(seconds_since_heartbeat=S))  # the recipe looks...
            await jm.finish_job(picked, status=Status.FAILED, delete_job=False)  # A's last attempt fails
            for stale in stalled:  # ...and the recipe retries what it saw
                await jm.retry_job(stale)
            status = await jm.get_job_status_async(job)
        return status == Status.FAILED, (f"job {job} failed for good (A's last attempt) between the recipe's "
                                         f"get_stalled_jobs and its retry_job: job is '{status.value}' again")

    async def late_retry(self, dsn: str, job: int) -> Verdict:
        app = Procrastinate.app(dsn)
        async with app.open_async():
            jm = app.job_manager
            mine_a = await jm.fetch_job(queues=[PROBE_TYPE], worker_id=await jm.register_worker())
            await asyncio.sleep(S + 0.3)
            for stale in await jm.get_stalled_jobs(seconds_since_heartbeat=S):  # the recipe
                await jm.retry_job(stale)
            b = await jm.fetch_job(queues=[PROBE_TYPE], worker_id=await jm.register_worker())
            await jm.retry_job(mine_a)  # A's late retry
            c = await jm.fetch_job(queues=[PROBE_TYPE], worker_id=await jm.register_worker())
        return c is None, (f"B took job {job} over ({'yes' if b else 'no'}); after A's late retry, C's fetch got "
                           f"{'job ' + str(c.id) if c else 'nothing'} while B still runs it")


_REPLAY: dict[type, Any] = {Product: ProductReplay(), PgQueuer: PgQueuerReplay(), Procrastinate: ProcrastinateReplay()}

PROBES: dict[str, tuple[str, Callable[[Engine, str], Verdict]]] = {
    "idempotent_queued": ("same idempotency key while queued = one job", idempotent_queued),
    "idempotent_running": ("same idempotency key while running = one job", idempotent_running),
    "stalled_recovered": ("stalled job (kill -9) recovered by the workers themselves", stalled_recovered),
    "recovery_vs_finish": ("recovery never revives a job that just finished", recovery_vs_finish),
    "late_completion": ("late completion of a recovered job is fenced off", late_completion),
    "late_retry": ("late retry of a recovered job is fenced off", late_retry),
    "failed_with_error": ("after max attempts: 'failed' with the error text", failed_with_error),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["acra_enrich.jobs", "pgqueuer", "procrastinate"])
    parser.add_argument("--only", nargs="+", choices=list(PROBES), default=list(PROBES))
    args = parser.parse_args(argv)
    every: list[Engine] = [Product(OUT / "queue-home"), PgQueuer(), Procrastinate()]
    engines = [e for e in every if e.name in args.engines]
    WORKER_LOG.unlink(missing_ok=True)
    print(f"queue guarantees: stall threshold {S} s for every engine; worker output in {WORKER_LOG}", flush=True)
    results: dict[tuple[str, str], Verdict] = {}
    for probe in args.only:
        for engine in engines:
            verdict = PROBES[probe][1](engine, fresh(engine))
            results[(probe, engine.name)] = verdict
            print(f"  {probe:19} {engine.name:17} {'holds' if verdict[0] else 'FAILS'}", flush=True)

    width = max(len(PROBES[p][0]) for p in args.only)
    print(f"\n{'guarantee':{width}}  " + "  ".join(f"{e.name:>16}" for e in engines))
    for probe in args.only:
        print(f"{PROBES[probe][0]:{width}}  "
              + "  ".join(f"{'holds' if results[(probe, e.name)][0] else 'FAILS':>16}" for e in engines))
    print("\nevidence:")
    for probe in args.only:
        for engine in engines:
            print(f"  {probe} / {engine.name}: {results[(probe, engine.name)][1]}")


if __name__ == "__main__":
    main()
