"""`fetch acra`: the monthly registry refresh from data.gov.sg, resumable and idempotent.

For each dataset (the 27 child datasets of the "ACRA Information on Corporate Entities"
collection, or the single "Entities Registered with ACRA" file):

1. Its metadata gives the publisher's last-updated stamp. The file is named
   `<dataset id>_<stamp>.csv` under the destination directory, so a dataset unchanged since
   the last fetch is found there (or among the loads) and is not downloaded again.
2. Otherwise its signed link comes from initiate/poll-download and the file is streamed to
   `<name>.part`, continuing what an earlier run left there. Only a file whose size is the one
   the server announced and whose header `ingest acra` accepts takes its final name; the
   dataset's older files are removed then. A cut transfer is resumed; a partial file is never
   loaded.
3. A file not yet loaded (no finished `registry_loads` row for its name) is ingested, unless
   `ingest=False`; then `sync companies` takes the rows the loads not synced yet inserted or
   changed (this run's, and any an interrupted run left).

Everything a run did is in the returned report, one entry per dataset.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psycopg
import structlog

from acra_enrich.config import Settings
from acra_enrich.errors import ConfigError, InputFileError
from acra_enrich.registry.acra_ingest import LoadReport, check_header, load_acra_file
from acra_enrich.registry.company_sync import SyncReport, sync_companies
from acra_enrich.registry.loads import record_load
from acra_enrich.sqlfiles import fetch_one, load_queries
from acra_enrich.vendors.datagovsg import DataGovSgClient
from acra_enrich.vendors.policies import make_vendor_web_client
from acra_enrich.web import CONNECT_ERROR, TIMEOUT, WebClient

_Q = load_queries("acra_enrich.registry.sql", "fetch.sql")
log = structlog.get_logger("acra_enrich.fetch")

COLLECTION_ID = "2"  # "ACRA Information on Corporate Entities"
ENTITIES_REGISTERED = "d_3f960c10fed6145404ca7b821f263b87"  # "Entities Registered with ACRA"
SOURCES = ("collection", "entities-registered")
DOWNLOAD_ATTEMPTS = 3  # per dataset and run; a partial file left over is resumed by the next run
_DATASET_ID = re.compile(r"d_[0-9a-f]{32}")


class FetchObserver(Protocol):
    """What a terminal progress display is told (every method is optional to act on)."""

    def started(self, datasets: int) -> None: ...
    def dataset(self, index: int, dataset_id: str, name: str) -> None: ...
    def transferred(self, size: int, total: int | None) -> None: ...
    def ingesting(self, path: Path) -> None: ...
    def waiting(self, seconds: float, why: str) -> None: ...


@dataclass
class DatasetFetch:
    dataset_id: str
    name: str = ""
    last_updated_at: str | None = None
    file: str | None = None
    download: str = "pending"  # downloaded | resumed | unchanged | failed
    bytes: int = 0
    ingest: str = "not loaded"  # loaded | already loaded | skipped (--no-ingest) | failed | not loaded
    load: LoadReport | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset_id": self.dataset_id, "name": self.name, "last_updated_at": self.last_updated_at,
            "file": self.file, "download": self.download, "bytes": self.bytes, "ingest": self.ingest,
            "load": self.load.as_dict() if self.load else None, "error": self.error,
        }


@dataclass
class FetchReport:
    source: str
    dest: str
    datasets: list[DatasetFetch] = field(default_factory=list)
    sync: SyncReport | None = None
    rate_limit_waits: int = 0
    error: str | None = None  # the run could not start (no dataset list)

    @property
    def failed(self) -> list[DatasetFetch]:
        return [d for d in self.datasets if d.failed]

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source, "dest": self.dest, "error": self.error,
            "datasets": [d.as_dict() for d in self.datasets],
            "sync": self.sync.as_dict() if self.sync else None,
            "rate_limit_waits": self.rate_limit_waits,
            "failed": len(self.failed),
        }


def file_name(dataset_id: str, last_updated_at: str | None) -> str:
    """`<dataset id>_<stamp>.csv`: the stamp in digits and T (2025-08-14T14:07:42+08:00 -> 20250814T140742+0800)."""
    stamp = re.sub(r"[^0-9A-Za-z+\-]", "", (last_updated_at or "").replace("-", "", 2)) or "undated"
    return f"{dataset_id}_{stamp}.csv"


def check_source(source: str) -> str:
    if source in SOURCES or _DATASET_ID.fullmatch(source):
        return source
    raise ConfigError(f"--dataset {source!r}: expected one of {', '.join(SOURCES)} or a data.gov.sg dataset id (d_ and 32 hex digits)")


async def fetch_acra(settings: Settings, conn: psycopg.Connection, *, source: str = "collection", dest: Path,
                     ingest: bool = True, observer: FetchObserver | None = None) -> FetchReport:
    """Bring `dest` (and, with `ingest`, staging and companies) up to date with data.gov.sg."""
    check_source(source)
    dest.mkdir(parents=True, exist_ok=True)
    report = FetchReport(source=source, dest=str(dest))
    async with make_vendor_web_client(settings) as web:
        client = DataGovSgClient(web, settings, on_wait=observer.waiting if observer else None)
        dataset_ids = await _dataset_ids(client, source, report)
        if observer:
            observer.started(len(dataset_ids))
        for index, dataset_id in enumerate(dataset_ids):
            item = DatasetFetch(dataset_id)
            report.datasets.append(item)
            await _fetch_dataset(client, web, settings, conn, item, dest, index, observer)
            if ingest and item.file and not item.failed:
                _ingest(conn, item, dest / item.file, observer)
            elif not ingest and item.file and item.ingest == "not loaded":
                item.ingest = "skipped (--no-ingest)"
            (log.error if item.failed else log.info)("dataset_fetched", **item.as_dict())
        report.rate_limit_waits = client.waits
    if ingest and not report.error:
        # Every load not synced yet: this run's, and any an interrupted earlier run left.
        report.sync = sync_companies(conn)
        log.info("companies_synced", **report.sync.as_dict())
    return report


async def _dataset_ids(client: DataGovSgClient, source: str, report: FetchReport) -> list[str]:
    if source == "entities-registered":
        return [ENTITIES_REGISTERED]
    if source != "collection":
        return [source]
    collection = await client.collection(COLLECTION_ID)
    if not collection.ok:
        report.error = f"collection {COLLECTION_ID} metadata: {collection.detail or collection.status}"
        return []
    return list(collection.dataset_ids)


async def _fetch_dataset(client: DataGovSgClient, web: WebClient, settings: Settings, conn: psycopg.Connection,
                         item: DatasetFetch, dest: Path, index: int, observer: FetchObserver | None) -> None:
    meta = await client.dataset(item.dataset_id)
    if not meta.ok:
        item.download, item.error = "failed", f"metadata: {meta.detail or meta.status}"
        return
    item.name, item.last_updated_at = meta.name, meta.last_updated_at
    if observer:
        observer.dataset(index, item.dataset_id, item.name)
    name = file_name(item.dataset_id, meta.last_updated_at)
    final = dest / name
    # Without a stamp nothing tells an old file from a new one: download and load it again.
    loaded = bool(meta.last_updated_at) and fetch_one(conn, _Q["file_loaded"], {"source_file": name})[0]
    conn.commit()
    if meta.last_updated_at and (final.exists() or loaded):
        item.download, item.file = "unchanged", name
        item.bytes = final.stat().st_size if final.exists() else 0
        if loaded:
            item.ingest = "already loaded"
        return
    await _download(client, web, settings, item, final, observer)
    if item.file is not None:
        _remove_older_versions(dest, item.dataset_id, keep=name)


async def _download(client: DataGovSgClient, web: WebClient, settings: Settings, item: DatasetFetch,
                    final: Path, observer: FetchObserver | None) -> None:
    part = final.with_name(final.name + ".part")
    resumed = part.exists() and part.stat().st_size > 0
    for _ in range(DOWNLOAD_ATTEMPTS):
        link = await client.download_link(item.dataset_id)
        if not link.ok:
            item.download, item.error = "failed", f"download link: {link.detail or link.status}"
            return
        offset = part.stat().st_size if part.exists() else 0
        with open(part, "r+b" if part.exists() else "w+b") as sink:
            result = await web.download(
                link.url, sink, offset=offset, max_bytes=settings.datagovsg_max_file_bytes,
                max_seconds=settings.datagovsg_download_timeout_s,
                progress=observer.transferred if observer else None)
            sink.flush()
            os.fsync(sink.fileno())
        if result.status == 416:  # what we hold is no prefix of this file: start over
            part.unlink()
            resumed = False
            continue
        if result.error in (CONNECT_ERROR, TIMEOUT) or (result.ok and not result.complete and result.total is not None):
            resumed = True  # cut short: the next attempt continues from what arrived
            continue
        if not result.ok:
            item.download, item.error = "failed", f"download: {result.error}: {result.detail}"
            return
        try:
            check_header(part)
        except InputFileError as exc:
            part.unlink()
            item.download, item.error = "failed", f"downloaded file refused, not kept: {exc}"
            return
        os.replace(part, final)
        item.download, item.file, item.bytes = ("resumed" if resumed else "downloaded"), final.name, result.size
        return
    item.download = "failed"
    item.error = (f"transfer cut {DOWNLOAD_ATTEMPTS} times; {part.name} is kept and the next run resumes it"
                  if part.exists() else f"no complete file in {DOWNLOAD_ATTEMPTS} attempts")



def _remove_older_versions(dest: Path, dataset_id: str, keep: str) -> None:
    """Earlier files of this dataset (and partial downloads of other versions): superseded now."""
    for old in dest.glob(f"{dataset_id}_*"):
        if old.name != keep and old.name.endswith((".csv", ".csv.part")):
            old.unlink(missing_ok=True)


def _ingest(conn: psycopg.Connection, item: DatasetFetch, path: Path, observer: FetchObserver | None) -> None:
    """Load the file unless it was loaded before."""
    if item.ingest == "already loaded":
        return
    if observer:
        observer.ingesting(path)
    try:
        with record_load(conn, "acra", path.name) as load:
            report = load_acra_file(conn, path, load_id=load.load_id)
            load.finish(report.read, report.inserted, report.updated, report.unchanged, report.rejected)
    except InputFileError as exc:
        item.ingest, item.error = "failed", str(exc)
        return
    conn.execute(_Q["clear_superseded_rejects"], {"dataset_prefix": f"{item.dataset_id}_", "source_file": path.name})
    conn.commit()
    item.ingest, item.load = "loaded", report

