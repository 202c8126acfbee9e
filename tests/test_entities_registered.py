"""The "Entities Registered with ACRA" file (data.gov.sg's most downloaded ACRA dataset):
its real `*_desc` header loads status and type, its deregistered entities are never
selected by a runner (direct, express, nightly's ICP candidates and daily targets), and a file without any status column is loaded with a warning."""

from __future__ import annotations

import asyncio
import csv
import gzip
import io
import json
import subprocess
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.jobs import EXPRESS_ENRICH, enqueue_express_staging_upsert
from acra_enrich.registry.acra_columns import REGISTERED_COLUMNS
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.bundled import BUNDLED_SAMPLES, REGISTERED_SAMPLE
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import iter_good_records, registered_status, write_acra_csv
from acra_enrich.runners.direct import DirectParams, run_direct
from acra_enrich.runners.express import ExpressParams, run_express
from acra_enrich.runners.nightly import NightlyParams, run_nightly_for_tenant
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.tenants.icp import parse_icp
from acra_enrich.tenants.store import add_tenant, set_icp

# The header exactly as data.gov.sg publishes it (shared/data/acra/SCHEMA.md).
HEADER = "uen,issuance_agency_desc,uen_status_desc,entity_name,entity_type_desc,uen_issue_date,reg_street_name,reg_postal_code"
ROWS = [
    ("201912345N", "ACRA", "Registered", "ALPHA TRADING PTE. LTD.", "Local Company", "2019-05-01",
     "ROBINSON ROAD", "068877"),
    ("53312345X", "ACRA", "Deregistered", "BETA CAFE", "Sole Proprietorship/ Partnership", "2001-02-03",
     "JALAN BESAR", "208800"),
    ("T08LL1234A", "ACRA", "REGISTERED", "GAMMA PARTNERS LLP", "LIMITED LIABILITY PARTNERSHIP", "2008-07-01",
     "CECIL STREET", "069533"),
    ("200012345D", "ACRA", "DEREGISTERED", "DELTA HOLDINGS PTE. LTD.", "LOCAL COMPANY", "2000-01-10",
     "", ""),
]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acra_enrich", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def _write(path: Path, header: str, rows: list[tuple[str, ...]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


# Every runner that selects companies, as a function from the database (loaded with ROWS)
# to the UENs it takes.
def _direct_selection(conn: psycopg.Connection) -> set[str]:
    class Seen:
        uens: set[str] = set()

        def started(self, run_id: int | None, total: int | None) -> None: ...
        def advanced(self, uen: str, status: str) -> None: self.uens.add(uen)
        def skipped(self, count: int) -> None: ...

    seen = Seen()
    settings = load_settings()
    asyncio.run(run_direct(settings, DirectParams.from_settings(settings, dry_run=True), observer=seen))
    return seen.uens


def _express_selection(conn: psycopg.Connection) -> set[str]:
    """Every UEN asked for: the staging job queues enrich jobs for the live companies only."""
    enqueue_express_staging_upsert(conn, uens=[row[0] for row in ROWS])
    conn.commit()
    settings = load_settings()
    asyncio.run(run_express(settings, ExpressParams.from_settings(settings, once=True)))
    ids = [i for (params,) in conn.execute("SELECT params FROM background_jobs WHERE job_type = %s",
                                           (EXPRESS_ENRICH,)) for i in params["company_ids"]]
    return {uen for (uen,) in conn.execute("SELECT uen FROM companies WHERE company_id = ANY(%s)", (ids,))}


def _nightly_selection(conn: psycopg.Connection, icp: dict[str, object]) -> set[str]:
    """A tenant's real run: its ICP candidates and its daily targets (the two must agree)."""
    # The file has no SSIC code: give every entity the ICP's industry, so that the status alone
    # decides (a file merged with the full shape's would have them).
    conn.execute("UPDATE companies SET industry_code = '62011'")
    conn.commit()
    conn.autocommit = True
    tenant_id = add_tenant(conn, "T", None)
    set_icp(conn, tenant_id, parse_icp(icp, "test"))
    conn.autocommit = False
    settings = load_settings()
    summary = asyncio.run(run_nightly_for_tenant(settings, tenant_id, NightlyParams()))
    assert summary.status == "done", summary.stop_reason
    candidates = {uen for (uen,) in conn.execute(
        "SELECT c.uen FROM icp_candidates i JOIN companies c USING (company_id) WHERE i.tenant_id = %s",
        (tenant_id,))}
    targets = {uen for (uen,) in conn.execute(
        "SELECT c.uen FROM nightly_targets t JOIN companies c USING (company_id) WHERE t.run_id = %s",
        (summary.run_id,))}
    assert candidates == targets and summary.selected == len(targets)
    return targets


RUNNER_SELECTIONS: dict[str, Callable[[psycopg.Connection], set[str]]] = {
    "direct": _direct_selection, "express": _express_selection,
    # Without `statuses` an ICP takes the live ones (ACRA_DIRECT_EXCLUDE_STATUSES); with them, those.
    "nightly": partial(_nightly_selection, icp={"ssic_codes": ["62"]}),
    "nightly-statuses": partial(_nightly_selection, icp={"ssic_codes": ["62"], "statuses": ["Registered"]})}


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=5, companies=5) as handle:
        yield handle


