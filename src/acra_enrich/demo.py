"""`acra-enrich demo`: the product end to end on the bundled sample."""

from __future__ import annotations

import asyncio
import os
from contextlib import nullcontext

from rich.console import Console
from rich.table import Table

from acra_enrich.config import get_settings, load_settings
from acra_enrich.db import connect, database_dsn, describe_dsn, ensure_schema
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.bundled import COLLECTION_SAMPLE
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.loads import record_load
from acra_enrich.registry.ssic_store import ensure_bundled_ssic
from acra_enrich.logs import configure_logging
from acra_enrich.runners.console import ProgressBar
from acra_enrich.runners.direct import DirectParams, run_direct
from acra_enrich.runners.nightly.demo import DEMO_KEY, DEMO_KEY_ENV, nightly_demo
from acra_enrich.sandbox.testing import running_sandbox
from acra_enrich.sqlfiles import load_queries

# Companies one demo sweep enriches: enough to show every outcome, quick on two cores. A
# second `make demo` resumes after them (the direct runner's marker).
DEMO_BATCH, DEMO_CONCURRENCY = 40, 4
_Q = load_queries("acra_enrich.registry.sql", "demo.sql")
_DIRECT_Q = load_queries("acra_enrich.runners.sql", "direct.sql")


def run_demo(out: Console) -> None:
    settings = get_settings()
    dsn = database_dsn(settings)
    where = "embedded PostgreSQL under " + str(settings.home) if settings.postgres_dsn is None else "POSTGRES_DSN"
    out.print(f"[bold]1. database[/]: {where} ({describe_dsn(dsn)})", highlight=False)
    state = ensure_schema(dsn)
    out.print(f"   schema at revision {state.current}")
    sample = COLLECTION_SAMPLE.path
    with connect(settings) as conn:
        ensure_bundled_ssic(conn)
        out.print(f"[bold]2. ingest[/]: {sample.name} (bundled ACRA-format sample)")
        with record_load(conn, "acra", sample.name) as load:
            report = load_acra_file(conn, sample, load_id=load.load_id)
            load.finish(report.read, report.inserted, report.updated, report.unchanged, report.rejected)
        out.print(
            f"   read {report.read:,}  inserted {report.inserted:,}  updated {report.updated:,}  "
            f"unchanged {report.unchanged:,}  rejected {report.rejected:,}",
            highlight=False,
        )
        for reason, count in report.reject_reasons.most_common():
            out.print(f"   rejected {count}: {reason}", highlight=False)
        out.print("[bold]3. sync companies[/]")
        synced = sync_companies(conn)
        out.print(
            f"   seen {synced.seen:,}  inserted {synced.inserted:,}  updated {synced.updated:,}  "
            f"unchanged {synced.unchanged:,}",
            highlight=False,
        )
        out.print("[bold]4. summary[/]")
        for title, query in (("status", "companies_by_status"), ("industry", "companies_by_industry")):
            table = Table(title, "companies", box=None)
            for label, count in conn.execute(_Q[query]).fetchall():
                table.add_row(label or "(none)", f"{count:,}")
            out.print(table)
        table = Table("uen", "name", "industry", "year", "status", box=None, title="a few companies")
        for row in conn.execute(_Q["sample_companies"]).fetchall():
            table.add_row(*(str(v) if v is not None else "" for v in row))
        out.print(table)
    enrich_sample(out)
    nightly_sample(out)


def enrich_sample(out: Console) -> None:
    """The direct runner over the sample, against the sandbox web (no internet needed)."""
    out.print(f"[bold]5. enrich[/]: `run direct --limit {DEMO_BATCH} --concurrency {DEMO_CONCURRENCY}` against the "
              f"sandbox web (seed {COLLECTION_SAMPLE.seed}: the sample's companies, their websites and vendor emulations)")
    with running_sandbox(seed=COLLECTION_SAMPLE.seed, companies=COLLECTION_SAMPLE.rows) as sandbox:
        settings = load_settings(**{k.lower(): v for k, v in sandbox.env().items()})
        log_path = configure_logging(settings, stderr=False)
        params = DirectParams.from_settings(settings, batch_limit=DEMO_BATCH, concurrency=DEMO_CONCURRENCY)
        bar = ProgressBar(out) if out.is_terminal else None
        with bar or nullcontext():
            summary = asyncio.run(run_direct(settings, params, observer=bar))
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))
    out.print(f"   run {summary.run_id}: {summary.status} ({summary.stop_reason}); processed {summary.processed}"
              f" ({outcomes}), failed {summary.failed}, skipped {summary.skipped}, "
              f"{summary.duration_s:.1f} s, resume marker {summary.marker:,}", highlight=False, markup=False)
    out.print(f"   stage logs (JSON lines): {log_path}", highlight=False)
    table = Table(box=None, title="a few enriched companies")
    # Sized for an 80-column terminal: names and websites give way first.
    for column, width in (("uen", 10), ("name", 22), ("website", 20), ("status", 7), ("emails", 6), ("pages", 5)):
        table.add_column(column, no_wrap=True, overflow="ellipsis", min_width=min(width, 10), max_width=width)
    with connect(settings) as conn:
        for row in conn.execute(_DIRECT_Q["enriched_sample"], {"run_id": summary.run_id, "limit": 8}).fetchall():
            table.add_row(*(str(v) if v is not None else "" for v in row))
    out.print(table)
    if summary.stop_reason.startswith("batch limit"):
        out.print("   run `make demo` again: the sweep resumes after the last finished company.")


def nightly_sample(out: Console) -> None:
    """One demo tenant's nightly shortlist, synced to the sandbox's Odoo."""
    with running_sandbox(seed=COLLECTION_SAMPLE.seed, companies=COLLECTION_SAMPLE.rows) as sandbox:
        os.environ[DEMO_KEY_ENV] = DEMO_KEY  # the demo tenant's Odoo key, as an operator would export it
        settings = load_settings(**{k.lower(): v for k, v in sandbox.env().items()})
        nightly_demo(out, settings, sandbox)
