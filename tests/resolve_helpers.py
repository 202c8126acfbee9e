"""Shared pieces of the resolution tests: a scripted lookup provider and table snapshots."""

from __future__ import annotations

import tempfile
from collections import deque
from contextlib import contextmanager
from typing import Iterable, Iterator

import psycopg

from acra_enrich.resolve import (
    CompanyEnrichmentService,
    CompanyMatch,
    LookupQueue,
    LookupResult,
    MappingStore,
    WritePlan,
    normalize_name,
)
from acra_enrich.resolve.providers import Candidate

RESOLVE_TABLES = ("company_mapping", "lookup_requests", "temp_id_sequence")


class DirectoryProvider:
    """A lookup provider over a fixed directory {name: (company_id, official name)}.

    Names match on their normalised key. `fail_next` scripts failures (exceptions raised
    by the next calls, in order); `ambiguous` names answer with a tie. Every call is
    recorded in `calls`.
    """

    name = "directory"

    def __init__(self, directory: dict[str, tuple[str, str]] | None = None, *, ambiguous: Iterable[str] = ()) -> None:
        self.directory = {normalize_name(k): v for k, v in (directory or {}).items()}
        self.ambiguous = {normalize_name(n) for n in ambiguous}
        self.fail_next: deque[BaseException] = deque()
        self.calls: list[str] = []

    def lookup(self, name: str) -> LookupResult:
        self.calls.append(name)
        if self.fail_next:
            raise self.fail_next.popleft()
        key = normalize_name(name)
        if key in self.ambiguous:
            return LookupResult("ambiguous", candidates=(Candidate("1", name, "1"), Candidate("2", name, "2")))
        if key not in self.directory:
            return LookupResult("not_found")
        company_id, official = self.directory[key]
        return LookupResult("found", CompanyMatch(company_id, official, company_id, self.name, 0.97))


def make_service(
    conn: psycopg.Connection,
    provider: object | None,
    *,
    budget: int = 5,
    enabled: bool = True,
    plan: WritePlan | None = None,
    retry_max: int = 3,
    retry_delay_s: float = 300,
    lease_s: float = 600,
) -> CompanyEnrichmentService:
    queue = LookupQueue(conn, retry_max=retry_max, retry_delay_s=retry_delay_s, lease_s=lease_s, plan=plan)
    return CompanyEnrichmentService(MappingStore(conn, plan=plan), queue, provider,  # type: ignore[arg-type]
                                    sync_lookup_budget=budget, enabled=enabled)


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Every row of the resolution tables (for "nothing was written" checks)."""
    return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2").fetchall() for t in RESOLVE_TABLES}


def add_mapping(conn: psycopg.Connection, match_type: str, alias: str, company_id: str, *,
                priority: int | None = None, source: str = "import") -> None:
    from acra_enrich.resolve.models import DEFAULT_PRIORITY

    conn.execute(
        "INSERT INTO company_mapping (alias, match_type, priority, company_id, source) VALUES (%s, %s, %s, %s, %s)",
        (alias, match_type, priority if priority is not None else DEFAULT_PRIORITY[match_type], company_id, source))
    conn.commit()


def add_registry_company(conn: psycopg.Connection, uen: str, name: str, status: str = "Live Company") -> None:
    conn.execute(
        "INSERT INTO staging_acra_companies (uen, entity_name, entity_status_description, row_hash, source_file) "
        "VALUES (%s, %s, %s, md5(%s), 'test')", (uen, name, status, uen))
    conn.commit()


def queue_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT id, name, normalized_name, status, attempts, last_error, company_id FROM lookup_requests ORDER BY id"
    ).fetchall()


@contextmanager
def round_trips(conn: psycopg.Connection) -> Iterator[list[int]]:
    """Counts the round trips made on `conn` inside the block (each ends in the server's
    ReadyForQuery), from libpq's own protocol trace; the count is in the list afterwards."""
    counted: list[int] = []
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield counted
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        counted.append(sum(1 for line in trace if "\tReadyForQuery" in line))


__all__ = ["DirectoryProvider", "add_mapping", "add_registry_company", "make_service", "queue_rows", "round_trips",
           "snapshot"]
