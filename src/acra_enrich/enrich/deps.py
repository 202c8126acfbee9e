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
from acra_enrich.enrich.refine.llm import LlmExtractStage
from acra_enrich.enrich.pipeline import PipelineDeps
from acra_enrich.vendors import build_vendors, make_vendor_web_client
from acra_enrich.web import make_web_client


@asynccontextmanager
async def open_pipeline(settings: Settings, pool: ConnectionPool) -> AsyncIterator[PipelineDeps]:
    async with make_web_client(settings) as web, make_vendor_web_client(settings) as vendor_web:
        vendors = build_vendors(settings, vendor_web)
        try:
            llm = LlmExtractStage(vendors.llm, settings)
            yield PipelineDeps(
                settings=settings,
                web=web,
                pool=pool,
                searcher=vendors.search,
                reader=vendors.jina,
                llm_stage=llm if llm.enabled else None,
                contacts_stage=ContactsStage(vendors.apify, vendors.lusha, vendors.zerobounce,
                                             VerificationCache(vendors.budget.connection)),
                homepages=HomepageCache(),
            )
        finally:
            vendors.close()
