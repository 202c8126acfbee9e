"""Concurrency places for companies in work, which a company gives up while it waits for a
web search (see enrich.discover.search_lane) and takes back before new companies get one."""

from __future__ import annotations

import asyncio
from collections import deque


class Place:
    """A concurrency place a company holds (one of the runner's slots); given up while it waits
    for a search, taken back (before new companies get one) when the answer is there."""

    def __init__(self, slots: WorkSlots) -> None:
        self._slots = slots
        self.held = True

    def give_up(self) -> None:
        if self.held:
            self.held = False
            self._slots.release()

    async def take_back(self) -> None:
        await self._slots.acquire(urgent=True)
        self.held = True


class WorkSlots:
    """N places for companies in work. Like asyncio.Semaphore, except that `urgent` waiters (a
    company coming back from the search lane: its work is half done and the resume marker
    waits for it) are served before the others."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    def locked(self) -> bool:
        return self._free == 0

    @property
    def in_use(self) -> int:
        return self.size - self._free

    async def acquire(self, *, urgent: bool = False) -> None:
        if self._free > 0 and not self._urgent and (urgent or not self._normal):
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted as we were cancelled: pass it on
            elif waiter in queue:
                queue.remove(waiter)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._free = min(self.size, self._free + 1)
