"""Homepages of candidate domains, shared by every company verified in this process for a
while. Companies of one group (ACME TRADING, ACME HOLDINGS) and names with common words
guess the same domains: the second company reuses the first one's fetch instead of
requesting the same homepage again (and paying the reader again for a script-only one).
Only the fetch is shared; each company is scored against it on its own.

Bounded in entries, in the size of a kept page, and in time (sites change; a domain that
did not answer may come up).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Awaitable, Callable

from acra_enrich.enrich.facts import PageFacts
from acra_enrich.enrich.extract.signals import PageSignals
from acra_enrich.web import FetchResult
from acra_enrich.web.lru import BoundedCache

TTL_S = 3600.0
MAX_ENTRIES = 512
MAX_KEPT_BYTES = 256 * 1024  # a larger homepage is not kept (at most ~128 MB of bodies plus text)


@dataclass(frozen=True)
class HomepageView:
    """A candidate's homepage as fetched, with what extraction made of it."""

    homepage: FetchResult
    facts: PageFacts | None = None  # None when the homepage did not answer
    signals: PageSignals | None = None
    via_reader: bool = False  # the page was script-only and was read through the reader


class HomepageCache:
    def __init__(self, *, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES,
                 max_kept_bytes: int = MAX_KEPT_BYTES) -> None:
        self._ttl_s = ttl_s
        self._max_kept_bytes = max_kept_bytes
        self._views: BoundedCache[str, tuple[float, HomepageView]] = BoundedCache(max_entries)
        self._pending: dict[str, asyncio.Future[HomepageView]] = {}
        self.hits = 0

    async def view(self, domain: str, fetch: Callable[[], Awaitable[HomepageView]], *,
                   reuse_failure: bool = True) -> tuple[HomepageView, bool]:
        """The domain's view and whether it was shared (cached, or fetched meanwhile for
        another company); `fetch()` runs once however many companies ask at once.

        `reuse_failure=False` for a candidate that deserves its own retries (a known or
        searched domain) when the cached attempt was a single probe that failed."""
        cached = self._views.get(domain)
        if cached is not None and cached[0] > time.monotonic() and (reuse_failure or cached[1].homepage.ok):
            self.hits += 1
            return cached[1], True
        pending = self._pending.get(domain)
        if pending is not None:
            shared: HomepageView | None = None
            try:
                shared = await asyncio.shield(pending)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise
                # the company fetching it was stopped: fetch it ourselves below
            if shared is not None and (reuse_failure or shared.homepage.ok):
                self.hits += 1
                return shared, True
        future: asyncio.Future[HomepageView] = asyncio.get_running_loop().create_future()
        self._pending[domain] = future
        try:
            view = await fetch()
        except BaseException:
            future.cancel()  # whoever waits fetches for itself
            raise
        finally:
            self._pending.pop(domain, None)
        future.set_result(view)
        if len(view.homepage.content) <= self._max_kept_bytes:
            self._views.put(domain, (time.monotonic() + self._ttl_s, view))
        return view, False
