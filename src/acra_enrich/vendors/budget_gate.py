"""Vendor budgets for async callers: `acra_enrich.budget` on an autocommit connection, off the loop.

Every paid or rate-limited vendor call takes its units here first, so all processes sharing
the database stay within one cap (`vendor_usage`). The caps come from settings:

| vendor     | cap (setting)                  | window | unit          |
|------------|--------------------------------|--------|---------------|
| ddg        | SEARCH_MAX_PER_HOUR            | hour   | search        |
| searxng    | SEARXNG_MAX_PER_HOUR           | hour   | search        |
| jina       | JINA_MAX_PER_HOUR              | hour   | page read     |
| tavily     | TAVILY_MAX_QUERIES             | day    | API call      |
| openai     | OPENAI_DAILY_TOKENS_CAP        | day    | token         |
| apify      | APIFY_MAX_RUNS_PER_DAY         | day    | actor run     |
| lusha      | LUSHA_MAX_CONTACT_LOOKUPS      | day    | person lookup |
| zerobounce | ZEROBOUNCE_MAX_VERIFICATIONS   | day    | address       |

The connection is opened on first use and reopened once if it broke; a database that cannot
be reached makes `take` answer "unavailable" (the caller does not spend), never raise.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Literal, TypeVar

import psycopg
import structlog

from acra_enrich import budget
from acra_enrich.budget import Window
from acra_enrich.config import Settings
from acra_enrich.errors import DatabaseUnavailable

log = structlog.get_logger(__name__)

Grant = Literal["granted", "exhausted", "unavailable"]
T = TypeVar("T")

# vendor -> (settings field holding the cap, window)
VENDOR_BUDGETS: dict[str, tuple[str, Window]] = {
    "ddg": ("search_max_per_hour", "hour"),
    "searxng": ("searxng_max_per_hour", "hour"),
    "jina": ("jina_max_per_hour", "hour"),
    "tavily": ("tavily_max_queries", "day"),
    "openai": ("openai_daily_tokens_cap", "day"),
    "apify": ("apify_max_runs_per_day", "day"),
    "lusha": ("lusha_max_contact_lookups", "day"),
    "zerobounce": ("zerobounce_max_verifications", "day"),
}


class ThreadedConnection:
    """One autocommit connection used from worker threads, one statement batch at a time."""

    def __init__(self, connect: Callable[[], psycopg.Connection]) -> None:
        self._connect = connect
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def run(self, fn: Callable[[psycopg.Connection], T]) -> T:
        """fn(conn) under the lock; a broken connection is replaced and fn tried once more."""
        with self._lock:
            try:
                return fn(self._open_locked())
            except psycopg.OperationalError:
                # The server restarted or the idle connection was cut: one fresh connection.
                self._close_locked()
            return fn(self._open_locked())

    async def arun(self, fn: Callable[[psycopg.Connection], T]) -> T:
        return await asyncio.to_thread(self.run, fn)

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _open_locked(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self._connect()
        return self._conn

    def _close_locked(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


def autocommit_connection(settings: Settings) -> ThreadedConnection:
    from acra_enrich.db import connect

    return ThreadedConnection(lambda: connect(settings, autocommit=True))


class BudgetGate:
    def __init__(self, settings: Settings, connection: ThreadedConnection | None = None) -> None:
        self._settings = settings
        self._db = connection or autocommit_connection(settings)

    @property
    def connection(self) -> ThreadedConnection:
        """The gate's autocommit connection, for other small bookkeeping (e.g. the verification cache)."""
        return self._db

    def cap(self, vendor: str) -> tuple[int, Window]:
        field, window = VENDOR_BUDGETS[vendor]
        return int(getattr(self._settings, field)), window

    async def take(self, vendor: str, units: int = 1) -> Grant:
        """Take `units` of `vendor`'s budget for the current window (all or nothing)."""
        cap, window = self.cap(vendor)
        try:
            granted = await self._db.arun(lambda conn: budget.try_spend(conn, vendor, units, cap, window))
        except (psycopg.Error, DatabaseUnavailable) as exc:
            log.warning("budget_unavailable", vendor=vendor, error=type(exc).__name__)
            return "unavailable"
        if not granted:
            log.info("budget_exhausted", vendor=vendor, units=units, cap=cap, window=window)
        return "granted" if granted else "exhausted"

    async def refund(self, vendor: str, units: int) -> None:
        """Give back units a call did not use (a failed call, an LLM answer under its reservation)."""
        if units <= 0:
            return
        _, window = self.cap(vendor)
        try:
            await self._db.arun(lambda conn: budget.refund(conn, vendor, units, window))
        except (psycopg.Error, DatabaseUnavailable) as exc:
            # Losing a refund only makes the budget stricter; the call's result stands.
            log.warning("budget_refund_failed", vendor=vendor, units=units, error=type(exc).__name__)

    async def used(self, vendor: str) -> int:
        _, window = self.cap(vendor)
        return await self._db.arun(lambda conn: budget.used(conn, vendor, window))

    def close(self) -> None:
        self._db.close()
