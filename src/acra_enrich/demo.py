"""`acra-enrich demo`: the product end to end on the bundled sample."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from rich.console import Console
from rich.table import Table

from acra_enrich.config import get_settings
from acra_enrich.db import connect, database_dsn, describe_dsn, ensure_schema
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.loads import record_load
from acra_enrich.registry.ssic_store import ensure_bundled_ssic
from acra_enrich.sqlfiles import load_queries

SAMPLE = "acra_sample.csv.gz"
# The bundled sample is `acra-enrich sample acra --rows 2000 --seed 2026 --malformed-rate 0.005`,
# gzipped; the sandbox web builds its world from the same seed, so the demo's companies
# have websites there.
SAMPLE_ROWS, SAMPLE_SEED, SAMPLE_MALFORMED_RATE = 2000, 2026, 0.005
_Q = load_queries("acra_enrich.registry.sql", "demo.sql")


def bundled_sample() -> Path:
    return Path(str(resources.files("acra_enrich.registry.data") / SAMPLE))


def run_demo(out: Console) -> None:
    settings = get_settings()
    dsn = database_dsn(settings)
    where = "embedded PostgreSQL under " + str(settings.home) if settings.postgres_dsn is None else "POSTGRES_DSN"
    out.print(f"[bold]1. database[/]: {where} ({describe_dsn(dsn)})", highlight=False)
    state = ensure_schema(dsn)
    out.print(f"   schema at revision {state.current}")
    sample = bundled_sample()
    with connect(settings) as conn:
        ensure_bundled_ssic(conn)
        out.print(f"[bold]2. ingest[/]: {sample.name} (bundled ACRA-format sample)")
        with record_load(conn, "acra", sample.name) as load:
            report = load_acra_file(conn, sample)
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
