"""The queue across processes: four dispatcher processes share 500 jobs, each done exactly
once and never by two processes at the same time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent


def test_four_dispatchers_do_every_job_exactly_once(db: psycopg.Connection, pg_dsn: str) -> None:
    db.execute("CREATE TABLE IF NOT EXISTS job_exec_log (job_id bigint, pid int, started_at timestamptz, "
               "ended_at timestamptz)")
    db.execute("TRUNCATE job_exec_log")
    db.execute("INSERT INTO background_jobs (job_type, lane, priority) "
               "SELECT 'noop', 'express', (i % 3) FROM generate_series(1, 500) AS i")
    db.commit()
    workers = [subprocess.Popen([sys.executable, str(HERE / "jobs_workers.py"), pg_dsn, "express", "4"],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(4)]
    outputs = [w.communicate(timeout=300)[0].decode(errors="replace") for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    statuses = dict(db.execute("SELECT status, count(*) FROM background_jobs GROUP BY status").fetchall())
    assert statuses == {"done": 500}
    per_job = db.execute("SELECT job_id, count(*) FROM job_exec_log GROUP BY job_id").fetchall()
    assert len(per_job) == 500 and all(n == 1 for _, n in per_job)
    # the work really was shared: more than one process did jobs
    assert db.execute("SELECT count(DISTINCT pid) FROM job_exec_log").fetchone()[0] > 1
    # and no job's execution overlaps another execution of the same job (none exists twice)
    overlaps = db.execute("""SELECT count(*) FROM job_exec_log a JOIN job_exec_log b
                             ON a.job_id = b.job_id AND a.ctid < b.ctid
                             AND a.started_at < b.ended_at AND b.started_at < a.ended_at""").fetchone()[0]
    assert overlaps == 0
    db.execute("DROP TABLE job_exec_log")
    db.commit()
