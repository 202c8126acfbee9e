"""A nightly run killed with SIGKILL in the middle of enrichment (step 4) and again in the
middle of the Odoo sync (step 7) completes with `--from-manifest`: no company enriched twice,
no second score, no duplicate partner, contact or lead in Odoo."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from acra_enrich.sandbox.testing import SandboxHandle
from tests.nightly_helpers import make_tenant, nightly, nightly_env, registry_file, sandbox  # noqa: F401

DEADLINE_S = 180.0  # a guard against a hung run, not a timing assertion


def count(dsn: str, query: str, *args: Any) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(query, args).fetchone()
    return int(row[0]) if row else 0


def start(env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.Popen[bytes]:
    log = open(tmp_path / f"run-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen([sys.executable, "-m", "acra_enrich", "run", "nightly", "--tenant", "1", *args],
                            env=env, stdout=log, stderr=log, stdin=subprocess.DEVNULL)


def kill_when(proc: subprocess.Popen[bytes], dsn: str, query: str, low: int, high: str) -> int:
    """SIGKILL the run as soon as `query` counts at least `low`; what it counted must stay
    below what the query `high` counts (the stage was not finished)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        n = count(dsn, query)
        if n >= low:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            total = count(dsn, high)
            assert n < total, f"the run got too far ({n} of {total}) before it could be killed"
            return n
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "stuck waiting for the run's progress"
        time.sleep(0.05)


def test_sigkill_in_enrich_and_in_odoo_sync_then_resume(nightly_env: dict[str, str], db: psycopg.Connection,
                                                         sandbox: SandboxHandle, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    dsn = nightly_env["POSTGRES_DSN"]
    env = {**nightly_env, "SCHED_COMPANY_CONCURRENCY": "2"}
    make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    sandbox.set_latency_ms(120)
    try:
        run = start(env, tmp_path)
        killed_at = kill_when(run, dsn, "SELECT count(*) FROM nightly_targets WHERE enrich_status IS NOT NULL", 2,
                              "SELECT count(*) FROM nightly_targets")
        (run_id,) = db.execute("SELECT run_id FROM enrichment_runs WHERE kind = 'nightly'").fetchone()  # type: ignore[misc]
        db.commit()
        assert killed_at >= 2
        resumed = start(env, tmp_path, "--from-manifest", str(run_id))
        kill_when(resumed, dsn, "SELECT count(*) FROM nightly_targets WHERE sync_status = 'synced'", 1,
                  "SELECT count(*) FROM lead_scores WHERE bucket <> 'Low'")
    finally:
        sandbox.set_latency_ms(0)
    summary = nightly(1, from_manifest=run_id)
    assert summary.status == "done" and summary.resumed

    history = Counter(r[0] for r in db.execute(
        "SELECT company_id FROM company_enrichment_runs WHERE run_id = %s", (run_id,)).fetchall())
    assert len(history) == 8 and set(history.values()) == {1}, history  # each company enriched once
    assert db.execute("SELECT count(*), count(DISTINCT company_id) FROM lead_scores").fetchone() == (8, 8)
    stages = db.execute("SELECT status FROM run_manifests WHERE run_id = %s", (run_id,)).fetchall()
    assert {s for (s,) in stages} == {"done"} and len(stages) == 7
    exported = {r[0] for r in db.execute("SELECT c.uen FROM lead_scores s JOIN companies c USING (company_id) "
                                         "WHERE s.bucket <> 'Low'").fetchall()}
    partners = sandbox.odoo.records("a", "res.partner")
    companies = Counter(p["company_registry"] for p in partners if p["is_company"])
    assert set(companies) == exported and set(companies.values()) == {1}, companies
    people = Counter((p["parent_id"], p["name"]) for p in partners if not p["is_company"])
    assert not people or set(people.values()) == {1}, people
    leads = Counter(lead["partner_id"] for lead in sandbox.odoo.records("a", "crm.lead"))
    assert not leads or set(leads.values()) == {1}, leads
    leads_expected = db.execute("SELECT count(*) FROM lead_scores WHERE score >= 0.66").fetchone()
    assert leads_expected is not None and len(leads) == leads_expected[0]
    assert os.environ.get("POSTGRES_DSN") == dsn