def test_the_real_header_loads_status_type_and_address(db: psycopg.Connection, env: dict[str, str],
                                                       tmp_path: Path) -> None:
    path = _write(tmp_path / "EntitiesRegisteredwithACRA.csv", HEADER, ROWS)
    done = _cli("ingest", "acra", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert "inserted 4" in done.stdout
    assert "ignored" not in done.stdout and "warning" not in done.stderr

    staged = db.execute(
        "SELECT uen, issuance_agency_id, entity_status_description, entity_name, entity_type_description,"
        " uen_issue_date, street_name, postal_code FROM staging_acra_companies ORDER BY source_line").fetchall()
    assert staged == [tuple(v or None for v in row) for row in ROWS]

    assert _cli("sync", "companies", env=env).returncode == 0
    companies = dict((uen, (status, kind)) for uen, status, kind in db.execute(
        "SELECT uen, status, entity_type FROM companies"))
    assert companies == {row[0]: (row[2], row[4]) for row in ROWS}


@pytest.mark.parametrize("runner", sorted(RUNNER_SELECTIONS))
def test_a_deregistered_entity_is_never_selected(db: psycopg.Connection, env: dict[str, str], tmp_path: Path,
                                                 sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch,
                                                 runner: str) -> None:
    for name, value in {**sandbox.env(), "CRAWL_MAX_PAGES": "1", "CRAWL_RETRY_BACKOFF_S": "0"}.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    load_acra_file(db, _write(tmp_path / "registered.csv", HEADER, ROWS))
    sync_companies(db)
    db.commit()
    # Not vacuous: the runner does select the registered entities of the same file.
    assert RUNNER_SELECTIONS[runner](db) == {"201912345N", "T08LL1234A"}


def test_older_names_of_the_narrow_shape_still_load(db: psycopg.Connection, tmp_path: Path) -> None:
    old = "uen,issuance_agency_id,uen_status,entity_name,entity_type,uen_issue_date,reg_street_name,reg_postal_code"
    report = load_acra_file(db, _write(tmp_path / "old.csv", old, ROWS[:2]))
    assert (report.inserted, report.ignored_columns, report.warnings) == (2, [], [])
    assert db.execute("SELECT entity_status_description, entity_type_description FROM staging_acra_companies"
                      " WHERE uen = '53312345X'").fetchone() == ("Deregistered", "Sole Proprietorship/ Partnership")


def test_a_file_without_a_status_column_warns_once_and_db_status_counts_companies_without_status(
        db: psycopg.Connection, env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "no_status.csv"
    path.write_text("uen,entity_name,entity_type_desc\n201912345N,ALPHA PTE. LTD.,Local Company\n"
                    "201912346N,BETA PTE. LTD.,Local Company\n", encoding="utf-8")
    done = _cli("ingest", "acra", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning:") == 1
    assert "no entity status column" in done.stderr and "counts as live" in done.stderr
    assert "no_status.csv" in done.stderr

    as_json = json.loads(_cli("ingest", "acra", str(path), "--json", env=env).stdout)
    assert len(as_json["warnings"]) == 1

    assert _cli("sync", "companies", env=env).returncode == 0
    load_acra_file(db, _write(tmp_path / "registered.csv", HEADER, ROWS[:1]))  # 201912345N gains a status
    sync_companies(db)
    db.commit()
    status = json.loads(_cli("db", "status", "--json", env=env).stdout)
    assert status["companies_without_status"] == 1
    text = _cli("db", "status", env=env).stdout
    assert "companies without a status: 1 (they count as live" in text


def test_a_file_with_a_status_column_does_not_warn(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "full.csv"
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=20, seed=3)
    assert load_acra_file(db, path).warnings == []


def test_sample_registered_shape_is_the_real_header_with_registered_or_deregistered() -> None:
    out = io.BytesIO()
    write_acra_csv(out, rows=3000, seed=9, shape="registered")
    reader = csv.reader(io.StringIO(out.getvalue().decode("utf-8")))
    assert next(reader) == HEADER.split(",") == list(REGISTERED_COLUMNS)
    rows = list(reader)
    full = [next(r) for r in [iter_good_records(9)] for _ in range(3000)]
    assert [r[0] for r in rows] == [f["uen"] for f in full]  # the same entities as the full shape
    statuses = {r[2] for r in rows}
    assert statuses == {"Registered", "Deregistered"}
    for row, record in zip(rows, full, strict=True):
        assert row[2] == registered_status(record["entity_status_description"])
        assert row[4] == record["entity_type_description"]
    # Gone for good is Deregistered; still on the register (even in liquidation) is Registered.
    assert registered_status("Struck Off") == registered_status("Dissolved - Compulsory Winding Up") == "Deregistered"
    assert registered_status("Live Company") == registered_status("In Liquidation - Members' Voluntary Winding Up") \
        == "Registered"


def test_the_sample_command_writes_the_registered_shape(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "acra_enrich", "sample", "acra", "--rows", "3", "--shape",
                           "registered"], env=env, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(b"\n", 1)[0].decode() == HEADER
    bad = _cli("sample", "acra", "--shape", "wide", env=env)
    assert bad.returncode == 2 and "full, registered, narrow" in bad.stderr


@pytest.mark.parametrize("sample", BUNDLED_SAMPLES, ids=lambda s: s.file)
def test_bundled_samples_are_what_the_generator_makes(sample: object) -> None:
    expected = io.BytesIO()
    sample.generate(expected)  # type: ignore[attr-defined]
    assert gzip.decompress(sample.path.read_bytes()) == expected.getvalue()  # type: ignore[attr-defined]


def test_the_bundled_registered_sample_loads_with_statuses(db: psycopg.Connection) -> None:
    report = load_acra_file(db, REGISTERED_SAMPLE.path)
    assert report.read == REGISTERED_SAMPLE.rows and report.ignored_columns == [] and report.warnings == []
    assert 0 < report.rejected < 20
    counts = dict(db.execute("SELECT entity_status_description, count(*) FROM staging_acra_companies GROUP BY 1"))
    assert set(counts) == {"Registered", "Deregistered"} and min(counts.values()) > 100
