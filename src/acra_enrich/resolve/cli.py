"""`acra-enrich resolve ...`: company-id resolution from the command line.

`resolve NAME...` and the subcommands share one name space: anything that is not a
subcommand name is taken as the first NAME (so `acra-enrich resolve "ACME PTE LTD"`
works); `resolve names file` resolves a company literally called "file".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table
from typer.core import TyperGroup

from acra_enrich.cli_support import database as _database
from acra_enrich.cli_support import err, out
from acra_enrich.config import get_settings
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.resolve.queue import DEFAULT_LEASE_S

if TYPE_CHECKING:
    # Click hands parse_args its base Context, not typer.Context; typer vendors click and
    # names that class only in its private `_click` package.
    from typer._click import Context as ClickContext

DEFAULT_COMMAND = "names"


class _NamesByDefault(TyperGroup):
    """Route `resolve X ...` to `resolve names X ...` unless X is a subcommand or --help."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


resolve_app = typer.Typer(
    cls=_NamesByDefault,
    help="Resolve company mentions (names, plan codes, account names, UENs) to one canonical company_id.\n\n"
    "`acra-enrich resolve NAME...` resolves names; the subcommands below work in bulk and on the lookup queue.",
    no_args_is_help=True,
)

_PLAN_HELP = "plan only: report what would be written and write nothing (lookups still run within the budget)"


def _configure_logging(*, stderr: bool) -> None:
    """Logs (lookups, the web client) as JSON lines to the log file, and to stderr if asked:
    never to stdout, where --json output goes."""
    from acra_enrich.logs import configure_logging

    configure_logging(get_settings(), stderr=stderr)


def _print_plan(plan: WritePlan, as_json: bool, shown: int = 20) -> None:
    if as_json:
        return
    if not plan.total:
        out.print("plan: nothing would be written")
        return
    out.print(f"plan: {plan.total:,} write(s) would be made, none were:")
    for (table, action), count in sorted(plan.counts.items()):
        out.print(f"  {action} {table}: {count:,}", highlight=False)
    for write in plan.writes[:shown]:
        out.print(f"    {write.describe()}", highlight=False, soft_wrap=True)
    if plan.total > shown:
        out.print(f"    ... ({plan.total - shown:,} more)")


def _emit_json(payload: Any) -> None:
    print(json.dumps(payload, default=str, ensure_ascii=False, indent=2))


@resolve_app.command(DEFAULT_COMMAND)
def resolve_names(
    names: list[str] = typer.Argument(..., help="company names as written anywhere (customer names)"),
    budget: Optional[int] = typer.Option(
        None, "--budget", min=0, help="external lookups allowed in this run [default: WDH_COMPANY_SYNC_LOOKUP_LIMIT]"),
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON"),
    plan_only: bool = typer.Option(False, "--plan", help=_PLAN_HELP),
) -> None:
    """Resolve company names: internal mappings, then a budgeted lookup, else queue."""
    from acra_enrich.resolve.runtime import open_service

    plan = WritePlan() if plan_only else None
    results = []
    with _database() as conn:
        _configure_logging(stderr=True)
        conn.autocommit = True
        with open_service(get_settings(), conn, plan=plan, sync_lookup_budget=budget) as service:
            for name in names:
                results.append((name, service.resolve_company_id(customer_name=name)))
    if as_json:
        payload: dict[str, Any] = {"results": [{"name": n, **r.as_dict()} for n, r in results]}
        if plan is not None:
            payload["plan"] = plan.as_dict()
        _emit_json(payload)
        return
    table = Table("name", "status", "company_id", "source", "detail", box=None)
    for name, result in results:
        table.add_row(name, result.status.value, result.company_id or "-", result.source,
                      result.detail or (f"request #{result.request_id}" if result.request_id else ""))
    out.print(table)
    if plan is not None:
        _print_plan(plan, as_json)


@resolve_app.command("file")
def resolve_file_cmd(
    file: Path = typer.Argument(..., help="CSV with customer_name (or name), plan_code, account_name and/or uen columns"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="result CSV [default: FILE.resolved.csv]"),
    budget: Optional[int] = typer.Option(
        None, "--budget", min=0, help="external lookups allowed in this run [default: WDH_COMPANY_SYNC_LOOKUP_LIMIT]"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    plan_only: bool = typer.Option(False, "--plan", help=_PLAN_HELP + "; the result CSV shows what a real run gives"),
) -> None:
    """Resolve every row of a CSV in bulk and write a result CSV (company_id, status, source, temp_id)."""
    from acra_enrich.resolve.bulk import resolve_file
    from acra_enrich.resolve.runtime import open_service

    if not file.is_file():
        err.print(f"[bold red]error:[/] no such file: {file}")
        raise typer.Exit(2)
    plan = WritePlan() if plan_only else None
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)
    with _database() as conn:
        _configure_logging(stderr=False)  # one line per lookup would fight the progress bar: see the log file
        conn.autocommit = True
        with open_service(get_settings(), conn, plan=plan, sync_lookup_budget=budget) as service, progress:
            task = progress.add_task(file.name, total=file.stat().st_size)
            report = resolve_file(service, file, output,
                                  progress=lambda pos: progress.update(task, completed=pos))
    if as_json:
        payload: dict[str, Any] = report.as_dict()
        if plan is not None:
            payload["plan"] = plan.as_dict()
        _emit_json(payload)
        return
    counts = "  ".join(f"{status} {n:,}" for status, n in sorted(report.statuses.items()))
    out.print(f"{file}: {report.rows:,} rows -> {report.output}  ({report.seconds:.1f}s)", highlight=False)
    out.print(f"  {counts or 'no rows'}; external lookups {report.external_lookups:,}", highlight=False)
    if plan is not None:
        _print_plan(plan, as_json)


