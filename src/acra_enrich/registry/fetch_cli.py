"""`acra-enrich fetch acra`: download the registry from data.gov.sg, then load what changed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.filesize import decimal
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from acra_enrich.cli_support import database, err, out
from acra_enrich.config import get_settings

if TYPE_CHECKING:  # the command imports the HTTP stack only when it runs
    from acra_enrich.registry.acra_fetch import DatasetFetch, FetchReport

fetch_app = typer.Typer(help="Download registry files from their publisher (data.gov.sg).", no_args_is_help=True)


class _Display:
    """A dataset counter and the current file's bytes, on a terminal; nothing otherwise."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
            TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal)
        self.overall: TaskID | None = None
        self.file: TaskID | None = None

    def started(self, datasets: int) -> None:
        self.overall = self.progress.add_task("datasets", total=datasets)

    def dataset(self, index: int, dataset_id: str, name: str) -> None:
        if self.overall is not None:
            self.progress.update(self.overall, completed=index, description=f"dataset {index + 1}")
        if self.file is not None:
            self.progress.remove_task(self.file)
        self.file = self.progress.add_task(name or dataset_id, total=None)

    def transferred(self, size: int, total: int | None) -> None:
        if self.file is not None:
            self.progress.update(self.file, completed=size, total=total)

    def ingesting(self, path: Path) -> None:
        if self.file is not None:
            self.progress.update(self.file, description=f"loading {path.name}")

    def waiting(self, seconds: float, why: str) -> None:
        if self.file is not None:
            self.progress.update(self.file, description=f"waiting {seconds:.0f}s: {why}")


def _line(item: DatasetFetch) -> str:
    label = f"{item.dataset_id} {item.name}".strip()
    parts = [f"{item.download}" + (f" ({decimal(item.bytes)})" if item.bytes else "")]
    if item.load is not None:
        load = item.load
        parts.append(f"read {load.read:,} inserted {load.inserted:,} updated {load.updated:,} "
                     f"unchanged {load.unchanged:,} rejected {load.rejected:,}")
    elif item.file:
        parts.append(item.ingest)
    if item.error:
        parts.append(f"error: {item.error}")
    return f"{label}: " + "; ".join(parts)


def _print(report: FetchReport) -> None:
    for item in report.datasets:
        out.print(_line(item), highlight=False, markup=False)
    if report.sync is not None:
        sync = report.sync
        out.print(f"companies: seen {sync.seen:,}  inserted {sync.inserted:,}  updated {sync.updated:,}  "
                  f"unchanged {sync.unchanged:,}", highlight=False)
    downloaded = sum(d.download in ("downloaded", "resumed") for d in report.datasets)
    unchanged = sum(d.download == "unchanged" for d in report.datasets)
    out.print(f"{len(report.datasets)} datasets: {downloaded} downloaded, {unchanged} unchanged, "
              f"{len(report.failed)} failed; {report.rate_limit_waits} waits on rate limits; files in {report.dest}",
              highlight=False)


@fetch_app.command("acra")
def fetch_acra_cmd(
    dest: Optional[Path] = typer.Option(None, "--dest", help="where the files go [ACRA_ENRICH_HOME/acra]"),
    dataset: str = typer.Option("collection", "--dataset", help="collection (the 27 files of \"ACRA Information on "
                                "Corporate Entities\"), entities-registered (\"Entities Registered with ACRA\", one "
                                "file) or a data.gov.sg dataset id"),
    no_ingest: bool = typer.Option(False, "--no-ingest", help="download only; a later run without it loads the files"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Download the ACRA registry from data.gov.sg, load the files that changed, sync companies.

    Resumable and idempotent: files are named by dataset id and the publisher's last-updated stamp, so a dataset unchanged since the last fetch is not downloaded or loaded again; a cut download is resumed (by this run or the next), and a file is loaded only after its size and CSV header are checked.

    Without DATAGOVSG_API_KEY data.gov.sg allows 2 download calls per 10 s; answers of 429 are waited out. Exit 1 when a dataset failed (the others are done), 2 on bad usage, 3 when the database is down.
    """
    from acra_enrich.logs import configure_logging
    from acra_enrich.registry.acra_fetch import check_source, fetch_acra

    settings = get_settings()
    with database() as conn:
        check_source(dataset)
        # On a terminal the progress bar shows what happens; elsewhere (cron) the log lines do.
        configure_logging(settings, stderr=not err.is_terminal)
        display = _Display()
        with display.progress:
            report = asyncio.run(fetch_acra(settings, conn, source=dataset, dest=dest or settings.home / "acra",
                                            ingest=not no_ingest, observer=display))
    if as_json:
        print(json.dumps(report.as_dict(), default=str, indent=2))
    else:
        _print(report)
    if report.error:
        err.print(f"[bold red]error:[/] {report.error}", highlight=False)
    if report.error or report.failed:
        raise typer.Exit(1)
