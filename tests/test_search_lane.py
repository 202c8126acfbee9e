"""The search lane with the real provider clients against the sandbox's DuckDuckGo, SearXNG and
Tavily emulations (over real HTTP), and the direct sweep parking companies on it."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
import pytest

from acra_enrich import budget
from acra_enrich.config import Settings, load_settings
from acra_enrich.enrich.deps import search_lane
from acra_enrich.enrich.discover.search_lane import SearchLane
from acra_enrich.enrich.slots import Place, WorkSlots
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.vendors import build_vendors, make_vendor_web_client
from acra_enrich.vendors.search import PROCESS_COOLDOWN
from vendor_helpers import sandbox, sb  # noqa: F401 (fixtures)

DDG, SEARXNG, TAVILY = "html.duckduckgo.com", "searxng.sandbox.test", "api.tavily.com"


@pytest.fixture(autouse=True)
def no_ddg_cooldown() -> None:
    PROCESS_COOLDOWN.until = 0.0  # a rate-limit page another test provoked is not this test's


def settings_with(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name.upper(), value)
    return load_settings()


@asynccontextmanager
async def lane_for(settings: Settings) -> AsyncIterator[SearchLane]:
    async with make_vendor_web_client(settings) as web:
        vendors = build_vendors(settings, web)
        lane = search_lane(settings, vendors)
        try:
            yield lane
        finally:
            await lane.aclose()
            vendors.close()


def queries(sb: SandboxHandle, n: int) -> list[str]:
    return [f'"{c.name}" Singapore' for c in sb.world.companies[:n]]


async def test_a_rate_limited_provider_is_rested_and_the_next_one_answers(sb: SandboxHandle,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, search_providers="ddg,searxng", ddg_cooldown_s="600")
    sb.faults.inject("ddg", "202")  # DuckDuckGo's rate-limit page
    first, second = queries(sb, 2)
    async with lane_for(settings) as lane:
        a = await lane.search(first)
        b = await lane.search(second)
    assert (a.status, a.provider, b.status, b.provider) == ("ok", "searxng", "ok", "searxng")
    assert len(sb.requests(host=DDG)) == 1  # rested: not asked again
    assert [r.path for r in sb.requests(host=SEARXNG)] == ["/search", "/search"]
    stats = lane.stats()
    assert (stats["ddg"].rate_limited, stats["ddg"].answered, stats["searxng"].answered) == (1, 0, 2)


async def test_providers_work_side_by_side_at_their_own_pace(sb: SandboxHandle,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # DuckDuckGo one search per 2 s: while it waits, SearXNG and Tavily take the next queries.
    settings = settings_with(monkeypatch, search_providers="ddg,searxng,tavily", ddg_min_interval_s="2",
                             searxng_min_interval_s="2")
    asked = queries(sb, 6)
    async with lane_for(settings) as lane:
        answers = await asyncio.gather(*(lane.search(q) for q in asked))
    assert [a.status for a in answers] == ["ok"] * 6
    used = {a.provider for a in answers}
    assert used == {"ddg", "searxng", "tavily"}
    assert answers[0].provider == "ddg"  # the first in SEARCH_PROVIDERS order takes the first query
    requests = len(sb.requests(host=DDG)) + len(sb.requests(host=SEARXNG)) + len(sb.requests(host=TAVILY))
    assert requests == 6  # each query searched once
    ddg = [r.t_monotonic for r in sb.requests(host=DDG)]
    assert all(b - a >= 2 - 0.01 for a, b in zip(ddg, ddg[1:]))


async def test_the_same_query_waiting_twice_is_one_search(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, search_providers="ddg")
    [query] = queries(sb, 1)
    async with lane_for(settings) as lane:
        answers = await asyncio.gather(*(lane.search(query) for _ in range(3)))
    assert {a.status for a in answers} == {"ok"} and len({a.hits for a in answers}) == 1
    assert len(sb.requests(host=DDG)) == 1


ASKER: contextvars.ContextVar[str] = contextvars.ContextVar("asker", default="nobody")


async def test_each_search_runs_in_the_context_of_the_company_that_asked(sb: SandboxHandle,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # Context-bound tags (a transport tagging requests with the company they serve) must name
    # the asker, not whichever company happened to start the lane.
    settings = settings_with(monkeypatch, search_providers="ddg,searxng", ddg_min_interval_s="1")
    asked = queries(sb, 4)
    seen: dict[str, str] = {}
    async with lane_for(settings) as lane:
        for provider in lane.providers:
            def recording(query: str, search=provider.client.search):  # type: ignore[no-untyped-def]
                seen[query] = ASKER.get()
                return search(query)
            monkeypatch.setattr(provider.client, "search", recording)

        async def ask(company: str, query: str) -> str:
            ASKER.set(company)
            return (await lane.search(query)).status

        statuses = await asyncio.gather(*(ask(f"company {i}", q) for i, q in enumerate(asked)))
    assert statuses == ["ok"] * 4
    assert seen == {q: f"company {i}" for i, q in enumerate(asked)}


async def test_no_usable_provider_answers_at_once(sb: SandboxHandle, db: psycopg.Connection,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, search_providers="searxng", searxng_base_url="")
    async with lane_for(settings) as lane:
        disabled = await lane.search(queries(sb, 1)[0])
    assert disabled.status == "disabled" and not lane.enabled
    # Every budget spent (by another process): answered as such, nothing sent.
    settings = settings_with(monkeypatch, search_providers="ddg,searxng", search_max_per_hour="1",
                             searxng_max_per_hour="1", searxng_base_url="http://searxng.sandbox.test")
    assert budget.try_spend(db, "ddg", 1, 1) and budget.try_spend(db, "searxng", 1, 1)
    async with lane_for(settings) as lane:
        spent = await lane.search(queries(sb, 1)[0])
    assert spent.status == "budget_exhausted" and "ddg" in spent.detail
    assert sb.requests(host=DDG) == [] and sb.requests(host=SEARXNG) == []


async def test_a_waiting_company_gives_its_place_up_and_gets_it_back_first(sb: SandboxHandle,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    settings = settings_with(monkeypatch, search_providers="ddg", ddg_min_interval_s="1")
    slots = WorkSlots(1)
    order: list[str] = []
    first, second = queries(sb, 2)

    async def searching(name: str, query: str) -> None:
        await slots.acquire()
        place = Place(slots)
        try:
            order.append(f"{name} searching")
            await lane.search(query, place)
            order.append(f"{name} back")
        finally:
            place.give_up()

    async def crawling(name: str) -> None:
        await slots.acquire()
        order.append(f"{name} crawling")
        slots.release()

    async with lane_for(settings) as lane:
        await lane.search(first)  # DuckDuckGo's interval now runs: the next search waits ~1 s
        await asyncio.gather(searching("a", second), crawling("b"), crawling("c"))
    # One place: b and c ran while a waited for its search; nobody ran two at a time.
    assert order[0] == "a searching" and order[-1] == "a back"
    assert set(order[1:3]) == {"b crawling", "c crawling"}
    assert slots.in_use == 0 and lane.parked == 0


async def test_work_slots_serve_returning_companies_before_new_ones() -> None:
    slots = WorkSlots(1)
    await slots.acquire()
    served: list[str] = []

    async def take(name: str, urgent: bool) -> None:
        await slots.acquire(urgent=urgent)
        served.append(name)
        slots.release()

    new = asyncio.ensure_future(take("new", False))
    await asyncio.sleep(0)
    back = asyncio.ensure_future(take("back", True))
    await asyncio.sleep(0)
    slots.release()
    await asyncio.gather(new, back)
    assert served == ["back", "new"]
    # A waiter cancelled after it was granted passes the place on.
    await slots.acquire()
    waiter = asyncio.ensure_future(slots.acquire())
    await asyncio.sleep(0)
    slots.release()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert slots.in_use == 0


