"""The search lane: every web search of the process waits here, and nothing else waits for one.

A search is the dearest thing the product spends: each provider allows a few per minute
(DuckDuckGo one per DDG_MIN_INTERVAL_S, SearXNG and Tavily their own pace) and a budget per
hour or day. A company whose guesses all failed asks the lane (`search`) and, when its
caller holds a concurrency place, gives the place up while it waits (`Place`): guessable
companies go on at crawl speed while searches are served at the providers' pace. The
answer comes back to the same pipeline call, which verifies the candidates and goes on.

Providers are tried in SEARCH_PROVIDERS order: a query goes to the first provider free now
(not in flight up to its concurrency, its interval since its last search elapsed, not
resting, budget left); when none is, it waits for the first to become free. A provider
that rate-limits or fails is rested (DuckDuckGo DDG_COOLDOWN_S, the others SEARCH_REST_S)
and its query goes to the next; one whose budget is spent is skipped for a minute (other
processes share the budget); one that rejects its credentials is dropped for the process.
A query that no provider can answer any more (all disabled or spent) is answered at once
with that status, never parked forever. Identical queries waiting at once share one search.

Yield per provider (domains verified per answered search) is counted here: the pipeline
reports each domain it verified from a provider's results (`verified`).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from acra_enrich.enrich.discover.find_domain import SearchHit, Searcher
from acra_enrich.enrich.slots import Place
from acra_enrich.vendors.base import BUDGET_EXHAUSTED, DISABLED, OK, RATE_LIMITED, UNAUTHORIZED

log = structlog.get_logger("acra_enrich.search_lane")

BUDGET_RECHECK_S = 60.0  # a spent budget may have been given back, or its window ended


@dataclass(frozen=True)
class LaneAnswer:
    """What the lane hands back: the provider's outcome, and which provider answered."""

    status: str
    detail: str = ""
    hits: tuple[SearchHit, ...] = ()
    provider: str | None = None
    waited_s: float = 0.0


@dataclass
class ProviderStats:
    calls: int = 0  # searches sent (answered or not)
    answered: int = 0  # searches with an ok answer
    verified: int = 0  # domains verified from its answers
    rate_limited: int = 0
    failed: int = 0

    @property
    def yield_(self) -> float:
        return self.verified / self.answered if self.answered else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"calls": self.calls, "answered": self.answered, "verified": self.verified,
                "rate_limited": self.rate_limited, "failed": self.failed, "yield": round(self.yield_, 3)}


@dataclass
class Provider:
    name: str
    client: Searcher
    interval_s: float  # between the end of one search and the start of the next (one at a time)
    concurrency: int = 1
    rest_s: float = 120.0
    in_flight: int = 0
    next_start: float = 0.0
    resting_until: float = 0.0
    dropped: str | None = None  # why it is no longer used in this process
    stats: ProviderStats = field(default_factory=ProviderStats)

    def free_at(self, now: float) -> float | None:
        """When it can take a search (now or later), or None if it never will."""
        if self.dropped is not None:
            return None
        if self.in_flight >= self.concurrency:
            return float("inf")  # when a search ends
        return max(now, self.next_start, self.resting_until)


@dataclass
class _Request:
    query: str
    future: asyncio.Future[LaneAnswer]
    asked: float
    tried: set[str] = field(default_factory=set)  # providers that failed it
    last_status: str = DISABLED
    # The asking company's context: its search runs in it, not in that of whichever company
    # happened to start the lane (context-bound tags, such as a transport's, stay right).
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


@dataclass(frozen=True)
class LaneSearcher:
    lane: SearchLane
    place: Place | None

    @property
    def enabled(self) -> bool:
        return self.lane.enabled

    async def search(self, query: str) -> LaneAnswer:
        return await self.lane.search(query, self.place)


