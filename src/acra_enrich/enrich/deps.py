"""Assembling the pipeline's collaborators from settings: the crawler's web client, the
vendor clients (their own web client: vendor calls are slower and paced per vendor) and
the optional stages. Build once per process: disabled vendors log once per construction."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator

from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.enrich.contacts.stage import ContactsStage, VerificationCache
from acra_enrich.enrich.discover.homepages import HomepageCache
from acra_enrich.enrich.discover.find_domain import Searcher
from acra_enrich.enrich.discover.search_lane import Provider, SearchLane
from acra_enrich.enrich.refine.llm import LlmExtractStage
from acra_enrich.enrich.pipeline import PipelineDeps
from acra_enrich.vendors import Vendors, build_vendors, make_vendor_web_client
from acra_enrich.vendors.policies import search_pacing
from acra_enrich.web import make_web_client


def search_lane(settings: Settings, vendors: Vendors) -> SearchLane:
    """The process's search lane over the providers of SEARCH_PROVIDERS, in that order."""
    clients: dict[str, Searcher] = {"ddg": vendors.search, "searxng": vendors.searxng, "tavily": vendors.tavily}
    pacing = search_pacing(settings)
    providers = []
    for name in settings.search_provider_order:
        interval, concurrency = pacing[name]
        rest = settings.ddg_cooldown_s if name == "ddg" else settings.search_rest_s
        providers.append(Provider(name, clients[name], interval, concurrency, rest))
    return SearchLane(providers, max_parked=settings.search_lane_max_parked)


@asynccontextmanager
async def open_pipeline(settings: Settings, pool: ConnectionPool) -> AsyncIterator[PipelineDeps]:
    async with make_web_client(settings) as web, make_vendor_web_client(settings) as vendor_web:
        vendors = build_vendors(settings, vendor_web)
        lane = search_lane(settings, vendors)
        try:
            llm = LlmExtractStage(vendors.llm, settings)
            yield PipelineDeps(
                settings=settings,
                web=web,
                pool=pool,
                search_lane=lane,
                reader=vendors.jina,
                llm_stage=llm if llm.enabled else None,
                contacts_stage=ContactsStage(vendors.apify, vendors.lusha, vendors.zerobounce,
                                             VerificationCache(vendors.budget.connection)),
                homepages=HomepageCache(),
            )
        finally:
            await lane.aclose()
            vendors.close()
