"""`acra-enrich scheduler`: at each SCHED_START_CRON slot (Asia/Singapore), one `nightly_tenant`
job per active tenant on the `nightly` lane, whatever the number of scheduler processes.

A slot fires exactly once: the process whose insert into `scheduler_slots` wins enqueues the
jobs in the same transaction (others find the slot taken). Each job's idempotency key is
tenant + day, so a tenant's job for a day is one job while it is queued or running. At start
the latest slot already past is fired if nobody fired it (the scheduler was down then): once,
not once per missed day. SCHED_ENABLED=false keeps the process waiting without firing.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import psycopg
import structlog
from croniter import croniter

from acra_enrich.config import Settings
from acra_enrich.db import connect
from acra_enrich.jobs import Enqueued, enqueue
from acra_enrich.runners.signals import on_stop_signals
from acra_enrich.sqlfiles import load_queries
from acra_enrich.tenants.store import active_tenants

_Q = load_queries("acra_enrich.runners.nightly.sql", "nightly.sql")
SINGAPORE = ZoneInfo("Asia/Singapore")
NIGHTLY_TENANT = "nightly_tenant"
log = structlog.get_logger("acra_enrich.scheduler")


def enqueue_nightly_tenant(conn: psycopg.Connection, tenant_id: int, day: date, *, priority: int = 0) -> Enqueued:
    """Queue one tenant's nightly run for `day` (Asia/Singapore) on the nightly lane; while that
    job is queued or running, asking again returns it. Commits nothing (the caller's transaction)."""
    return enqueue(conn, NIGHTLY_TENANT, {"day": day.isoformat()}, lane="nightly", tenant_id=tenant_id,
                   priority=priority, idempotency_key=f"nightly:{tenant_id}:{day.isoformat()}")


@dataclass(frozen=True)
class Fired:
    slot_at: datetime
    jobs: list[int]
    missed: bool


class Scheduler:
    def __init__(self, settings: Settings, *, name: str | None = None) -> None:
        self.settings = settings
        self.cron = settings.sched_start_cron
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"

    def fire(self, conn: psycopg.Connection, slot_at: datetime, *, missed: bool = False) -> Fired | None:
        """Enqueue the slot's jobs if this process is the first to claim it; None otherwise."""
        with conn.transaction():
            won = conn.execute(_Q["claim_slot"], {"slot_at": slot_at, "cron": self.cron, "fired_by": self.name,
                                                  "missed": missed}).fetchone()
            if won is None:
                return None
            day = slot_at.astimezone(SINGAPORE).date()
            jobs = [enqueue_nightly_tenant(conn, t.tenant_id, day).job_id for t in active_tenants(conn, self.settings)]
            conn.execute(_Q["slot_jobs"], {"slot_at": slot_at, "jobs": len(jobs)})
        log.info("slot_fired", slot=slot_at.isoformat(), missed=missed, jobs=jobs, by=self.name)
        return Fired(slot_at, jobs, missed)

    def latest_slot(self, now: datetime) -> datetime:
        prev: datetime = croniter(self.cron, now.astimezone(SINGAPORE)).get_prev(datetime)
        return prev

    def catch_up(self, conn: psycopg.Connection, now: datetime | None = None) -> Fired | None:
        """Fire the latest past slot if nobody did (the scheduler was down at that time)."""
        return self.fire(conn, self.latest_slot(now or datetime.now(SINGAPORE)), missed=True)

    async def run(self, *, once: bool = False, stop: asyncio.Event | None = None) -> list[Fired]:
        """Catch up, then fire each slot as it comes until stopped; `once`: catch up and return."""
        stop = stop or asyncio.Event()
        uninstall = on_stop_signals(lambda sig: stop.set())
        fired: list[Fired] = []
        try:
            with connect(self.settings, autocommit=True) as conn:
                if not self.settings.sched_enabled:
                    log.warning("scheduler_disabled", note="SCHED_ENABLED is false: no slot fires")
                elif (done := await asyncio.to_thread(self.catch_up, conn)) is not None:
                    fired.append(done)
                while not once and not stop.is_set():
                    slot: datetime = croniter(self.cron, datetime.now(SINGAPORE)).get_next(datetime)
                    wait = (slot - datetime.now(SINGAPORE)).total_seconds()
                    log.info("next_slot", at=slot.isoformat(), in_s=round(wait, 1), cron=self.cron)
                    try:
                        await asyncio.wait_for(stop.wait(), max(0.0, wait))
                        break
                    except TimeoutError:
                        pass
                    if self.settings.sched_enabled and (done := await asyncio.to_thread(self.fire, conn, slot)):
                        fired.append(done)
        finally:
            uninstall()
        return fired
