"""Small helpers so the stores work on autocommit and transactional connections alike."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any, Mapping

import psycopg
from psycopg import pq


def own_unit(conn: psycopg.Connection) -> AbstractContextManager[object]:
    """What makes the statements inside it their own committed unit: nothing on an
    autocommit connection; otherwise a transaction block, which commits when the caller has
    none open (and is a savepoint inside the caller's transaction when it has)."""
    return nullcontext() if conn.autocommit else conn.transaction()


def run(conn: psycopg.Connection, query: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement as its own committed unit (`own_unit`) and return its rows (if any)."""
    with own_unit(conn):
        return _rows(conn.execute(query, params))


def _rows(cur: psycopg.Cursor[Any]) -> list[tuple[Any, ...]]:
    # (asked of the result's status rather than of cur.description, which builds a column
    # object per field: on the single-call path that cost more than the rows themselves)
    result = cur.pgresult
    return cur.fetchall() if result is not None and result.status == pq.ExecStatus.TUPLES_OK else []
