"""Nightly lane benchmark: one tenant, N shortlisted candidates, end to end through the Odoo sync,
on the sandbox web; wall time and companies/hour beside the politeness-bound limit, same run.

    .venv/bin/python bench/nightly.py [--companies 1000] [--concurrency 8] [--seed 1]
                                      [--latency-ms 20] [--interval 0.25]

Loads a sandbox world's registry rows into staging, creates a tenant whose ICP takes every
SSIC section and whose daily cap is N, points it at a database of the sandbox's Odoo
emulation, and runs `run_nightly_for_tenant` (the real DAG: registry sync, ICP candidates,
target selection, the pipeline at SCHED_COMPANY_CONCURRENCY, batch verification, scoring,
Odoo sync). Prints each stage's seconds from its manifest, the wall time and companies/hour.

The bound (bench/pipeline.py explains the chain bound): each enriched company's requests, as
the sandbox logged them, have an earliest finish T_i under the latency and the product's
pacing; c at a time in the order the run took them, the enrichment can end no earlier than
the schedule's makespan. Enrichment wall / makespan is the ratio (target <= 1.25); the other
stages are not paced and are reported as they are. Targets: the whole run under 8 minutes for
1,000 companies on the sandbox (the seeds ask for p90 under 90 minutes in production).

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
from typing import Any
from unittest import mock

import psycopg
from express import schedule_finishes
from pipeline import Politeness, Sent, _company, pair, registry_rows, tagged_transports

import acra_enrich.runners.nightly.dag as dag_module
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db.connection import describe_dsn
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.logs import configure_logging
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners.nightly import NightlyParams, run_nightly_for_tenant
from acra_enrich.sandbox.testing import running_sandbox
from acra_enrich.tenants.icp import parse_icp
from acra_enrich.tenants.store import OdooConnection, add_tenant, set_icp
from benchdb import HOME, fresh_database, run_stages

BENCH_DB = "acra_enrich_bench_nightly"
ODOO_KEY = "bench-odoo-key-0001"
EVERY_SECTION = {"ssic_codes": list("ABCDEFGHIJKLMNOPQRSTU")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=1000, help="shortlisted candidates (the daily cap)")
    parser.add_argument("--concurrency", type=int, default=8, help="SCHED_COMPANY_CONCURRENCY")
    parser.add_argument("--seed", type=int, default=1, help="seed of the registry sample and the world")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="latency the sandbox adds to each request")
    parser.add_argument("--interval", type=float, default=0.25, help="CRAWL_DOMAIN_MIN_INTERVAL_S, seconds")
    args = parser.parse_args()

    dsn = fresh_database(BENCH_DB)
    print(f"database: {describe_dsn(dsn)} ({'POSTGRES_DSN' if os.environ.get('POSTGRES_DSN') else 'embedded'})")
    rows = registry_rows(args.companies)
    with running_sandbox(seed=args.seed, companies=rows, latency_ms=args.latency_ms) as sandbox:
        os.environ.update({**sandbox.env(), "POSTGRES_DSN": dsn, "ACRA_ENRICH_HOME": str(HOME),
                           "CRAWL_DOMAIN_MIN_INTERVAL_S": str(args.interval),
                           "SCHED_DAILY_CAP_PER_TENANT": str(args.companies),
                           "SCHED_COMPANY_CONCURRENCY": str(args.concurrency), "BENCH_ODOO_KEY": ODOO_KEY,
                           # a shortlist of a thousand: vendor day budgets sized for it
                           "SEARCH_MAX_PER_HOUR": "100000", "JINA_MAX_PER_HOUR": "100000",
                           "APIFY_MAX_RUNS_PER_DAY": "100000", "ZEROBOUNCE_MAX_VERIFICATIONS": "100000",
                           "LUSHA_MAX_CONTACT_LOOKUPS": "100000", "OPENAI_DAILY_TOKENS_CAP": "100000000"})
        reset_settings_cache()
        settings = load_settings()
        configure_logging(settings, stderr=False)
        bound = Politeness(sandbox, settings, args.latency_ms / 1000)
        extract_page("http://warm.up/", "<html><title>Warm up</title><body><p>About us.</p></body></html>",
                     role="about")  # the extraction worker's start is not the first company's cost
        with psycopg.connect(dsn) as conn, tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "acra.csv"
            with open(path, "wb") as handle:
                write_acra_csv(handle, rows=rows, seed=args.seed)
            load_acra_file(conn, path)
            conn.commit()
            conn.autocommit = True
            tenant = add_tenant(conn, "bench", OdooConnection("http://odoo.sandbox.test", "bench", "api@bench.sg",
                                                              "BENCH_ODOO_KEY"))
            set_icp(conn, tenant, parse_icp(EVERY_SECTION, "bench"))
        sandbox.reset()
        sandbox.odoo.create_database("bench", "api@bench.sg", ODOO_KEY)
        sent: list[Sent] = []
        real_enrich = dag_module.enrich_company

        async def tagged_enrich(deps: Any, company: Any, **kw: Any) -> Any:
            _company.set(company.company_id)  # each company's task has its own context
            return await real_enrich(deps, company, **kw)

        started = time.perf_counter()
        with tagged_transports(sent), mock.patch.object(dag_module, "enrich_company", tagged_enrich):
            summary = asyncio.run(run_nightly_for_tenant(settings, tenant, NightlyParams()))
        wall_s = time.perf_counter() - started
        seconds = {stage: s for stage, (s, _) in run_stages(dsn, summary.run_id).items()}
        with psycopg.connect(dsn) as conn:
            order = [r[0] for r in conn.execute("SELECT company_id FROM company_enrichment_runs WHERE run_id = %s "
                                                "ORDER BY created_at", (summary.run_id,))]
        chains, unmatched = pair(sandbox.requests(), sent)
        makespan = max(schedule_finishes([bound.min_time(chains.get(c, [])) for c in order], args.concurrency),
                       default=0.0)
        partners = sum(1 for p in sandbox.odoo.records("bench", "res.partner") if p["is_company"])
        leads = len(sandbox.odoo.records("bench", "crm.lead"))
    n = summary.selected
    print(f"{n} companies shortlisted for one tenant (seed {args.seed}), SCHED_COMPANY_CONCURRENCY "
          f"{args.concurrency}, sandbox latency {args.latency_ms:g} ms, CRAWL_DOMAIN_MIN_INTERVAL_S {args.interval:g} s"
          + (f"  ({unmatched} log records unpaired)" if unmatched else ""))
    for stage, s in seconds.items():
        print(f"  {stage:<20} {s:>8.1f} s")
    enrich_s = seconds.get("enrich", 0.0)
    print(f"run status {summary.status}; wall {wall_s:.1f} s ({wall_s / 60:.1f} min), "
          f"{n * 3600 / wall_s:,.0f} companies/hour end to end")
    print(f"enrichment {enrich_s:.1f} s for {len(order)} companies; politeness-bound makespan {makespan:.1f} s "
          f"({len(order) * 3600 / makespan if makespan else 0:,.0f} companies/hour); "
          f"ratio {enrich_s / makespan if makespan else float('nan'):.2f}")
    print(f"scored {dict(summary.buckets)}; Odoo: {partners} partners, {leads} leads; "
          f"sync {seconds.get('odoo_sync', 0.0):.1f} s; degraded: {summary.degraded or 'none'}")
    print("targets: whole run < 480 s for 1,000 companies; enrichment ratio <= 1.25")


if __name__ == "__main__":
    main()
