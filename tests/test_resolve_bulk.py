"""Bulk resolution: `resolve_many` gives what one call per mention gives, in a few statements."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acra_enrich.db import connect
from acra_enrich.resolve import LookupServerError, Mention, ResolutionStatus
from acra_enrich.resolve.bulk import resolve_file
from resolve_helpers import DirectoryProvider, add_mapping, make_service, round_trips

# --- the same mentions, one call each and in bulk ------------------------------------------

# Small pools, so that a random set of mentions repeats itself, hits what an earlier
# mention of the same chunk cached or remembered, and needs TEMP ids.
NAMES = ["Acme Pte Ltd", "ACME LIMITED", "Acme Holdings Pte Ltd", "Globex Ltd", "Globex Trading",
         "GLOBEX PRIVATE LIMITED",
         "Initech", "Umbrella Corp", "Twin Co", "Flaky Ltd", "Nobody Pte Ltd", "Imported Co", "  "]
PLAN_CODES = ["P1", "p1", "P2", "P3", "TEMPED"]
ACCOUNTS = ["Acct One", "Acct Two", "Globex Ltd"]
UENS = ["201912345N", "199900001A", "200000002B", "MAPPED-UEN"]

mentions_strategy = st.lists(
    st.builds(Mention.of, plan_code=st.sampled_from([None] * 6 + PLAN_CODES),
              customer_name=st.sampled_from([None] * 2 + NAMES),
              account_name=st.sampled_from([None] * 6 + ACCOUNTS),
              uen=st.sampled_from([None] * 8 + UENS)),
    min_size=1, max_size=30)


class FlakyDirectory(DirectoryProvider):
    """Answers from a directory; 'Flaky Ltd' always fails with a server error."""

    def lookup(self, name: str):  # type: ignore[no-untyped-def]
        if name == "Flaky Ltd":
            self.calls.append(name)
            raise LookupServerError("HTTP 503")
        return super().lookup(name)


def _provider() -> FlakyDirectory:
    return FlakyDirectory({
        # the official names normalise to other mentions' names: later mentions hit the cache
        "Acme Pte Ltd": ("201912345N", "ACME HOLDINGS PTE. LTD."),
        "Globex Trading": ("GLOBEX-EQC", "Globex Private Limited"),
        "Umbrella Corp": ("UMB-1", "Umbrella Corporation"),
    }, ambiguous=["Twin Co"])


def _seed(conn: psycopg.Connection) -> None:
    """The same starting state for both runs: imports, a placeholder, registry UENs."""
    conn.execute("TRUNCATE company_mapping, lookup_requests, temp_id_sequence, staging_acra_companies RESTART IDENTITY")
    conn.execute("INSERT INTO temp_id_sequence (name, last_value) VALUES ('company', 7)")
    conn.cursor().executemany(
        "INSERT INTO company_mapping (match_type, alias, company_id, source, priority) VALUES (%s, %s, %s, %s, %s)", [
            ("plan_code", "P2", "C-P2", "import", 2),
            ("normalized_name", "imported", "C-IMPORTED", "import", 0),  # beats any plan code
            ("account_name", "Acct Two", "C-ACCT2", "import", 3),
            ("uen", "MAPPED-UEN", "C-UEN", "import", 1),
            ("plan_code", "TEMPED", "TEMP_000003", "temp", 2),
            # an earlier answer from the same provider: a new answer refreshes it
            ("normalized_name", "globex", "GLOBEX-OLD", "directory", 5),
        ])
    conn.execute("INSERT INTO staging_acra_companies (uen, entity_name, row_hash, source_file) "
                 "VALUES ('199900001A', 'REGISTERED PTE. LTD.', 'x', 'test')")
    conn.commit()


def _state(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        "mappings": conn.execute("SELECT match_type, alias, company_id, source, priority, confidence "
                                 "FROM company_mapping ORDER BY match_type, alias").fetchall(),
        "requests": conn.execute("SELECT id, name, normalized_name, status, attempts, company_id "
                                 "FROM lookup_requests ORDER BY id").fetchall(),
        "temp_ids": conn.execute("SELECT name, last_value FROM temp_id_sequence").fetchall(),
    }


@dataclass
class Run:
    results: list
    state: dict[str, list[tuple]]
    calls: list[str]
    budget_left: int


def _one_at_a_time(conn: psycopg.Connection, mentions: list[Mention], budget: int, enabled: bool) -> Run:
    _seed(conn)
    provider = _provider()
    service = make_service(conn, provider, budget=budget, enabled=enabled)
    results = [service.resolve_company_id(plan_code=m.plan_code, customer_name=m.customer_name,
                                          account_name=m.account_name, uen=m.uen) for m in mentions]
    return Run(results, _state(conn), provider.calls, service.budget_left)


def _bulk(conn: psycopg.Connection, mentions: list[Mention], budget: int, enabled: bool, chunk_size: int) -> Run:
    _seed(conn)
    provider = _provider()
    service = make_service(conn, provider, budget=budget, enabled=enabled)
    results = list(service.resolve_many(mentions, chunk_size=chunk_size))
    return Run(results, _state(conn), provider.calls, service.budget_left)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mentions=mentions_strategy, budget=st.integers(0, 6), chunk_size=st.sampled_from([2, 7, 40]),
       enabled=st.sampled_from([True, True, True, False]))
def test_bulk_gives_exactly_what_one_call_per_mention_gives(db: psycopg.Connection, mentions: list[Mention],
                                                            budget: int, chunk_size: int, enabled: bool) -> None:
    single = _one_at_a_time(db, mentions, budget, enabled)
    bulk = _bulk(db, mentions, budget, enabled, chunk_size)
    assert bulk.results == single.results
    assert bulk.state == single.state
    assert bulk.calls == single.calls
    assert bulk.budget_left == single.budget_left


def test_the_cases_the_property_relies_on_do_occur(db: psycopg.Connection) -> None:
    """One fixed set through both paths, checked by hand: duplicates, a cache hit from an
    earlier mention of the chunk, a refreshed provider row, TEMP ids old and new."""
    mentions = [
        Mention.of(customer_name="Acme Pte Ltd"),  # looked up; caches 'acme holdings'
        Mention.of(customer_name="Acme Holdings Pte Ltd"),  # found in what the first one cached
        Mention.of(plan_code="P9"), Mention.of(plan_code="p9"),  # one new TEMP id, twice
        Mention.of(plan_code="TEMPED"),  # an old TEMP id
        Mention.of(customer_name="Globex Ltd"),  # the provider's old answer for 'globex'
        Mention.of(customer_name="Globex Trading"),  # looked up: its answer refreshes that row
        Mention.of(customer_name="GLOBEX PRIVATE LIMITED"),  # found the old row; looked up again, the new one
        Mention.of(uen="199900001a"),  # the registry knows it
        Mention.of(customer_name="Nobody Pte Ltd"), Mention.of(customer_name="NOBODY LIMITED"),  # one request
        Mention.of(plan_code="P1", customer_name="Imported Co"),  # priority 0 import wins
        Mention.of(plan_code="TEMPED", uen="199900001A"),  # only a placeholder, but the registry knows the UEN
        Mention.of(plan_code="P2", uen="199900001A"),  # the same UEN beside a real mapping: the mapping
    ]
    single = _one_at_a_time(db, mentions, 5, True)
    bulk = _bulk(db, mentions, 5, True, chunk_size=len(mentions))
    assert bulk.results == single.results
    assert bulk.state == single.state and bulk.calls == single.calls
    assert [(r.status.value, r.company_id) for r in bulk.results] == [
        ("SUCCESS_EXTERNAL", "201912345N"),
        ("SUCCESS_INTERNAL", "201912345N"),
        ("TEMP_ASSIGNED", "TEMP_000008"),
        ("TEMP_ASSIGNED", "TEMP_000008"),
        ("TEMP_ASSIGNED", "TEMP_000003"),
        ("SUCCESS_INTERNAL", "GLOBEX-OLD"),
        ("SUCCESS_EXTERNAL", "GLOBEX-EQC"),
        ("SUCCESS_INTERNAL", "GLOBEX-EQC"),
        ("SUCCESS_INTERNAL", "199900001A"),
        ("PENDING_LOOKUP", None),
        ("PENDING_LOOKUP", None),
        ("SUCCESS_INTERNAL", "C-IMPORTED"),
        ("SUCCESS_INTERNAL", "199900001A"),
        ("SUCCESS_INTERNAL", "C-P2"),
    ]
    assert [r.source for r in bulk.results[-2:]] == ["registry_uen", "plan_code"]
    assert bulk.results[9].request_id == bulk.results[10].request_id is not None
    assert bulk.calls == ["Acme Pte Ltd", "Globex Trading", "Nobody Pte Ltd", "NOBODY LIMITED"]


# --- round trips ------------------------------------------------------------------------------


@pytest.fixture
def autocommit(db: psycopg.Connection) -> Iterator[psycopg.Connection]:
    with connect(autocommit=True) as conn:
        yield conn


def test_a_single_call_costs_one_round_trip_on_a_hit(autocommit: psycopg.Connection) -> None:
    add_mapping(autocommit, "plan_code", "P1", "C1")
    add_mapping(autocommit, "normalized_name", "acme", "C2")
    service = make_service(autocommit, DirectoryProvider())
    for fields in ({"plan_code": "P1"}, {"customer_name": "ACME PTE. LTD.", "account_name": "Acct"},
                   {"uen": "201912345N", "customer_name": "Acme Ltd"}):
        with round_trips(autocommit) as counted:
            result = service.resolve_company_id(**fields)
        assert result.status is ResolutionStatus.SUCCESS_INTERNAL
        assert counted == [1], fields


def test_bulk_costs_one_statement_per_chunk_of_hits_and_a_few_for_its_misses(
        autocommit: psycopg.Connection) -> None:
    for n in range(250):
        add_mapping(autocommit, "plan_code", f"P{n}", f"C{n}")
    service = make_service(autocommit, DirectoryProvider(), budget=0)
    hits = [Mention.of(plan_code=f"P{n}") for n in range(250)]
    with round_trips(autocommit) as counted:
        assert all(r.company_id == f"C{n}" for n, r in enumerate(service.resolve_many(hits, chunk_size=100)))
    assert counted == [3]
    # 100 misses in one chunk: the find, one enqueue for 40 names, one TEMP numbering and one placeholder write
    misses = [Mention.of(customer_name=f"Unknown {n} Ltd") for n in range(40)]
    misses += [Mention.of(plan_code=f"NEW{n}") for n in range(60)]
    with round_trips(autocommit) as counted:
        results = list(service.resolve_many(misses, chunk_size=100))
    assert counted == [4]
    assert [r.status for r in results] == [ResolutionStatus.PENDING_LOOKUP] * 40 + [ResolutionStatus.TEMP_ASSIGNED] * 60
    assert [r.company_id for r in results[40:]] == [f"TEMP_{n:06d}" for n in range(1, 61)]


def test_resolve_many_streams(db: psycopg.Connection) -> None:
    add_mapping(db, "plan_code", "P1", "C1")
    endless = (Mention.of(plan_code="P1") for _ in iter(int, 1))
    results = make_service(db, None).resolve_many(endless, chunk_size=10)
    assert [next(results).company_id for _ in range(25)] == ["C1"] * 25


def test_resolve_file_streams_rows_in_order_and_reports_progress(db: psycopg.Connection, tmp_path: Path) -> None:
    add_mapping(db, "plan_code", "P1", "C1")
    source = tmp_path / "mentions.csv"
    with open(source, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["ref", "plan_code", "customer_name"])
        for n in range(2500):
            writer.writerow([n, "P1" if n % 2 else f"X{n}", "" if n % 2 else f"Unknown {n} Pte Ltd"])
    positions: list[int] = []
    report = resolve_file(make_service(db, None), source, progress=positions.append)
    with open(report.output, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["ref"]) for r in rows] == list(range(2500))
    assert [r["company_id"] for r in rows[:4]] == ["", "C1", "", "C1"]
    assert report.statuses == {"SUCCESS_INTERNAL": 1250, "PENDING_LOOKUP": 1250}
    assert len(positions) == 3  # once a chunk (1,000 rows)
    assert positions == sorted(positions) and positions[-1] == source.stat().st_size
