"""Bookkeeping of registry loads (`registry_loads`): one row per file or sync, kept even on failure."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import psycopg

from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.registry.sql", "acra_ingest.sql")


@dataclass
class LoadRecord:
    conn: psycopg.Connection
    load_id: int
    finished: bool = False

    def finish(self, rows_read: int, inserted: int, updated: int, unchanged: int, rejected: int) -> None:
        self._write("done", rows_read, inserted, updated, unchanged, rejected, None)
        self.finished = True

    def _write(self, status: str, rows_read: int, inserted: int, updated: int, unchanged: int,
               rejected: int, error: str | None) -> None:
        self.conn.execute(_Q["finish_load"], {
            "load_id": self.load_id, "status": status, "rows_read": rows_read, "inserted": inserted,
            "updated": updated, "unchanged": unchanged, "rejected": rejected, "error": error,
        })
        self.conn.commit()


@contextmanager
def record_load(conn: psycopg.Connection, kind: str, source_file: str | None) -> Iterator[LoadRecord]:
    """Record a load as running now (committed at once) and as done or failed at the end."""
    conn.commit()
    load_id = fetch_one(conn, _Q["start_load"], {"kind": kind, "source_file": source_file})[0]
    conn.commit()
    record = LoadRecord(conn, load_id)
    try:
        yield record
    except BaseException as exc:
        conn.rollback()
        record._write("failed", 0, 0, 0, 0, 0, f"{type(exc).__name__}: {exc}"[:2000])
        raise
    if not record.finished:
        record._write("done", 0, 0, 0, 0, 0, None)
