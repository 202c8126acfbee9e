"""The lookup queue and TEMP ids under concurrency: real PostgreSQL, real worker processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from alembic import command

from acra_enrich.resolve import LookupQueue, WritePlan
from acra_enrich.resolve.models import MappingEntry
from acra_enrich.resolve.queue import _Q as queue_sql
from acra_enrich.resolve.queue import Outcome
from acra_enrich.db import connect
from acra_enrich.db.migrate import _alembic_config
from resolve_helpers import DirectoryProvider, make_service, queue_rows, round_trips, snapshot

WORKERS = Path(__file__).with_name("resolve_workers.py")


def _start_workers(env: dict[str, str], tmp_path: Path, *argv_per_worker: list[str]) -> list[subprocess.Popen[str]]:
    start = tmp_path / "start"
    ready = [tmp_path / f"ready-{i}" for i in range(len(argv_per_worker))]
    procs = [subprocess.Popen([sys.executable, str(WORKERS), *argv],
                              env={**env, "START_FILE": str(start), "READY_FILE": str(flag)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for argv, flag in zip(argv_per_worker, ready)]
    # Start them together only once every one has connected: on a loaded machine a slow
    # starter would otherwise find the queue already drained by the others.
    deadline = time.monotonic() + 120
    while not all(flag.exists() for flag in ready):
        if any(proc.poll() is not None for proc in procs) or time.monotonic() > deadline:
            break  # _finish reports the worker that died or hung
        time.sleep(0.01)
    start.touch()
    return procs


def _finish(procs: list[subprocess.Popen[str]], *, ok: bool = True) -> list[str]:
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        if ok:
            assert proc.returncode == 0, stderr
        outputs.append(stdout)
    return outputs


# --- enqueue / dequeue / mark ---------------------------------------------------------------


def test_enqueue_keeps_one_open_request_per_normalised_name(db: psycopg.Connection) -> None:
    queue = LookupQueue(db)
    first = queue.enqueue("Acme Pte Ltd")
    again = queue.enqueue("ACME PRIVATE LIMITED")
    other = queue.enqueue("Globex Ltd")
    assert first.created and not again.created and other.created
    assert again.request_id == first.request_id != other.request_id
    # once the open request is finished, the name may be asked for again
    [claimed, _] = queue.dequeue(10)
    assert queue.mark_done(claimed, "C1")
    assert queue.enqueue("Acme Pte Ltd").created
    with pytest.raises(ValueError):
        queue.enqueue("  ")


def test_dequeue_claims_with_a_lease_and_marks_done(db: psycopg.Connection) -> None:
    queue = LookupQueue(db, lease_s=90)
    for name in ("A Ltd", "B Ltd", "C Ltd"):
        queue.enqueue(name)
    batch = queue.dequeue(2)
    assert [r.name for r in batch] == ["A Ltd", "B Ltd"]
    leases = db.execute("SELECT status, lease_until - updated_at FROM lookup_requests ORDER BY id").fetchall()
    assert leases == [("processing", timedelta(seconds=90)), ("processing", timedelta(seconds=90)), ("pending", None)]
    assert [r.name for r in queue.dequeue(5)] == ["C Ltd"]
    assert queue.dequeue(5) == []
    assert queue.mark_done(batch[0], "C-A")
    assert queue_rows(db)[0][3:] == ("done", 0, None, "C-A")


def test_retry_backoff_grows_and_the_request_fails_for_good_after_retry_max(db: psycopg.Connection) -> None:
    queue = LookupQueue(db, retry_max=2, retry_delay_s=300)
    queue.enqueue("Flaky Ltd")
    waits = []
    for attempt in range(1, 4):
        [request] = queue.dequeue(1)
        assert request.attempts == attempt - 1
        outcome = queue.mark_failed(request, f"HTTP 503 #{attempt}")
        status, attempts, wait, error = db.execute(
            "SELECT status, attempts, extract(epoch FROM next_attempt_at - updated_at), last_error "
            "FROM lookup_requests").fetchone()
        assert (attempts, error, outcome.attempts) == (attempt, f"HTTP 503 #{attempt}", attempt)
        if attempt < 3:
            assert status == "pending" and not outcome.permanent
            waits.append(float(wait))
            assert queue.dequeue(1) == []  # not before the backoff has passed
            db.execute("UPDATE lookup_requests SET next_attempt_at = now() - interval '1 second'")
            db.commit()
        else:
            assert status == "failed" and outcome.permanent
    assert waits == [300.0, 600.0]  # WDH_LOOKUP_RETRY_DELAY, doubling per attempt
    assert queue.dequeue(1) == []


def test_a_worker_that_lost_its_lease_cannot_finish_the_row(db: psycopg.Connection) -> None:
    slow = LookupQueue(db, lease_s=60)
    slow.enqueue("Slow Ltd")
    [mine] = slow.dequeue(1)
    db.execute("UPDATE lookup_requests SET lease_until = now() - interval '1 second'")
    db.commit()
    [theirs] = LookupQueue(db).dequeue(1)  # reclaimed by another worker
    assert theirs.id == mine.id and theirs.lease_until != mine.lease_until
    assert not slow.mark_done(mine, "STALE")
    assert not slow.mark_failed(mine, "late").applied
    assert slow.release([mine], delay_s=10, reason="late") == 0
    assert LookupQueue(db).mark_done(theirs, "FRESH")
    assert queue_rows(db)[0][3:] == ("done", 1, "lease expired: the worker that claimed it stopped before finishing",
                                     "FRESH")


def test_enqueue_many_queues_a_batch_in_order_one_request_per_normalised_name(db: psycopg.Connection) -> None:
    queue = LookupQueue(db)
    existing = queue.enqueue("Globex Ltd")
    results = queue.enqueue_many([("Acme Pte Ltd", None), ("Globex Private Limited", None), ("ACME LIMITED", None),
                                  ("Initech", "initech")])
    assert [r.created for r in results] == [True, False, False, True]
    assert results[1].request_id == existing.request_id
    assert results[0].request_id == results[2].request_id
    assert [row[1:3] for row in queue_rows(db)] == [("Globex Ltd", "globex"), ("Acme Pte Ltd", "acme"),
                                                    ("Initech", "initech")]
    with pytest.raises(ValueError, match="empty name"):
        queue.enqueue_many([("Fine Ltd", None), ("--", None)])
    assert len(queue_rows(db)) == 3  # nothing of a refused batch was queued


def test_one_finish_records_done_failed_and_released_rows_each_only_under_its_own_lease(
        db: psycopg.Connection) -> None:
    queue = LookupQueue(db, retry_max=0, retry_delay_s=60)
    for name in ("A Ltd", "B Ltd", "C Ltd", "D Ltd", "E Ltd"):
        queue.enqueue(name)
    a, b, c, d, e = queue.dequeue(5)
    stale = replace(e, lease_until=e.lease_until - timedelta(seconds=1))  # another worker's old claim
    finished = queue.finish([Outcome.done(a, "C-A"), Outcome.failed(b, "HTTP 500"),
                             Outcome.released(c, 30, "rate-limited"), Outcome.done(d, "C-D"),
                             Outcome.done(stale, "STALE")],
                            cache=[MappingEntry("normalized_name", "a", "C-A", "directory", 5, 1)])
    assert finished.done == {a.id, d.id} and finished.released == {c.id}
    assert finished.failed[b.id].permanent  # retry_max 0: the first failure is final
    rows = db.execute("SELECT name, status, attempts, company_id, last_error FROM lookup_requests ORDER BY id")
    assert rows.fetchall() == [
        ("A Ltd", "done", 0, "C-A", None), ("B Ltd", "failed", 1, None, "HTTP 500"),
        ("C Ltd", "pending", 0, None, "rate-limited"), ("D Ltd", "done", 0, "C-D", None),
        ("E Ltd", "processing", 0, None, None)]
    assert db.execute("SELECT alias, company_id, confidence FROM company_mapping").fetchall() == [("a", "C-A", 1.0)]


def test_a_claim_fails_an_expired_row_that_has_used_up_its_retries_instead_of_taking_it(
        db: psycopg.Connection) -> None:
    queue = LookupQueue(db, retry_max=1)
    queue.enqueue("Deadly Ltd")
    queue.enqueue("Fine Ltd")
    db.execute("UPDATE lookup_requests SET status = 'processing', attempts = 1, "
               "lease_until = now() - interval '1 second' WHERE name = 'Deadly Ltd'")
    db.commit()
    assert [r.name for r in queue.dequeue(10)] == ["Fine Ltd"]
    assert db.execute("SELECT status, attempts, lease_until FROM lookup_requests WHERE name = 'Deadly Ltd'"
                      ).fetchone() == ("failed", 2, None)


def test_draining_costs_a_claim_and_a_finish_per_batch(db: psycopg.Connection) -> None:
    for n in range(12):
        LookupQueue(db).enqueue(f"Company {n} Ltd")
    with connect(autocommit=True) as conn, round_trips(conn) as counted:
        report = make_service(conn, DirectoryProvider({f"Company {n} Ltd": (f"C{n}", f"COMPANY {n} LTD")
                                                       for n in range(10)})).process_lookup_queue(5)
    assert (report.claimed, report.done, report.retrying) == (12, 10, 2)
    assert counted == [3 * 2 + 1]  # three batches (5, 5, 2), then the claim that finds nothing


def _rows_read(plan: dict, table: str) -> int:
    """Rows the plan's scans of `table` read (returned or filtered out), over all loops."""
    own = 0
    if plan.get("Relation Name") == table and plan["Node Type"].endswith("Scan"):
        own = (plan["Actual Rows"] + plan.get("Rows Removed by Filter", 0)) * plan["Actual Loops"]
    return own + sum(_rows_read(child, table) for child in plan.get("Plans", ()))


