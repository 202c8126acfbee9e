"""`fetch acra` against the data.gov.sg emulation over real HTTP, into a real PostgreSQL: the whole
collection, an unchanged second run, a dataset that changed, rate limits answered by waiting,
cut and leftover partial downloads, a refused file, --no-ingest, and errors named clearly."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.registry.acra_fetch import ENTITIES_REGISTERED, FetchReport, fetch_acra, file_name
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.sandbox.vendors import datagovsg as emulation

SEED, ROWS = 31, 160
FIRST_STAMP = "20250614T140742+0800"
SECOND_STAMP = "20250714T140742+0800"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=SEED, companies=ROWS) as handle:
        yield handle


@pytest.fixture
def fetch_env(env: dict[str, str], sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    sandbox.reset()
    for name, value in sandbox.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DATAGOVSG_API_KEY", raising=False)
    reset_settings_cache()
    return {**env, **sandbox.env()}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acra_enrich", "fetch", "acra", *args], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def run(conn: psycopg.Connection, dest: Path, **kwargs: Any) -> FetchReport:
    return asyncio.run(fetch_acra(load_settings(), conn, dest=dest, **kwargs))


def blob_statuses(sandbox: SandboxHandle) -> list[int]:
    return [r.status for r in sandbox.requests(host=emulation.BLOB_HOST)]


def test_the_collection_is_fetched_loaded_and_synced_then_nothing_twice(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path) -> None:
    dest = tmp_path / "acra"
    done = cli({**fetch_env, "DATAGOVSG_API_KEY": "dev-key-123"}, "--dest", str(dest), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert len(report["datasets"]) == 27 and report["failed"] == 0
    assert {d["download"] for d in report["datasets"]} == {"downloaded"}
    assert {d["ingest"] for d in report["datasets"]} == {"loaded"}
    assert sum(d["load"]["inserted"] for d in report["datasets"]) == ROWS
    assert report["sync"]["inserted"] == ROWS
    # Every file under its dataset id and the publisher's stamp, byte for byte as published.
    for item in report["datasets"]:
        path = dest / file_name(item["dataset_id"], item["last_updated_at"])
        assert path.name == f"{item['dataset_id']}_{FIRST_STAMP}.csv" == item["file"]
        assert path.read_bytes() == sandbox.datagovsg.file(item["dataset_id"], 0)
    assert not list(dest.glob("*.part"))
    assert db.execute("SELECT count(*) FROM staging_acra_companies").fetchone()[0] == ROWS
    assert db.execute("SELECT count(*) FROM companies").fetchone()[0] == ROWS
    # The key went with every API call, and never into the output.
    assert set(sandbox.datagovsg.api_keys) == {"dev-key-123"}
    assert "dev-key-123" not in done.stdout + done.stderr
    loads = db.execute("SELECT count(*) FROM registry_loads").fetchone()[0]

    sandbox.reset()
    again = cli(fetch_env, "--dest", str(dest))
    assert again.returncode == 0, again.stderr
    assert "27 datasets: 0 downloaded, 27 unchanged, 0 failed" in again.stdout
    assert blob_statuses(sandbox) == []  # no file was downloaded
    assert db.execute("SELECT count(*) FROM registry_loads").fetchone()[0] == loads  # nor loaded
    assert set(sandbox.datagovsg.api_keys) == {None}  # no key configured: none sent


def test_a_dataset_that_changed_is_downloaded_and_merged_alone(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path) -> None:
    dest = tmp_path / "acra"
    first = run(db, dest, source="entities-registered")
    assert first.datasets[0].download == "downloaded" and first.datasets[0].load is not None
    old_file = dest / f"{ENTITIES_REGISTERED}_{FIRST_STAMP}.csv"
    assert old_file.exists()

    sandbox.datagovsg.publish(ENTITIES_REGISTERED)
    second = run(db, dest, source="entities-registered")

    item = second.datasets[0]
    assert (item.download, item.file) == ("downloaded", f"{ENTITIES_REGISTERED}_{SECOND_STAMP}.csv")
    assert not old_file.exists()  # superseded
    before, after = sandbox.datagovsg.records(0), sandbox.datagovsg.records(1)
    changed = sum(a["street_name"] != b["street_name"] or
                  emulation.registered_status(a["entity_status_description"])
                  != emulation.registered_status(b["entity_status_description"])
                  for a, b in zip(before, after))
    assert item.load is not None
    assert (item.load.inserted, item.load.updated) == (len(after) - len(before), changed) and changed > 0
    assert item.load.unchanged == len(before) - changed
    # Only what changed reached companies.
    assert second.sync is not None
    assert (second.sync.inserted, second.sync.seen) == (len(after) - len(before), len(after) - len(before) + changed)
    struck = {r["uen"] for r in after if r["entity_status_description"] == "Struck Off"} - \
        {r["uen"] for r in before if r["entity_status_description"] == "Struck Off"}
    assert struck
    statuses = dict(db.execute("SELECT uen, status FROM companies WHERE uen = ANY(%s)", (list(struck),)).fetchall())
    assert set(statuses.values()) <= {"Deregistered"}


@pytest.mark.parametrize("retry_after", [True, False], ids=["Retry-After", "no Retry-After"])
def test_rate_limits_are_waited_out(db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle,
                                    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, retry_after: bool) -> None:
    # Without Retry-After the client waits out data.gov.sg's 10 s window (shortened here).
    monkeypatch.setattr("acra_enrich.vendors.datagovsg.RATE_WINDOW_S", 0.5)
    sandbox.datagovsg.configure_rate_limit(1, window_s=1.0 if retry_after else 0.5, retry_after=retry_after)
    report = run(db, tmp_path, source=ENTITIES_REGISTERED)
    assert report.rate_limit_waits > 0 and not report.failed
    assert Counter(r.status for r in sandbox.requests(host="api-open.data.gov.sg"))[429] == report.rate_limit_waits
    assert (tmp_path / f"{ENTITIES_REGISTERED}_{FIRST_STAMP}.csv").exists()


def test_a_rate_limit_that_never_lifts_fails_the_dataset_within_the_wait(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATAGOVSG_MAX_WAIT_S", "3")
    sandbox.datagovsg.configure_rate_limit(0, window_s=60.0)
    report = run(db, tmp_path, source=ENTITIES_REGISTERED)
    assert report.datasets[0].download == "failed"
    assert "429" in (report.datasets[0].error or "")
    assert not list(tmp_path.glob("*.csv"))


def test_a_cut_transfer_is_resumed_with_a_range_request(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path) -> None:
    sandbox.datagovsg.cut_next_download(4000)
    report = run(db, tmp_path, source=ENTITIES_REGISTERED)
    item = report.datasets[0]
    assert (item.download, item.ingest) == ("resumed", "loaded")
    assert blob_statuses(sandbox) == [200, 206]
    assert (tmp_path / item.file).read_bytes() == sandbox.datagovsg.file(ENTITIES_REGISTERED, 0)  # type: ignore[operator]


@pytest.mark.parametrize("leftover", ["prefix", "longer than the file"])
def test_a_partial_file_left_by_an_earlier_run_is_resumed_or_restarted(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path,
        leftover: str) -> None:
    published = sandbox.datagovsg.file(ENTITIES_REGISTERED, 0)
    part = tmp_path / f"{ENTITIES_REGISTERED}_{FIRST_STAMP}.csv.part"
    part.write_bytes(published[:2500] if leftover == "prefix" else b"x" * (len(published) + 10))
    report = run(db, tmp_path, source=ENTITIES_REGISTERED)
    item = report.datasets[0]
    assert item.download == ("resumed" if leftover == "prefix" else "downloaded") and not item.failed
    assert (tmp_path / item.file).read_bytes() == published  # type: ignore[operator]
    assert not part.exists()
    # A prefix continues (206); a leftover the server cannot continue (416) starts over (200).
    assert blob_statuses(sandbox) == ([206] if leftover == "prefix" else [416, 200])
    assert item.load is not None and item.load.rejected == 0


def test_a_file_that_is_not_an_acra_csv_is_refused_and_not_kept(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox.datagovsg, "file", lambda dataset_id, version: b"<html><body>Maintenance</body></html>\n")
    report = run(db, tmp_path, source=ENTITIES_REGISTERED)
    item = report.datasets[0]
    assert item.download == "failed" and "required column(s) missing" in (item.error or "")
    assert list(tmp_path.iterdir()) == []
    assert db.execute("SELECT count(*) FROM registry_loads").fetchone()[0] == 0


def test_no_ingest_downloads_only_and_a_later_run_loads_without_downloading(
        db: psycopg.Connection, fetch_env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path) -> None:
    first = run(db, tmp_path, source=ENTITIES_REGISTERED, ingest=False)
    assert (first.datasets[0].download, first.datasets[0].ingest) == ("downloaded", "skipped (--no-ingest)")
    assert db.execute("SELECT count(*) FROM staging_acra_companies").fetchone()[0] == 0
    sandbox.reset()
    second = run(db, tmp_path, source=ENTITIES_REGISTERED)
    assert (second.datasets[0].download, second.datasets[0].ingest) == ("unchanged", "loaded")
    assert blob_statuses(sandbox) == []
    assert db.execute("SELECT count(*) FROM staging_acra_companies").fetchone()[0] == ROWS


def test_errors_are_named_and_exit_1_without_the_key(
        db: psycopg.Connection, fetch_env: dict[str, str], tmp_path: Path) -> None:
    refused = cli({**fetch_env, "DATAGOVSG_API_KEY": "invalid-key-777"}, "--dest", str(tmp_path))
    assert refused.returncode == 1
    assert "collection 2 metadata" in refused.stderr and "HTTP 403" in refused.stderr
    assert "invalid-key-777" not in refused.stdout + refused.stderr
    unknown = cli(fetch_env, "--dest", str(tmp_path), "--dataset", "d_" + "0" * 32)
    assert unknown.returncode == 1 and "metadata: HTTP 404" in unknown.stdout
    bad = cli(fetch_env, "--dataset", "everything")
    assert bad.returncode == 2 and "collection, entities-registered" in bad.stderr


def test_downloads_keep_the_web_clients_guards(fetch_env: dict[str, str], sandbox: SandboxHandle,
                                               tmp_path: Path) -> None:
    from acra_enrich.web import SSRF_BLOCKED, TOO_LARGE, make_web_client

    async def download(url: str, settings: Any, max_bytes: int) -> Any:
        async with make_web_client(settings) as web:
            with open(tmp_path / "sink", "w+b") as sink:
                return await web.download(url, sink, max_bytes=max_bytes, max_seconds=30)

    guarded = load_settings(enrich_http_proxy=None, enrich_allow_private_networks=False)
    refused = asyncio.run(download("http://127.0.0.1:9/registry.csv", guarded, 1 << 20))
    assert refused.error == SSRF_BLOCKED and refused.written == 0

    link = asyncio.run(_link(sandbox))
    capped = asyncio.run(download(link, load_settings(), 1000))
    assert capped.error == TOO_LARGE and capped.written <= 1000
    signature = parse_qs(urlsplit(link).query)["X-Amz-Signature"][0]
    assert signature not in repr(capped) and "X-Amz-Signature=REDACTED" in repr(capped)


async def _link(sandbox: SandboxHandle) -> str:
    from acra_enrich.vendors.datagovsg import DataGovSgClient
    from acra_enrich.vendors.policies import make_vendor_web_client

    settings = load_settings()
    async with make_vendor_web_client(settings) as web:
        link = await DataGovSgClient(web, settings).download_link(ENTITIES_REGISTERED)
    assert link.ok, link.detail
    return link.url
