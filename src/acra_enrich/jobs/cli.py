"""`acra-enrich jobs ...`: the operators' view of the job queue (list, show, enqueue, cancel, retry)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Optional

import typer
from rich.table import Table

from acra_enrich.cli_support import database, out
from acra_enrich.config import get_settings

jobs_app = typer.Typer(help="The job queue (background_jobs): list, show, enqueue, cancel, retry.",
                       no_args_is_help=True)
enqueue_app = typer.Typer(help="Queue work for a lane.", no_args_is_help=True)
jobs_app.add_typer(enqueue_app, name="enqueue")


def _age(ts: datetime | None) -> str:
    if ts is None:
        return ""
    seconds = max(0.0, (datetime.now(ts.tzinfo) - ts).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


@jobs_app.command("list")
def jobs_list(
    lane: Optional[str] = typer.Option(None, "--lane", help="express or nightly"),
    status: Optional[str] = typer.Option(None, "--status", help="queued, running, done, failed or cancelled"),
    job_type: Optional[str] = typer.Option(None, "--type", help="a job type, e.g. acra_express_enrich"),
    limit: int = typer.Option(50, "--limit", min=1, help="newest N jobs"),
    as_json: bool = typer.Option(False, "--json", help="print the jobs as JSON"),
) -> None:
    """The newest jobs, optionally filtered by lane, status and type."""
    from acra_enrich.jobs import list_jobs

    with database() as conn:
        rows = list_jobs(conn, lane=lane, status=status, job_type=job_type, limit=limit)
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return
    table = Table("id", "lane", "type", "status", "tenant", "attempts", "created", "detail", box=None)
    for r in rows:
        detail = r["last_error"] or ""
        if r["status"] == "queued" and r["run_after"] > datetime.now(r["run_after"].tzinfo):
            detail = f"waits until {r['run_after']:%Y-%m-%d %H:%M %Z}; " + detail
        if r["status"] == "running":
            detail = f"worker {r['locked_by']}, lease until {r['lease_until']:%H:%M:%S}"
        table.add_row(str(r["job_id"]), r["lane"], r["job_type"], r["status"], str(r["tenant_id"] or ""),
                      f"{r['attempts']}/{r['max_attempts']}", _age(r["created_at"]), detail[:120])
    out.print(table)


@jobs_app.command("show")
def jobs_show(job_id: int = typer.Argument(..., help="the job's id"),
              as_json: bool = typer.Option(False, "--json", help="print the job as JSON")) -> None:
    """Everything about one job: params, attempts, lease, last error, result."""
    from acra_enrich.jobs import get_job

    with database() as conn:
        row = get_job(conn, job_id)
    if as_json:
        print(json.dumps(row, default=str, indent=2))
        return
    table = Table(box=None, show_header=False, title=f"job {job_id}")
    for key, value in row.items():
        shown = json.dumps(value, default=str) if isinstance(value, (dict, list)) else str(value)
        table.add_row(key, shown)
    out.print(table)


@jobs_app.command("cancel")
def jobs_cancel(job_id: int = typer.Argument(..., help="the job's id")) -> None:
    """Cancel a queued job, or stop a running one (its worker is told at once)."""
    from acra_enrich.jobs import cancel_job

    with database() as conn:
        what = cancel_job(conn, job_id)
        conn.commit()
    out.print(f"job {job_id}: {what}")


@jobs_app.command("retry")
def jobs_retry(job_id: int = typer.Argument(..., help="the job's id")) -> None:
    """Queue a failed or cancelled job again, with fresh attempts."""
    from acra_enrich.jobs import retry_job

    with database() as conn:
        retry_job(conn, job_id)
        conn.commit()
    out.print(f"job {job_id}: queued again")


@enqueue_app.command("express")
def enqueue_express(
    uens: Optional[list[str]] = typer.Option(None, "--uen", help="a UEN to enrich (repeat the option for more)"),
    since: Optional[datetime] = typer.Option(
        None, "--since", formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S",
                                  "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"],
        help="every registry row loaded or changed since this time (Asia/Singapore unless an offset is given)"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="companies per enrich job (override)"),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", min=1, help="companies at once (override)"),
    daily_cap: Optional[int] = typer.Option(None, "--daily-cap", min=1, help="companies per day (override)"),
    authorized: bool = typer.Option(False, "--authorized",
                                    help="let the overrides above take effect (otherwise they are ignored)"),
    priority: int = typer.Option(0, "--priority", help="higher runs first"),
    as_json: bool = typer.Option(False, "--json", help="print the job id as JSON"),
) -> None:
    """Queue an express staging job: bring these registry rows into companies, then enrich them
    in batches on the express lane (`acra-enrich run express` does the work)."""
    from zoneinfo import ZoneInfo

    from acra_enrich.jobs import enqueue_express_staging_upsert
    from acra_enrich.runners.express import ensure_express_tenant

    settings = get_settings()
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=ZoneInfo("Asia/Singapore"))
    overrides: dict[str, Any] = {k: v for k, v in (("batch_size", batch_size), ("concurrency", concurrency),
                                                   ("daily_cap", daily_cap)) if v is not None}
    if authorized:
        overrides["authorized"] = True
    with database() as conn:
        if settings.express_tenant_id is not None:
            ensure_express_tenant(conn, settings.express_tenant_id)
        job = enqueue_express_staging_upsert(conn, uens=uens or None, since=since,
                                             tenant_id=settings.express_tenant_id, params=overrides,
                                             priority=priority)
        conn.commit()
    if as_json:
        print(json.dumps({"job_id": job.job_id, "created": job.created}))
    elif job.created:
        out.print(f"queued express staging job {job.job_id}")
    else:
        out.print(f"the same request is already queued or running as job {job.job_id}")
