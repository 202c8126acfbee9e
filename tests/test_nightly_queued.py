"""The nightly lane's `staging_upsert` and `enrich_candidates` jobs, queued with their named enqueue
functions and run by `run nightly --worker` on a real PostgreSQL against the sandbox web: a
staging job brings its rows into companies and queues enrich jobs that the worker runs too (one
history row per company and job, under the job's tenant); a job run again skips the companies it
already did."""

from __future__ import annotations

import asyncio

import psycopg

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.jobs import enqueue_enrich_candidates, enqueue_staging_upsert, get_job
from acra_enrich.runners.nightly.queued import ENRICH_BATCH
from acra_enrich.runners.nightly.worker import run_worker
from tests.nightly_helpers import make_tenant, nightly_env, registry_file, sandbox  # noqa: F401


def work() -> None:
    reset_settings_cache()
    asyncio.run(run_worker(load_settings(), once=True))


def jobs_of(db: psycopg.Connection, job_type: str) -> list[tuple[int, str, int | None]]:
    db.commit()
    return db.execute("SELECT job_id, status, tenant_id FROM background_jobs WHERE job_type = %s ORDER BY job_id",
                      (job_type,)).fetchall()


def test_a_staging_job_and_the_enrich_jobs_it_queues_are_done_by_the_worker(
        nightly_env: dict[str, str], db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "A")
    uens = [r[0] for r in db.execute(
        "SELECT uen FROM staging_acra_companies WHERE entity_status_description ILIKE 'live%%' ORDER BY id LIMIT %s",
        (ENRICH_BATCH + 2,))]
    staged = enqueue_staging_upsert(db, uens=[*uens, "T99ZZ9999Z"], tenant_id=tenant).job_id
    db.commit()
    assert db.execute("SELECT count(*) FROM companies WHERE uen = ANY(%s)", (uens,)).fetchone() == (0,)

    for _ in range(3):  # the staging job queues the enrich jobs while the worker runs
        work()
        if all(status == "done" for _, status, _ in jobs_of(db, "enrich_candidates")):
            break
    job = get_job(db, staged)
    assert job["status"] == "done", job["last_error"]
    assert job["result"]["companies"] == len(uens) and job["result"]["not_in_staging"] == ["T99ZZ9999Z"]
    enrich_jobs = jobs_of(db, "enrich_candidates")
    assert len(enrich_jobs) == 2 == job["result"]["enrich_jobs"]
    assert all(status == "done" and owner == tenant for _, status, owner in enrich_jobs)

    history = db.execute("SELECT c.uen, h.job_id, h.tenant_id, h.run_id FROM company_enrichment_runs h "
                         "JOIN companies c USING (company_id) ORDER BY c.uen").fetchall()
    assert sorted(h[0] for h in history) == sorted(uens)  # each company once
    assert {h[1] for h in history} == {j[0] for j in enrich_jobs} and {h[2] for h in history} == {tenant}
    runs = db.execute("SELECT run_id, status, params ->> 'job_type', processed FROM enrichment_runs "
                      "WHERE run_id = ANY(%s) ORDER BY run_id", (list({h[3] for h in history}),)).fetchall()
    assert [r[1:3] for r in runs] == [("done", "enrich_candidates")] * 2 and sum(r[3] for r in runs) == len(uens)


def test_an_enrich_job_run_again_skips_the_companies_it_did(nightly_env: dict[str, str],
                                                             db: psycopg.Connection) -> None:
    db.execute("INSERT INTO companies (uen, name, status) SELECT uen, entity_name, entity_status_description "
               "FROM staging_acra_companies ORDER BY id LIMIT 3")
    ids = [r[0] for r in db.execute("SELECT company_id FROM companies ORDER BY company_id")]
    job_id = enqueue_enrich_candidates(db, ids).job_id
    db.commit()
    work()
    first = get_job(db, job_id)
    assert first["status"] == "done" and first["result"].get("already_done") is None, first
    # As if the job's lease had been lost after its companies were done: the queue runs it again.
    db.execute("UPDATE background_jobs SET status = 'queued', run_after = now() WHERE job_id = %s", (job_id,))
    db.commit()
    work()
    again = get_job(db, job_id)
    assert again["status"] == "done" and again["result"]["already_done"] == len(ids)
    assert again["result"]["run_id"] == first["result"]["run_id"]  # the same run row, reopened
    assert db.execute("SELECT count(*) FROM company_enrichment_runs WHERE job_id = %s", (job_id,)).fetchone() == \
        (len(ids),)
