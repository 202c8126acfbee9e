"""`sync companies`: staging_acra_companies -> companies, set-based, in id-range chunks.

Each chunk commits on its own, so a long sync shows progress and an interrupted one has
kept everything before the chunk it was in; re-running is harmless because unchanged
rows are not rewritten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import psycopg

from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.registry.sql", "companies.sql")
CHUNK_IDS = 50_000
_ALL_IDS = 2**63 - 1


@dataclass
class SyncReport:
    seen: int = 0
    inserted: int = 0
    updated: int = 0
    adopted: int = 0
    seconds: float = 0.0

    @property
    def unchanged(self) -> int:
        return self.seen - self.inserted - self.updated

    def as_dict(self) -> dict[str, object]:
        return {
            "seen": self.seen,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "adopted_by_name_and_year": self.adopted,
            "seconds": round(self.seconds, 3),
        }


def sync_companies(
    conn: psycopg.Connection,
    *,
    since: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Upsert every staging row (or those changed since `since`) into companies."""
    started = time.monotonic()
    report = SyncReport()
    before_first, last = fetch_one(conn, _Q["staging_id_bounds"], {"since": since})
    conn.commit()
    after = before_first
    while after < last:
        upto = min(after + CHUNK_IDS, last)
        params = {"after_id": after, "upto_id": upto, "uen": None, "since": since}
        with conn.transaction():
            report.adopted += conn.execute(_Q["adopt_companies_without_uen"], params).rowcount
            inserted, updated, seen = fetch_one(conn, _Q["upsert_companies"], params)
        report.inserted += inserted
        report.updated += updated
        report.seen += seen
        after = upto
        if progress:
            progress(after - before_first, last - before_first)
    report.seconds = time.monotonic() - started
    return report


def upsert_company(conn: psycopg.Connection, uen: str) -> int | None:
    """Upsert the one company with this UEN from staging; its company_id, or None if not staged.

    Runs inside the caller's transaction when there is one, so a runner can make the
    upsert and its own bookkeeping commit together.
    """
    params = {"after_id": 0, "upto_id": _ALL_IDS, "uen": uen.strip().upper(), "since": None}
    with conn.transaction():
        conn.execute(_Q["adopt_companies_without_uen"], params)
        conn.execute(_Q["upsert_companies"], params)
        row = conn.execute(_Q["company_id_by_uen"], {"uen": params["uen"]}).fetchone()
    return row[0] if row else None
