"""The job queue's guarantees, in process, on a real PostgreSQL: idempotent enqueue, claims by
lane and type in priority-then-age order, retries with jittered backoff then `failed`,
permanent errors, cancel (queued and running), stall recovery (and its race with a finishing
worker), per-job timeout apart from the lease, NOTIFY wake-up without a busy loop, lanes that
do not starve each other, caps that count only live jobs, defer, graceful release."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest

from acra_enrich.errors import ConfigError
from acra_enrich.jobs import (
    Dispatcher,
    JobType,
    PermanentJobError,
    RetryPolicy,
    RunningJob,
    cancel_job,
    enqueue,
    enqueue_express_staging_upsert,
    get_job,
    queue_depth,
    retry_job,
)
from acra_enrich.jobs.dispatcher import _Q

FAST_RETRY = RetryPolicy(base_s=0.05, max_s=0.2)


def job_row(conn: psycopg.Connection, job_id: int) -> dict[str, Any]:
    conn.commit()
    return get_job(conn, job_id)


def dispatcher(dsn: str, handlers: dict[str, Callable[[RunningJob], Awaitable[Any]]], *, lane: str = "express",
               **kw: Any) -> Dispatcher:
    kw.setdefault("retry", FAST_RETRY)
    return Dispatcher(dsn, lane=lane, job_types={n: JobType(h) for n, h in handlers.items()}, **kw)


async def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Wait for a condition (a liveness bound, not a speed check: it fails only when stuck)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached (stuck)")
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------ enqueue


def test_same_idempotency_key_while_live_is_one_job(db: psycopg.Connection) -> None:
    first = enqueue(db, "t", {"a": 1}, lane="express", idempotency_key="k1")
    again = enqueue(db, "t", {"a": 2}, lane="express", idempotency_key="k1")
    assert first.created and not again.created and again.job_id == first.job_id
    db.execute("INSERT INTO tenants (tenant_id, name) VALUES (7, 'seven')")
    tenant_job = enqueue(db, "t", {}, lane="express", idempotency_key="k1", tenant_id=7)
    assert tenant_job.created and tenant_job.job_id != first.job_id
    # running still counts as live
    db.execute("UPDATE background_jobs SET status = 'running' WHERE job_id = %s", (first.job_id,))
    assert enqueue(db, "t", {}, lane="express", idempotency_key="k1").job_id == first.job_id
    # once finished, the key is free again
    db.execute("UPDATE background_jobs SET status = 'done' WHERE job_id = %s", (first.job_id,))
    fresh = enqueue(db, "t", {}, lane="express", idempotency_key="k1")
    assert fresh.created and fresh.job_id != first.job_id
    assert db.execute("SELECT count(*) FROM background_jobs").fetchone()[0] == 3


def test_concurrent_enqueues_with_one_key_make_one_job(db: psycopg.Connection, pg_dsn: str) -> None:
    results: list[int] = []
    barrier = threading.Barrier(8)

    def one() -> None:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            barrier.wait()
            results.append(enqueue(conn, "t", {}, lane="nightly", idempotency_key="same").job_id)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1
    assert db.execute("SELECT count(*) FROM background_jobs").fetchone()[0] == 1


def test_bad_enqueue_is_refused_with_the_field_named(db: psycopg.Connection) -> None:
    with pytest.raises(ConfigError, match="lane 'fast'"):
        enqueue(db, "t", {}, lane="fast")
    with pytest.raises(ConfigError, match="either a list of UENs or a `since` time"):
        enqueue_express_staging_upsert(db)
    with pytest.raises(ConfigError, match="params.batch_size"):
        enqueue_express_staging_upsert(db, uens=["201912345A"], params={"batch_size": 0})
    with pytest.raises(ConfigError, match="time zone"):
        enqueue_express_staging_upsert(db, since=datetime(2026, 1, 1))


# ------------------------------------------------------------------------------ claims


async def test_claims_by_lane_and_type_in_priority_then_age_order(db: psycopg.Connection, pg_dsn: str) -> None:
    low_old = enqueue(db, "a", {}, lane="express").job_id
    high = enqueue(db, "a", {}, lane="express", priority=5).job_id
    low_new = enqueue(db, "b", {}, lane="express").job_id
    other_type = enqueue(db, "c", {}, lane="express").job_id
    other_lane = enqueue(db, "a", {}, lane="nightly").job_id
    later = enqueue(db, "a", {}, lane="express", run_after=datetime.now(timezone.utc) + timedelta(hours=1)).job_id
    db.commit()
    order: list[int] = []

    async def record(job: RunningJob) -> None:
        order.append(job.job_id)

    stats = await dispatcher(pg_dsn, {"a": record, "b": record}).run(once=True)
    assert order == [high, low_old, low_new]
    assert stats.done == 3
    for untouched in (other_type, other_lane, later):
        assert job_row(db, untouched)["status"] == "queued"


# ------------------------------------------------------------------------------ failures


async def test_failures_retry_with_growing_jittered_backoff_then_fail_with_the_error_kept(
        db: psycopg.Connection, pg_dsn: str) -> None:
    ids = [enqueue(db, "flaky", {}, lane="express", max_attempts=4).job_id for _ in range(6)]
    db.commit()
    policy = RetryPolicy(base_s=0.2, max_s=5)
    attempts: dict[int, list[float]] = {i: [] for i in ids}

    async def flaky(job: RunningJob) -> None:
        attempts[job.job_id].append(time.monotonic())
        raise RuntimeError(f"upstream said no (attempt {job.attempt})")

    d = Dispatcher(pg_dsn, lane="express", job_types={"flaky": JobType(flaky)}, concurrency=6, retry=policy)
    runner = asyncio.create_task(d.run())
    await until(lambda: d.stats.failed == 6)
    d.stop()
    await runner
    for job_id in ids:
        row = job_row(db, job_id)
        assert row["status"] == "failed" and row["attempts"] == 4
        assert row["last_error"] == "RuntimeError: upstream said no (attempt 4)"
        gaps = [b - a for a, b in zip(attempts[job_id], attempts[job_id][1:])]
        assert len(gaps) == 3
        # each wait is at least half the nominal backoff for that attempt (0.2, 0.4, 0.8 s)
        for n, gap in enumerate(gaps):
            assert gap >= 0.5 * policy.base_s * 2**n
    # jitter: the six jobs failed together but did not all come back at the same moment
    first_gaps = [round(attempts[i][1] - attempts[i][0], 3) for i in ids]
    assert len(set(first_gaps)) > 1
    assert d.stats.retried == 18


def test_backoff_policy_grows_caps_and_jitters() -> None:
    policy = RetryPolicy(base_s=10, max_s=100)
    for attempt, nominal in ((1, 10), (2, 20), (3, 40), (4, 80), (5, 100), (9, 100)):
        delays = [policy.delay_s(attempt) for _ in range(200)]
        assert all(0.5 * nominal <= d < 1.5 * nominal for d in delays)
        assert statistics.pstdev(delays) > 0


async def test_a_permanent_error_fails_at_once(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "bad", {}, lane="express", max_attempts=5).job_id
    db.commit()

    async def bad(job: RunningJob) -> None:
        raise PermanentJobError("params.company_ids: expected a list")

    await dispatcher(pg_dsn, {"bad": bad}).run(once=True)
    row = job_row(db, job_id)
    assert (row["status"], row["attempts"], row["last_error"]) == ("failed", 1, "params.company_ids: expected a list")


async def test_retry_command_requeues_a_failed_job_with_fresh_attempts(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "bad", {}, lane="express", max_attempts=1).job_id
    db.commit()
    calls = 0

    async def bad_once(job: RunningJob) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("first time")

    await dispatcher(pg_dsn, {"bad": bad_once}).run(once=True)
    assert job_row(db, job_id)["status"] == "failed"
    with pytest.raises(ConfigError, match="only queued or running"):
        cancel_job(db, job_id)
    retry_job(db, job_id)
    db.commit()
    await dispatcher(pg_dsn, {"bad": bad_once}).run(once=True)
    row = job_row(db, job_id)
    assert row["status"] == "done" and row["attempts"] == 1 and calls == 2
    with pytest.raises(ConfigError, match="only failed or cancelled"):
        retry_job(db, job_id)


# ------------------------------------------------------------------------------ cancel


async def test_cancel_while_queued(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "t", {}, lane="express").job_id
    assert cancel_job(db, job_id) == "cancelled"
    db.commit()
    ran: list[int] = []

    async def record(job: RunningJob) -> None:
        ran.append(job.job_id)

    await dispatcher(pg_dsn, {"t": record}).run(once=True)
    assert ran == [] and job_row(db, job_id)["status"] == "cancelled"


async def test_a_running_job_sees_its_cancellation_and_stops(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "long", {}, lane="express").job_id
    db.commit()
    started, stopped = asyncio.Event(), asyncio.Event()

    async def long(job: RunningJob) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            assert job.cancelled.is_set()
            stopped.set()
            raise

    # A long poll interval and lease: only the NOTIFY can bring the cancel this quickly.
    d = dispatcher(pg_dsn, {"long": long}, poll_s=3600, lease_s=3600)
    runner = asyncio.create_task(d.run())
    await asyncio.wait_for(started.wait(), 30)
    with psycopg.connect(pg_dsn, autocommit=True) as other:
        assert cancel_job(other, job_id).startswith("cancel requested")
    await asyncio.wait_for(stopped.wait(), 30)
    await until(lambda: d.stats.cancelled == 1)
    d.stop()
    await runner
    row = job_row(db, job_id)
    assert row["status"] == "cancelled" and row["finished_at"] is not None


async def test_a_cancel_whose_notification_was_missed_arrives_with_the_heartbeat(
        db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "long", {}, lane="express").job_id
    db.commit()
    started = asyncio.Event()

    async def long(job: RunningJob) -> None:
        started.set()
        await asyncio.sleep(3600)

    d = dispatcher(pg_dsn, {"long": long}, poll_s=3600, lease_s=1.0)
    runner = asyncio.create_task(d.run())
    await asyncio.wait_for(started.wait(), 30)
    # flag it without the NOTIFY, as if the notification were lost
    db.execute("UPDATE background_jobs SET cancel_requested = true WHERE job_id = %s", (job_id,))
    db.commit()
    await until(lambda: d.stats.cancelled == 1)
    d.stop()
    await runner
    assert job_row(db, job_id)["status"] == "cancelled"


# ------------------------------------------------------------------------------ stalls


def _make_stalled(conn: psycopg.Connection, job_id: int, *, attempts: int = 1) -> None:
    conn.execute("""UPDATE background_jobs SET status = 'running', attempts = %s, locked_by = 'dead-worker',
                    lease_token = gen_random_uuid(), lease_until = now() - interval '1 second',
                    started_at = now() - interval '2 minutes' WHERE job_id = %s""", (attempts, job_id))
    conn.commit()


async def test_a_dead_workers_job_is_recovered_by_any_dispatcher(db: psycopg.Connection, pg_dsn: str) -> None:
    stalled = enqueue(db, "t", {}, lane="express", max_attempts=3).job_id
    exhausted = enqueue(db, "t", {}, lane="express", max_attempts=2).job_id
    cancelled = enqueue(db, "t", {}, lane="express").job_id
    _make_stalled(db, stalled)
    _make_stalled(db, exhausted, attempts=2)
    _make_stalled(db, cancelled)
    db.execute("UPDATE background_jobs SET cancel_requested = true WHERE job_id = %s", (cancelled,))
    db.commit()
    ran: list[tuple[int, int]] = []

    async def record(job: RunningJob) -> None:
        ran.append((job.job_id, job.attempt))

    stats = await dispatcher(pg_dsn, {"t": record}).run(once=True)
    assert ran == [(stalled, 2)]
    assert stats.recovered == 3
    assert job_row(db, stalled)["status"] == "done"
    row = job_row(db, exhausted)
    assert row["status"] == "failed" and "lease expired: worker dead-worker stopped heartbeating" in row["last_error"]
    assert job_row(db, cancelled)["status"] == "cancelled"


def test_recovery_never_resurrects_a_job_that_finished_just_before_it(db: psycopg.Connection, pg_dsn: str) -> None:
    """Race a worker finishing its job against a recovery that sees the lease expired: the two
    statements run at the same moment, 150 times. A finish that succeeded is never undone;
    a finish that lost tells its worker so (no row), and the job is queued to run again."""
    rounds = 150
    ids = [enqueue(db, "t", {}, lane="express", max_attempts=5).job_id for _ in range(rounds)]
    db.commit()
    outcomes: list[tuple[int, bool]] = []
    with psycopg.connect(pg_dsn, autocommit=True) as finisher, psycopg.connect(pg_dsn, autocommit=True) as recoverer:
        for job_id in ids:
            token = finisher.execute("""UPDATE background_jobs SET status = 'running', attempts = 1,
                lease_token = gen_random_uuid(), locked_by = 'slow', lease_until = now() - interval '1 ms'
                WHERE job_id = %s RETURNING lease_token""", (job_id,)).fetchone()[0]
            barrier = threading.Barrier(2)
            finished: list[bool] = []

            def finish() -> None:
                barrier.wait()
                rows = finisher.execute(_Q["finish"], {"job_ids": [job_id], "tokens": [token],
                                                       "results": [None]}).fetchall()
                finished.append(bool(rows))

            def recover() -> None:
                barrier.wait()
                recoverer.execute(_Q["recover_stalled"], {"lane": "express"}).fetchall()

            threads = [threading.Thread(target=finish), threading.Thread(target=recover)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            outcomes.append((job_id, finished[0]))
    for job_id, finished_first in outcomes:
        status = job_row(db, job_id)["status"]
        assert status == ("done" if finished_first else "queued"), (job_id, finished_first, status)
    # both orders happened, or the race was not exercised
    assert {f for _, f in outcomes} == {True, False}


async def test_a_slow_job_keeps_its_lease_and_the_timeout_is_its_own(db: psycopg.Connection, pg_dsn: str) -> None:
    slow = enqueue(db, "slow", {}, lane="express").job_id
    stuck = enqueue(db, "stuck", {}, lane="express", timeout_s=0.5, max_attempts=1).job_id
    db.commit()

    async def slow_handler(job: RunningJob) -> dict[str, int]:
        await asyncio.sleep(2.5)  # several leases long: heartbeats must keep it
        return {"attempt": job.attempt}

    async def stuck_handler(job: RunningJob) -> None:
        await asyncio.sleep(3600)

    d = Dispatcher(pg_dsn, lane="express", job_types={"slow": JobType(slow_handler), "stuck": JobType(stuck_handler)},
                   concurrency=2, lease_s=0.8, retry=FAST_RETRY)
    await d.run(once=True)
    row = job_row(db, slow)
    assert (row["status"], row["attempts"], row["result"]) == ("done", 1, {"attempt": 1})
    assert d.stats.recovered == 0 and d.stats.lost == 0
    row = job_row(db, stuck)
    assert row["status"] == "failed" and row["last_error"] == "timed out after 0.5 s (per-job timeout)"


async def test_a_worker_that_lost_its_lease_records_nothing(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "t", {}, lane="express").job_id
    db.commit()
    release = asyncio.Event()

    async def handler(job: RunningJob) -> dict[str, str]:
        await release.wait()
        return {"by": "first"}

    d = dispatcher(pg_dsn, {"t": handler}, lease_s=3600, poll_s=3600)
    runner = asyncio.create_task(d.run())
    await until(lambda: d.running == 1)
    # Another dispatcher took it over (as after a stall): new token, new attempt.
    db.execute("UPDATE background_jobs SET lease_token = gen_random_uuid(), attempts = 2, locked_by = 'other' "
               "WHERE job_id = %s", (job_id,))
    db.commit()
    release.set()
    await until(lambda: d.stats.lost == 1)
    d.stop()
    await runner
    row = job_row(db, job_id)
    assert (row["status"], row["locked_by"], row["result"]) == ("running", "other", None)


# ------------------------------------------------------------------------------ waking


async def test_an_idle_dispatcher_wakes_on_notify_and_does_not_spin(db: psycopg.Connection, pg_dsn: str) -> None:
    done: list[int] = []

    async def record(job: RunningJob) -> None:
        done.append(job.job_id)

    d = dispatcher(pg_dsn, {"t": record}, poll_s=3600, lease_s=3600)
    runner = asyncio.create_task(d.run())
    await asyncio.sleep(1.5)
    idle_claims = d.stats.claim_queries
    assert idle_claims <= 2  # one at start; nothing since: it sleeps
    with psycopg.connect(pg_dsn, autocommit=True) as other:
        job_id = enqueue(other, "t", {}, lane="express").job_id
        enqueue(other, "t", {}, lane="nightly")  # another lane's work does not wake it
    await until(lambda: done == [job_id])  # the poll interval is an hour: only NOTIFY brings it
    d.stop()
    await runner


async def test_a_deferred_job_wakes_its_dispatcher_when_due(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "t", {}, lane="express").job_id
    db.commit()
    runs: list[int] = []

    async def capped(job: RunningJob) -> None:
        runs.append(job.attempt)
        if len(runs) == 1:
            job.defer(datetime.now(timezone.utc) + timedelta(seconds=1), "daily cap reached")

    d = dispatcher(pg_dsn, {"t": capped}, poll_s=3600, lease_s=3600)
    runner = asyncio.create_task(d.run())
    await until(lambda: len(runs) == 2)
    d.stop()
    await runner
    row = job_row(db, job_id)
    # the deferral did not use up an attempt
    assert runs == [1, 1] and row["status"] == "done" and row["attempts"] == 1
    assert d.stats.deferred == 1


# ------------------------------------------------------------------------------ lanes and caps


async def test_an_express_flood_does_not_delay_nightly_claims(db: psycopg.Connection, pg_dsn: str) -> None:
    async def noop(job: RunningJob) -> None:
        await asyncio.sleep(0.01)

    async def nightly_latency(flood: int) -> list[float]:
        db.execute("TRUNCATE background_jobs")
        db.execute("INSERT INTO background_jobs (job_type, lane) SELECT 'acra_express_enrich', 'express' "
                   "FROM generate_series(1, %s)", (flood,))
        db.commit()
        express = Dispatcher(pg_dsn, lane="express", job_types={"acra_express_enrich": JobType(noop)}, concurrency=2)
        nightly = Dispatcher(pg_dsn, lane="nightly", job_types={"nightly_tenant": JobType(noop)}, concurrency=2)
        runners = [asyncio.create_task(express.run()), asyncio.create_task(nightly.run())]
        with psycopg.connect(pg_dsn, autocommit=True) as other:
            for _ in range(20):
                enqueue(other, "nightly_tenant", {}, lane="nightly")
                await asyncio.sleep(0.02)
        await until(lambda: nightly.stats.done == 20)
        express_left = db.execute("SELECT count(*) FROM background_jobs WHERE lane = 'express' AND status = 'queued'"
                                  ).fetchone()[0]
        latencies = [r[0] for r in db.execute(
            "SELECT extract(epoch FROM started_at - created_at) FROM background_jobs WHERE lane = 'nightly'")]
        db.commit()
        express.stop(hurry=True)
        nightly.stop()
        await asyncio.gather(*runners)
        if flood:
            assert express_left > 0, "the flood was drained before the nightly jobs ran: no contention measured"
        return latencies

    quiet = await nightly_latency(0)
    flooded = await nightly_latency(1000)
    print(f"nightly claim latency p50: quiet {statistics.median(quiet)*1000:.1f} ms, "
          f"with 1,000 express jobs queued {statistics.median(flooded)*1000:.1f} ms")
    assert statistics.median(flooded) <= max(1.0, 5 * statistics.median(quiet))


async def test_caps_count_live_jobs_only(db: psycopg.Connection, pg_dsn: str) -> None:
    dead = enqueue(db, "tenant_run", {}, lane="nightly").job_id
    waiting = [enqueue(db, "tenant_run", {}, lane="nightly").job_id for _ in range(3)]
    _make_stalled(db, dead)
    # A stale running job (its worker died) does not hold a place under the cap of 1:
    # the queued jobs still run, one at a time.
    db.execute("UPDATE background_jobs SET lease_until = now() - interval '1 hour' WHERE job_id = %s", (dead,))
    db.commit()
    concurrent, peak = 0, 0

    async def tenant_run(job: RunningJob) -> None:
        nonlocal concurrent, peak
        concurrent += 1
        peak = max(peak, concurrent)
        await asyncio.sleep(0.1)
        concurrent -= 1

    d = Dispatcher(pg_dsn, lane="nightly", job_types={"tenant_run": JobType(tenant_run, max_running=1)},
                   concurrency=4, lease_s=3600)
    # recovery is due at start, so take it out of the way: the cap alone must let work through
    d._next_recovery = time.monotonic() + 3600
    await d.run(once=True)
    assert all(job_row(db, j)["status"] == "done" for j in waiting)
    assert peak == 1
    assert job_row(db, dead)["status"] == "running"  # untouched by the claims; recovery's business
    # A live running job does hold its place.
    live = enqueue(db, "tenant_run", {}, lane="nightly").job_id
    queued = enqueue(db, "tenant_run", {}, lane="nightly").job_id
    db.execute("UPDATE background_jobs SET status = 'running', lease_token = gen_random_uuid(), "
               "lease_until = now() + interval '1 hour' WHERE job_id = %s", (live,))
    db.commit()
    d = Dispatcher(pg_dsn, lane="nightly", job_types={"tenant_run": JobType(tenant_run, max_running=1)},
                   concurrency=4, lease_s=3600)
    await d.run(once=True)
    assert job_row(db, queued)["status"] == "queued"


async def test_stop_releases_running_jobs_without_using_an_attempt(db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "long", {}, lane="express").job_id
    db.commit()

    async def long(job: RunningJob) -> None:
        await asyncio.sleep(3600)

    d = dispatcher(pg_dsn, {"long": long}, grace_s=0.2)
    runner = asyncio.create_task(d.run())
    await until(lambda: d.running == 1)
    d.stop()
    await runner
    row = job_row(db, job_id)
    assert (row["status"], row["attempts"], row["locked_by"], row["lease_until"]) == ("queued", 0, None, None)
    assert d.stats.released == 1


def test_queue_depth_reports_ready_waiting_and_stalled(db: psycopg.Connection) -> None:
    enqueue(db, "t", {}, lane="express")
    enqueue(db, "t", {}, lane="express", run_after=datetime.now(timezone.utc) + timedelta(hours=1))
    stalled = enqueue(db, "t", {}, lane="nightly").job_id
    _make_stalled(db, stalled)
    depth = {(r["lane"], r["status"]): r for r in queue_depth(db)}
    assert depth[("express", "queued")]["jobs"] == 2 and depth[("express", "queued")]["waiting"] == 1
    assert depth[("express", "queued")]["oldest_ready_age_s"] is not None
    assert depth[("nightly", "running")]["stalled"] == 1


async def test_a_lost_listening_connection_is_opened_again(db: psycopg.Connection, pg_dsn: str) -> None:
    done: list[int] = []

    async def record(job: RunningJob) -> None:
        done.append(job.job_id)

    d = dispatcher(pg_dsn, {"t": record}, poll_s=3600, lease_s=3600)
    runner = asyncio.create_task(d.run())
    await until(lambda: d.stats.claim_queries >= 1)
    await asyncio.sleep(0.3)
    # the server drops the dispatcher's LISTEN connection (a failover, an idle-session kill)
    killed = db.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query LIKE 'LISTEN acra_jobs_cancel%%'").fetchone()[0]
    db.commit()
    assert killed == 1
    await asyncio.sleep(2.5)  # the reconnect's backoff
    with psycopg.connect(pg_dsn, autocommit=True) as other:
        job_id = enqueue(other, "t", {}, lane="express").job_id
    await until(lambda: done == [job_id])  # an hour's poll interval: only a new LISTEN brings it
    d.stop()
    await runner


async def test_a_completion_cut_off_by_a_dropped_connection_is_written_after_the_reconnect(
        db: psycopg.Connection, pg_dsn: str) -> None:
    job_id = enqueue(db, "t", {}, lane="express").job_id
    db.commit()
    killed: list[int] = []

    async def drop_the_dispatchers_connection(job: RunningJob) -> None:
        # the server drops the connection the dispatcher claims and completes jobs on, just
        # before this job's completion is written on it
        assert d._conn is not None
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            killed.append(admin.execute("SELECT count(pg_terminate_backend(%s))",
                                        (d._conn.info.backend_pid,)).fetchone()[0])

    d = dispatcher(pg_dsn, {"t": drop_the_dispatchers_connection})
    stats = await asyncio.wait_for(d.run(once=True), 60)  # a completion lost with its connection never returns
    assert killed == [1]
    assert stats.done == 1
    assert job_row(db, job_id)["status"] == "done"
