"""The operators' side of the queue: enqueue, look, cancel, retry. Synchronous, on the
caller's connection (the CLI's, a runner's pooled one); the dispatcher has its own async side.

Enqueue commits nothing itself: a caller that enqueues inside its own transaction (an ingest
that enqueues the rows it loaded) gets both or neither.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from acra_enrich.errors import ConfigError
from acra_enrich.jobs.model import LANES, STATUSES, Enqueued
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.jobs.sql", "queue.sql")


class JobNotFound(ConfigError):
    """No job with that id (or not one this tenant may see)."""


def enqueue(
    conn: psycopg.Connection, job_type: str, params: dict[str, Any] | None = None, *, lane: str,
    tenant_id: int | None = None, priority: int = 0, idempotency_key: str | None = None,
    max_attempts: int | None = None, run_after: datetime | None = None, timeout_s: float | None = None,
) -> Enqueued:
    """Queue one job; with an idempotency key, a live job (queued or running) with the same key
    and tenant is returned instead of a second one."""
    if lane not in LANES:
        raise ConfigError(f"lane {lane!r}: expected one of {', '.join(LANES)}")
    if max_attempts is not None and max_attempts < 1:
        raise ConfigError(f"max_attempts must be at least 1 (got {max_attempts})")
    values = {"tenant_id": tenant_id, "job_type": job_type, "lane": lane, "params": Jsonb(params or {}),
              "priority": priority, "max_attempts": max_attempts or 3, "run_after": run_after,
              "idempotency_key": idempotency_key, "timeout_s": timeout_s}
    # Between a conflicting insert and the read of the live job, that job may finish (the key
    # is free again): try again, a bounded number of times.
    for _ in range(5):
        row = conn.execute(_Q["enqueue"], values).fetchone()
        if row is not None:
            return Enqueued(int(row[0]), True)
        live = conn.execute(_Q["live_job_by_key"], values).fetchone()
        if live is not None:
            return Enqueued(int(live[0]), False)
    raise RuntimeError(f"could not enqueue {job_type!r} with key {idempotency_key!r}: the key kept changing hands")


def enqueue_once(conn: psycopg.Connection, job_type: str, params: dict[str, Any] | None = None, *,
                 lane: str, idempotency_key: str, **options: Any) -> Enqueued:
    """Queue a job unless one with this key ever existed (finished ones too): for a parent job
    that queues its children and may run again after a crash. Only the parent (one worker at a
    time) uses its children's keys, so the check and the insert do not race."""
    row = conn.execute(_Q["job_by_key"], {"tenant_id": options.get("tenant_id"),
                                          "idempotency_key": idempotency_key}).fetchone()
    if row is not None:
        return Enqueued(int(row[0]), False)
    return enqueue(conn, job_type, params, lane=lane, idempotency_key=idempotency_key, **options)


def get_job(conn: psycopg.Connection, job_id: int) -> dict[str, Any]:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_Q["get_job"], {"job_id": job_id}).fetchone()
    if row is None:
        raise JobNotFound(f"job {job_id} does not exist")
    return row


def list_jobs(conn: psycopg.Connection, *, lane: str | None = None, status: str | None = None,
              job_type: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    if lane is not None and lane not in LANES:
        raise ConfigError(f"--lane {lane!r}: expected one of {', '.join(LANES)}")
    if status is not None and status not in STATUSES:
        raise ConfigError(f"--status {status!r}: expected one of {', '.join(STATUSES)}")
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_Q["list_jobs"], {"lane": lane, "status": status, "job_type": job_type,
                                             "limit": limit}).fetchall()


def cancel_job(conn: psycopg.Connection, job_id: int) -> str:
    """Cancel a queued job at once, or ask a running one to stop; returns what happened."""
    with conn.transaction():
        row = conn.execute(_Q["cancel"], {"job_id": job_id}).fetchone()
        if row is None:
            status = get_job(conn, job_id)["status"]
            raise ConfigError(f"job {job_id} is {status}: only queued or running jobs can be cancelled")
        if row[0] == "running":
            conn.execute(_Q["notify_cancel"], {"job_id": job_id})
            return "cancel requested (the job is running; its worker stops it)"
        return "cancelled"


def retry_job(conn: psycopg.Connection, job_id: int) -> None:
    """Queue a failed or cancelled job again with fresh attempts."""
    try:
        with conn.transaction():
            row = conn.execute(_Q["retry"], {"job_id": job_id}).fetchone()
    except psycopg.errors.UniqueViolation:
        raise ConfigError(f"job {job_id}: another live job has the same idempotency key; "
                          "it will do the work") from None
    if row is None:
        status = get_job(conn, job_id)["status"]
        raise ConfigError(f"job {job_id} is {status}: only failed or cancelled jobs can be retried")


def queue_depth(conn: psycopg.Connection) -> list[dict[str, Any]]:
    """Per lane and status: jobs, oldest ready age, jobs waiting for their time, stalled leases."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_Q["queue_depth"]).fetchall()
