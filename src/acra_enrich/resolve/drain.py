"""Draining the lookup queue: claim a batch, look its names up, finish the batch.

A batch costs two statements when lookups are quick: the claim (which also says which
names were mapped meanwhile, so they are settled without a lookup) and the finish (every
answer cached and every row marked done, failed or released, fenced by its lease).
Slow (paid) lookups are finished in groups as they come, every FLUSH_ROWS rows or
FLUSH_S seconds, so a crash loses little work. A batch that has used half its lease
hands its untried rows back rather than risk another worker reclaiming them while we
still work (paying twice for a lookup).
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

from acra_enrich.resolve.mappings import MappingStore, answer_entries
from acra_enrich.resolve.models import LookupRequest, MappingEntry, QueueRunReport
from acra_enrich.resolve.providers import LookupFailed, LookupProvider, LookupRateLimited
from acra_enrich.resolve.queue import LookupQueue, Outcome

log = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 20
FLUSH_ROWS = 50
FLUSH_S = 0.5


class _Batch:
    """One claimed batch's outcomes not yet recorded."""

    def __init__(self, queue: LookupQueue, loader: MappingStore, report: QueueRunReport) -> None:
        self.queue = queue
        self.loader = loader
        self.report = report
        self.outcomes: list[Outcome] = []
        self.entries: list[MappingEntry] = []
        self.last_flush = time.monotonic()

    def done(self, request: LookupRequest, company_id: str, entries: Sequence[MappingEntry] = ()) -> None:
        self.outcomes.append(Outcome.done(request, company_id))
        self.entries.extend(entries)

    def failed(self, request: LookupRequest, error: str) -> None:
        self.outcomes.append(Outcome.failed(request, error))
        if len(self.report.errors) < MAX_REPORTED_ERRORS:
            self.report.errors.append(f"#{request.id} {request.name}: {error}")

    def release(self, requests: Sequence[LookupRequest], delay_s: float, reason: str) -> None:
        self.outcomes.extend(Outcome.released(r, delay_s, reason) for r in requests)

    def flush_if_due(self) -> None:
        if len(self.outcomes) >= FLUSH_ROWS or time.monotonic() - self.last_flush >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.outcomes:
            return
        if self.loader.plan is not None:
            self.loader.cache(self.entries)  # plans the mapping rows as inserts/updates
            finished = self.queue.finish(self.outcomes)
        else:
            finished = self.queue.finish(self.outcomes, cache=self.entries)
        report = self.report
        for outcome in self.outcomes:
            request_id = outcome.request.id
            if outcome.kind == "released":
                report.released += request_id in finished.released
            elif outcome.kind == "done" and request_id in finished.done:
                report.done += 1
            elif outcome.kind == "failed" and request_id in finished.failed:
                if finished.failed[request_id].permanent:
                    report.failed += 1
                else:
                    report.retrying += 1
            else:
                report.lost += 1
                log.warning("lookup request %d finished after its lease passed to another worker", request_id)
        self.outcomes = []
        self.entries = []


def _work(batch: Sequence[LookupRequest], provider: LookupProvider, pending: _Batch, lease_s: float) -> bool:
    """Work one claimed batch; False when a rate limit says to stop for now."""
    claimed_at = time.monotonic()
    for position, request in enumerate(batch):
        # (never before the first row, so every batch makes progress)
        if position and time.monotonic() - claimed_at > lease_s / 2:
            pending.release(batch[position:], 0, "handed back: its batch outlasted half the lease")
            return True
        if request.mapped_company_id is not None:
            # Mapped since it was queued (an import, or another worker's answer): no lookup needed.
            pending.done(request, request.mapped_company_id)
            continue
        try:
            result = provider.lookup(request.name)
        except LookupRateLimited as exc:
            delay = exc.retry_after_s if exc.retry_after_s is not None else pending.queue.retry_delay_s
            pending.release(batch[position:], delay, f"rate-limited: {exc}")
            pending.report.stopped_reason = f"rate-limited by the provider; retrying after {delay:g}s"
            return False
        except LookupFailed as exc:
            pending.failed(request, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # one bad row must not stop the drain
            log.exception("lookup of queued %r raised unexpectedly", request.name)
            pending.failed(request, f"unexpected {type(exc).__name__}: {exc}")
        else:
            if result.match is None:
                pending.failed(request, result.describe())
            else:
                pending.done(request, result.match.company_id,
                             answer_entries(request.name, result.match, normalized=request.normalized_name))
        pending.flush_if_due()
    return True


def drain_queue(queue: LookupQueue, loader: MappingStore, provider: LookupProvider, batch_size: int,
                max_requests: int | None, report: QueueRunReport) -> QueueRunReport:
    """Claim and work batches until nothing is ready, `max_requests` rows were claimed,
    or a rate limit (plan mode: one pass over what is ready now)."""
    while max_requests is None or report.claimed < max_requests:
        want = batch_size if max_requests is None else min(batch_size, max_requests - report.claimed)
        batch = queue.dequeue(want)
        if not batch:
            report.stopped_reason = report.stopped_reason or "queue empty"
            return report
        report.claimed += len(batch)
        pending = _Batch(queue, loader, report)
        carry_on = _work(batch, provider, pending, queue.lease_s)
        pending.flush()
        if not carry_on or queue.plan is not None:
            return report
    report.stopped_reason = f"reached the limit of {max_requests} requests"
    return report