def test_a_finish_reads_only_its_own_batch_however_many_rows_are_in_flight(db: psycopg.Connection) -> None:
    # Other workers' batches in flight must not make a finish slower: through the lease
    # index (which holds every processing row) a finish of 20 rows read all 520. (A table
    # of a few thousand rows: below that PostgreSQL rightly prefers to read it whole.)
    queue = LookupQueue(db)
    queue.enqueue_many([(f"Company {n} Ltd", None) for n in range(5000)])
    db.execute("ANALYZE lookup_requests")  # as a busy queue's statistics stand: all pending
    db.commit()
    others = LookupQueue(db).dequeue(500)
    mine = queue.dequeue(20)
    assert len(others) == 500 and len(mine) == 20
    params = queue.finish_params([Outcome.done(r, f"C-{r.id}") for r in mine])
    [[plan]] = db.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + queue_sql["finish"], params).fetchone()
    db.rollback()
    assert _rows_read(plan["Plan"], "lookup_requests") == 20


def test_a_row_holds_a_lease_exactly_while_it_is_processing(db: psycopg.Connection) -> None:
    # The finish's fence (id and lease, not status) is only as strict as this rule.
    queue = LookupQueue(db)
    queue.enqueue("Acme Ltd")
    [request] = queue.dequeue(1)
    for change in ("status = 'pending'", "lease_until = NULL"):
        with pytest.raises(psycopg.errors.CheckViolation, match="lookup_requests_lease_while_processing"):
            db.execute(f"UPDATE lookup_requests SET {change} WHERE id = %s", (request.id,))
        db.rollback()
    assert queue.mark_done(request, "C-1")
    assert db.execute("SELECT status, lease_until FROM lookup_requests").fetchone() == ("done", None)


