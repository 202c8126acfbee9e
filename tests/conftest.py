"""Test fixtures: a real PostgreSQL (POSTGRES_DSN, else the embedded server) per test worker.

Each xdist worker gets its own database, migrated once; tests that write get a clean
schema from `db` (all tables truncated), so they can run in any order.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from psycopg import sql

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db import connect, ensure_schema
from acra_enrich.db.connection import database_dsn

REPO = Path(__file__).resolve().parents[1]
# One embedded server for the whole run (and reused by the next run): starting one per
# test would cost seconds each. Short path: PostgreSQL's socket path has a length limit.
TEST_HOME = Path(os.environ.get("ACRA_ENRICH_TEST_HOME", "/tmp/acra-enrich-test"))


def _server_dsn() -> str:
    if os.environ.get("POSTGRES_DSN"):
        return os.environ["POSTGRES_DSN"]
    return database_dsn(load_settings(acra_enrich_home=TEST_HOME, postgres_dsn=None))


@contextmanager
def _database(server: str, name: str) -> Iterator[str]:
    """Create database `name` on `server` (dropping a leftover of that name), yield its DSN,
    drop it afterwards."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield psycopg.conninfo.make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(drop)


@pytest.fixture(scope="session")
def pg_dsn(worker_id: str, testrun_uid: str) -> Iterator[str]:
    """DSN of a freshly created, migrated database owned by this test worker of this run.

    The run's id is in the name so that two test runs sharing one server (two developers,
    or a developer and a benchmark) never drop each other's databases.
    """
    with _database(_server_dsn(), f"acra_enrich_test_{testrun_uid[:10]}_{worker_id}") as dsn:
        ensure_schema(dsn)
        yield dsn


@pytest.fixture
def blank_database(pg_dsn: str) -> Iterator[str]:
    """DSN of an empty database (no schema) for this test alone: for migrations run step by step."""
    with _database(pg_dsn, psycopg.conninfo.conninfo_to_dict(pg_dsn)["dbname"] + "_blank") as dsn:
        yield dsn


@pytest.fixture
def env(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Environment for code under test (and for subprocesses): this worker's database."""
    monkeypatch.setenv("POSTGRES_DSN", pg_dsn)
    monkeypatch.setenv("ACRA_ENRICH_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # keep any developer .env out of the tests
    reset_settings_cache()
    yield dict(os.environ)
    reset_settings_cache()


@pytest.fixture
def db(env: dict[str, str]) -> Iterator[psycopg.Connection]:
    """A connection to an emptied database (every table truncated, sequences reset)."""
    with connect() as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
        )]
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
        conn.execute("INSERT INTO temp_id_sequence (name, last_value) VALUES ('company', 0)")
        conn.commit()
        yield conn
