"""Records that cross the queue's boundary: what an enqueue returns, what a handler is given,
and the two ways a handler ends a job other than returning or raising."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NoReturn
from uuid import UUID

Lane = Literal["express", "nightly"]
LANES: tuple[Lane, ...] = ("express", "nightly")
STATUSES = ("queued", "running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class Enqueued:
    job_id: int
    created: bool  # False: a live job with the same idempotency key already existed; this is it


@dataclass(frozen=True)
class ClaimedJob:
    """A job as the claim returned it; the lease token fences every later write about it."""

    job_id: int
    job_type: str
    lane: str
    tenant_id: int | None
    params: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    timeout_s: float | None
    lease_token: UUID
    created_at: datetime


@dataclass
class RunningJob:
    """What a handler sees of its job. `cancelled` is set when an operator cancels the job
    (the handler's task is then cancelled too); a long handler may also poll it."""

    job_id: int
    job_type: str
    lane: str
    tenant_id: int | None
    params: dict[str, Any]
    priority: int
    attempt: int
    max_attempts: int
    created_at: datetime
    cancelled: asyncio.Event = field(default_factory=asyncio.Event)

    def defer(self, until: datetime, reason: str) -> NoReturn:
        """Put the job back until `until` without counting this attempt (e.g. a daily cap)."""
        raise Deferred(until, reason)


class Deferred(Exception):
    def __init__(self, until: datetime, reason: str) -> None:
        super().__init__(reason)
        self.until = until
        self.reason = reason


class PermanentJobError(Exception):
    """A failure no retry can fix (bad params): the job fails at once, attempts left or not."""
