"""data.gov.sg emulation: the registry's publisher, for `fetch acra` (hosts api-production.data.gov.sg,
api-open.data.gov.sg and the download bucket's s3.ap-southeast-1.amazonaws.com; every route
answers on each, so one DATAGOVSG_BASE_URL serves both API families).

It publishes the world's registry rows (the first n records of `write_acra_csv(seed=seed)`):
- collection 2, "ACRA Information on Corporate Entities": 27 child datasets, one per first
  letter of the entity name plus "Others" (A is data.gov.sg's real id), 94-column CSVs;
- `d_3f960c10fed6145404ca7b821f263b87`, "Entities Registered with ACRA": every row, in the
  `*_desc` shape with Registered / Deregistered.

Routes, in the shapes of the real service (vendors/datagovsg.py cites them):
- `GET /v2/public/api/collections/{id}/metadata` -> `{"code": 0, "data": {"collectionMetadata": {...,
  "childDatasets": [...]}}, "errorMsg": ""}`; unknown id -> 404 `{"code": 404, "errorMsg": ...}`.
- `GET /v2/public/api/datasets/{id}/metadata` -> `{"code": 0, "data": {"datasetId", "name", "format",
  "lastUpdatedAt", "datasetSize", ...}}`.
- `GET /v1/public/api/datasets/{id}/initiate-download` -> 201 `{"code": 0, "data": {"message": ...}}`;
  then `GET .../poll-download` -> 201 `{"code": 0, "data": {"status": "DOWNLOAD_PROCESSING"}}` once, then
  `{"status": "DOWNLOAD_SUCCESS", "url": <signed link>}` (a poll without an initiate answers at once).
- the signed link `GET /blobs.data.gov.sg/{id}.csv?X-Amz-Expires=..&X-Amz-Signature=..`: the file of
  the version it was signed for, with Content-Length; `Range: bytes=N-` -> 206 with Content-Range,
  past the end -> 416; a wrong signature or an expired link -> 403 S3 XML error.

Rate limit: download calls (initiate, poll) over `Publisher.configure_rate_limit(limit, window_s)`
per window -> 429 `{"message": "Too Many Requests"}` with Retry-After (unless retry_after=False).
An `x-api-key` containing "invalid" -> 403 `{"message": "Forbidden"}`. `publish()` makes a
dataset (or all) change: a month later, some rows edited and new entities added, as a monthly
refresh does. `cut_next_download(n)` sends the next file's headers and only n bytes, then
hangs up, as a dropped connection does.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import islice
from typing import Any
from urllib.parse import urlencode

from acra_enrich.registry.acra_columns import FULL_COLUMNS, REGISTERED_COLUMNS, canonical_name
from acra_enrich.registry.sample import iter_good_records, registered_status
from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.responses import CUT_HEADER, key_ok
from acra_enrich.sandbox.vendors._common import RETRY_AFTER_S, fault_response
from acra_enrich.sandbox.vendors.ddg import RateLimit

VENDOR = "datagovsg"
COLLECTION_ID = "2"
COLLECTION_NAME = "ACRA Information on Corporate Entities"
ENTITIES_REGISTERED = "d_3f960c10fed6145404ca7b821f263b87"
LETTER_A = "d_8575e84912df3c28995b8e6e0e05205a"
PARTS = (*(chr(c) for c in range(ord("A"), ord("Z") + 1)), "Others")
BLOB_HOST = "s3.ap-southeast-1.amazonaws.com"
FIRST_PUBLISHED = datetime(2025, 6, 14, 14, 7, 42, tzinfo=timezone(timedelta(hours=8)))
LINK_TTL_S = 3600
NEW_ROWS_PER_VERSION = 6  # entities registered since the previous month, across the collection
_SECRET = b"sandbox-datagovsg-signing-key"


def part_dataset_id(part: str) -> str:
    return LETTER_A if part == "A" else "d_" + hashlib.md5(f"acra-collection-2:{part}".encode()).hexdigest()


def _part_of(name: str) -> str:
    first = name.strip()[:1].upper()
    return first if "A" <= first <= "Z" else "Others"


@dataclass(frozen=True)
class _Dataset:
    dataset_id: str
    name: str
    part: str | None  # None: every row, in the registered shape


class Publisher:
    """What is published (versions per dataset) and the emulation's knobs; shared with the server."""

    def __init__(self, seed: int, rows: int) -> None:
        self._lock = threading.Lock()
        self.seed, self.rows = seed, rows
        self.datasets = {d.dataset_id: d for d in (
            *(_Dataset(part_dataset_id(p), f"{COLLECTION_NAME} ('{p}')", p) for p in PARTS),
            _Dataset(ENTITIES_REGISTERED, "Entities Registered with ACRA", None))}
        self.rate_limit = RateLimit(limit=1_000_000, window_s=10.0)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._versions: dict[str, int] = {}
            self._ready: dict[str, int] = {}  # dataset id -> polls still "processing"
            self._cut_at: int | None = None
            self._files: dict[tuple[str, int], bytes] = {}
            self._records: dict[int, list[dict[str, str]]] = {}
            self.api_keys: list[str | None] = []
            self.retry_after = True
        self.rate_limit.configure(1_000_000, 10.0)

    # --- knobs -------------------------------------------------------------------------

    def publish(self, dataset_id: str | None = None) -> None:
        """A new month: the dataset (default: every dataset) changes."""
        with self._lock:
            for key in [dataset_id] if dataset_id else list(self.datasets):
                self._versions[key] = self._versions.get(key, 0) + 1

    def configure_rate_limit(self, limit: int, window_s: float = 10.0, retry_after: bool = True) -> None:
        self.rate_limit.configure(limit, window_s)
        self.retry_after = retry_after

    def cut_next_download(self, after_bytes: int) -> None:
        with self._lock:
            self._cut_at = after_bytes

    def version(self, dataset_id: str) -> int:
        with self._lock:
            return self._versions.get(dataset_id, 0)

    def last_updated_at(self, dataset_id: str) -> str:
        return _months_after(FIRST_PUBLISHED, self.version(dataset_id)).isoformat()

    # --- content -----------------------------------------------------------------------

    def file(self, dataset_id: str, version: int) -> bytes:
        key = (dataset_id, version)
        with self._lock:
            cached = self._files.get(key)
        if cached is None:
            cached = self._render(self.datasets[dataset_id], version)
            with self._lock:
                self._files[key] = cached
        return cached

    def records(self, version: int) -> list[dict[str, str]]:
        """Every entity as published at `version`: the world's rows, edited and grown by month."""
        with self._lock:
            cached = self._records.get(version)
        if cached is None:
            cached = self._publish_records(version)
            with self._lock:
                self._records[version] = cached
        return cached

    def _publish_records(self, version: int) -> list[dict[str, str]]:
        records = list(islice(iter_good_records(self.seed), self.rows + NEW_ROWS_PER_VERSION * version))
        for month in range(1, version + 1):
            for record in records[: self.rows]:
                digest = hashlib.sha256(f"{record['uen']}:{month}".encode()).digest()[0]
                if digest % 10 == 0:  # about a tenth of the entities change each month
                    record["street_name"] = f"{month} CHANGED STREET"
                    if digest % 20 == 0:
                        record["entity_status_description"] = "Struck Off"
        return records

    def _render(self, dataset: _Dataset, version: int) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        records = self.records(version)
        if dataset.part is None:
            writer.writerow(REGISTERED_COLUMNS)
            for record in records:
                row = [record[canonical_name(c)] for c in REGISTERED_COLUMNS]
                row[REGISTERED_COLUMNS.index("uen_status_desc")] = registered_status(record["entity_status_description"])
                writer.writerow(row)
        else:
            writer.writerow(FULL_COLUMNS)
            for record in records:
                if _part_of(record["entity_name"]) == dataset.part:
                    writer.writerow([record[c] for c in FULL_COLUMNS])
        return out.getvalue().encode("utf-8")

    # --- downloads ---------------------------------------------------------------------

    def initiate(self, dataset_id: str) -> None:
        with self._lock:
            self._ready[dataset_id] = 1

    def poll(self, dataset_id: str) -> bool:
        """True when the file is ready (one "processing" answer after each initiate)."""
        with self._lock:
            left = self._ready.get(dataset_id, 0)
            self._ready[dataset_id] = max(0, left - 1)
            return left == 0

    def take_cut(self) -> int | None:
        with self._lock:
            cut, self._cut_at = self._cut_at, None
            return cut