@resolve_app.command("process-queue")
def process_queue_cmd(
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", min=1, help="rows claimed at a time [default: WDH_LOOKUP_QUEUE_BATCH_SIZE]"),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="stop after claiming this many requests"),
    lease_seconds: float = typer.Option(
        DEFAULT_LEASE_S, "--lease-seconds", min=1, help="how long a claimed batch is ours before others reclaim it"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    plan_only: bool = typer.Option(False, "--plan", help=_PLAN_HELP),
) -> None:
    """Drain the lookup queue: look each queued name up, cache answers, retry or fail the rest.

    Safe to run in several processes at once: each claims its own rows.
    """
    from acra_enrich.resolve.runtime import open_service

    settings = get_settings()
    plan = WritePlan() if plan_only else None
    with _database() as conn:
        _configure_logging(stderr=False)  # the report lists the errors; details in the log file
        conn.autocommit = True
        with open_service(settings, conn, plan=plan, lease_s=lease_seconds) as service:
            report = service.process_lookup_queue(batch_size or settings.wdh_lookup_queue_batch_size,
                                                  max_requests=limit)
    if as_json:
        payload: dict[str, Any] = report.as_dict()
        if plan is not None:
            payload["plan"] = plan.as_dict()
        _emit_json(payload)
        return
    out.print(
        f"claimed {report.claimed:,}: done {report.done:,}  retrying {report.retrying:,}  failed {report.failed:,}  "
        f"released {report.released:,}  lost {report.lost:,}  ({report.stopped_reason})", highlight=False)
    for error in report.errors[:10]:
        out.print(f"  {error}", highlight=False, soft_wrap=True)
    if plan is not None:
        _print_plan(plan, as_json)


@resolve_app.command("import-mappings")
def import_mappings_cmd(
    file: Path = typer.Argument(..., help="CSV with alias, match_type, company_id[, priority, source, confidence]"),
    source: str = typer.Option("import", "--source", help="source recorded for rows without a source column"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
    plan_only: bool = typer.Option(False, "--plan", help="plan only: report what would be written and write nothing"),
) -> None:
    """Load alias -> company_id mappings into company_mapping (one transaction; the file wins)."""
    from acra_enrich.resolve.mapping_import import import_mappings

    if not file.is_file():
        err.print(f"[bold red]error:[/] no such file: {file}")
        raise typer.Exit(2)
    if not source.strip():
        err.print("[bold red]error:[/] --source must not be empty")
        raise typer.Exit(2)
    plan = WritePlan() if plan_only else None
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                        console=err, transient=True, disable=not err.is_terminal)
    with _database() as conn, progress:
        task = progress.add_task(file.name, total=file.stat().st_size)
        report = import_mappings(conn, file, source=source.strip(), plan=plan,
                                 progress=lambda pos: progress.update(task, completed=pos))
    if as_json:
        payload: dict[str, Any] = report.as_dict()
        if plan is not None:
            payload["plan"] = plan.as_dict()
        _emit_json(payload)
        return
    verb = "would insert" if plan is not None else "inserted"
    out.print(
        f"{file}: read {report.rows_read:,}  {verb} {report.inserted:,}  updated {report.updated:,}  "
        f"unchanged {report.unchanged:,}  rejected {report.rejected:,}", highlight=False)
    for sample in report.reject_samples[:20]:
        out.print(f"  line {sample['line']}: {sample['reason']}", highlight=False)
    if plan is not None:
        _print_plan(plan, as_json)


@resolve_app.command("queue-status")
def queue_status_cmd(as_json: bool = typer.Option(False, "--json", help="print the status as JSON")) -> None:
    """How many lookups are pending, ready, in flight, done and failed, and the commonest errors."""
    from acra_enrich.resolve.queue import LookupQueue

    with _database() as conn:
        conn.autocommit = True
        status = LookupQueue.from_settings(conn, get_settings()).status()
    if as_json:
        _emit_json(status.as_dict())
        return
    table = Table("state", "requests", box=None)
    for label, value in (("pending", status.pending), ("  ready now", status.ready), ("processing", status.processing),
                         ("  lease expired", status.expired_leases), ("done", status.done), ("failed", status.failed)):
        table.add_row(label, f"{value:,}")
    out.print(table)
    if status.oldest_pending:
        out.print(f"oldest pending since {status.oldest_pending:%Y-%m-%d %H:%M:%S %Z}")
    if status.next_retry_at:
        out.print(f"next retry at {status.next_retry_at:%Y-%m-%d %H:%M:%S %Z}")
    for error, count in status.top_errors:
        out.print(f"  {count:,} x {error}", highlight=False, soft_wrap=True)
