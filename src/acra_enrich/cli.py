"""`acra-enrich`: the command line (typer). Exit codes: 0 ok, 2 bad usage/config, 3 database down."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from acra_enrich.config import env_documentation, get_settings
from acra_enrich.cli_support import database as _database
from acra_enrich.cli_support import err, out
from acra_enrich.cli_support import errors as _errors
from acra_enrich.jobs.cli import jobs_app
from acra_enrich.registry.fetch_cli import fetch_app
from acra_enrich.resolve.cli import resolve_app
from acra_enrich.runners.cli import run_express_cmd, runs_app
from acra_enrich.runners.nightly.cli import run_nightly_cmd, scheduler_cmd
from acra_enrich.tenants.cli import icp_app, tenants_app

app = typer.Typer(
    help="Keep a company database built from Singapore's ACRA registry fresh and useful for prospecting.\n\n"
    "Configuration comes from environment variables (and a .env file): see `acra-enrich config`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
db_app = typer.Typer(help="Database: migrations, status, the embedded server.", no_args_is_help=True)
ingest_app = typer.Typer(help="Load registry files into PostgreSQL staging.", no_args_is_help=True)
sync_app = typer.Typer(help="Move staged registry rows into companies.", no_args_is_help=True)
sample_app = typer.Typer(help="Generate test data in the registry's real formats.", no_args_is_help=True)
enrich_app = typer.Typer(help="Run the enrichment pipeline.", no_args_is_help=True)
run_app = typer.Typer(help="Long-running enrichment sweeps.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(fetch_app, name="fetch")
app.add_typer(ingest_app, name="ingest")
app.add_typer(sync_app, name="sync")
app.add_typer(sample_app, name="sample")
app.add_typer(enrich_app, name="enrich")
app.add_typer(run_app, name="run")
app.add_typer(resolve_app, name="resolve")
app.add_typer(jobs_app, name="jobs")
app.add_typer(runs_app, name="runs")
app.add_typer(tenants_app, name="tenants")
app.add_typer(icp_app, name="icp")
run_app.command("express")(run_express_cmd)
run_app.command("nightly")(run_nightly_cmd)
app.command("scheduler")(scheduler_cmd)

@app.callback()
def _startup(
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="on a terminal, show info log lines too (not only warnings and errors)"),
) -> None:
    from acra_enrich.logs import set_verbose

    set_verbose(verbose)
    # Validate configuration before any command runs, so a bad variable stops us at once.
    with _errors():
        get_settings()


# --- config -------------------------------------------------------------------------------


@app.command("config")
def config_cmd() -> None:
    """List every environment variable, its current value (secrets hidden) and meaning."""
    settings = get_settings()
    table = Table("variable", "value", "meaning", box=None)
    for name, _default, description in env_documentation():
        value = getattr(settings, name.lower())
        shown = "(set, hidden)" if value is not None and "SecretStr" in type(value).__name__ else str(value)
        table.add_row(name, shown if value is not None else "unset", description)
    out.print(table)


# --- db -------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the schema to the newest revision (safe to run concurrently)."""
    from acra_enrich.db import database_dsn, describe_dsn, ensure_schema

    with _errors():
        dsn = database_dsn()
        state = ensure_schema(dsn)
    out.print(f"schema at revision {state.current} (head {state.head}) on {describe_dsn(dsn)}")


