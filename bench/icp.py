"""ICP candidates at registry scale: the nightly DAG's `refresh_candidates` stage over a full
registry's companies, beside a plain scan of the same table, same run.

    .venv/bin/python bench/icp.py [--rows 2100000] [--seed 1]

Loads ROWS generated registry rows (data.gov.sg publishes about 2.1 million entities across
its files) into staging, syncs them into companies, and creates a tenant per ICP:
- narrow: a few SSIC divisions, live statuses, an incorporation-year range and postal districts;
- broad: every SSIC section (the widest profile a tenant can write).
Each tenant's nightly run is started with `--limit 0` twice (no company is enriched; the
stages before enrichment run for real in the tenant's RLS context): the first run builds the
candidates from nothing, the second finds nothing changed and must write nothing. The stage
seconds come from the runs' manifests. Baseline: `CREATE TEMP TABLE ... AS SELECT` of every
company's id, industry code and status (one sequential scan that writes a row per company).
Target: seconds for the full registry (the issue's words); the ratio shows what the criteria
and the upsert cost on top of reading the table once.

Uses POSTGRES_DSN when set, else the embedded server under bench/out/home; always in a fresh
database of its own. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

import psycopg

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db.connection import describe_dsn, tenant_context
from acra_enrich.logs import configure_logging
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners.nightly import NightlyParams, run_nightly_for_tenant
from acra_enrich.runners.nightly.dag import _Q as NIGHTLY_SQL
from acra_enrich.tenants.icp import parse_icp
from acra_enrich.tenants.store import add_tenant, set_icp
from benchdb import HOME, fresh_database, run_stages

HERE = Path(__file__).resolve().parent
BENCH_DB = "acra_enrich_bench_icp"
PROFILES = {
    "narrow": {"ssic_codes": ["62", "63", "70", "46"], "statuses": ["Live", "Live Company"],
               "incorporation_years": {"min": 2005, "max": 2022}, "postal_districts": [1, 2, 3, 4, 9, 10, 14, 15]},
    "broad": {"ssic_codes": list("ABCDEFGHIJKLMNOPQRSTU")},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_100_000, help="registry rows generated and loaded")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    dsn = fresh_database(BENCH_DB)
    print(f"database: {describe_dsn(dsn)} ({'POSTGRES_DSN' if os.environ.get('POSTGRES_DSN') else 'embedded'})")
    os.environ.update({"POSTGRES_DSN": dsn, "ACRA_ENRICH_HOME": str(HOME)})
    reset_settings_cache()
    settings = load_settings()
    configure_logging(settings, stderr=False)
    with psycopg.connect(dsn) as conn, tempfile.TemporaryDirectory(dir=HERE / "out") as tmp:
        path = Path(tmp) / "acra.csv"
        started = time.perf_counter()
        with open(path, "wb") as handle:
            write_acra_csv(handle, rows=args.rows, seed=args.seed)
        print(f"generated {args.rows:,} registry rows in {time.perf_counter() - started:.0f} s", flush=True)
        load_acra_file(conn, path)
        conn.commit()
        synced = sync_companies(conn)
        print(f"loaded and synced: {synced.inserted:,} companies in {synced.seconds:.0f} s", flush=True)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE companies")
        companies = conn.execute("SELECT count(*) FROM companies").fetchone()[0]
        started = time.perf_counter()
        conn.execute("CREATE TEMP TABLE scan_baseline AS SELECT company_id, industry_code, status FROM companies")
        baseline_s = time.perf_counter() - started
        tenants = {name: add_tenant(conn, f"bench {name}") for name in PROFILES}
        for name, tenant in tenants.items():
            set_icp(conn, tenant, parse_icp(PROFILES[name], f"{name}.yaml"))

    print(f"\n{companies:,} companies; baseline: one scan writing a row per company {baseline_s:.2f} s")
    print(f"{'ICP':<8} {'run':<10} {'candidates':>10} {'added':>9} {'changed':>8} {'removed':>8} {'seconds':>8} "
          f"{'x scan':>7}")
    for name, tenant in tenants.items():
        for label in ("build", "unchanged"):
            summary = asyncio.run(run_nightly_for_tenant(settings, tenant, NightlyParams(limit=0)))
            assert summary.run_id is not None and summary.status == "done", summary
            seconds, payload = run_stages(dsn, summary.run_id)["refresh_candidates"]
            print(f"{name:<8} {label:<10} {payload['candidates']:>10,} {payload['added']:>9,} "
                  f"{payload['changed']:>8,} {payload['removed']:>8,} {seconds:>8.2f} {seconds / baseline_s:>7.2f}",
                  flush=True)
        with psycopg.connect(dsn) as conn, tenant_context(conn, tenant):
            started = time.perf_counter()
            taken = conn.execute(NIGHTLY_SQL["select_targets"], {
                "tenant_id": tenant, "run_id": summary.run_id, "cap": 20, "day": summary.day,
                "recheck_days": settings.enrich_recheck_days}).fetchall()
            select_s = time.perf_counter() - started
            raise psycopg.Rollback()  # leaves tenant_context's transaction, writing nothing
        print(f"{name:<8} select_targets at cap 20: {len(taken)} taken in {select_s:.3f} s", flush=True)
    print("target: seconds for the full registry (about 2.1 million entities)")


if __name__ == "__main__":
    main()
