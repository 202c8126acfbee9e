"""Per-host pacing: Scrapy's download slots and AutoThrottle, plus robots.txt Crawl-delay as a floor.

Each host gets a slot: at most `concurrency` requests in flight, request starts at least
`delay` seconds apart, where delay = max(min interval, Crawl-delay, adaptive delay). The
adaptive delay moves toward latency / concurrency (so about `concurrency` requests are in
flight at the host's own speed); an error answer or a failure can only lengthen it.
aiolimiter's leaky bucket cannot change its rate per host as it runs, hence this small slot.

Spacing starts on our side does not space arrivals at the host: a request leaves the slot,
then may wait for a new connection's handshake or a busy event loop while the next one goes
out at once on a warm connection (a pipeline run saw two requests to one host 0.14 s apart
under a 0.3 s interval). So in a one-at-a-time slot the floor (min interval, Crawl-delay)
also counts from the end of the previous exchange, when the host has certainly seen it, as
Heritrix's min-delay does. Concurrent slots (vendor APIs with a rate) keep start-to-start.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

MAX_ADAPTIVE_DELAY_S = 30.0
MAX_CRAWL_DELAY_S = 30.0  # a robots.txt asking for more would stall a worker for hours per site
MAX_SLOTS = 10_000  # idle slots beyond this are forgotten (a long sweep meets millions of hosts)


@dataclass(frozen=True)
class HostPolicy:
    """Pacing for one host (vendor APIs get their own; company sites use the defaults).

    min_interval_s: None = CRAWL_DOMAIN_MIN_INTERVAL_S. robots: None = the call decides
    (`robots=` of get/request); True/False override the call. adaptive: AutoThrottle on/off.
    """

    min_interval_s: float | None = None
    concurrency: int = 1
    robots: bool | None = None
    adaptive: bool = True

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("HostPolicy.concurrency must be at least 1")
        if self.min_interval_s is not None and self.min_interval_s < 0:
            raise ValueError("HostPolicy.min_interval_s must not be negative")


class HostSlot:
    def __init__(self, min_interval_s: float, concurrency: int, adaptive: bool) -> None:
        self.min_interval_s = min_interval_s
        self.concurrency = concurrency
        self.adaptive = adaptive
        self.crawl_delay_s = 0.0
        self.adaptive_delay_s = min_interval_s
        self._gate = asyncio.Semaphore(concurrency)
        self._order = asyncio.Lock()
        self._next_start = 0.0
        self._last_start = self._last_end = float("-inf")
        self._users = 0  # waiting for a turn or in flight

    @property
    def floor_s(self) -> float:
        return max(self.min_interval_s, self.crawl_delay_s)

    @property
    def delay_s(self) -> float:
        return max(self.floor_s, self.adaptive_delay_s) if self.adaptive else self.floor_s

    @property
    def idle(self) -> bool:
        return self._users == 0 and time.monotonic() >= self._next_start

    def set_crawl_delay(self, seconds: float | None) -> None:
        """Crawl-delay counts from the request before it was known: robots.txt itself is a
        request to the host, so the first page waits the delay after it too."""
        self.crawl_delay_s = min(max(seconds or 0.0, 0.0), MAX_CRAWL_DELAY_S)
        since = self._last_end if self.concurrency == 1 else self._last_start
        self._next_start = max(self._next_start, self._last_start + self.delay_s, since + self.floor_s)

    def defer(self, seconds: float) -> None:
        """Hold every request to this host for `seconds` (the host asked us to, e.g. Retry-After)."""
        self._next_start = max(self._next_start, time.monotonic() + seconds)

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold while one request is in flight; entered no sooner than `delay_s` after the previous
        start and, in a one-at-a-time slot, no sooner than `floor_s` after the previous exchange ended."""
        self._users += 1
        try:
            async with self._gate:
                async with self._order:  # FIFO: starts are handed out one at a time, in order
                    wait = self._next_start - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                    self._last_start = time.monotonic()
                    self._next_start = self._last_start + self.delay_s
                try:
                    yield
                finally:  # also on a timeout or cancellation: the request may have arrived
                    self._last_end = time.monotonic()
                    if self.concurrency == 1:
                        self._next_start = max(self._next_start, self._last_end + self.floor_s)
        finally:
            self._users -= 1

    def record(self, latency_s: float, success: bool) -> None:
        """AutoThrottle: move the delay toward latency/concurrency; failures never shorten it."""
        if not self.adaptive:
            return
        target = latency_s / self.concurrency
        # Scrapy: the mean of old and target, but jump straight to a larger target.
        new = max(target, (self.adaptive_delay_s + target) / 2)
        new = min(max(new, self.min_interval_s), MAX_ADAPTIVE_DELAY_S)
        if not success and new <= self.adaptive_delay_s:
            return
        self.adaptive_delay_s = new


class Pacer:
    """The slots of one client, created on first use from the host's policy."""

    def __init__(self, default_interval_s: float, policies: dict[str, HostPolicy]) -> None:
        self._default_interval_s = default_interval_s
        self._policies = policies
        self._slots: OrderedDict[str, HostSlot] = OrderedDict()

    def policy(self, host: str) -> HostPolicy:
        return self._policies.get(host) or HostPolicy()

    def slot(self, host: str) -> HostSlot:
        slot = self._slots.get(host)
        if slot is None:
            policy = self.policy(host)
            interval = self._default_interval_s if policy.min_interval_s is None else policy.min_interval_s
            slot = HostSlot(interval, policy.concurrency, policy.adaptive)
            self._slots[host] = slot
            self._forget_idle()
        else:
            self._slots.move_to_end(host)
        return slot

    def _forget_idle(self) -> None:
        excess = len(self._slots) - MAX_SLOTS
        if excess <= 0:
            return
        for host in [h for h, s in self._slots.items() if s.idle][:excess]:
            del self._slots[host]