@db_app.command("status")
def db_status(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """Show which database is used, its schema revision, what it holds, the latest loads and
    enrichment runs, and where resumable sweeps will continue."""
    from acra_enrich.db import connect, database_dsn, describe_dsn, schema_state
    from acra_enrich.db.status import database_status

    with _errors():
        settings = get_settings()
        dsn = database_dsn(settings)
        with connect(settings) as conn:
            status = database_status(conn, schema_state(conn))
    status["database"] = describe_dsn(dsn)
    status["embedded"] = settings.postgres_dsn is None
    if as_json:
        print(json.dumps(status, default=str, indent=2))
        return
    out.print(f"database: {status['database']} ({'embedded' if status['embedded'] else 'POSTGRES_DSN'})")
    out.print(f"server:   {status['server_version']}")
    out.print(f"schema:   {status['schema_revision'] or 'empty'} (head {status['schema_head']})"
              + ("" if status["schema_up_to_date"] else "  -> run `acra-enrich db upgrade`"))
    if status["tables"]:
        table = Table("table", "rows", box=None)
        for name, rows in status["tables"].items():
            table.add_row(name, f"{rows:,}")
        out.print(table)
    unknown = status["companies_without_status"]
    if unknown is not None:
        out.print(f"companies without a status: {unknown:,}" + (
            " (they count as live, so the runners may enrich them; a file with a status column fixes it)"
            if unknown else ""), highlight=False)
    for load in status["recent_loads"]:
        out.print(
            f"load #{load['load_id']} {load['kind']} {load['source_file'] or ''} {load['status']}: "
            f"read {load['rows_read']:,} inserted {load['inserted']:,} updated {load['updated']:,} "
            f"unchanged {load['unchanged']:,} rejected {load['rejected']:,}"
        )
    for run in status["recent_runs"]:
        ended = f"ended {run['ended_at']:%Y-%m-%d %H:%M}" if run["ended_at"] else "no end recorded"
        out.print(
            f"run #{run['run_id']} {run['kind']} {run['status']} (started {run['started_at']:%Y-%m-%d %H:%M}, {ended}): "
            f"processed {run['processed']:,} skipped {run['skipped']:,} failed {run['failed']:,}"
            + (f" - {run['stop_reason']}" if run["stop_reason"] else ""), highlight=False, markup=False)
    for marker in status["progress_markers"]:
        out.print(f"resume marker {marker['key']}: after staging id {marker['last_id']:,} "
                  f"(saved {marker['updated_at']:%Y-%m-%d %H:%M})", highlight=False)
    for row in status["search_yield"]:
        out.print(f"search {row['provider']}: {row['searches']:,} searches in the last 7 days, "
                  f"{row['verified']:,} websites verified from them (yield {row['yield']:.2f})", highlight=False)
    for row in status["queue"]:
        notes = []
        if row["oldest_ready_age_s"] is not None:
            notes.append(f"oldest ready {row['oldest_ready_age_s']:,.0f} s ago")
        if row["waiting"]:
            notes.append(f"{row['waiting']:,} waiting for their time (backoff, daily cap)")
        if row["stalled"]:
            notes.append(f"{row['stalled']:,} stalled (lease expired; the next dispatcher of the lane takes them up)")
        finished = " in the last 24 h" if row["status"] in ("done", "failed", "cancelled") else ""
        out.print(f"queue {row['lane']} {row['status']}: {row['jobs']:,} jobs{finished}"
                  + (f" - {'; '.join(notes)}" if notes else ""), highlight=False)


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded PostgreSQL cleanly (it is otherwise left running for the next command)."""
    from acra_enrich.db.embedded import stop_embedded

    settings = get_settings()
    if settings.postgres_dsn is not None:
        out.print("POSTGRES_DSN is set: there is no embedded server to stop")
        return
    stopped = stop_embedded(settings.home)
    out.print("embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running")


# --- ingest ---------------------------------------------------------------------------


def _byte_progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


@ingest_app.command("acra")
def ingest_acra(
    files: list[Path] = typer.Argument(..., help="ACRA entity CSV files (plain or .gz): the 94-column collection files, "
                                 "\"Entities Registered with ACRA\" or the older narrow extract"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON report per file"),
    express: bool = typer.Option(False, "--express", help="then queue an express job for the rows each file "
                                 "inserted or changed (`acra-enrich run express` enriches them)"),
) -> None:
    """Load ACRA entity files into staging_acra_companies, merging by UEN.

    Unchanged rows are left alone, changed rows updated, new rows inserted; malformed rows
    go to staging_acra_rejects with their line number and reason. Each file commits once.
    """
    from acra_enrich.registry.acra_ingest import load_acra_file
    from acra_enrich.registry.loads import record_load
    from acra_enrich.runners.express import enqueue_express_for_load

    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        err.print(f"[bold red]error:[/] no such file: {', '.join(missing)}")
        raise typer.Exit(2)
    with _database() as conn:
        for path in files:
            with _byte_progress() as progress:
                task = progress.add_task(path.name, total=path.stat().st_size)
                with record_load(conn, "acra", path.name) as load:
                    report = load_acra_file(conn, path, progress=lambda pos: progress.update(task, completed=pos),
                                            load_id=load.load_id)
                    load.finish(report.read, report.inserted, report.updated, report.unchanged, report.rejected)
            queued = enqueue_express_for_load(conn, get_settings(), load.load_id, report) if express else None
            for warning in report.warnings:
                err.print(f"[bold yellow]warning:[/] {warning}", highlight=False)
            if as_json:
                print(json.dumps({**report.as_dict(), **({"express_job_id": queued} if express else {})}))
                continue
            if express:
                out.print(f"{path}: " + (f"express job {queued} queued for the rows inserted or changed"
                                         if queued else "nothing inserted or changed: no express job"),
                          highlight=False)
            out.print(
                f"{path}: read {report.read:,}  inserted {report.inserted:,}  updated {report.updated:,}  "
                f"unchanged {report.unchanged:,}  rejected {report.rejected:,}  ({report.seconds:.1f}s)",
                highlight=False,
            )
            for reason, count in report.reject_reasons.most_common():
                out.print(f"  rejected {count:,}: {reason}", highlight=False)
            if report.ignored_columns:
                out.print(f"  ignored unknown columns: {', '.join(report.ignored_columns)}", highlight=False)
            if report.rejected:
                out.print("  details: SELECT line_no, reason, raw_text FROM staging_acra_rejects "
                          f"WHERE source_file = '{path.name}' ORDER BY line_no", highlight=False)


@ingest_app.command("ssic")
def ingest_ssic(
    file: Path = typer.Argument(..., help="the official SSIC 2020 table (CSV or XLSX); code and title found by header"),
) -> None:
    """Load an SSIC 2020 code table into ssic_ref (upsert by code; titles from the file win)."""
    from acra_enrich.registry.loads import record_load
    from acra_enrich.registry.ssic import load_ssic_file
    from acra_enrich.registry.ssic_store import save_ssic_entries

    if not file.is_file():
        err.print(f"[bold red]error:[/] no such file: {file}")
        raise typer.Exit(2)
    with _database() as conn:
        result = load_ssic_file(file)
        with record_load(conn, "ssic", file.name) as load:
            inserted, updated = save_ssic_entries(conn, result.entries, source=file.name)
            unchanged = len(result.entries) - inserted - updated
            load.finish(len(result.entries) + len(result.skipped), inserted, updated, unchanged, len(result.skipped))
    out.print(f"{file}: {len(result.entries):,} codes (inserted {inserted:,}, updated {updated:,}, unchanged {unchanged:,})")
    if result.skipped:
        out.print(f"  skipped {len(result.skipped):,} rows without a usable code:")
        for row in result.skipped[:20]:
            out.print(f"    row {row.row_number}: {row.reason}", highlight=False)


# --- sync -----------------------------------------------------------------------------


@sync_app.command("companies")
def sync_companies_cmd(
    since: Optional[datetime] = typer.Option(None, help="only staging rows changed at or after this time (ISO 8601)"),
    full: bool = typer.Option(False, "--full", help="every staging row, not only those of loads not synced yet"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Upsert staged ACRA rows into companies (identity by UEN, else by name and year).

    By default only the rows that loads not synced yet inserted or changed are read: after a monthly refresh that is the few rows that changed, and the rest are counted as skipped."""
    from acra_enrich.registry.company_sync import sync_companies
    from acra_enrich.registry.loads import record_load
    from acra_enrich.registry.ssic_store import ensure_bundled_ssic

    with _database() as conn:
        ensure_bundled_ssic(conn)
        progress = Progress(
            TextColumn("companies"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"), TimeRemainingColumn(),
            console=err, transient=True, disable=not err.is_terminal,
        )
        with progress, record_load(conn, "sync", None) as load:
            task = progress.add_task("sync", total=None)
            report = sync_companies(conn, since=since, full=full,
                                    progress=lambda done, total: progress.update(task, completed=done, total=total))
            load.finish(report.seen, report.inserted, report.updated, report.unchanged, 0)
    if as_json:
        print(json.dumps(report.as_dict()))
        return
    out.print(
        f"companies: seen {report.seen:,}  inserted {report.inserted:,}  updated {report.updated:,}  "
        f"unchanged {report.unchanged:,}  adopted by name+year {report.adopted:,}  "
        f"skipped {report.skipped:,} (unchanged since the last sync)  ({report.seconds:.1f}s)",
        highlight=False,
    )


# --- sample ---------------------------------------------------------------------------


@sample_app.command("acra")
def sample_acra(
    rows: int = typer.Option(1000, "--rows", min=0, help="data rows to write"),
    seed: int = typer.Option(1, "--seed", help="random seed: the same seed gives the same file"),
    malformed_rate: float = typer.Option(0.0, "--malformed-rate", min=0.0, max=1.0, help="share of malformed rows"),
    shape: str = typer.Option("full", "--shape", help="full (the 94-column collection files), registered "
                              "(\"Entities Registered with ACRA\", *_desc columns) or narrow (the older 8-column extract)"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="write here instead of standard output"),
) -> None:
    """Write a seeded, realistic ACRA-format CSV (optionally with malformed rows of every kind)."""
    from acra_enrich.registry.acra_columns import SHAPES
    from acra_enrich.registry.sample import write_acra_csv

    if shape not in SHAPES:
        err.print(f"[bold red]error:[/] --shape must be one of: {', '.join(SHAPES)}")
        raise typer.Exit(2)
    target = open(output, "wb") if output else sys.stdout.buffer
    try:
        manifest = write_acra_csv(target, rows=rows, seed=seed, malformed_rate=malformed_rate, shape=shape)  # type: ignore[arg-type]
    finally:
        if output:
            target.close()
        else:
            target.flush()
    err.print(f"wrote {manifest.rows_written:,} rows ({len(manifest.malformed):,} malformed)", highlight=False)


# --- sandbox --------------------------------------------------------------------------

sandbox_app = typer.Typer(help="The offline sandbox web: company sites and vendor emulations.", no_args_is_help=True)
app.add_typer(sandbox_app, name="sandbox")


@sandbox_app.command("serve")
def sandbox_serve(
    seed: int = typer.Option(1, "--seed", help="world seed: the same as `sample acra --seed`"),
    companies: int = typer.Option(1000, "--companies", min=0, help="the first N rows of that sample"),
    port: int = typer.Option(0, "--port", min=0, max=65535, help="listen port; 0 picks a free one"),
    host: str = typer.Option("127.0.0.1", "--host", help="listen address"),
    latency_ms: float = typer.Option(0.0, "--latency-ms", min=0, help="added to every request"),
    ddg_rate_limit: Optional[int] = typer.Option(None, "--ddg-rate-limit", min=0,
                                                 help="DuckDuckGo queries per window before HTTP 202 (default 1000)"),
    ddg_window_s: float = typer.Option(60.0, "--ddg-window-s", min=0.001, help="DuckDuckGo rate-limit window"),
    hang_s: float = typer.Option(30.0, "--hang-s", min=0, help="how long a `timeout` fault holds a request"),
) -> None:
    """Serve the sandbox web until Ctrl-C; prints the environment that points the product at it."""
    import shlex

    from acra_enrich.sandbox.server import SandboxServer
    from acra_enrich.sandbox.world import build_world

    server = SandboxServer(build_world(seed, companies), host=host, port=port, latency_ms=latency_ms,
                           ddg_rate_limit=ddg_rate_limit, ddg_window_s=ddg_window_s, hang_s=hang_s)
    for name, value in server.env().items():
        print(f"export {name}={shlex.quote(value)}", flush=True)
    err.print(f"sandbox web: {companies:,} companies (seed {seed}) on {server.proxy_url}; "
              "control API at http://sandbox.control/ through it; Ctrl-C stops", highlight=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        err.print("sandbox stopped")
    finally:
        server.stop()


# --- enrich ---------------------------------------------------------------------------


@enrich_app.command("one")
def enrich_one_cmd(
    key: str = typer.Argument(..., metavar="UEN|DOMAIN", help="a UEN (taken from staging if needed) or a website domain"),
    as_json: bool = typer.Option(False, "--json", help="print the full result as JSON"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="on a terminal, show the stage log lines too"),
) -> None:
    """Enrich one company now: find its website, crawl, extract, verify, persist; print the result.

    Every stage's log line goes to the log file under ACRA_ENRICH_HOME/logs. On a terminal,
    stderr shows only warnings and errors (--verbose: the stage lines too); piped, stderr
    gets the JSON lines.
    """
    import asyncio

    from acra_enrich.enrich.run_one import enrich_one
    from acra_enrich.logs import configure_logging

    with _database():
        settings = get_settings()
        configure_logging(settings, stderr=True, verbose=verbose or None)
        result = asyncio.run(enrich_one(settings, key))
    summary = result.summary()
    if as_json:
        print(json.dumps(summary, default=str, indent=2))
        return
    table = Table(box=None, show_header=False)
    for field_name, value in summary.items():
        if value in (None, [], {}, ""):
            continue
        table.add_row(field_name, value if isinstance(value, str) else json.dumps(value, default=str))
    out.print(table)


# --- run -----------------------------------------------------------------------------


@run_app.command("direct")
def run_direct_cmd(
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="max companies this run [ACRA_DIRECT_BATCH_LIMIT]"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1,
                                              help="companies enriched at once [ACRA_DIRECT_CONCURRENCY, 1]"),
    start_after_id: Optional[int] = typer.Option(None, "--start-after-id", min=0,
                                                 help="start after this staging id [ACRA_DIRECT_START_AFTER_ID]"),
    start_from_uen: Optional[str] = typer.Option(None, "--start-from-uen",
                                                 help="start after this UEN, exclusive [ACRA_DIRECT_START_FROM_UEN]"),
    daily_cap: Optional[int] = typer.Option(None, "--daily-cap", min=0,
                                            help="companies per Asia/Singapore day, 0 = unlimited [ACRA_DIRECT_DAILY_CAP]"),
    recheck_days: Optional[int] = typer.Option(None, "--recheck-days", min=0,
                                               help="skip companies enriched within N days [ENRICH_RECHECK_DAYS, 30]"),
    skip_if_any_history: Optional[bool] = typer.Option(
        None, "--skip-if-any-history/--no-skip-if-any-history",
        help="skip companies with any enrichment history [ENRICH_SKIP_IF_ANY_HISTORY]"),
    force: bool = typer.Option(False, "--force", help="ignore the skip policy: enrich every live company"),
    dry_run: bool = typer.Option(False, "--dry-run", help="select and log the companies, enrich nothing, write nothing"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
) -> None:
    """Enrich companies straight from ACRA staging, in id order, until the limit or the end.

    Resumable: progress is saved as it goes (service_progress key `acra_direct`), and a restart after any stop continues where the last run left off; without an explicit start anchor the run resumes from that marker. Live companies only (see ACRA_DIRECT_EXCLUDE_STATUSES); companies enriched within ENRICH_RECHECK_DAYS are skipped.

    SIGINT/SIGTERM (Ctrl-C) stop taking companies, let in-flight ones finish (up to ACRA_DIRECT_GRACE_S), save progress and the summary, and exit 0; a second signal abandons in-flight companies at once. Exit 2: bad configuration (or another direct run is active); exit 3: the database cannot be reached.

    On a terminal a progress bar shows rate and ETA; otherwise one JSON line per stage per company goes to stderr. Both ways the lines go to ACRA_ENRICH_HOME/logs/acra-enrich.log. 
    """
    import asyncio
    from contextlib import nullcontext

    from acra_enrich.logs import configure_logging
    from acra_enrich.runners.console import ProgressBar
    from acra_enrich.runners.direct import DirectParams, run_direct

    with _database():
        settings = get_settings()
        params = DirectParams.from_settings(
            settings, batch_limit=limit, concurrency=concurrency, start_after_id=start_after_id,
            start_from_uen=start_from_uen, daily_cap=daily_cap, recheck_days=recheck_days,
            skip_if_any_history=skip_if_any_history, force=force or None, dry_run=dry_run or None)
        on_terminal = err.is_terminal
        log_path = configure_logging(settings, stderr=not on_terminal)
        bar = ProgressBar(err) if on_terminal else None
        with bar or nullcontext():
            summary = asyncio.run(run_direct(settings, params, observer=bar))
    if as_json:
        print(json.dumps(summary.as_dict(), default=str, indent=2))
        return
    table = Table(box=None, show_header=False, title=f"direct run {summary.run_id or '(dry run)'}: {summary.status}")
    rows = [("stopped because", summary.stop_reason), ("started after id", f"{summary.start_after:,}"),
            ("resume marker", f"{summary.marker:,}")]
    if summary.dry_run:
        rows.append(("would enrich", f"{summary.selected:,}"))
    else:
        rows += [("processed", f"{summary.processed:,}"), ("failed", f"{summary.failed:,}")]
        rows += [(f"  {k}", f"{v:,}") for k, v in sorted(summary.by_status.items())]
    rows += [("skipped", f"{summary.skipped:,}"), ("duration", f"{summary.duration_s:,.1f} s"),
             ("companies/hour", f"{summary.companies_per_hour:,.0f}"), ("log", str(log_path))]
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)


# --- demo -----------------------------------------------------------------------------


@app.command("serve")
def serve_cmd(
    host: Optional[str] = typer.Option(None, "--host", help="address to listen on [ADMIN_API_HOST, 127.0.0.1]"),
    port: Optional[int] = typer.Option(None, "--port", min=1, max=65535, help="port [ADMIN_API_PORT, 8088]"),
) -> None:
    """The operators' HTTP API: /health, /runs, /jobs, /queue, /vendors, /metrics; OpenAPI at /docs.

    Every route but /health needs `Authorization: Bearer TOKEN` with a token from ADMIN_API_TOKENS (token:role[:tenant_id], comma-separated; viewer reads, operator also queues and cancels jobs; a tenant id pins the token to that tenant's runs and jobs)."""
    import uvicorn

    from acra_enrich.api.app import create_app

    settings = get_settings()
    with _errors():
        application = create_app(settings)
        if not settings.admin_api_tokens:
            err.print("[yellow]warning:[/] ADMIN_API_TOKENS is unset: every route but /health answers 401")
    # uvicorn's access log would print each request line; the Authorization header is never in it.
    uvicorn.run(application, host=host or settings.admin_api_host, port=port or settings.admin_api_port,
                log_level="info")


@app.command("demo")
def demo() -> None:
    """End to end on the embedded database: schema, bundled ACRA sample, companies, summary."""
    from acra_enrich.demo import run_demo

    with _errors():
        run_demo(out)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
