"""`sync companies`: staging_acra_companies -> companies, set-based, in id-range chunks.

By default a sync takes the rows of the loads no sync has taken yet (every staging row
carries the load that last inserted or changed it), so the sync after a monthly refresh
reads the few rows that changed, not the registry. `since` takes the rows changed at or
after a time, `full` every row.

Each chunk commits on its own, so a long sync shows progress and an interrupted one has
kept everything before the chunk it was in; its loads are marked synced only at the end,
so the next sync repeats it, which is harmless: unchanged rows are not rewritten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
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
    skipped: int = 0  # staging rows not read: unchanged since the loads already synced
    loads: list[int] = field(default_factory=list)  # the loads this sync took (incremental)
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
            "skipped": self.skipped,
            "loads": self.loads,
            "seconds": round(self.seconds, 3),
        }


def sync_companies(
    conn: psycopg.Connection,
    *,
    since: datetime | None = None,
    loads: list[int] | None = None,
    full: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> SyncReport:
    """Upsert staging rows into companies: those of `loads`, or changed since `since`, or every
    row (`full`), or by default the rows of every load not synced yet. The loads taken (the
    pending ones, all of them after a full sync) are marked synced at the end."""
    started = time.monotonic()
    report = SyncReport()
    if full or since is not None:
        selected = None
        to_mark = [] if since is not None else [row[0] for row in conn.execute(_Q["loads_to_sync"])]
    else:
        selected = to_mark = loads if loads is not None else [row[0] for row in conn.execute(_Q["loads_to_sync"])]
        report.loads = list(selected)
    if selected == []:
        before_first = last = 0
    else:
        before_first, last = fetch_one(conn, _Q["staging_id_bounds"], {"since": since, "loads": selected})
    total = fetch_one(conn, _Q["staging_rows"])[0]
    conn.commit()
    after = before_first
    while after < last:
        upto = min(after + CHUNK_IDS, last)
        params = {"after_id": after, "upto_id": upto, "uen": None, "since": since, "loads": selected}
        with conn.transaction():
            conn.execute(_Q["plan_per_chunk"])
            report.adopted += conn.execute(_Q["adopt_companies_without_uen"], params).rowcount
            inserted, updated, seen = fetch_one(conn, _Q["upsert_companies"], params)
        report.inserted += inserted
        report.updated += updated
        report.seen += seen
        after = upto
        if progress:
            progress(after - before_first, last - before_first)
    if to_mark:
        conn.execute(_Q["mark_loads_synced"], {"loads": to_mark})
        conn.commit()
    report.skipped = max(0, total - report.seen)
    report.seconds = time.monotonic() - started
    return report


def upsert_company(conn: psycopg.Connection, uen: str) -> int | None:
    """Upsert the one company with this UEN from staging; its company_id, or None if not staged.

    Runs inside the caller's transaction when there is one, so a runner can make the
    upsert and its own bookkeeping commit together.
    """
    params = {"after_id": 0, "upto_id": _ALL_IDS, "uen": uen.strip().upper(), "since": None, "loads": None}
    with conn.transaction():
        conn.execute(_Q["adopt_companies_without_uen"], params)
        conn.execute(_Q["upsert_companies"], params)
        row = conn.execute(_Q["company_id_by_uen"], {"uen": params["uen"]}).fetchone()
    return row[0] if row else None
