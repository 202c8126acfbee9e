"""Vendor budgets that hold across every process sharing the database (`vendor_usage`).

A spend is one atomic upsert: the counter for the current window only moves when the new
total stays within the cap, so two processes can never both take the last unit.
"""

from __future__ import annotations

from typing import Literal

import psycopg

from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.db.sql", "budget.sql")
Window = Literal["hour", "day"]


def try_spend(conn: psycopg.Connection, vendor: str, units: int, cap: int, window: Window = "hour") -> bool:
    """Take `units` from this window's budget; False (nothing taken) when it would exceed `cap`.

    Commits on its own connection state: call it outside the caller's business transaction
    (an autocommit connection is ideal) so a rollback there never refunds a paid call.
    """
    if units <= 0:
        return True
    if units > cap:
        return False
    row = conn.execute(_Q["try_spend"], {"vendor": vendor, "window": window, "units": units, "cap": cap}).fetchone()
    if not conn.autocommit:
        conn.commit()
    return row is not None


def refund(conn: psycopg.Connection, vendor: str, units: int, window: Window = "hour") -> None:
    """Give units back (e.g. an LLM call that used fewer tokens than reserved)."""
    if units > 0:
        conn.execute(_Q["refund"], {"vendor": vendor, "window": window, "units": units})
        if not conn.autocommit:
            conn.commit()


def used(conn: psycopg.Connection, vendor: str, window: Window = "hour") -> int:
    row = conn.execute(_Q["used"], {"vendor": vendor, "window": window}).fetchone()
    return int(row[0]) if row else 0
