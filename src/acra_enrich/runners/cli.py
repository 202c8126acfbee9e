"""Command-line pieces of the runners: `run express` and `runs list|show` (every kind of run)."""

from __future__ import annotations

import json
from typing import Optional

import typer
from psycopg.rows import dict_row
from rich.table import Table

from acra_enrich.cli_support import database, err, fail, out
from acra_enrich.config import get_settings
from acra_enrich.errors import ConfigError
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.runners.sql", "runs.sql")
runs_app = typer.Typer(help="Enrichment runs of every kind (direct, express, nightly, one).", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    kind: Optional[str] = typer.Option(None, "--kind", help="direct, express, nightly or one"),
    limit: int = typer.Option(20, "--limit", min=1, help="newest N runs"),
    as_json: bool = typer.Option(False, "--json", help="print the runs as JSON"),
) -> None:
    """The newest runs with their counters and why they stopped."""
    with database() as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_Q["list_runs"], {"kind": kind, "limit": limit}).fetchall()
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    table = Table("run", "kind", "tenant", "status", "started", "ended", "processed", "skipped", "failed",
                  "stop reason", box=None)
    for r in rows:
        table.add_row(str(r["run_id"]), r["kind"], str(r["tenant_id"] or ""), r["status"],
                      f"{r['started_at']:%Y-%m-%d %H:%M}", f"{r['ended_at']:%Y-%m-%d %H:%M}" if r["ended_at"] else "",
                      f"{r['processed']:,}", f"{r['skipped']:,}", f"{r['failed']:,}", r["stop_reason"] or "")
    out.print(table)


@runs_app.command("show")
def runs_show(run_id: int = typer.Argument(..., help="the run's id"),
              as_json: bool = typer.Option(False, "--json", help="print the run as JSON")) -> None:
    """One run: parameters, counters, summary, and its history rows by outcome."""
    with database() as conn:
        with conn.cursor(row_factory=dict_row) as cur:
            run = cur.execute(_Q["get_run"], {"run_id": run_id}).fetchone()
            if run is None:
                fail(ConfigError(f"run {run_id} does not exist"))
            assert run is not None
            run["history_by_status"] = {r["status"]: r["companies"] for r in
                                        cur.execute(_Q["history_by_status"], {"run_id": run_id})}
    if as_json:
        print(json.dumps(run, default=str, indent=2))
        return
    table = Table(box=None, show_header=False, title=f"run {run_id} ({run['kind']}): {run['status']}")
    for key, value in run.items():
        table.add_row(key, json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value))
    out.print(table)


def run_express_cmd(
    once: bool = typer.Option(False, "--once", help="drain what is ready now and exit (for cron or systemd timers)"),
    cron: bool = typer.Option(False, "--cron", help="drain the lane at each EXPRESS_CRON slot "
                              "(default */15 * * * *, Asia/Singapore) and sleep between; also on when EXPRESS_CRON is set"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1,
                                              help="companies enriched at once [EXPRESS_CONCURRENCY, 2]"),
    as_json: bool = typer.Option(False, "--json", help="print the run summary as JSON"),
) -> None:
    """Run the express lane: acra_express_staging_upsert and acra_express_enrich jobs only.

    Continuous by default: an idle dispatcher sleeps until work is queued (NOTIFY), polling every EXPRESS_POLL_INTERVAL_S as a fallback. Queue work with `acra-enrich ingest acra FILE --express` or `acra-enrich jobs enqueue express --uen U | --since TIME`.

    Caps: EXPRESS_DAILY_CAP companies per Asia/Singapore day across all dispatchers (jobs then wait for the next day); EXPRESS_BATCH_SIZE companies per job. Vendor budgets are the ones every runner shares. EXPRESS_TENANT_ID pins all writes to one tenant.

    SIGINT/SIGTERM: stop claiming, let running jobs finish (up to EXPRESS_GRACE_S), release the rest to the queue, exit 0; a second signal releases them at once. A dispatcher killed outright loses nothing: its jobs run again once their lease (JOBS_LEASE_S) expires, and companies it finished are not done twice. Exit 2: bad configuration; exit 3: the database cannot be reached.
    """
    import asyncio

    from acra_enrich.logs import configure_logging
    from acra_enrich.runners.express import ExpressParams, run_express

    with database():
        settings = get_settings()
        params = ExpressParams.from_settings(settings, once=once, cron=cron, concurrency=concurrency)
        log_path = configure_logging(settings, stderr=not err.is_terminal)
        summary = asyncio.run(run_express(settings, params))
    if as_json:
        print(json.dumps(summary.as_dict(), default=str, indent=2))
        return
    table = Table(box=None, show_header=False, title=f"express run {summary.run_id}: {summary.status}")
    rows = [("stopped because", summary.stop_reason), ("companies", f"{summary.processed:,}"),
            ("failed", f"{summary.failed:,}")]
    rows += [(f"  {k}", f"{v:,}") for k, v in sorted(summary.by_status.items())]
    rows += [("already done by an earlier attempt", f"{summary.already_done:,}"),
             ("jobs done / retried / failed", f"{summary.jobs.get('done', 0)} / {summary.jobs.get('retried', 0)} / "
                                              f"{summary.jobs.get('failed', 0)}"),
             ("jobs waiting for the daily cap", f"{summary.deferred_jobs:,}"),
             ("duration", f"{summary.duration_s:,.1f} s"), ("log", str(log_path))]
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)
