"""Database layer: schema, row-level security, budgets, the embedded server, connection errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from acra_enrich.budget import try_spend, used
from acra_enrich.config import load_settings
from acra_enrich.db import connect, schema_state, tenant_context
from acra_enrich.errors import DatabaseUnavailable

DESIGN_TABLES = {
    "staging_acra_companies", "ssic_ref", "companies", "enrichment_runs", "company_enrichment_runs", "contacts",
    "lead_emails", "email_verification_cache", "lead_features", "lead_scores", "service_progress",
    "background_jobs", "tenants", "icp_rules", "odoo_connections", "run_manifests", "vendor_usage",
    "company_mapping", "lookup_requests", "temp_id_sequence",
}


def _cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acra_enrich", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_schema_has_every_design_table_and_is_current(db: psycopg.Connection) -> None:
    tables = {r[0] for r in db.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert DESIGN_TABLES <= tables
    assert schema_state(db).up_to_date


def _seed_two_tenants(db: psycopg.Connection) -> None:
    db.execute("INSERT INTO tenants (tenant_id, name) VALUES (1, 'one'), (2, 'two')")
    db.execute("INSERT INTO companies (company_id, name) VALUES (10, 'A'), (20, 'B')")
    db.execute(
        "INSERT INTO lead_scores (tenant_id, company_id, score, bucket) VALUES (1, 10, 0.9, 'High'), (2, 20, 0.2, 'Low')"
    )
    db.execute("INSERT INTO icp_rules (tenant_id, name) VALUES (1, 'r1'), (2, 'r2')")
    db.commit()


def test_a_tenant_session_sees_only_its_own_rows(db: psycopg.Connection) -> None:
    _seed_two_tenants(db)
    with tenant_context(db, 1):
        assert db.execute("SELECT tenant_id, company_id FROM lead_scores").fetchall() == [(1, 10)]
        assert db.execute("SELECT name FROM icp_rules").fetchall() == [("r1",)]
        # Global tables stay readable.
        assert db.execute("SELECT count(*) FROM companies").fetchone()[0] == 2
    with tenant_context(db, 2):
        assert db.execute("SELECT tenant_id FROM lead_scores").fetchall() == [(2,)]
    # Outside a tenant context (system work) everything is visible again.
    assert db.execute("SELECT count(*) FROM lead_scores").fetchone()[0] == 2


def test_a_tenant_cannot_write_or_touch_another_tenants_rows(db: psycopg.Connection) -> None:
    _seed_two_tenants(db)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with tenant_context(db, 1):
            db.execute("INSERT INTO lead_scores (tenant_id, company_id, score, bucket) VALUES (2, 10, 0.5, 'Medium')")
    db.rollback()
    with tenant_context(db, 1):
        assert db.execute("UPDATE lead_scores SET score = 0 WHERE tenant_id = 2").rowcount == 0
        assert db.execute("DELETE FROM icp_rules").rowcount == 1
    assert db.execute("SELECT name FROM icp_rules").fetchall() == [("r2",)]


def test_a_tenant_role_without_a_tenant_sees_nothing(db: psycopg.Connection) -> None:
    _seed_two_tenants(db)
    with db.transaction():
        db.execute("SET LOCAL ROLE acra_enrich_tenant")
        assert db.execute("SELECT count(*) FROM lead_scores").fetchone()[0] == 0


def test_budget_is_shared_and_never_overspent(db: psycopg.Connection, pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn, autocommit=True) as a, psycopg.connect(pg_dsn, autocommit=True) as b:
        taken = [try_spend(conn, "ddg", 1, cap=5) for conn in (a, b) * 4]
        assert taken == [True] * 5 + [False] * 3
        assert used(a, "ddg") == 5
        assert try_spend(a, "ddg", 1, cap=5, window="day")  # another window, its own counter


def test_unreachable_database_is_a_one_line_error_and_exit_3(env: dict[str, str], tmp_path: Path) -> None:
    bad = {**env, "POSTGRES_DSN": f"postgresql://nobody@/nodb?host={tmp_path}&port=1&connect_timeout=2"}
    done = _cli("db", "status", env=bad)
    assert done.returncode == 3, done.stderr
    assert "cannot reach the database" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(DatabaseUnavailable):
        connect(load_settings(postgres_dsn=bad["POSTGRES_DSN"]))


@pytest.mark.skipif(bool(os.environ.get("POSTGRES_DSN")), reason="exercises the embedded server")
def test_embedded_server_starts_once_for_concurrent_commands_and_stops_cleanly(tmp_path: Path) -> None:
    home = Path("/tmp") / f"ae-embedded-{os.getpid()}"  # short: unix socket paths are limited
    env = {k: v for k, v in os.environ.items() if k != "POSTGRES_DSN"}
    env["ACRA_ENRICH_HOME"] = str(home)
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "acra_enrich", "db", "upgrade"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=180) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        status = _cli("db", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        assert '"embedded": true' in status.stdout and '"schema_up_to_date": true' in status.stdout
        stopped = _cli("db", "stop", env=env)
        assert "stopped" in stopped.stdout
        assert not (home / "pgdata" / "postmaster.pid").exists()
        # Started again on demand by the next command, data kept.
        again = _cli("db", "status", "--json", env=env)
        assert '"schema_up_to_date": true' in again.stdout, again.stderr
    finally:
        _cli("db", "stop", env=env)
        subprocess.run(["rm", "-rf", str(home)], check=False)
