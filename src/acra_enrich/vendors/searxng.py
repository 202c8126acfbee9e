"""A self-hosted SearXNG instance's JSON API: `GET {SEARXNG_BASE_URL}/search?q=...&format=json`.

Operators run SearXNG to search without a third party's rate limits; its upstream engines
still have theirs. So three answers are not "zero results": 403 (the instance does not
serve `format=json`: add `json` to `search.formats` in its settings.yml), 429 (its limiter),
and 200 with no results while `unresponsive_engines` lists suspended or CAPTCHA-ed engines
(rate-limited upstream). Budget: SEARXNG_MAX_PER_HOUR; pacing: SEARXNG_MIN_INTERVAL_S.
"""

from __future__ import annotations

from acra_enrich.config import Settings
from acra_enrich.vendors.base import DISABLED, ERROR, OK, RATE_LIMITED, UNAUTHORIZED, VendorClient, json_body
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.vendors.search import MAX_HITS, SearchHit, SearchResult
from acra_enrich.web import WebClient

VENDOR = "searxng"


def _unresponsive(body: dict[str, object]) -> list[str]:
    engines = body.get("unresponsive_engines")
    out = []
    for item in engines if isinstance(engines, list) else []:
        if isinstance(item, list) and item and isinstance(item[0], str):
            out.append(": ".join(str(x) for x in item[:2]))
        elif isinstance(item, str):
            out.append(item)
    return out


class SearxngClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        base = settings.searxng_base_url
        super().__init__(web, budget, disabled_reason=None if base else "SEARXNG_BASE_URL is not set")
        self.base_url = (base or "").rstrip("/")

    async def search(self, query: str) -> SearchResult:
        query = query.strip()
        if not self.enabled:
            return SearchResult(DISABLED, self._disabled_detail(), query=query)
        refused = await self._take()
        if refused is not None:
            return SearchResult(*refused, query=query)
        result = await self.web.request("GET", f"{self.base_url}/search", attempts=1, params={
            "q": query, "format": "json", "categories": "general", "language": "en-SG", "safesearch": "0"})
        body = json_body(result) if result.ok else None
        if result.status == 403:
            return SearchResult(UNAUTHORIZED, "HTTP 403: the instance does not serve format=json "
                                "(add json to search.formats in its settings.yml)", http_status=403, query=query)
        if result.status == 429:
            return SearchResult(RATE_LIMITED, "HTTP 429: the instance's limiter refused the search",
                                http_status=429, query=query)
        if not result.ok:
            status, detail = self._failure(result)
            return SearchResult(status, detail, http_status=result.status, query=query)
        if not isinstance(body, dict) or not isinstance(body.get("results"), list):
            return SearchResult(ERROR, "answer is not SearXNG's JSON (is SEARXNG_BASE_URL the instance?)",
                                http_status=result.status, query=query)
        hits = tuple(SearchHit(url=str(r["url"]), title=str(r.get("title") or ""), snippet=str(r.get("content") or ""))
                     for r in body["results"] if isinstance(r, dict) and isinstance(r.get("url"), str))[:MAX_HITS]
        down = _unresponsive(body)
        if not hits and down:
            return SearchResult(RATE_LIMITED, self._detail("no results while its engines are down: " + "; ".join(down[:4])),
                                http_status=result.status, query=query)
        return SearchResult(OK, f"{len(hits)} result(s)" + (f", {len(down)} engine(s) down" if down else ""),
                            http_status=result.status, query=query, hits=hits)
