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

`resolve_company_id` is a batch of one: on an internal hit it costs one statement.
`resolve_many` resolves mentions in chunks (see `resolve.chunk`) with the answers that
one call per mention, in the same order, would give.

Lookup errors are logged and never raised into the caller's flow; database errors are
(they are not something a caller should silently work around).

The sync budget is counted per service instance (one run): each external lookup spends
one unit. A `sync_lookup_budget` given to one call replaces it for that call alone (for
`resolve_many`: for all of that call's mentions together). With
WDH_COMPANY_ENRICHMENT_ENABLED off, nothing is looked up or queued: misses get TEMP ids.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable, Iterator, NamedTuple

from acra_enrich.resolve.chunk import internal_result, internal_results, resolve_chunk
from acra_enrich.resolve.drain import drain_queue
from acra_enrich.resolve.mappings import ChunkKeys, FoundChunk, MappingStore
from acra_enrich.resolve.models import CompanyIdResult, Mention, QueueRunReport
from acra_enrich.resolve.providers import LookupFailed, LookupProvider, LookupResult
from acra_enrich.resolve.queue import LookupQueue
from acra_enrich.resolve.temp_ids import TempIdAllocator

log = logging.getLogger(__name__)

BULK_CHUNK = 1000


class _Keyed(NamedTuple):
    """A chunk of mentions, with its keys."""

    mentions: list[Mention]
    keys: ChunkKeys


def _keyed(chunks: Iterator[list[Mention]]) -> _Keyed | None:
    """The next chunk of mentions, with its keys (None at the end)."""
    chunk = next(chunks, None)
    return None if chunk is None else _Keyed(chunk, ChunkKeys.of(chunk))


def _chunks(mentions: Iterable[Mention], size: int) -> Iterator[list[Mention]]:
    chunk: list[Mention] = []
    for mention in mentions:
        chunk.append(mention)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class LookupBudget:
    """External lookups left; shared by every thread using one service."""

    def __init__(self, lookups: int) -> None:
        self._left = max(0, lookups)
        self._lock = threading.Lock()

    @property
    def left(self) -> int:
        return self._left

    def take(self) -> bool:
        with self._lock:
            if self._left <= 0:
                return False
            self._left -= 1
            return True


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
        self._budget = LookupBudget(sync_lookup_budget)

    @property
    def budget_left(self) -> int:
        return self._budget.left

    def _budget_for(self, override: int | None) -> LookupBudget:
        return self._budget if override is None else LookupBudget(override)

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
        slots = mention.key_slots()
        found = self.loader.find(slots)
        if found.real_hit is not None:
            return internal_result(found.real_hit)  # the common case, without a chunk's machinery
        [result] = resolve_chunk(self, [mention], self._budget_for(sync_lookup_budget), [slots], [found])
        return result

    def resolve_many(
        self, mentions: Iterable[Mention], *, sync_lookup_budget: int | None = None, chunk_size: int = BULK_CHUNK
    ) -> Iterator[CompanyIdResult]:
        """Resolve a stream of mentions, in order, `chunk_size` at a time: one statement
        looks a whole chunk up; its misses are looked up (within the budget), queued and
        given TEMP ids in a few statements more. Holds three chunks in memory.

        A chunk's statement goes out in pipeline mode and Python works meanwhile, in one
        thread (a helper thread would wait for the interpreter while this one works, and
        the overlap would be lost): it reads the chunk after and computes its keys, and,
        when every mention of the chunk before found a mapping (so that chunk writes nothing
        the statement must see), decides that chunk too. A chunk with misses is decided, and
        its writes made, before the next statement goes out. As `mentions` is read while a
        statement is in flight, it must not read from this service's connection itself.
        """
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        budget = self._budget_for(sync_lookup_budget)
        chunks = _chunks(mentions, chunk_size)
        loader = self.loader
        current = _keyed(chunks)
        if current is None:
            return
        found, following = loader.find_many_while(current.keys, lambda: _keyed(chunks))
        while following is not None:
            if found.all_real():
                next_found, (results, after) = loader.find_many_while(
                    following.keys, lambda: (internal_results(found), _keyed(chunks)))
            else:
                results = self._resolve_misses(current, found, budget)
                next_found, after = loader.find_many_while(following.keys, lambda: _keyed(chunks))
            yield from results
            current, found, following = following, next_found, after
        yield from internal_results(found) if found.all_real() else self._resolve_misses(current, found, budget)

    def _resolve_misses(self, chunk: _Keyed, found: FoundChunk, budget: LookupBudget) -> list[CompanyIdResult]:
        return resolve_chunk(self, chunk.mentions, budget, chunk.keys.slotsets,
                             self.loader.found_per_mention(chunk.keys, found))

    def lookup(self, name: str) -> tuple[LookupResult | None, str]:
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
        return drain_queue(self.queue, self.loader, self.lookup_client, batch_size or 50, max_requests, report)
