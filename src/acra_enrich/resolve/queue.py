"""The lookup queue (`lookup_requests`): names waiting for an external lookup.

- `enqueue` keeps one open request per normalised name, however often it is asked for.
- `dequeue` claims a batch atomically (`FOR UPDATE SKIP LOCKED`, pending -> processing)
  with a lease; rows whose lease ran out (their worker died) are reclaimed first.
- `mark_done` / `mark_failed` / `release` finish a claimed row, and only while the
  caller still holds the very lease it claimed (the lease timestamp is the claim token),
  so a worker that lost its lease can never overwrite the new owner's outcome.
- `mark_failed` retries after WDH_LOOKUP_RETRY_DELAY seconds, doubling per attempt,
  and fails the request for good once WDH_LOOKUP_RETRY_MAX retries have failed as well.

Every operation commits on its own, so give the queue a connection it can commit on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Sequence

import psycopg

from acra_enrich.config import Settings
from acra_enrich.resolve.dbutil import run
from acra_enrich.resolve.models import LookupRequest
from acra_enrich.resolve.normalize import clean_text, normalize_name
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.resolve.sql", "queue.sql")
DEFAULT_LEASE_S = 600.0
MAX_ERROR_CHARS = 1000


@dataclass(frozen=True)
class EnqueueResult:
    request_id: int | None  # None only in plan mode for a request that would be created
    created: bool


@dataclass(frozen=True)
class FailOutcome:
    applied: bool  # False: the lease was lost, nothing recorded
    permanent: bool = False
    attempts: int = 0
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class QueueStatus:
    pending: int
    ready: int
    processing: int
    expired_leases: int
    done: int
    failed: int
    oldest_pending: datetime | None
    next_retry_at: datetime | None
    top_errors: list[tuple[str, int]]

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["top_errors"] = [{"error": e, "requests": n} for e, n in self.top_errors]
        return data


class LookupQueue:
    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        retry_max: int = 3,
        retry_delay_s: float = 300,
        lease_s: float = DEFAULT_LEASE_S,
        plan: WritePlan | None = None,
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.conn = conn
        self.retry_max = retry_max
        self.retry_delay_s = retry_delay_s
        self.lease_s = lease_s
        self.plan = plan

    @classmethod
    def from_settings(cls, conn: psycopg.Connection, settings: Settings, *, lease_s: float = DEFAULT_LEASE_S,
                      plan: WritePlan | None = None) -> "LookupQueue":
        return cls(conn, retry_max=settings.wdh_lookup_retry_max, retry_delay_s=settings.wdh_lookup_retry_delay,
                   lease_s=lease_s, plan=plan)

    # --- producer ---------------------------------------------------------------

    def enqueue(self, name: str, normalized_name: str | None = None) -> EnqueueResult:
        """Queue a lookup for `name`, or return the open request that already covers it."""
        cleaned = clean_text(name)
        key = normalized_name or normalize_name(cleaned)
        if not cleaned or not key:
            raise ValueError("cannot queue a lookup for an empty name")
        if self.plan is not None:
            open_rows = run(self.conn, _Q["open_request"], {"normalized_name": key})
            if open_rows:
                return EnqueueResult(int(open_rows[0][0]), created=False)
            self.plan.record("lookup_requests", "insert", name=cleaned, normalized_name=key, status="pending")
            return EnqueueResult(None, created=True)
        # The open request can finish between our insert and our select; try again then.
        for _ in range(5):
            rows = run(self.conn, _Q["enqueue"], {"name": cleaned, "normalized_name": key})
            if rows:
                return EnqueueResult(int(rows[0][0]), created=True)
            open_rows = run(self.conn, _Q["open_request"], {"normalized_name": key})
            if open_rows:
                return EnqueueResult(int(open_rows[0][0]), created=False)
        raise RuntimeError(f"could not enqueue or find an open lookup request for {key!r}")

    # --- consumer ---------------------------------------------------------------

    def dequeue(self, batch_size: int) -> list[LookupRequest]:
        """Claim up to `batch_size` ready requests (expired leases reclaimed first).

        In plan mode nothing is claimed: the rows a claim would take now are returned
        with a zero lease and the claim is recorded in the plan.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if self.plan is not None:
            return self._plan_dequeue(batch_size)
        params = {"batch_size": batch_size, "limit": batch_size, "lease_s": self.lease_s, "retry_max": self.retry_max}
        with self.conn.transaction():
            self.conn.execute(_Q["reclaim_expired"], params)
            rows = self.conn.execute(_Q["claim"], params).fetchall()
        return sorted((LookupRequest(*row) for row in rows), key=lambda r: r.id)

    def _plan_dequeue(self, batch_size: int) -> list[LookupRequest]:
        assert self.plan is not None
        requests = []
        for request_id, name, key, attempts, created_at in run(self.conn, _Q["peek_ready"], {"batch_size": batch_size}):
            self.plan.record("lookup_requests", "claim", id=request_id, name=name, status="processing")
            requests.append(LookupRequest(request_id, name, key, attempts, datetime.min, created_at))
        return requests

    def mark_done(self, request: LookupRequest, company_id: str) -> bool:
        """Record the answer; False when the lease had already passed to another worker."""
        return request.id in self.mark_done_many([(request, company_id)])

    def mark_done_many(self, answers: Sequence[tuple[LookupRequest, str]]) -> set[int]:
        """`mark_done` for several rows in one statement; the ids whose lease still held."""
        if not answers:
            return set()
        if self.plan is not None:
            for request, company_id in answers:
                self.plan.record("lookup_requests", "update", id=request.id, status="done", company_id=company_id)
            return {request.id for request, _ in answers}
        rows = run(self.conn, _Q["mark_done_many"], {
            "ids": [r.id for r, _ in answers], "leases": [r.lease_until for r, _ in answers],
            "company_ids": [c for _, c in answers]})
        return {int(row[0]) for row in rows}

    def mark_failed(self, request: LookupRequest, error: str) -> FailOutcome:
        """Count a failed attempt: retry later with a growing delay, or fail for good."""
        error = error[:MAX_ERROR_CHARS]
        if self.plan is not None:
            permanent = request.attempts + 1 > self.retry_max
            self.plan.record("lookup_requests", "update", id=request.id, attempts=request.attempts + 1,
                             status="failed" if permanent else "pending", last_error=error,
                             retry_in_s=None if permanent else self.retry_delay(request.attempts + 1))
            return FailOutcome(True, permanent, request.attempts + 1)
        rows = run(self.conn, _Q["mark_failed"], {
            "id": request.id, "lease_until": request.lease_until, "error": error,
            "retry_max": self.retry_max, "retry_delay_s": self.retry_delay_s,
        })
        if not rows:
            return FailOutcome(False)
        status, attempts, next_attempt_at = rows[0]
        return FailOutcome(True, status == "failed", int(attempts), next_attempt_at)

    def release(self, requests: Sequence[LookupRequest], *, delay_s: float, reason: str) -> int:
        """Hand claimed rows back untried (no attempt counted), ready again after `delay_s`."""
        released = 0
        for request in requests:
            if self.plan is not None:
                self.plan.record("lookup_requests", "update", id=request.id, status="pending", retry_in_s=delay_s,
                                 last_error=reason)
                released += 1
                continue
            released += len(run(self.conn, _Q["release"], {
                "id": request.id, "lease_until": request.lease_until, "delay_s": delay_s,
                "reason": reason[:MAX_ERROR_CHARS]}))
        return released

    def retry_delay(self, attempts: int) -> float:
        """Seconds before retry number `attempts` (1-based): the delay doubles each time."""
        return float(self.retry_delay_s * 2 ** (attempts - 1))

    # --- observation ------------------------------------------------------------

    def status(self, *, top_errors: int = 10) -> QueueStatus:
        pending, ready, processing, expired_leases, done, failed, oldest_pending, next_retry_at = run(
            self.conn, _Q["status_counts"])[0]
        errors = run(self.conn, _Q["top_errors"], {"limit": top_errors})
        return QueueStatus(pending, ready, processing, expired_leases, done, failed, oldest_pending, next_retry_at,
                           top_errors=[(str(e), int(n)) for e, n in errors])
