"""The nightly scheduler and worker: two scheduler processes fire one slot once; a missed slot
fires once at start-up, not once per missed day; the worker runs queued tenant jobs through the
DAG; and a nightly run completes while the express lane is busy (the lanes share no workers)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import psycopg
import pytest

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.jobs import enqueue_express_enrich
from acra_enrich.runners.nightly.scheduler import SINGAPORE, Scheduler, enqueue_nightly_tenant
from acra_enrich.runners.nightly.worker import run_worker
from acra_enrich.sandbox.testing import SandboxHandle
from tests.nightly_helpers import make_tenant, nightly_env, registry_file, sandbox  # noqa: F401

DEADLINE_S = 180.0  # a guard against a hung process, not a timing assertion


def test_two_scheduler_processes_fire_one_slot_once(nightly_env: dict[str, str], db: psycopg.Connection) -> None:
    make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    make_tenant(db, "B", odoo_db="b", key_env="ODOO_KEY_B")
    make_tenant(db, "NoCrm")  # not active for the scheduler: no Odoo connection
    procs = [subprocess.Popen([sys.executable, "-m", "acra_enrich", "scheduler", "--once", "--json"],
                              env=nightly_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    outputs = [p.communicate(timeout=DEADLINE_S) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [e.decode()[-2000:] for _, e in outputs]
    slots = db.execute("SELECT slot_at, jobs, missed FROM scheduler_slots").fetchall()
    assert len(slots) == 1 and slots[0][1] == 2 and slots[0][2] is True
    jobs = db.execute("SELECT tenant_id, job_type, lane, idempotency_key, params FROM background_jobs "
                      "ORDER BY tenant_id").fetchall()
    day = slots[0][0].astimezone(SINGAPORE).date().isoformat()
    assert jobs == [(1, "nightly_tenant", "nightly", f"nightly:1:{day}", {"day": day}),
                    (2, "nightly_tenant", "nightly", f"nightly:2:{day}", {"day": day})]
    assert sorted(len(o.decode().strip("[]\n")) > 0 for o, _ in outputs) == [False, True]  # one fired


def test_a_missed_slot_fires_once_at_start_up(nightly_env: dict[str, str], db: psycopg.Connection,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    db.autocommit = True
    scheduler = Scheduler(load_settings(), name="test")
    # Down for three nights: started on the 10th at 09:00, only the 10th's 01:00 slot fires.
    fired = scheduler.catch_up(db, datetime(2026, 12, 10, 9, 0, tzinfo=SINGAPORE))
    assert fired is not None and fired.slot_at == datetime(2026, 12, 10, 1, 0, tzinfo=SINGAPORE) and fired.missed
    assert scheduler.catch_up(db, datetime(2026, 12, 10, 23, 0, tzinfo=SINGAPORE)) is None  # fired already
    assert scheduler.fire(db, fired.slot_at) is None  # another process cannot fire it again
    nxt = scheduler.catch_up(db, datetime(2026, 12, 11, 1, 30, tzinfo=SINGAPORE))
    assert nxt is not None and nxt.slot_at.date() == date(2026, 12, 11)
    assert db.execute("SELECT count(*) FROM scheduler_slots").fetchone() == (2,)
    keys = [r[0] for r in db.execute("SELECT idempotency_key FROM background_jobs ORDER BY job_id")]
    assert keys == ["nightly:1:2026-12-10", "nightly:1:2026-12-11"]
    # The admin API's entry point: asking again while the job is queued returns the same job.
    again = enqueue_nightly_tenant(db, 1, date(2026, 12, 11))
    assert not again.created and again.job_id == nxt.jobs[0]
    monkeypatch.setenv("SCHED_ENABLED", "false")
    reset_settings_cache()
    assert asyncio.run(Scheduler(load_settings()).run(once=True)) == []


def test_the_worker_runs_queued_tenants_and_is_not_held_up_by_a_busy_express_lane(
        nightly_env: dict[str, str], db: psycopg.Connection, sandbox: SandboxHandle, tmp_path: Path) -> None:
    a = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    b = make_tenant(db, "B", odoo_db="b", key_env="ODOO_KEY_B")
    db.execute("INSERT INTO companies (uen, name, status) SELECT uen, entity_name, entity_status_description "
               "FROM staging_acra_companies")
    ids = [r[0] for r in db.execute("SELECT company_id FROM companies ORDER BY company_id")]
    # A flood of express work, and an express dispatcher busy with it throughout.
    for n in range(60):
        enqueue_express_enrich(db, [ids[n % len(ids)]], idempotency_key=f"flood:{n}")
    db.commit()
    log = open(tmp_path / "express.log", "wb")
    express = subprocess.Popen([sys.executable, "-m", "acra_enrich", "run", "express", "--concurrency", "1"],
                               env={**nightly_env, "EXPRESS_DAILY_CAP": "0"}, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while db.execute("SELECT count(*) FROM background_jobs WHERE lane = 'express' AND status = 'running'"
                         ).fetchone() == (0,):
            assert time.monotonic() < deadline and express.poll() is None, "the express lane never got busy"
            time.sleep(0.1)
            db.commit()
        day = datetime.now(SINGAPORE).date()
        jobs = [enqueue_nightly_tenant(db, t, day).job_id for t in (a, b)]
        db.commit()
        reset_settings_cache()
        stats = asyncio.run(run_worker(load_settings(), once=True))
        assert stats.done == 2 and stats.claimed == 2  # only nightly jobs: express ones are not its lane
        db.commit()
        left = db.execute("SELECT count(*) FROM background_jobs WHERE lane = 'express' AND status = 'queued'"
                          ).fetchone()
        assert left is not None and left[0] > 0, "the express flood drained first: the test proved nothing"
    finally:
        express.terminate()
        express.wait(timeout=DEADLINE_S)
    results = db.execute("SELECT status, result FROM background_jobs WHERE job_id = ANY(%s) ORDER BY job_id",
                         (jobs,)).fetchall()
    assert [r[0] for r in results] == ["done", "done"] and all(r[1]["status"] == "done" for r in results)
    runs = db.execute("SELECT tenant_id, status, params ->> 'job_id' FROM enrichment_runs WHERE kind = 'nightly' "
                      "ORDER BY tenant_id").fetchall()
    assert runs == [(a, "done", str(jobs[0])), (b, "done", str(jobs[1]))]
