"""What `db status` reports."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from acra_enrich.db.migrate import SchemaState
from acra_enrich.jobs.queue import queue_depth
from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.db.sql", "status.sql")
EXACT_COUNT_BELOW = 200_000


def _exact_count(conn: psycopg.Connection, table: str) -> int:
    return fetch_one(conn, sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))[0]


def database_status(conn: psycopg.Connection, state: SchemaState) -> dict[str, Any]:
    status: dict[str, Any] = {
        "server_version": fetch_one(conn, _Q["server_version"])[0],
        "schema_revision": state.current,
        "schema_head": state.head,
        "schema_up_to_date": state.up_to_date,
        "tables": {},
        "recent_loads": [],
        "recent_runs": [],
        "progress_markers": [],
        "queue": [],
        "companies_without_status": None,
        "search_yield": [],
    }
    if state.current is not None:
        status["tables"] = {
            name: estimate if estimate >= EXACT_COUNT_BELOW else _exact_count(conn, name)
            for name, estimate in conn.execute(_Q["table_estimates"]).fetchall()
        }
        with conn.cursor(row_factory=dict_row) as cur:
            status["recent_loads"] = cur.execute(_Q["recent_loads"]).fetchall()
            status["recent_runs"] = cur.execute(_Q["recent_runs"]).fetchall()
            status["progress_markers"] = cur.execute(_Q["progress_markers"]).fetchall()
        status["queue"] = queue_depth(conn)
        status["companies_without_status"] = fetch_one(conn, _Q["companies_without_status"])[0]
        status["search_yield"] = [
            {"provider": provider, "searches": searches, "verified": verified,
             "yield": round(verified / searches, 3) if searches else 0.0}
            for provider, searches, verified in conn.execute(_Q["search_yield"]).fetchall()]
    return status