def test_the_lease_migration_repairs_rows_left_against_the_rule(blank_database: str) -> None:
    command.upgrade(_alembic_config(blank_database), "0012")
    with psycopg.connect(blank_database) as conn:  # as a hand edit could have left them
        conn.execute("INSERT INTO lookup_requests (name, normalized_name, status, lease_until) VALUES "
                     "('Stray Ltd', 'stray', 'done', now() + interval '1 hour'), "
                     "('Leaseless Ltd', 'leaseless', 'processing', NULL)")
    command.upgrade(_alembic_config(blank_database), "head")
    with psycopg.connect(blank_database) as conn:
        assert conn.execute("SELECT lease_until FROM lookup_requests WHERE name = 'Stray Ltd'").fetchone() == (None,)
        # the leaseless row is reclaimable at once, as if its worker had died
        [reclaimed] = LookupQueue(conn).dequeue(5)
        assert (reclaimed.name, reclaimed.attempts) == ("Leaseless Ltd", 1)


def test_queue_plan_mode_writes_nothing(db: psycopg.Connection) -> None:
    LookupQueue(db).enqueue("Acme Ltd")
    before = snapshot(db)
    plan = WritePlan()
    queue = LookupQueue(db, plan=plan)
    assert queue.enqueue("Beta Ltd").created and queue.enqueue("ACME LIMITED").created is False
    [request] = queue.dequeue(5)
    assert queue.mark_failed(request, "boom").applied
    assert snapshot(db) == before
    assert [(w.table, w.action) for w in plan.writes] == [
        ("lookup_requests", "insert"), ("lookup_requests", "claim"), ("lookup_requests", "update")]


