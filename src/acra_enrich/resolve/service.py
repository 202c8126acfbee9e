"""`CompanyEnrichmentService`: one canonical company_id for a company mention.

Order of resolution (seed 004):

1. internal mappings (`company_mapping`): UEN, plan code, account name, customer name,
   normalised name, by priority; a UEN the registry knows is itself the answer;
2. an external lookup while the synchronous budget lasts, the answer cached into
   company_mapping so the same name never costs a second lookup;
3. otherwise (budget spent, lookup failed, rate-limited, nothing or a tie found) the
   name is queued in `lookup_requests` and the caller gets PENDING_LOOKUP;
4. a mention without a customer name gets a temporary id `TEMP_nnnnnn`, remembered
   under its plan code / account name so the same mention keeps the same TEMP id until
   a real mapping replaces it.

Lookup errors are logged and never raised into the caller's flow; database errors are
(they are not something a caller should silently work around).

The sync budget is counted per service instance (one run): each external lookup spends
one unit. A per-call `sync_lookup_budget` replaces it for that call alone. With
WDH_COMPANY_ENRICHMENT_ENABLED off, nothing is looked up or queued: misses get TEMP ids.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterable, Iterator, Sequence

from acra_enrich.resolve.mappings import MappingStore
from acra_enrich.resolve.models import (
    DEFAULT_PRIORITY,
    CompanyIdResult,
    LookupRequest,
    MappingEntry,
    MappingHit,
    Mention,
    QueueRunReport,
    ResolutionStatus,
    alias_key,
)
from acra_enrich.resolve.normalize import normalize_name
from acra_enrich.resolve.providers import CompanyMatch, LookupFailed, LookupProvider, LookupRateLimited, LookupResult
from acra_enrich.resolve.queue import LookupQueue
from acra_enrich.resolve.temp_ids import TempIdAllocator

log = logging.getLogger(__name__)

BULK_CHUNK = 1000
MAX_REPORTED_ERRORS = 20
FLUSH_ROWS = 50
FLUSH_S = 0.5


def _cache_entries(mention_name: str, match: CompanyMatch) -> list[MappingEntry]:
    """The aliases an external answer is remembered under: the name as asked, its
    normalised form, the official name's normalised form, and the UEN."""
    keys: list[tuple[str, str | None]] = [
        ("customer_name", alias_key("customer_name", mention_name)),
        ("normalized_name", alias_key("normalized_name", mention_name)),
        ("normalized_name", alias_key("normalized_name", match.name)),
        ("uen", alias_key("uen", match.uen)),
    ]
    return [
        MappingEntry(t, a, match.company_id, match.source, DEFAULT_PRIORITY[t], match.confidence)
        for t, a in keys if a is not None
    ]


