"""Tavily `POST /extract` (page text for up to 20 URLs) and `POST /search`, Bearer TAVILY_API_KEY.

Each call takes one unit of TAVILY_MAX_QUERIES (per day); a call that fails is not charged by
Tavily, so its unit is given back. 432/433 are Tavily's plan / pay-as-you-go limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from acra_enrich.config import Settings
from acra_enrich.vendors.base import (
    DISABLED,
    ERROR,
    OK,
    UNAUTHORIZED,
    JsonAnswer,
    VendorClient,
    VendorOutcome,
    secret_values,
)
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.vendors.search import SearchHit
from acra_enrich.web import WebClient

VENDOR = "tavily"
MAX_EXTRACT_URLS = 20


@dataclass(frozen=True)
class ExtractedPage:
    url: str
    content: str


@dataclass(frozen=True)
class ExtractResult(VendorOutcome):
    pages: tuple[ExtractedPage, ...] = ()
    failed: tuple[tuple[str, str], ...] = ()  # (url, Tavily's reason)


@dataclass(frozen=True)
class TavilySearchResult(VendorOutcome):
    query: str = ""
    hits: tuple[SearchHit, ...] = ()
    answer: str | None = None


class TavilyClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        key = settings.tavily_api_key
        super().__init__(web, budget, disabled_reason=None if key else "TAVILY_API_KEY is not set",
                         secrets=secret_values(key))
        self.base_url = settings.tavily_base_url.rstrip("/")
        self._key = key

    async def _post(self, path: str, payload: dict[str, Any]) -> JsonAnswer:
        """One API call; on failure the unit is given back (Tavily charges only answers)."""
        assert self._key is not None
        answer = await self._json_call("POST", f"{self.base_url}{path}", json=payload, need_object=True,
                                       headers={"Authorization": f"Bearer {self._key.get_secret_value()}"},
                                       message_at=("detail", "error"))
        if answer.http_status in (432, 433):
            return JsonAnswer(UNAUTHORIZED, f"HTTP {answer.http_status}: Tavily plan or usage limit reached",
                              answer.http_status)
        return answer

    async def extract(self, urls: Sequence[str], *, text_format: Literal["markdown", "text"] = "markdown",
                      depth: Literal["basic", "advanced"] = "basic") -> ExtractResult:
        if not self.enabled:
            return ExtractResult(DISABLED, self._disabled_detail())
        urls = list(dict.fromkeys(urls))
        if not urls or len(urls) > MAX_EXTRACT_URLS:
            return ExtractResult(ERROR, f"extract takes 1 to {MAX_EXTRACT_URLS} URLs, got {len(urls)}")
        call = await self._post("/extract", {"urls": urls, "extract_depth": depth, "format": text_format})
        body = call.body
        if not call.ok:
            return ExtractResult(call.status, call.detail, call.http_status)
        pages = tuple(ExtractedPage(str(r["url"]), str(r.get("raw_content") or ""))
                      for r in body.get("results") or [] if isinstance(r, dict) and r.get("url"))
        failed = tuple((str(f.get("url")), str(f.get("error") or "")) for f in body.get("failed_results") or []
                       if isinstance(f, dict))
        return ExtractResult(OK, f"{len(pages)} page(s), {len(failed)} failed", http_status=call.http_status,
                             pages=pages, failed=failed)

    async def read_text(self, url: str) -> str | None:
        """One page's text (the crawler's reader fallback), or None."""
        result = await self.extract([url])
        page = result.pages[0] if result.pages else None
        return page.content if page is not None and page.content.strip() else None

    async def search(self, query: str, *, max_results: int = 5,
                     include_domains: Sequence[str] = (), exclude_domains: Sequence[str] = ()) -> TavilySearchResult:
        if not self.enabled:
            return TavilySearchResult(DISABLED, self._disabled_detail(), query=query)
        payload: dict[str, Any] = {"query": query, "max_results": max_results, "search_depth": "basic"}
        if include_domains:
            payload["include_domains"] = list(include_domains)
        if exclude_domains:
            payload["exclude_domains"] = list(exclude_domains)
        call = await self._post("/search", payload)
        body = call.body
        if not call.ok:
            return TavilySearchResult(call.status, call.detail, call.http_status, query=query)
        hits = tuple(SearchHit(url=str(r["url"]), title=str(r.get("title") or ""), snippet=str(r.get("content") or ""))
                     for r in body.get("results") or [] if isinstance(r, dict) and r.get("url"))
        answer_text = body.get("answer")
        return TavilySearchResult(OK, f"{len(hits)} result(s)", http_status=call.http_status, query=query, hits=hits,
                                  answer=answer_text if isinstance(answer_text, str) else None)