def test_queue_status_counts_every_state(db: psycopg.Connection) -> None:
    queue = LookupQueue(db, retry_max=0)
    for name in ("A Ltd", "B Ltd", "C Ltd", "D Ltd"):
        queue.enqueue(name)
    a, b, _ = queue.dequeue(3)
    queue.mark_done(a, "X")
    queue.mark_failed(b, "no candidate")
    status = queue.status()
    assert (status.pending, status.ready, status.processing, status.done, status.failed) == (1, 1, 1, 1, 1)
    assert status.top_errors == [("no candidate", 1)]


# --- processes --------------------------------------------------------------------------


def test_eight_processes_allocating_temp_ids_never_collide(db: psycopg.Connection, env: dict[str, str],
                                                           tmp_path: Path) -> None:
    per_worker = 150
    procs = _start_workers(env, tmp_path, *[["temp", str(per_worker)] for _ in range(8)])
    ids = [line for out in _finish(procs) for line in out.split()]
    assert len(ids) == 8 * per_worker
    assert Counter(ids).most_common(1)[0][1] == 1
    assert sorted(ids) == [f"TEMP_{n:06d}" for n in range(1, 8 * per_worker + 1)]  # nothing lost either


def test_four_workers_draining_one_queue_never_process_a_row_twice(db: psycopg.Connection, env: dict[str, str],
                                                                    tmp_path: Path) -> None:
    queue = LookupQueue(db)
    names = [f"Company {n:03d} Pte Ltd" for n in range(240)]
    for name in names:
        queue.enqueue(name)
    logs = [tmp_path / f"worker{i}.log" for i in range(4)]
    _finish(_start_workers(env, tmp_path, *[["drain", str(log), "3"] for log in logs]))
    seen = [line for log in logs if log.exists() for line in log.read_text().splitlines()]
    assert Counter(seen).most_common(1)[0][1] == 1
    assert sorted(seen) == sorted(names)
    assert sum(1 for log in logs if log.exists()) > 1  # the work really was shared
    rows = queue_rows(db)
    assert {status for *_, status, _, _, _ in rows} == {"done"}
    assert all(company_id == f"ID-{name}" for _, name, _, _, _, _, company_id in rows)


def test_a_crashed_workers_rows_are_reclaimed_after_the_lease(db: psycopg.Connection, env: dict[str, str],
                                                             tmp_path: Path) -> None:
    queue = LookupQueue(db)
    for n in range(5):
        queue.enqueue(f"Crash {n} Ltd")
    [out] = _finish(_start_workers(env, tmp_path, ["crash", "3", "3600"]), ok=False)
    crashed = sorted(int(i) for i in out.split())
    assert len(crashed) == 3
    # while the dead worker's lease runs, its rows stay untouched
    assert sorted(r.id for r in queue.dequeue(10)) == sorted(set(range(1, 6)) - set(crashed))
    assert queue.dequeue(10) == []
    # the lease runs out (moved into the past rather than waited for)
    db.execute("UPDATE lookup_requests SET lease_until = now() - interval '1 second' WHERE id = ANY(%s)", (crashed,))
    db.commit()
    reclaimed = queue.dequeue(10)
    assert sorted(r.id for r in reclaimed) == crashed
    assert {r.attempts for r in reclaimed} == {1}  # the lost try counted
    assert all(queue.mark_done(r, "OK") for r in reclaimed)
