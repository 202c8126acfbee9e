"""Small helpers so the stores work on autocommit and transactional connections alike."""

from __future__ import annotations

from typing import Any, Mapping

import psycopg


def run(conn: psycopg.Connection, query: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
    """Run one statement as its own committed unit and return its rows (if any).

    On an autocommit connection that is the statement itself; otherwise it is wrapped in
    a transaction block, which commits when the caller has none open (and is a savepoint
    inside the caller's transaction when it has).
    """
    if conn.autocommit:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []
    with conn.transaction():
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []
