"""The lookup queue (`lookup_requests`): names waiting for an external lookup.

- `enqueue_many` keeps one open request per normalised name, however often it is asked
  for, for a whole batch of names in one statement (`enqueue`: a batch of one).
- `dequeue` claims a batch in one statement (`FOR UPDATE SKIP LOCKED`, pending ->
  processing) with a lease; rows whose lease ran out (their worker died) come first.
  Each claimed row says whether its name has been mapped meanwhile.
- `finish` ends any number of claimed rows in one statement: done (caching the answers'
  mapping rows too), failed or released; each only while the caller still holds the
  very lease it claimed (the lease timestamp is the claim token), so a worker that lost
  its lease can never overwrite the new owner's outcome. `mark_done`, `mark_failed` and
  `release` are the same statement for one kind of outcome.
- A failure is retried after WDH_LOOKUP_RETRY_DELAY seconds, doubling per attempt, and
  the request fails for good once WDH_LOOKUP_RETRY_MAX retries have failed as well.

Every operation commits on its own, so give the queue a connection it can commit on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Sequence

import psycopg

from acra_enrich.config import Settings
from acra_enrich.resolve.dbutil import run
from acra_enrich.resolve.mappings import dedupe_entries, entry_arrays
from acra_enrich.resolve.models import TEMP_SOURCE, LookupRequest, MappingEntry
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
class Outcome:
    """How one claimed row ends: done (with its company), failed (with the error) or
    released (handed back untried, ready again after delay_s)."""

    request: LookupRequest
    kind: str
    company_id: str | None = None
    error: str | None = None
    delay_s: float = 0.0

    @classmethod
    def done(cls, request: LookupRequest, company_id: str) -> "Outcome":
        return cls(request, "done", company_id=company_id)

    @classmethod
    def failed(cls, request: LookupRequest, error: str) -> "Outcome":
        return cls(request, "failed", error=error)

    @classmethod
    def released(cls, request: LookupRequest, delay_s: float, reason: str) -> "Outcome":
        return cls(request, "released", error=reason, delay_s=delay_s)


@dataclass
class Finished:
    """The outcomes recorded (the rest had lost their lease to another worker)."""

    done: set[int] = field(default_factory=set)
    failed: dict[int, FailOutcome] = field(default_factory=dict)
    released: set[int] = field(default_factory=set)


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
        return self.enqueue_many([(name, normalized_name)])[0]

    def enqueue_many(self, names: Sequence[tuple[str, str | None]]) -> list[EnqueueResult]:
        """`enqueue` for each (name, normalised name or None) in one statement, in order:
        names sharing a normalised name share one request (the first name is the one
        recorded)."""
        keys: list[str] = []
        first: dict[str, str] = {}
        for name, normalized_name in names:
            cleaned = clean_text(name)
            key = normalized_name or normalize_name(cleaned)
            if not cleaned or not key:
                raise ValueError(f"cannot queue a lookup for an empty name ({name!r})")
            keys.append(key)
            first.setdefault(key, cleaned)
        if not keys:
            return []
        requests = self._plan_enqueue(first) if self.plan is not None else self._enqueue(first)
        seen: set[str] = set()
        results = []
        for key in keys:
            request_id, created = requests[key]
            results.append(EnqueueResult(request_id, created and key not in seen))
            seen.add(key)
        return results

    def _enqueue(self, first: dict[str, str]) -> dict[str, tuple[int | None, bool]]:
        requests: dict[str, tuple[int | None, bool]] = {}
        wanted = list(first)
        # The open request can finish (or another caller's appear) during the statement; ask again then.
        for _ in range(5):
            rows = run(self.conn, _Q["enqueue_many"], {"names": [first[k] for k in wanted], "keys": wanted})
            missing = []
            for key, (request_id, created) in zip(wanted, rows):
                if request_id is None:
                    missing.append(key)
                else:
                    requests[key] = (int(request_id), bool(created))
            if not missing:
                return requests
            wanted = missing
        raise RuntimeError(f"could not enqueue or find an open lookup request for {wanted[0]!r}")

    def _plan_enqueue(self, first: dict[str, str]) -> dict[str, tuple[int | None, bool]]:
        assert self.plan is not None
        open_ids = {key: int(request_id) for key, request_id in run(self.conn, _Q["open_requests"], {"keys": list(first)})}
        requests: dict[str, tuple[int | None, bool]] = {}
        for key, name in first.items():
            if key in open_ids:
                requests[key] = (open_ids[key], False)
            else:
                self.plan.record("lookup_requests", "insert", name=name, normalized_name=key, status="pending")
                requests[key] = (None, True)
        return requests

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
        rows = run(self.conn, _Q["claim"], {"batch_size": batch_size, "lease_s": self.lease_s,
                                            "retry_max": self.retry_max, "temp_source": TEMP_SOURCE})
        return [LookupRequest(*row) for row in rows]

    def _plan_dequeue(self, batch_size: int) -> list[LookupRequest]:
        assert self.plan is not None
        requests = []
        for request_id, name, key, attempts, created_at, mapped in run(
                self.conn, _Q["peek_ready"], {"batch_size": batch_size, "temp_source": TEMP_SOURCE}):
            self.plan.record("lookup_requests", "claim", id=request_id, name=name, status="processing")
            requests.append(LookupRequest(request_id, name, key, attempts, datetime.min, created_at, mapped))
        return requests

    def finish(self, outcomes: Sequence[Outcome], *, cache: Sequence[MappingEntry] = ()) -> Finished:
        """Record the outcomes of claimed rows (and cache the answers' mapping rows) in one
        statement; which of them still held their lease."""
        finished = Finished()
        if not outcomes:
            return finished
        if self.plan is not None:
            return self._plan_finish(outcomes)
        rows = run(self.conn, _Q["finish"], self.finish_params(outcomes, cache))
        applied = {int(request_id): (status, attempts, next_attempt_at)
                   for request_id, status, attempts, next_attempt_at in rows}
        for outcome in outcomes:
            row = applied.get(outcome.request.id)
            if row is None:
                continue
            status, attempts, next_attempt_at = row
            if outcome.kind == "done":
                finished.done.add(outcome.request.id)
            elif outcome.kind == "released":
                finished.released.add(outcome.request.id)
            else:
                finished.failed[outcome.request.id] = FailOutcome(True, status == "failed", int(attempts),
                                                                  next_attempt_at)
        return finished

    def finish_params(self, outcomes: Sequence[Outcome], cache: Sequence[MappingEntry] = ()) -> dict[str, Any]:
        """The finish statement's parameters for these outcomes and cached answers."""
        return {
            **entry_arrays(dedupe_entries(cache)), "temp_source": TEMP_SOURCE,
            "ids": [o.request.id for o in outcomes], "leases": [o.request.lease_until for o in outcomes],
            "kinds": [o.kind for o in outcomes], "answers": [o.company_id for o in outcomes],
            "errors": [None if o.error is None else o.error[:MAX_ERROR_CHARS] for o in outcomes],
            "delays": [float(o.delay_s) for o in outcomes],
            "retry_max": self.retry_max, "retry_delay_s": self.retry_delay_s,
        }

    def _plan_finish(self, outcomes: Sequence[Outcome]) -> Finished:
        assert self.plan is not None
        finished = Finished()
        for o in outcomes:
            request = o.request
            if o.kind == "done":
                self.plan.record("lookup_requests", "update", id=request.id, status="done", company_id=o.company_id)
                finished.done.add(request.id)
            elif o.kind == "released":
                self.plan.record("lookup_requests", "update", id=request.id, status="pending", retry_in_s=o.delay_s,
                                 last_error=o.error)
                finished.released.add(request.id)
            else:
                permanent = request.attempts + 1 > self.retry_max
                self.plan.record("lookup_requests", "update", id=request.id, attempts=request.attempts + 1,
                                 status="failed" if permanent else "pending", last_error=o.error,
                                 retry_in_s=None if permanent else self.retry_delay(request.attempts + 1))
                finished.failed[request.id] = FailOutcome(True, permanent, request.attempts + 1)
        return finished

    def mark_done(self, request: LookupRequest, company_id: str) -> bool:
        """Record the answer; False when the lease had already passed to another worker."""
        return request.id in self.finish([Outcome.done(request, company_id)]).done

    def mark_failed(self, request: LookupRequest, error: str) -> FailOutcome:
        """Count a failed attempt: retry later with a growing delay, or fail for good."""
        return self.finish([Outcome.failed(request, error)]).failed.get(request.id, FailOutcome(False))

    def release(self, requests: Sequence[LookupRequest], *, delay_s: float, reason: str) -> int:
        """Hand claimed rows back untried (no attempt counted), ready again after `delay_s`."""
        return len(self.finish([Outcome.released(r, delay_s, reason) for r in requests]).released)

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