class CompanyEnrichmentService:
    def __init__(
        self,
        loader: MappingStore,
        queue: LookupQueue,
        lookup_client: LookupProvider | None,
        *,
        sync_lookup_budget: int = 0,
        enabled: bool = True,
        temp_ids: TempIdAllocator | None = None,
    ) -> None:
        self.loader = loader
        self.queue = queue
        self.lookup_client = lookup_client
        self.enabled = enabled
        self.temp_ids = temp_ids or TempIdAllocator(queue.conn, plan=queue.plan)
        self._budget_left = max(0, sync_lookup_budget)
        self._lock = threading.Lock()
        self._mapping_writes = 0  # cache/placeholder writes so far (bulk chunks re-check after one)

    @property
    def budget_left(self) -> int:
        return self._budget_left

    # --- resolution ---------------------------------------------------------------

    def resolve_company_id(
        self,
        *,
        plan_code: str | None = None,
        customer_name: str | None = None,
        account_name: str | None = None,
        uen: str | None = None,
        sync_lookup_budget: int | None = None,
    ) -> CompanyIdResult:
        mention = Mention.of(plan_code=plan_code, customer_name=customer_name, account_name=account_name, uen=uen)
        return self._resolve(mention, self.loader.find(mention), sync_lookup_budget)

    def resolve_many(
        self, mentions: Iterable[Mention], *, sync_lookup_budget: int | None = None, chunk_size: int = BULK_CHUNK
    ) -> Iterator[CompanyIdResult]:
        """Resolve a stream of mentions, in order: internal lookups one query per chunk,
        then the usual path for each miss."""
        chunk: list[Mention] = []
        for mention in mentions:
            chunk.append(mention)
            if len(chunk) >= chunk_size:
                yield from self._resolve_chunk(chunk, sync_lookup_budget)
                chunk = []
        if chunk:
            yield from self._resolve_chunk(chunk, sync_lookup_budget)

    def _resolve_chunk(self, chunk: Sequence[Mention], budget: int | None) -> Iterator[CompanyIdResult]:
        writes_before = self._mapping_writes
        for mention, hit in zip(chunk, self.loader.find_many(chunk)):
            if (hit is None or hit.is_placeholder) and self._mapping_writes != writes_before:
                # An earlier row of this chunk may have cached this very name: look again
                # rather than pay for a second lookup (or waste a TEMP id).
                hit = self.loader.find(mention)
            yield self._resolve(mention, hit, budget)

    def _resolve(self, mention: Mention, hit: MappingHit | None, budget: int | None) -> CompanyIdResult:
        if hit is not None and not hit.is_placeholder:
            return CompanyIdResult(hit.company_id, ResolutionStatus.SUCCESS_INTERNAL, hit.match_type,
                                   match_type=hit.match_type, confidence=hit.confidence)
        key = normalize_name(mention.customer_name)
        name = mention.customer_name if key else None
        uen = alias_key("uen", mention.uen)
        if uen is not None and self.loader.known_uen(uen):
            return CompanyIdResult(uen, ResolutionStatus.SUCCESS_INTERNAL, "registry_uen", match_type="uen")
        if hit is not None and (name is None or not self.enabled):
            # The mention's TEMP id from an earlier call: same mention, same id.
            return CompanyIdResult(hit.company_id, ResolutionStatus.TEMP_ASSIGNED, "temp", temp_id=hit.company_id,
                                   match_type=hit.match_type)
        if name is None:
            return self._assign_temp(mention, "no customer name")
        if not self.enabled:
            return self._assign_temp(mention, "company enrichment disabled", remember=False, source="disabled")

        detail = None
        if self.lookup_client is not None and self._take_budget(budget):
            result, detail = self._lookup(name)
            if result is not None and result.match is not None:
                self.loader.cache(_cache_entries(name, result.match))
                self._mapping_writes += 1
                match = result.match
                return CompanyIdResult(match.company_id, ResolutionStatus.SUCCESS_EXTERNAL, match.source,
                                       confidence=match.confidence)
        elif self.lookup_client is None:
            detail = "no lookup provider configured"
        else:
            detail = "sync lookup budget spent"
        queued = self.queue.enqueue(name, key)
        return CompanyIdResult(None, ResolutionStatus.PENDING_LOOKUP, "queued", request_id=queued.request_id,
                               detail=detail)

    def _take_budget(self, override: int | None) -> bool:
        if override is not None:
            return override > 0
        with self._lock:
            if self._budget_left <= 0:
                return False
            self._budget_left -= 1
            return True

    def _lookup(self, name: str) -> tuple[LookupResult | None, str]:
        """The provider's answer, or None and why; never raises for the provider's sake."""
        assert self.lookup_client is not None
        try:
            result = self.lookup_client.lookup(name)
        except LookupFailed as exc:
            log.warning("lookup of %r failed (%s: %s); queued for later", name, type(exc).__name__, exc)
            return None, f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a provider bug must not break the caller's flow either
            log.exception("lookup of %r raised unexpectedly; queued for later", name)
            return None, f"unexpected {type(exc).__name__}: {exc}"
        if not result.found:
            log.info("lookup of %r: %s; queued for later", name, result.describe())
            return None, result.describe()
        return result, result.describe()

    def _assign_temp(self, mention: Mention, why: str, *, remember: bool = True, source: str = "generated") -> CompanyIdResult:
        keys = mention.placeholder_keys() if remember else []
        temp_id = self.temp_ids.next_id()
        if keys:
            self.loader.add_placeholders(keys, temp_id)
            self._mapping_writes += 1
            if self.loader.plan is None:
                # Another caller may have placed its TEMP id under these keys first: theirs wins.
                winner = self.loader.find(mention)
                if winner is not None and winner.is_placeholder:
                    temp_id = winner.company_id
        return CompanyIdResult(temp_id, ResolutionStatus.TEMP_ASSIGNED, source, temp_id=temp_id, detail=why)

    # --- the queue ----------------------------------------------------------------

    def process_lookup_queue(self, batch_size: int | None = None, *, max_requests: int | None = None) -> QueueRunReport:
        """Drain the queue: claim batches, look each name up, cache answers, mark rows.

        Stops when nothing is ready, after `max_requests` claimed rows, or at the first
        rate limit (the rest of the batch is handed back untried, to be retried after
        the provider's Retry-After or WDH_LOOKUP_RETRY_DELAY). In plan mode one pass is
        made over the rows that are ready now.
        """
        report = QueueRunReport()
        if not self.enabled:
            report.stopped_reason = "company enrichment disabled (WDH_COMPANY_ENRICHMENT_ENABLED)"
            return report
        if self.lookup_client is None:
            report.stopped_reason = "no lookup provider configured"
            return report
        size = batch_size or 50
        while max_requests is None or report.claimed < max_requests:
            want = size if max_requests is None else min(size, max_requests - report.claimed)
            batch = self.queue.dequeue(want)
            if not batch:
                report.stopped_reason = report.stopped_reason or "queue empty"
                break
            report.claimed += len(batch)
            if not self._process_batch(batch, report) or self.queue.plan is not None:
                break
        else:
            report.stopped_reason = f"reached the limit of {max_requests} requests"
        return report

    def _process_batch(self, batch: Sequence[LookupRequest], report: QueueRunReport) -> bool:
        """Work one claimed batch; False when a rate limit says to stop for now.

        Answers are written in groups (cache rows and done marks in one transaction),
        flushed every FLUSH_ROWS answers or FLUSH_S seconds: fast lookups share a commit,
        slow (paid) ones are still saved one by one, so a crash loses little work. A
        batch that has used half its lease hands its untried rows back rather than risk
        another worker reclaiming them while we still work (paying twice for a lookup).
        """
        assert self.lookup_client is not None
        claimed_at = time.monotonic()
        known = self.loader.find_many([Mention.of(customer_name=r.name) for r in batch])
        answers: list[tuple[LookupRequest, str, list[MappingEntry]]] = []
        last_flush = claimed_at
        for position, (request, hit) in enumerate(zip(batch, known)):
            # (never before the first row, so every batch makes progress)
            if position and time.monotonic() - claimed_at > self.queue.lease_s / 2:
                self._save_answers(answers, report)
                report.released += self.queue.release(batch[position:], delay_s=0,
                                                       reason="handed back: its batch outlasted half the lease")
                return True
            if hit is not None and not hit.is_placeholder:
                # Mapped since it was queued (an import, or another worker's answer): no lookup needed.
                answers.append((request, hit.company_id, []))
            else:
                try:
                    result = self.lookup_client.lookup(request.name)
                except LookupRateLimited as exc:
                    self._save_answers(answers, report)
                    delay = exc.retry_after_s if exc.retry_after_s is not None else self.queue.retry_delay_s
                    report.released += self.queue.release(batch[position:], delay_s=delay,
                                                           reason=f"rate-limited: {exc}")
                    report.stopped_reason = f"rate-limited by the provider; retrying after {delay:g}s"
                    return False
                except LookupFailed as exc:
                    self._failed(request, f"{type(exc).__name__}: {exc}", report)
                    continue
                except Exception as exc:  # one bad row must not stop the drain
                    log.exception("lookup of queued %r raised unexpectedly", request.name)
                    self._failed(request, f"unexpected {type(exc).__name__}: {exc}", report)
                    continue
                if result.match is None:
                    self._failed(request, result.describe(), report)
                    continue
                answers.append((request, result.match.company_id, _cache_entries(request.name, result.match)))
            if len(answers) >= FLUSH_ROWS or time.monotonic() - last_flush >= FLUSH_S:
                self._save_answers(answers, report)
                last_flush = time.monotonic()
        self._save_answers(answers, report)
        return True

    def _save_answers(self, answers: list[tuple[LookupRequest, str, list[MappingEntry]]],
                      report: QueueRunReport) -> None:
        if not answers:
            return
        with self.queue.conn.transaction():
            self.loader.cache([entry for _, _, entries in answers for entry in entries])
            applied = self.queue.mark_done_many([(request, company_id) for request, company_id, _ in answers])
        report.done += len(applied)
        for request, _, _ in answers:
            if request.id not in applied:
                report.lost += 1
                log.warning("lookup request %d finished after its lease passed to another worker", request.id)
        answers.clear()

    def _failed(self, request: LookupRequest, error: str, report: QueueRunReport) -> None:
        outcome = self.queue.mark_failed(request, error)
        if not outcome.applied:
            report.lost += 1
        elif outcome.permanent:
            report.failed += 1
        else:
            report.retrying += 1
        if len(report.errors) < MAX_REPORTED_ERRORS:
            report.errors.append(f"#{request.id} {request.name}: {error}")

