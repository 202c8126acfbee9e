"""Shared pieces of the nightly tests: a sandbox world, its registry file, tenants with ICPs and
Odoo databases in the sandbox's Odoo emulation."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import psycopg
import pytest

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners.nightly import NightlyParams, NightlySummary, run_nightly_for_tenant
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.tenants.icp import parse_icp
from acra_enrich.tenants.store import OdooConnection, add_tenant, set_icp

SEED, ROWS = 31, 40
ODOO_URL = "http://odoo.sandbox.test"
# Wide enough to take most of the sandbox world's live companies.
ICP = {"ssic_codes": ["56", "62", "64", "70", "73", "43", "46", "47", "M", "N"]}
DAY = date(2026, 12, 7)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=SEED, companies=ROWS) as handle:
        yield handle


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("nightly") / "acra.csv"
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=ROWS, seed=SEED)
    return path


@pytest.fixture
def nightly_env(env: dict[str, str], db: psycopg.Connection, sandbox: SandboxHandle, registry_file: Path,
                monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The database with the registry staged (not yet synced), the sandbox web, fast retries."""
    values = {**sandbox.env(), "CRAWL_MAX_PAGES": "2", "CRAWL_RETRY_BACKOFF_S": "0", "SCHED_DAILY_CAP_PER_TENANT": "8",
              "SCHED_COMPANY_CONCURRENCY": "4", "ODOO_KEY_A": "key-of-tenant-a-123", "ODOO_KEY_B": "key-of-tenant-b-456"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    sandbox.reset()
    sandbox.odoo.create_database("a", "api@a.sg", "key-of-tenant-a-123")
    sandbox.odoo.create_database("b", "api@b.sg", "key-of-tenant-b-456")
    reset_settings_cache()
    load_acra_file(db, registry_file)
    db.commit()
    return {**env, **values}


def make_tenant(conn: psycopg.Connection, name: str, icp: dict[str, Any] | None = None, *, odoo_db: str | None = None,
                key_env: str | None = None) -> int:
    conn.commit()
    conn.autocommit = True
    odoo = OdooConnection(ODOO_URL, odoo_db, f"api@{odoo_db}.sg", key_env) if odoo_db and key_env else None
    tenant_id = add_tenant(conn, name, odoo)
    set_icp(conn, tenant_id, parse_icp(icp or ICP, "test"))
    conn.autocommit = False
    return tenant_id


def nightly(tenant_id: int, **params: Any) -> NightlySummary:
    reset_settings_cache()
    settings = load_settings()
    return asyncio.run(run_nightly_for_tenant(settings, tenant_id, NightlyParams(**{"day": DAY, **params})))
