"""robots.txt (RFC 9309, Google's reading of it), fetched through the web client and cached per origin.

2xx: the rules. 4xx (but 429): no rules, everything allowed. 429/5xx: everything disallowed
for a short while. No answer at all: disallowed too, and the reason (connect_error, proxy_error,
timeout, ssrf_blocked) is kept so the page fetch reports it rather than a robots refusal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from protego import Protego

from acra_enrich.web.lru import BoundedCache
from acra_enrich.web.result import NAME_NOT_RESOLVED, TOO_MANY_REDIRECTS, FetchResult

ROBOTS_TTL_S = 3600.0
ROBOTS_ERROR_TTL_S = 600.0
MAX_ORIGINS = 10_000

# (robots.txt URL, retry connect failures?) -> the fetch, made without a robots check of its own.
RobotsFetch = Callable[[str, bool], Awaitable[FetchResult]]


def agent_token(user_agent: str) -> str:
    """The product token robots.txt groups are matched against ("acra-enrich/0.1 (...)" -> "acra-enrich")."""
    return user_agent.strip().split("/", 1)[0].split()[0].lower()


def origin_of(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.scheme}://{url.host}:{port}"


@dataclass(frozen=True)
class RobotsRules:
    expires: float
    parser: Protego | None = None  # None with disallow_all False: no robots.txt, all allowed
    disallow_all: bool = False
    error: str | None = None  # why robots.txt got no answer at all
    detail: str = ""

    def allows(self, url: str, agent: str) -> bool:
        if self.disallow_all:
            return False
        return True if self.parser is None else self.parser.can_fetch(url, agent)

    def crawl_delay(self, agent: str) -> float | None:
        return None if self.parser is None else self.parser.crawl_delay(agent)


def rules_from(result: FetchResult, now: float) -> RobotsRules:
    status = result.status
    if result.error == NAME_NOT_RESOLVED:  # also when a proxy said so with a 502: no host to ask
        return RobotsRules(now + ROBOTS_ERROR_TTL_S, disallow_all=True, error=result.error, detail=result.detail)
    if status is not None and 200 <= status < 300 and result.error is None:
        # RFC 9309: robots.txt is UTF-8, whatever the server says.
        return RobotsRules(now + ROBOTS_TTL_S, parser=Protego.parse(result.content.decode("utf-8", "replace")))
    if status == 429 or (status is not None and status >= 500):
        return RobotsRules(now + ROBOTS_ERROR_TTL_S, disallow_all=True,
                           detail=f"robots.txt answered {status}; host treated as disallowed for a while")
    if status is not None or result.error == TOO_MANY_REDIRECTS:
        return RobotsRules(now + ROBOTS_TTL_S)  # 4xx, or unavailable: no restrictions
    return RobotsRules(now + ROBOTS_ERROR_TTL_S, disallow_all=True, error=result.error,
                       detail=f"robots.txt unreachable: {result.detail}")


class RobotsCache:
    def __init__(self, fetch: RobotsFetch) -> None:
        self._fetch = fetch
        self._rules: BoundedCache[str, RobotsRules] = BoundedCache(MAX_ORIGINS)
        # One fetch per origin however many tasks ask at once; entries live while someone waits.
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    async def rules_for(self, url: httpx.URL, *, retry_connect: bool = True) -> RobotsRules:
        origin = origin_of(url)
        cached = self._fresh(origin)
        if cached is not None:
            return cached
        lock, users = self._locks.get(origin) or (asyncio.Lock(), 0)
        self._locks[origin] = (lock, users + 1)
        try:
            async with lock:
                cached = self._fresh(origin)
                if cached is not None:
                    return cached
                result = await self._fetch(f"{origin}/robots.txt", retry_connect)
                rules = rules_from(result, time.monotonic())
                self._rules.put(origin, rules)
                # An apex redirecting to www answered with www's own robots.txt: the next
                # request (to www) need not fetch it again.
                final = httpx.URL(result.final_url) if result.final_url else None
                if final is not None and final.path == "/robots.txt" and origin_of(final) != origin \
                        and self._fresh(origin_of(final)) is None:
                    self._rules.put(origin_of(final), rules)
                return rules
        finally:
            lock, users = self._locks[origin]
            if users == 1:
                del self._locks[origin]
            else:
                self._locks[origin] = (lock, users - 1)

    def _fresh(self, origin: str) -> RobotsRules | None:
        rules = self._rules.get(origin)
        return rules if rules is not None and rules.expires > time.monotonic() else None
