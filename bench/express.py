"""Express lane benchmark: latency from the staging enqueue to each company's completion, and
companies/hour, beside the politeness-bound time for the same companies in the same run.

    .venv/bin/python bench/express.py [--companies 300] [--concurrency 8] [--seed 1]
                                      [--latency-ms 100] [--interval 0.25]

Loads a sandbox world's registry rows, queues one express staging job for the first N live
companies (as `acra-enrich jobs enqueue express --uen ...` does), and runs the express lane
(`run express --once`: the real dispatcher, job handlers, pipeline and persistence) until it
has drained. Latency of a company = its history row's time - the staging job's enqueue time,
both by the database clock; p50/p95 over the N companies.

The bound: each company's request chain, as the sandbox logged it, has an earliest possible
finish T_i under the sandbox's latency and the product's pacing (bench/pipeline.py explains
the chain bound). With c companies at once, taken in the order the lane took them, company i
can finish no earlier than its slot in that schedule (fifo_makespan); p50/p95 of those finish
times and the schedule's makespan are the politeness-bound figures. Target (issue 12):
measured p95 within 1.2 x the bound's p95 (the seeds ask for p95 < 1 h).

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
from pipeline import Politeness, Sent, _company, pair, registry_rows, tagged_transports

import acra_enrich.runners.express as express_module
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db.connection import describe_dsn
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.jobs import enqueue_express_staging_upsert
from acra_enrich.logs import configure_logging
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners.express import ExpressParams, run_express
from acra_enrich.runners.statuses import excluded_status_patterns
from acra_enrich.sandbox.testing import running_sandbox
from benchdb import HOME, fresh_database

BENCH_DB = "acra_enrich_bench_express"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def stage_registry(dsn: str, companies: int, seed: int) -> list[str]:
    """Load the world's registry rows; the UENs of the first `companies` live ones."""
    patterns = excluded_status_patterns(load_settings().excluded_statuses)
    with psycopg.connect(dsn) as conn, tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acra.csv"
        with open(path, "wb") as handle:
            write_acra_csv(handle, rows=registry_rows(companies), seed=seed)
        load_acra_file(conn, path)
        uens = [r[0] for r in conn.execute(
            "SELECT uen FROM staging_acra_companies WHERE coalesce(btrim(entity_status_description), '') = ''"
            " OR NOT lower(btrim(entity_status_description)) LIKE ANY (%s) ORDER BY id LIMIT %s",
            (patterns, companies))]
        conn.commit()
    if len(uens) < companies:
        raise SystemExit(f"only {len(uens)} live companies in {registry_rows(companies)} generated rows")
    return uens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=300, help="companies queued (N)")
    parser.add_argument("--concurrency", type=int, default=8, help="EXPRESS_CONCURRENCY: companies at once")
    parser.add_argument("--seed", type=int, default=1, help="seed of the registry sample and the world")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="latency the sandbox adds to each request")
    parser.add_argument("--interval", type=float, default=0.25, help="CRAWL_DOMAIN_MIN_INTERVAL_S, seconds")
    args = parser.parse_args()

    dsn = fresh_database(BENCH_DB)
    print(f"database: {describe_dsn(dsn)} ({'POSTGRES_DSN' if os.environ.get('POSTGRES_DSN') else 'embedded'})")
    with running_sandbox(seed=args.seed, companies=registry_rows(args.companies), latency_ms=args.latency_ms) as sandbox:
        os.environ.update({**sandbox.env(), "POSTGRES_DSN": dsn, "ACRA_ENRICH_HOME": str(HOME),
                           "CRAWL_DOMAIN_MIN_INTERVAL_S": str(args.interval), "EXPRESS_DAILY_CAP": "0"})
        reset_settings_cache()
        settings = load_settings()
        configure_logging(settings, stderr=False)
        bound = Politeness(sandbox, settings, args.latency_ms / 1000)
        extract_page("http://warm.up/", "<html><title>Warm up</title><body><p>About us.</p></body></html>",
                     role="about")  # the extraction worker's start is not the first company's cost
        uens = stage_registry(dsn, args.companies, args.seed)
        with psycopg.connect(dsn) as conn:
            staging_job = enqueue_express_staging_upsert(conn, uens=uens).job_id
            conn.commit()
        sandbox.reset()
        sent: list[Sent] = []
        real_enrich = express_module.enrich_company

        async def tagged_enrich(deps: Any, company: Any, **kw: Any) -> Any:
            _company.set(company.company_id)  # each company's task has its own context
            return await real_enrich(deps, company, **kw)

        started = time.perf_counter()
        with tagged_transports(sent), mock.patch.object(express_module, "enrich_company", tagged_enrich):
            summary = asyncio.run(run_express(settings, ExpressParams.from_settings(
                settings, once=True, concurrency=args.concurrency)))
        wall_s = time.perf_counter() - started
        with psycopg.connect(dsn) as conn:
            rows = conn.execute(
                "SELECT h.company_id, extract(epoch FROM h.created_at - j.created_at), h.status"
                " FROM company_enrichment_runs h, background_jobs j WHERE j.job_id = %s ORDER BY h.created_at",
                (staging_job,)).fetchall()
        chains, unmatched = pair(sandbox.requests(), sent)
        latencies = [float(r[1]) for r in rows]
        # the bound's schedule: the same companies in the order the lane finished them
        min_times = [bound.min_time(chains.get(r[0], [])) for r in rows]
        finishes = schedule_finishes(min_times, args.concurrency)
        n = len(rows)
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        b50, b95 = percentile(finishes, 0.5), percentile(finishes, 0.95)
        makespan = max(finishes)
        print(f"{n} companies (seed {args.seed}) through the express lane at EXPRESS_CONCURRENCY {args.concurrency}, "
              f"sandbox latency {args.latency_ms:g} ms, CRAWL_DOMAIN_MIN_INTERVAL_S {args.interval:g} s"
              + (f"  ({unmatched} log records unpaired)" if unmatched else ""))
        print(f"{'':>22} {'p50 s':>8} {'p95 s':>8} {'last s':>8} {'co/hour':>8}")
        print(f"{'measured':>22} {p50:>8.1f} {p95:>8.1f} {max(latencies):>8.1f} {n * 3600 / max(latencies):>8.0f}")
        print(f"{'politeness bound':>22} {b50:>8.1f} {b95:>8.1f} {makespan:>8.1f} {n * 3600 / makespan:>8.0f}")
        print(f"{'ratio measured/bound':>22} {p50 / b50:>8.2f} {p95 / b95:>8.2f} {max(latencies) / makespan:>8.2f}")
        print(f"dispatcher wall {wall_s:.1f} s; jobs {summary.jobs.get('done', 0)} done, "
              f"{summary.jobs.get('retried', 0)} retried; statuses "
              + " ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())))
    print("targets: p95 ratio <= 1.2 (seed target: p95 < 3600 s)")


def schedule_finishes(durations: list[float], concurrency: int) -> list[float]:
    """Each duration's finish time when run in order through a semaphore of `concurrency`."""
    slots = [0.0] * min(concurrency, len(durations))
    finishes = []
    for d in durations:
        slots.sort()
        slots[0] += d
        finishes.append(slots[0])
    return finishes


if __name__ == "__main__":
    main()
