"""The express lane as operations use it, on a real PostgreSQL and the sandbox web over real
HTTP: `ingest acra --express` then `run express`, metrics and the latency histogram, overrides
(ignored unless authorized), the daily cap shared by two dispatcher processes, a dispatcher
killed with SIGKILL in the middle of an enrich job, tenant pinning, and the operators'
commands (`jobs`, `runs`, `db status`)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.jobs import EXPRESS_ENRICH, EXPRESS_STAGING_UPSERT, enqueue_express_staging_upsert
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners.express import ExpressParams, ExpressSummary, next_singapore_midnight, run_express
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox

SEED, ROWS = 23, 30
DEADLINE_S = 120.0  # a guard against a hung dispatcher, not a timing assertion
UNUSED_VENDOR_KEYS = ("OPENAI_API_KEY", "APIFY_TOKEN", "LUSHA_API_KEY", "ZEROBOUNCE_API_KEY")
EXCLUDED = ("dissolved", "struck off", "gazetted", "cancelled", "ceased", "expired", "amalgamated", "converted",
            "in liquidation", "terminated", "deregistered")


@dataclass
class Cli:
    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def finish(self) -> str:
        code = self.proc.wait(timeout=DEADLINE_S)
        assert code == 0, self.err.read_text()[-3000:]
        return self.out.read_text()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=SEED, companies=ROWS) as handle:
        yield handle


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("express") / "acra.csv"
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=ROWS, seed=SEED)
    return path


@pytest.fixture
def lane_env(env: dict[str, str], sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This worker's database and the sandbox web; fast retries, a short lease."""
    values = {**sandbox.env(), "CRAWL_MAX_PAGES": "2", "CRAWL_RETRY_BACKOFF_S": "0", "JOBS_RETRY_BASE_S": "0.1",
              "JOBS_LEASE_S": "3", "EXPRESS_POLL_INTERVAL_S": "1"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    for name in UNUSED_VENDOR_KEYS:
        monkeypatch.delenv(name, raising=False)
    sandbox.reset()
    reset_settings_cache()
    return {**{k: v for k, v in env.items() if k not in UNUSED_VENDOR_KEYS}, **values}


def cli(env: dict[str, str], tmp_path: Path, *args: str, extra_env: dict[str, str] | None = None) -> Cli:
    n = len(list(tmp_path.glob("cli-*.out")))
    out, err = tmp_path / f"cli-{n}.out", tmp_path / f"cli-{n}.err"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([sys.executable, "-m", "acra_enrich", *args], env={**env, **(extra_env or {})},
                                stdout=o, stderr=e, stdin=subprocess.DEVNULL)
    return Cli(proc, out, err)


def live_uens(conn: psycopg.Connection) -> set[str]:
    rows = conn.execute("SELECT uen, entity_status_description FROM staging_acra_companies").fetchall()
    return {uen for uen, status in rows if not (status or "").strip().lower().startswith(EXCLUDED)}


def history(conn: psycopg.Connection) -> list[tuple[str, int | None, int | None]]:
    """(uen, job_id, run_id) of every history row."""
    return conn.execute("SELECT c.uen, h.job_id, h.run_id FROM company_enrichment_runs h "
                        "JOIN companies c USING (company_id) ORDER BY h.id").fetchall()


def express(stop: asyncio.Event | None = None, **flags: Any) -> ExpressSummary:
    settings = load_settings()
    return asyncio.run(run_express(settings, ExpressParams.from_settings(settings, **flags), stop=stop))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not predicate():
        assert time.monotonic() < deadline, f"stuck waiting for {what}"
        time.sleep(0.1)


# ------------------------------------------------------------------------------ end to end


def test_ingest_with_express_then_run_express_enriches_the_new_rows_with_metrics(
        db: psycopg.Connection, lane_env: dict[str, str], registry_file: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    out = cli(lane_env, tmp_path, "ingest", "acra", str(registry_file), "--express", "--json").finish()
    report = json.loads(out.splitlines()[-1])
    assert report["inserted"] > 0 and report["express_job_id"]
    db.autocommit = True
    expected = live_uens(db)
    assert expected and len(expected) < ROWS  # the sample has non-live entities too: they must be left out
    port = free_port()
    monkeypatch.setenv("METRICS_PROMETHEUS_ENABLE", "true")
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("METRICS_ADDR", "127.0.0.1")
    reset_settings_cache()
    stop = asyncio.Event()
    scraped: dict[str, Any] = {}

    def scrape_when_done() -> None:
        wait_until(lambda: db.execute("SELECT count(*) FROM background_jobs WHERE status <> 'done'").fetchone()[0] == 0
                   and db.execute("SELECT count(*) FROM background_jobs").fetchone()[0] > 1, "the lane to drain")
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        scraped.update({s.name + str(sorted(s.labels.items())): s.value
                        for f in text_string_to_metric_families(text) for s in f.samples})

    async def run_and_scrape() -> ExpressSummary:
        settings = load_settings()
        runner = asyncio.create_task(run_express(settings, ExpressParams.from_settings(settings), stop=stop))
        await asyncio.to_thread(scrape_when_done)
        stop.set()
        return await runner

    summary = asyncio.run(run_and_scrape())
    rows = history(db)
    assert sorted(uen for uen, _, _ in rows) == sorted(expected)  # each live company once, no other
    assert {run for _, _, run in rows} == {summary.run_id}
    jobs = db.execute("SELECT job_type, status, params FROM background_jobs ORDER BY job_id").fetchall()
    assert jobs[0][:2] == (EXPRESS_STAGING_UPSERT, "done")
    enrich_jobs = [p for t, s, p in jobs if t == EXPRESS_ENRICH]
    assert all(len(p["company_ids"]) <= 5 for p in enrich_jobs)  # EXPRESS_BATCH_SIZE default
    assert len(enrich_jobs) == -(-len(expected) // 5)
    run = db.execute("SELECT kind, status, processed FROM enrichment_runs WHERE run_id = %s",
                     (summary.run_id,)).fetchone()
    assert run == ("express", "interrupted", len(expected))
    processed = sum(v for k, v in scraped.items() if k.startswith("acra_express_companies_processed_total"))
    assert processed == len(expected)
    assert scraped["acra_express_latency_seconds_count[]"] == len(expected)
    assert scraped["acra_express_latency_seconds_sum[]"] > 0
    assert scraped["acra_express_queue_depth[('lane', 'express')]"] == 0
    assert "acra_express_failures_total[]" in scraped


# ------------------------------------------------------------------------------ overrides


def test_overrides_are_ignored_unless_authorized(db: psycopg.Connection, lane_env: dict[str, str],
                                                  registry_file: Path) -> None:
    load_acra_file(db, registry_file)
    db.commit()
    uens = sorted(live_uens(db))[:7]
    plain = enqueue_express_staging_upsert(db, uens=uens, params={"batch_size": 2}).job_id
    allowed = enqueue_express_staging_upsert(db, uens=uens[:6], params={"batch_size": 2, "authorized": True}).job_id
    db.commit()
    summary = express(once=True, concurrency=1)
    sizes: dict[int, list[int]] = {plain: [], allowed: []}
    for params, in db.execute("SELECT params FROM background_jobs WHERE job_type = %s ORDER BY job_id",
                              (EXPRESS_ENRICH,)):
        sizes[params["parent_job_id"]].append(len(params["company_ids"]))
    assert sizes[plain] == [5, 2]  # EXPRESS_BATCH_SIZE, the override ignored
    assert sizes[allowed] == [2, 2, 2]
    assert summary.processed == 13


# ------------------------------------------------------------------------------ daily cap


def test_the_daily_cap_holds_across_two_dispatcher_processes(db: psycopg.Connection, lane_env: dict[str, str],
                                                             registry_file: Path, tmp_path: Path) -> None:
    load_acra_file(db, registry_file)
    db.commit()
    uens = sorted(live_uens(db))[:12]
    enqueue_express_staging_upsert(db, uens=uens, params={"batch_size": 2, "authorized": True})
    db.commit()
    db.autocommit = True
    extra = {"EXPRESS_DAILY_CAP": "5"}
    first = cli(lane_env, tmp_path, "run", "express", "--once", "--json", extra_env=extra)
    second = cli(lane_env, tmp_path, "run", "express", "--once", "--json", extra_env=extra)
    summaries = [json.loads(c.finish()) for c in (first, second)]
    assert sum(s["processed"] for s in summaries) == 5
    assert len(history(db)) == 5
    assert db.execute("SELECT units FROM vendor_usage WHERE vendor = 'acra_express'").fetchone()[0] == 5
    waiting = db.execute("SELECT run_after, status, last_error FROM background_jobs WHERE job_type = %s "
                         "AND status <> 'done'", (EXPRESS_ENRICH,)).fetchall()
    assert waiting, "jobs beyond the cap must wait, not fail"
    for run_after, status, last_error in waiting:
        assert status == "queued" and run_after == next_singapore_midnight()
        assert "EXPRESS_DAILY_CAP of 5" in last_error


# ------------------------------------------------------------------------------ crash


def test_a_dispatcher_killed_mid_job_loses_nothing_and_repeats_no_company(
        db: psycopg.Connection, lane_env: dict[str, str], registry_file: Path, tmp_path: Path,
        sandbox: SandboxHandle) -> None:
    load_acra_file(db, registry_file)
    db.commit()
    uens = sorted(live_uens(db))[:6]
    enqueue_express_staging_upsert(db, uens=uens, params={"batch_size": 6, "authorized": True})
    db.commit()
    db.autocommit = True
    sandbox.set_latency_ms(150)  # each company takes a while: the kill lands inside the job
    try:
        victim = cli(lane_env, tmp_path, "run", "express", extra_env={"EXPRESS_CONCURRENCY": "1"})
        wait_until(lambda: len(history(db)) >= 2 or victim.proc.poll() is not None, "companies of the job")
        assert victim.proc.poll() is None, victim.err.read_text()[-3000:]
        os.kill(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait()
    finally:
        sandbox.set_latency_ms(0)
    done_before = {uen for uen, _, _ in history(db)}
    (job_id, status, lease_until), = db.execute(
        "SELECT job_id, status, lease_until FROM background_jobs WHERE job_type = %s", (EXPRESS_ENRICH,)).fetchall()
    assert status == "running" and 2 <= len(done_before) < 6
    wait_until(lambda: db.execute("SELECT now() > %s", (lease_until,)).fetchone()[0], "the lease to expire")
    summary = json.loads(cli(lane_env, tmp_path, "run", "express", "--once", "--json").finish())
    assert summary["jobs"]["recovered"] == 1
    rows = history(db)
    assert sorted(uen for uen, _, _ in rows) == sorted(uens)  # every company exactly once
    assert {j for _, j, _ in rows} == {job_id}
    assert summary["processed"] == 6 - len(done_before)
    job = db.execute("SELECT status, attempts, result FROM background_jobs WHERE job_id = %s", (job_id,)).fetchone()
    assert job[0] == "done" and job[1] == 2 and job[2]["already_done"] == len(done_before)


def test_sigterm_lets_the_running_job_finish_and_exits_0(db: psycopg.Connection, lane_env: dict[str, str],
                                                         registry_file: Path, tmp_path: Path,
                                                         sandbox: SandboxHandle) -> None:
    load_acra_file(db, registry_file)
    db.commit()
    uens = sorted(live_uens(db))[:3]
    enqueue_express_staging_upsert(db, uens=uens, params={"batch_size": 3, "authorized": True})
    db.commit()
    db.autocommit = True
    sandbox.set_latency_ms(100)
    try:
        proc = cli(lane_env, tmp_path, "run", "express", "--json", extra_env={"EXPRESS_CONCURRENCY": "1"})
        wait_until(lambda: len(history(db)) >= 1, "the first company")
        proc.proc.send_signal(signal.SIGTERM)
        summary = json.loads(proc.finish())
    finally:
        sandbox.set_latency_ms(0)
    assert summary["status"] == "interrupted" and summary["processed"] == 3
    assert db.execute("SELECT status FROM background_jobs WHERE job_type = %s", (EXPRESS_ENRICH,)).fetchone()[0] == "done"


# ------------------------------------------------------------------------------ tenant


def test_express_tenant_pins_every_write(db: psycopg.Connection, lane_env: dict[str, str], registry_file: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    load_acra_file(db, registry_file)
    db.commit()
    uens = sorted(live_uens(db))[:2]
    monkeypatch.setenv("EXPRESS_TENANT_ID", "42")
    reset_settings_cache()
    # work queued for no tenant is not this lane's: the pinned dispatcher cannot even see it
    other = enqueue_express_staging_upsert(db, uens=uens[:1]).job_id
    db.commit()
    summary = express(once=True)
    assert db.execute("SELECT name, status FROM tenants WHERE tenant_id = 42").fetchone() == ("acra_express", "active")
    assert summary.processed == 0
    assert db.execute("SELECT status FROM background_jobs WHERE job_id = %s", (other,)).fetchone()[0] == "queued"
    db.execute("UPDATE background_jobs SET status = 'cancelled' WHERE job_id = %s", (other,))
    ours = enqueue_express_staging_upsert(db, uens=uens, tenant_id=42).job_id
    db.commit()
    summary = express(once=True)
    assert summary.processed == 2
    assert {t for (t,) in db.execute("SELECT tenant_id FROM company_enrichment_runs")} == {42}
    assert {t for (t,) in db.execute("SELECT tenant_id FROM background_jobs WHERE job_id <> %s", (other,))} == {42}
    assert db.execute("SELECT tenant_id FROM enrichment_runs WHERE run_id = %s", (summary.run_id,)).fetchone()[0] == 42
    assert db.execute("SELECT status FROM background_jobs WHERE job_id = %s", (ours,)).fetchone()[0] == "done"


# ------------------------------------------------------------------------------ operators


def test_operator_commands(db: psycopg.Connection, lane_env: dict[str, str], registry_file: Path,
                           tmp_path: Path) -> None:
    load_acra_file(db, registry_file)
    db.commit()
    uen = sorted(live_uens(db))[0]
    queued = json.loads(cli(lane_env, tmp_path, "jobs", "enqueue", "express", "--uen", uen, "--json").finish())
    again = json.loads(cli(lane_env, tmp_path, "jobs", "enqueue", "express", "--uen", uen, "--json").finish())
    assert queued["created"] and not again["created"] and again["job_id"] == queued["job_id"]
    listed = json.loads(cli(lane_env, tmp_path, "jobs", "list", "--lane", "express", "--json").finish())
    assert [j["job_id"] for j in listed] == [queued["job_id"]]
    status = json.loads(cli(lane_env, tmp_path, "db", "status", "--json").finish())
    depth = {(q["lane"], q["status"]): q for q in status["queue"]}
    assert depth[("express", "queued")]["jobs"] == 1
    assert "cancelled" in cli(lane_env, tmp_path, "jobs", "cancel", str(queued["job_id"])).finish()
    assert "queued again" in cli(lane_env, tmp_path, "jobs", "retry", str(queued["job_id"])).finish()
    summary = json.loads(cli(lane_env, tmp_path, "run", "express", "--once", "--json").finish())
    shown = json.loads(cli(lane_env, tmp_path, "runs", "show", str(summary["run_id"]), "--json").finish())
    assert shown["kind"] == "express" and shown["processed"] == 1 and sum(shown["history_by_status"].values()) == 1
    runs = json.loads(cli(lane_env, tmp_path, "runs", "list", "--kind", "express", "--json").finish())
    assert runs[0]["run_id"] == summary["run_id"]
    bad = cli(lane_env, tmp_path, "jobs", "show", "999999")
    assert bad.proc.wait(timeout=DEADLINE_S) == 2 and "job 999999 does not exist" in bad.err.read_text()
