"""The database every benchmark runs on: a fresh one of its own, on POSTGRES_DSN's server
or on the embedded server under bench/out/home, so a benchmark never touches real data."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from psycopg import sql

from acra_enrich.config import load_settings
from acra_enrich.db import database_dsn, ensure_schema

HOME = Path(__file__).resolve().parent / "out" / "home"


def fresh_database(name: str) -> str:
    """Drop and create database `name`, migrate it, return its DSN."""
    server = os.environ.get("POSTGRES_DSN") or database_dsn(load_settings(acra_enrich_home=HOME, postgres_dsn=None))
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = psycopg.conninfo.make_conninfo(server, dbname=name)
    ensure_schema(dsn)
    return dsn


def run_stages(dsn: str, run_id: int | None) -> dict[str, tuple[float, dict[str, object]]]:
    """A nightly run's stages in the order they ran: each one's seconds and manifest payload."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT stage, payload FROM run_manifests WHERE run_id = %s ORDER BY manifest_id",
                            (run_id,)).fetchall()
    return {stage: (float(payload.get("seconds") or 0.0), payload) for stage, payload in rows}
