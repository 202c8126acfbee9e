"""What a nightly process builds once and every tenant run shares: the pipeline's clients
(one web client, so per-host politeness holds across tenants), the contacts stage without its
per-company verification (a run verifies all its addresses in batches), the reader fallback
chain (Jina, then Tavily), the ZeroBounce client and cache for the batches, and the LLM client
(when configured) that rephrases rationales."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.enrich.contacts.stage import ContactsStage, VerificationCache
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.discover.find_domain import Reader
from acra_enrich.enrich.pipeline import PipelineDeps
from acra_enrich.enrich.refine.llm import LlmExtractStage
from acra_enrich.vendors import BudgetGate, LlmClient, TavilyClient, ZeroBounceClient, make_vendor_web_client
from acra_enrich.web import WebClient


@dataclass
class ReaderChain:
    """Readers tried in order until one renders the page: the crawl's fallback for a thin page
    (script-only, blocked, empty). Tavily comes after Jina, within TAVILY_MAX_QUERIES."""

    readers: list[tuple[str, Reader]]
    used: Counter[str] = field(default_factory=Counter)
    enabled: bool = False

    def __post_init__(self) -> None:
        self.enabled = any(reader.enabled for _, reader in self.readers)

    async def read_text(self, url: str) -> str | None:
        for name, reader in self.readers:
            if not reader.enabled:
                continue
            text = await reader.read_text(url)
            if text:
                self.used[name] += 1
                return text
        return None


@dataclass
class NightlyKit:
    settings: Settings
    deps: PipelineDeps  # its pool is the system pool: each tenant run swaps in its pinned one
    zerobounce: ZeroBounceClient
    cache: VerificationCache
    readers: ReaderChain
    vendor_web: WebClient
    llm: LlmClient | None  # configured (OPENAI_API_KEY): rationales are rephrased with it

    def for_tenant(self, pool: ConnectionPool) -> PipelineDeps:
        return dataclasses.replace(self.deps, pool=pool)


@asynccontextmanager
async def open_kit(settings: Settings, pool: ConnectionPool) -> AsyncIterator[NightlyKit]:
    async with open_pipeline(settings, pool) as deps, make_vendor_web_client(settings) as vendor_web:
        contacts = deps.contacts_stage
        assert isinstance(contacts, ContactsStage)
        gate = BudgetGate(settings)
        try:
            readers = ReaderChain([(name, r) for name, r in (("jina", deps.reader),
                                                              ("tavily", TavilyClient(vendor_web, settings, gate)))
                                   if r is not None])
            nightly_deps = dataclasses.replace(
                deps, reader=readers,
                contacts_stage=ContactsStage(contacts.apify, contacts.lusha, contacts.zerobounce, contacts.cache,
                                             verify=False))
            llm = deps.llm_stage.llm if isinstance(deps.llm_stage, LlmExtractStage) else None
            yield NightlyKit(settings, nightly_deps, contacts.zerobounce, contacts.cache, readers, vendor_web, llm)
        finally:
            gate.close()
