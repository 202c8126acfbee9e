"""Temporary company ids `TEMP_000001`, `TEMP_000002`, ... allocated atomically in PostgreSQL.

The counter is one row of `temp_id_sequence`; each allocation is a single upsert that
commits on its own, so the row lock is held for one statement only and two callers (in
any number of processes) can never receive the same number. Numbers skipped by a
rolled-back caller are simply never used.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from acra_enrich.resolve.dbutil import run
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.resolve.sql", "temp_ids.sql")
SEQUENCE_NAME = "company"
PREFIX = "TEMP_"


def format_temp_id(number: int) -> str:
    return f"{PREFIX}{number:06d}"


def is_temp_id(company_id: str | None) -> bool:
    return bool(company_id) and company_id.startswith(PREFIX)  # type: ignore[union-attr]


@dataclass
class TempIdAllocator:
    conn: psycopg.Connection
    plan: WritePlan | None = None
    _planned: int = 0

    def allocate(self, count: int = 1) -> list[str]:
        """`count` consecutive fresh ids. In plan mode: the ids a real run would get next
        (assuming nobody else allocates meanwhile), and nothing is written."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if self.plan is not None:
            rows = run(self.conn, _Q["peek"], {"name": SEQUENCE_NAME})
            first = (rows[0][0] if rows else 0) + self._planned + 1
            self._planned += count
            ids = [format_temp_id(n) for n in range(first, first + count)]
            for temp_id in ids:
                self.plan.record("temp_id_sequence", "allocate", name=SEQUENCE_NAME, temp_id=temp_id)
            return ids
        last = run(self.conn, _Q["allocate"], {"name": SEQUENCE_NAME, "count": count})[0][0]
        return [format_temp_id(n) for n in range(last - count + 1, last + 1)]