class SearchLane:
    def __init__(self, providers: Sequence[Provider], *, max_parked: int = 200) -> None:
        # A provider without its key or base URL logged that once, when its client was built.
        self.providers = [p for p in providers if p.client.enabled]
        self.max_parked = max_parked
        self._queue: deque[_Request] = deque()
        self._by_query: dict[str, _Request] = {}
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._calls: set[asyncio.Task[None]] = set()
        self.parked = 0  # companies waiting without a place

    # --- what the pipeline uses ------------------------------------------------------------

    @property
    def enabled(self) -> bool:
        return any(p.dropped is None for p in self.providers)

    def room_to_park(self) -> bool:
        return self.parked < self.max_parked

    async def search(self, query: str, place: Place | None = None) -> LaneAnswer:
        """The answer for `query` from the first provider that can give one. With `place`, the
        place is given up while the query waits (if the lane has room) and taken back after."""
        parked = place is not None and place.held and self.room_to_park()
        if parked:
            assert place is not None
            place.give_up()
            self.parked += 1
        try:
            return await self._ask(query)
        finally:
            if parked:
                assert place is not None
                self.parked -= 1
                await place.take_back()

    def for_company(self, place: Place | None) -> LaneSearcher:
        """The searcher one pipeline call uses: its searches park the company's place."""
        return LaneSearcher(self, place)

    def verified(self, provider: str | None) -> None:
        for p in self.providers:
            if p.name == provider:
                p.stats.verified += 1

    def stats(self) -> dict[str, ProviderStats]:
        return {p.name: p.stats for p in self.providers}

    async def aclose(self) -> None:
        for task in [self._worker, *self._calls]:
            if task is not None:
                task.cancel()
        await asyncio.gather(*[t for t in [self._worker, *self._calls] if t is not None], return_exceptions=True)
        for request in self._queue:
            if not request.future.done():
                request.future.cancel()

    # --- the lane ---------------------------------------------------------------------------------

    async def _ask(self, query: str) -> LaneAnswer:
        request = self._by_query.get(query)
        if request is None:
            if not self.enabled:
                return LaneAnswer(DISABLED, "no search provider is enabled")
            loop = asyncio.get_running_loop()
            request = _Request(query, loop.create_future(), time.monotonic())
            self._by_query[query] = request
            self._queue.append(request)
            self._start()
        return await asyncio.shield(request.future)

    def _start(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._dispatch(), name="search-lane", context=contextvars.Context())

    async def _dispatch(self) -> None:
        assert self._wake is not None
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            request = self._queue[0]
            now = time.monotonic()
            usable = [p for p in self.providers if p.name not in request.tried and p.free_at(now) is not None]
            if not usable:
                self._queue.popleft()
                self._answer(request, self._exhausted_answer(request))
                continue
            ready = [p for p in usable if (p.free_at(now) or 0.0) <= now]
            if not ready:
                # The first to become free; a search ending earlier wakes us through _wake.
                wait = min((p.free_at(now) or now) for p in usable) - now
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=None if wait == float("inf") else wait)
                except TimeoutError:
                    pass
                continue
            provider = ready[0]  # SEARCH_PROVIDERS order
            self._queue.popleft()
            provider.in_flight += 1
            task = asyncio.create_task(self._call(provider, request), context=request.context)
            self._calls.add(task)
            task.add_done_callback(self._calls.discard)

    def _exhausted_answer(self, request: _Request) -> LaneAnswer:
        return LaneAnswer(request.last_status, "no search provider could answer: " + ", ".join(
            f"{p.name} {p.dropped or ('failed' if p.name in request.tried else 'unavailable')}"
            for p in self.providers), waited_s=time.monotonic() - request.asked)

    async def _call(self, provider: Provider, request: _Request) -> None:
        try:
            outcome = await provider.client.search(request.query)
            status, detail = outcome.status, str(getattr(outcome, "detail", ""))
        except asyncio.CancelledError:
            provider.in_flight -= 1
            raise
        except Exception as exc:  # a client bug: this provider is rested, the query goes on
            outcome, status, detail = None, "error", f"{type(exc).__name__}: {exc}"[:300]
            log.error("search_provider_error", provider=provider.name, error=detail)
        now = time.monotonic()
        provider.in_flight -= 1
        provider.next_start = max(provider.next_start, now + provider.interval_s)
        if status not in (BUDGET_EXHAUSTED, DISABLED):
            provider.stats.calls += 1
        if status == OK and outcome is not None:
            provider.stats.answered += 1
            self._answer(request, LaneAnswer(OK, detail, tuple(outcome.hits), provider.name, now - request.asked))
        else:
            self._failed(provider, request, status, detail)
        if self._wake is not None:
            self._wake.set()

    def _failed(self, provider: Provider, request: _Request, status: str, detail: str) -> None:
        now = time.monotonic()
        if status == BUDGET_EXHAUSTED:
            provider.resting_until = now + BUDGET_RECHECK_S
        elif status in (UNAUTHORIZED, DISABLED):
            provider.dropped = status
            log.warning("search_provider_dropped", provider=provider.name, status=status, detail=detail)
        else:
            if status == RATE_LIMITED:
                provider.stats.rate_limited += 1
            else:
                provider.stats.failed += 1
            provider.resting_until = now + provider.rest_s
            log.warning("search_provider_rested", provider=provider.name, status=status, rest_s=provider.rest_s,
                        detail=detail)
        request.tried.add(provider.name)
        request.last_status = status
        # Back to the head of the queue: the next provider takes it (or it is answered as failed).
        self._queue.appendleft(request)

    def _answer(self, request: _Request, answer: LaneAnswer) -> None:
        self._by_query.pop(request.query, None)
        if not request.future.done():
            request.future.set_result(answer)
