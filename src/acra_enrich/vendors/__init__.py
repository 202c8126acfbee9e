"""Thin clients for outside services, one module each; all traffic goes through `acra_enrich.web`.

    web = make_vendor_web_client(settings)             # vendor pacing + VENDOR_TIMEOUT_S
    vendors = build_vendors(settings, web)             # once per process: logs each disabled vendor once
    found = await vendors.search.search('"Acme Pte Ltd" Singapore')
    if found.status == "rate_limited": ...             # ok | disabled | rate_limited | budget_exhausted
                                                       # | unauthorized | timeout | error
A client never raises for what the network or the vendor does; `detail` never holds a secret.
Paid and rate-limited calls take their units from `vendor_usage` first (BudgetGate).
"""

from __future__ import annotations

from dataclasses import dataclass

from acra_enrich.config import Settings
from acra_enrich.vendors.apify import ApifyClient, LinkedInPerson, PeopleResult
from acra_enrich.vendors.base import (
    BUDGET_EXHAUSTED,
    DISABLED,
    ERROR,
    OK,
    RATE_LIMITED,
    TIMEOUT_STATUS,
    UNAUTHORIZED,
    Status,
    VendorOutcome,
)
from acra_enrich.vendors.budget_gate import VENDOR_BUDGETS, BudgetGate
from acra_enrich.vendors.jina import JinaReader, ReaderPage, ReadResult
from acra_enrich.vendors.llm import LlmClient, LlmResult, TokenUsage
from acra_enrich.vendors.lusha import LushaClient, LushaPerson, PersonResult
from acra_enrich.vendors.odoo import OdooAnswer, OdooClient
from acra_enrich.vendors.policies import make_vendor_web_client, vendor_host_policies
from acra_enrich.vendors.search import Cooldown, SearchClient, SearchHit, SearchResult
from acra_enrich.vendors.searxng import SearxngClient
from acra_enrich.vendors.slack import SlackClient, SlackResult
from acra_enrich.vendors.tavily import ExtractedPage, ExtractResult, TavilyClient, TavilySearchResult
from acra_enrich.vendors.zerobounce import EmailVerdict, VerifyResult, ZeroBounceClient
from acra_enrich.web import WebClient


@dataclass
class Vendors:
    search: SearchClient
    searxng: SearxngClient
    jina: JinaReader
    tavily: TavilyClient
    llm: LlmClient
    apify: ApifyClient
    lusha: LushaClient
    zerobounce: ZeroBounceClient
    slack: SlackClient
    budget: BudgetGate

    def close(self) -> None:
        self.budget.close()


def build_vendors(settings: Settings, web: WebClient, budget: BudgetGate | None = None) -> Vendors:
    """Every client, sharing one web client (see make_vendor_web_client) and one budget gate."""
    gate = budget or BudgetGate(settings)
    return Vendors(
        search=SearchClient(web, settings, gate),
        searxng=SearxngClient(web, settings, gate),
        jina=JinaReader(web, settings, gate),
        tavily=TavilyClient(web, settings, gate),
        llm=LlmClient(web, settings, gate),
        apify=ApifyClient(web, settings, gate),
        lusha=LushaClient(web, settings, gate),
        zerobounce=ZeroBounceClient(web, settings, gate),
        slack=SlackClient(web, settings),
        budget=gate,
    )


__all__ = [
    "BUDGET_EXHAUSTED", "DISABLED", "ERROR", "OK", "RATE_LIMITED", "TIMEOUT_STATUS", "UNAUTHORIZED",
    "VENDOR_BUDGETS", "ApifyClient", "BudgetGate", "Cooldown", "EmailVerdict", "ExtractResult", "ExtractedPage",
    "JinaReader", "LinkedInPerson", "LlmClient", "LlmResult", "LushaClient", "LushaPerson", "OdooAnswer",
    "OdooClient", "PeopleResult",
    "PersonResult", "ReadResult", "ReaderPage", "SearchClient", "SearchHit", "SearchResult", "SearxngClient", "SlackClient",
    "SlackResult", "Status", "TavilyClient", "TavilySearchResult", "TokenUsage", "VendorOutcome", "Vendors",
    "VerifyResult", "ZeroBounceClient", "build_vendors", "make_vendor_web_client", "vendor_host_policies",
]