def _months_after(start: datetime, months: int) -> datetime:
    month = start.month - 1 + months
    return start.replace(year=start.year + month // 12, month=month % 12 + 1)


def _signature(dataset_id: str, version: int, expires: int) -> str:
    return hmac.new(_SECRET, f"{dataset_id}:{version}:{expires}".encode(), hashlib.sha256).hexdigest()


def _ok(data: dict[str, Any], status: int = 200) -> SandboxResponse:
    return SandboxResponse.json({"code": 0, "data": data, "errorMsg": ""}, status)


def _not_found(what: str) -> SandboxResponse:
    return SandboxResponse.json({"code": 404, "data": None, "errorMsg": f"{what} not found"}, 404)


def _s3_error(code: str, message: str, status: int = 403) -> SandboxResponse:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{message}</Message>'
            f"<RequestId>SANDBOX</RequestId></Error>")
    return SandboxResponse(status, {"Content-Type": "application/xml"}, body.encode())


def make_handler(world: Any, faults: Faults, publisher: Publisher | None = None) -> Handler:
    pub = publisher or Publisher(world.seed, len(world.companies))

    def collection_metadata(collection_id: str) -> SandboxResponse:
        if collection_id != COLLECTION_ID:
            return _not_found(f"collection {collection_id}")
        children = [part_dataset_id(p) for p in PARTS]
        return _ok({"collectionMetadata": {
            "collectionId": COLLECTION_ID, "name": COLLECTION_NAME, "frequency": "Monthly",
            "sources": ["Accounting and Corporate Regulatory Authority"],
            "createdAt": FIRST_PUBLISHED.isoformat(),
            "lastUpdatedAt": max(pub.last_updated_at(c) for c in children),
            "coverageStart": "1900-01-01T00:00:00+07:30", "coverageEnd": pub.last_updated_at(children[0]),
            "childDatasets": children,
        }})

    def dataset_metadata(dataset_id: str) -> SandboxResponse:
        dataset = pub.datasets.get(dataset_id)
        if dataset is None:
            return _not_found(f"dataset {dataset_id}")
        return _ok({
            "datasetId": dataset_id, "name": dataset.name, "format": "CSV",
            "collectionIds": [COLLECTION_ID] if dataset.part else [],
            "createdAt": FIRST_PUBLISHED.isoformat(), "lastUpdatedAt": pub.last_updated_at(dataset_id),
            "managedByAgencyName": "Accounting and Corporate Regulatory Authority",
            "datasetSize": len(pub.file(dataset_id, pub.version(dataset_id))),
        })

    def download_api(dataset_id: str, action: str) -> SandboxResponse:
        if not pub.rate_limit.allow():
            headers = {"Retry-After": RETRY_AFTER_S} if pub.retry_after else {}
            return SandboxResponse.json({"message": "Too Many Requests"}, 429, headers)
        if dataset_id not in pub.datasets:
            return _not_found(f"dataset {dataset_id}")
        if action == "initiate-download":
            pub.initiate(dataset_id)
            return _ok({"message": "Download has been initiated. Please poll for the download URL."}, 201)
        if not pub.poll(dataset_id):
            return _ok({"status": "DOWNLOAD_PROCESSING"}, 201)
        version = pub.version(dataset_id)
        expires = int(time.time()) + LINK_TTL_S
        query = urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Expires": LINK_TTL_S,
                           "X-Amz-Date": expires, "x-sandbox-version": version,
                           "X-Amz-Signature": _signature(dataset_id, version, expires)})
        return _ok({"status": "DOWNLOAD_SUCCESS", "url": f"http://{BLOB_HOST}/blobs.data.gov.sg/{dataset_id}.csv?{query}"},
                   201)

    def blob(req: SandboxRequest, dataset_id: str) -> SandboxResponse:
        try:
            version, expires = int(req.arg("x-sandbox-version") or ""), int(req.arg("X-Amz-Date") or "")
        except ValueError:
            return _s3_error("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                             "AWSAccessKeyId parameters")
        if dataset_id not in pub.datasets or not hmac.compare_digest(
                req.arg("X-Amz-Signature") or "", _signature(dataset_id, version, expires)):
            return _s3_error("SignatureDoesNotMatch", "The request signature we calculated does not match the "
                             "signature you provided.")
        if time.time() > expires:
            return _s3_error("AccessDenied", "Request has expired")
        body = pub.file(dataset_id, version)
        headers = {"Content-Type": "text/csv", "Accept-Ranges": "bytes",
                   "ETag": f'"{hashlib.md5(body).hexdigest()}"'}
        status, start = 200, 0
        wanted = req.headers.get("range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-") and wanted[6:-1].isdigit():
            start = int(wanted[6:-1])
            if start >= len(body):
                return SandboxResponse(416, {"Content-Range": f"bytes */{len(body)}", "Content-Type": "application/xml"},
                                       b"<Error><Code>InvalidRange</Code></Error>")
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        cut = pub.take_cut()
        if cut is not None:
            headers[CUT_HEADER] = str(cut)
        return SandboxResponse(status, headers, body[start:])

    def handle(req: SandboxRequest) -> SandboxResponse:
        if req.method != "GET":
            return SandboxResponse.json({"message": "Method Not Allowed"}, 405)
        path = req.path.rstrip("/")
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "blobs.data.gov.sg" and parts[1].endswith(".csv"):
            return blob(req, parts[1].removesuffix(".csv"))
        key = req.headers.get("x-api-key")
        pub.api_keys.append(key)
        if key is not None and not key_ok(key):
            return SandboxResponse.json({"message": "Forbidden"}, 403)
        fault = faults.take(VENDOR)
        if fault is not None:
            return fault_response(fault, lambda status: SandboxResponse.json(
                {"message": "Too Many Requests" if status == 429 else "Internal Server Error"}, status))
        if parts[:4] == ["v2", "public", "api", "collections"] and len(parts) == 6 and parts[5] == "metadata":
            return collection_metadata(parts[4])
        if parts[:4] == ["v2", "public", "api", "datasets"] and len(parts) == 6 and parts[5] == "metadata":
            return dataset_metadata(parts[4])
        if parts[:4] == ["v1", "public", "api", "datasets"] and len(parts) == 6 \
                and parts[5] in ("initiate-download", "poll-download"):
            return download_api(parts[4], parts[5])
        return SandboxResponse.json({"message": "Not Found"}, 404)

    return handle
