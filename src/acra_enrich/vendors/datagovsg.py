"""data.gov.sg, the registry's publisher: collection and dataset metadata, and file downloads.

The endpoints (guide.data.gov.sg developer guide, and the shapes public clients read):
- `GET https://api-production.data.gov.sg/v2/public/api/collections/{id}/metadata` ->
  `{"code": 0, "data": {"collectionMetadata": {"collectionId", "name", "lastUpdatedAt",
  "childDatasets": ["d_…", …], …}}}`.
- `GET https://api-production.data.gov.sg/v2/public/api/datasets/{id}/metadata` ->
  `{"code": 0, "data": {"datasetId", "name", "format", "lastUpdatedAt", …}}`.
- `GET https://api-open.data.gov.sg/v1/public/api/datasets/{id}/initiate-download` -> 201
  `{"code": 0, "data": {"message", "url"?}}`, then `GET …/poll-download` -> 201
  `{"code": 0, "data": {"status", "url"?}}` until `url` (a signed link, valid about an hour)
  appears; a status naming a failure ends the wait.
- `x-api-key` (optional) raises the limits: downloads 2 / 4 / 10 calls per 10 s without a key /
  with a development key / with a production key. Over the limit the answer is 429, which is
  answered by waiting (Retry-After when sent, else the 10 s window), never by giving up at once.
- An error comes back as a non-zero `code` with `errMsg` (v1) or `errorMsg` (v2).

DATAGOVSG_BASE_URL replaces both hosts (the sandbox serves both path families).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

from acra_enrich.config import Settings
from acra_enrich.vendors.base import (
    ERROR,
    OK,
    RATE_LIMITED,
    TIMEOUT_STATUS,
    VendorClient,
    VendorOutcome,
    json_body,
    secret_values,
    text_at,
)
from acra_enrich.web import WebClient
from acra_enrich.web.retry import TRANSIENT_STATUSES, parse_retry_after

METADATA_BASE_URL = "https://api-production.data.gov.sg"
DOWNLOAD_BASE_URL = "https://api-open.data.gov.sg"
RATE_WINDOW_S = 10.0  # data.gov.sg's limits reset every 10 s
TRANSIENT_TRIES = 3  # for 5xx answers and lost connections (a 429 is waited out instead)
_FAILED_WORDS = ("FAIL", "ERROR", "CANCEL")


def base_urls(settings: Settings) -> tuple[str, str]:
    """(metadata base, download base) without trailing slashes."""
    if settings.datagovsg_base_url:
        base = settings.datagovsg_base_url.rstrip("/")
        return base, base
    return METADATA_BASE_URL, DOWNLOAD_BASE_URL


def download_calls_per_window(settings: Settings) -> int:
    if settings.datagovsg_downloads_per_10s is not None:
        return settings.datagovsg_downloads_per_10s
    return 4 if settings.datagovsg_api_key is not None else 2


@dataclass(frozen=True)
class CollectionInfo(VendorOutcome):
    collection_id: str = ""
    name: str = ""
    last_updated_at: str | None = None
    dataset_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class DatasetInfo(VendorOutcome):
    dataset_id: str = ""
    name: str = ""
    last_updated_at: str | None = None
    format: str = ""


@dataclass(frozen=True)
class DownloadLink(VendorOutcome):
    url: str = ""


class DataGovSgClient(VendorClient):
    """Never raises for what the network or data.gov.sg does; `waits` counts answers of 429."""

    vendor = "datagovsg"

    def __init__(self, web: WebClient, settings: Settings,
                 on_wait: Callable[[float, str], None] | None = None) -> None:
        key = settings.datagovsg_api_key
        super().__init__(web, None, disabled_reason=None, secrets=secret_values(key))
        self._metadata_base, self._download_base = base_urls(settings)
        self._headers = {"Accept": "application/json", **({"x-api-key": key.get_secret_value()} if key else {})}
        self._poll_interval_s = settings.datagovsg_poll_interval_s
        self._max_wait_s = settings.datagovsg_max_wait_s
        self._on_wait = on_wait
        self.waits = 0

    async def collection(self, collection_id: str) -> CollectionInfo:
        answer, body = await self._call(f"{self._metadata_base}/v2/public/api/collections/{collection_id}/metadata")
        if answer is not None:
            return CollectionInfo(answer.status, answer.detail, answer.http_status, collection_id)
        meta = _at(body, "data", "collectionMetadata")
        ids = meta.get("childDatasets") if isinstance(meta, dict) else None
        if not isinstance(ids, list) or not ids:
            return CollectionInfo(ERROR, "collection metadata without childDatasets", collection_id=collection_id)
        # Entries are dataset ids; some clients have met objects carrying one, so accept both.
        dataset_ids = tuple(i if isinstance(i, str) else str(i.get("datasetId", "")) for i in ids
                            if isinstance(i, (str, dict)))
        return CollectionInfo(OK, collection_id=collection_id, name=text_at(meta, "name") or "",
                              last_updated_at=text_at(meta, "lastUpdatedAt"),
                              dataset_ids=tuple(i for i in dataset_ids if i))

    async def dataset(self, dataset_id: str) -> DatasetInfo:
        answer, body = await self._call(f"{self._metadata_base}/v2/public/api/datasets/{dataset_id}/metadata")
        if answer is not None:
            return DatasetInfo(answer.status, answer.detail, answer.http_status, dataset_id)
        data = _at(body, "data")
        if not isinstance(data, dict):
            return DatasetInfo(ERROR, "dataset metadata without data", dataset_id=dataset_id)
        return DatasetInfo(OK, dataset_id=dataset_id, name=text_at(data, "name") or "",
                           last_updated_at=text_at(data, "lastUpdatedAt"), format=text_at(data, "format") or "")

    async def download_link(self, dataset_id: str) -> DownloadLink:
        """Initiate the download, then poll until the signed link is ready (or the wait ends)."""
        deadline = time.monotonic() + self._max_wait_s
        base = f"{self._download_base}/v1/public/api/datasets/{dataset_id}"
        answer, body = await self._call(f"{base}/initiate-download", deadline)
        if answer is not None:
            return DownloadLink(answer.status, f"initiate-download: {answer.detail}", answer.http_status)
        while True:
            url = text_at(body, "data", "url")
            if url:
                return DownloadLink(OK, url=url)
            status = text_at(body, "data", "status") or ""
            if any(word in status.upper() for word in _FAILED_WORDS):
                return DownloadLink(ERROR, self._detail(f"data.gov.sg could not prepare the file: {status}"))
            if time.monotonic() + self._poll_interval_s > deadline:
                return DownloadLink(TIMEOUT_STATUS, f"file not ready within {self._max_wait_s:g}s (last status {status or 'none'})")
            await asyncio.sleep(self._poll_interval_s)
            answer, body = await self._call(f"{base}/poll-download", deadline)
            if answer is not None:
                return DownloadLink(answer.status, f"poll-download: {answer.detail}", answer.http_status)

    async def _call(self, url: str, deadline: float | None = None) -> tuple[VendorOutcome | None, Any]:
        """(None, JSON body) on success, else (how it failed, None).

        A 429 is waited out (Retry-After, else the 10 s window) until `deadline`; 5xx answers
        and lost connections are tried TRANSIENT_TRIES times. The web client is asked for one
        attempt, so that every wait is this loop's, bounded and counted.
        """
        deadline = deadline if deadline is not None else time.monotonic() + self._max_wait_s
        transient = 0
        while True:
            result = await self.web.request("GET", url, headers=self._headers, attempts=1)
            body = json_body(result)
            if result.status == 429:
                wait = parse_retry_after(result.headers.get("retry-after"))
                wait = RATE_WINDOW_S if wait is None else max(wait, 0.1)
                if time.monotonic() + wait > deadline:
                    return VendorOutcome(RATE_LIMITED, f"HTTP 429 for longer than {self._max_wait_s:g}s", 429), None
                self.waits += 1
                if self._on_wait is not None:
                    self._on_wait(wait, "rate limited (HTTP 429)")
                await asyncio.sleep(wait)
                continue
            if (result.status is None or result.status in TRANSIENT_STATUSES) and transient + 1 < TRANSIENT_TRIES:
                transient += 1
                await asyncio.sleep(min(2.0 ** transient, max(0.0, deadline - time.monotonic())))
                continue
            code = body.get("code") if isinstance(body, dict) else None
            if result.ok and isinstance(body, dict) and code in (0, None):
                return None, body
            message = text_at(body, "errMsg") or text_at(body, "errorMsg") or text_at(body, "message")
            if result.ok:
                return VendorOutcome(ERROR, self._detail(f"code {code}: {message or 'no message'}"), result.status), None
            return VendorOutcome(*self._failure(result, message), result.status), None


def _at(body: Any, *keys: str) -> Any:
    for key in keys:
        body = body.get(key) if isinstance(body, dict) else None
    return body

