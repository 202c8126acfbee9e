"""DuckDuckGo's HTML results page (`DDG_BASE_URL`, POST form `q`), parsed with selectolax.

DuckDuckGo rate-limits with HTTP 202 and an "anomaly" (bot challenge) page, not 429; blocks
last 10-15 minutes. That answer is `rate_limited`, never "zero results", and it starts a
cool-down (DDG_COOLDOWN_S) shared by every search in the process: until it ends, searches
return `rate_limited` without sending anything. A 200 page in a layout we do not recognise
(DuckDuckGo changed its markup) is an `error`, also never "zero results".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import structlog
from selectolax.lexbor import LexborHTMLParser

from acra_enrich.config import Settings
from acra_enrich.vendors.base import ERROR, OK, RATE_LIMITED, VendorClient, VendorOutcome
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.web import WebClient

log = structlog.get_logger(__name__)

VENDOR = "ddg"
REGION = "sg-en"  # DuckDuckGo's kl= region: Singapore results first
MAX_HITS = 30


@dataclass(frozen=True)
class SearchHit:
    url: str
    title: str
    snippet: str


@dataclass(frozen=True)
class SearchResult(VendorOutcome):
    query: str = ""
    hits: tuple[SearchHit, ...] = ()


class Cooldown:
    """When a rate-limited vendor may be asked again (monotonic clock), shared by its callers."""

    def __init__(self) -> None:
        self.until = 0.0

    def remaining_s(self) -> float:
        return max(0.0, self.until - time.monotonic())

    def start(self, seconds: float) -> None:
        self.until = max(self.until, time.monotonic() + seconds)


# One per process: every SearchClient shares it unless a test passes its own.
PROCESS_COOLDOWN = Cooldown()


@dataclass
class ParsedPage:
    hits: list[SearchHit] = field(default_factory=list)
    recognised: bool = False  # results or the "no results" block were found
    anomaly: bool = False


def _target(href: str) -> str | None:
    """The result's real URL: DuckDuckGo wraps it as //duckduckgo.com/l/?uddg=<encoded>&rut=…"""
    href = href.strip()
    if href.startswith("//"):
        href = "https:" + href
    parts = urlsplit(href)
    if parts.hostname and parts.hostname.endswith("duckduckgo.com"):
        if parts.path == "/y.js":  # an advertisement
            return None
        target = parse_qs(parts.query).get("uddg", [None])[0]
        return target if target and target.startswith(("http://", "https://")) else None
    return href if parts.scheme in ("http", "https") else None


def _squash(text: str) -> str:
    # Query words come back in <b> nodes: join the text as written, spaces collapsed.
    return " ".join(text.split())


def parse_results(html: str) -> ParsedPage:
    tree = LexborHTMLParser(html)
    page = ParsedPage()
    if tree.css_first(".anomaly-modal__modal, #challenge-form") is not None or "anomaly.js" in html:
        page.anomaly = True
        return page
    if tree.css_first(".no-results") is not None:
        page.recognised = True
    seen: set[str] = set()
    for block in tree.css("div.result"):
        page.recognised = True
        if "result--ad" in (block.attributes.get("class") or ""):
            continue
        link = block.css_first("a.result__a")
        if link is None:
            continue
        url = _target(link.attributes.get("href") or "")
        if url is None or url in seen:
            continue
        seen.add(url)
        snippet = block.css_first(".result__snippet")
        page.hits.append(SearchHit(url=url, title=_squash(link.text()),
                                   snippet=_squash(snippet.text()) if snippet is not None else ""))
        if len(page.hits) >= MAX_HITS:
            break
    return page


class SearchClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None,
                 *, cooldown: Cooldown | None = None) -> None:
        super().__init__(web, budget, disabled_reason=None)
        self.base_url = settings.ddg_base_url
        self.cooldown_s = settings.ddg_cooldown_s
        self.cooldown = cooldown or PROCESS_COOLDOWN

    async def search(self, query: str) -> SearchResult:
        query = query.strip()
        waiting = self.cooldown.remaining_s()
        if waiting > 0:
            return SearchResult(RATE_LIMITED, f"cooling down after a DuckDuckGo block, {waiting:.0f}s left", query=query)
        refused = await self._take()
        if refused is not None:
            return SearchResult(*refused, query=query)
        # One attempt: retrying a search DuckDuckGo did not like is how clients get blocked.
        result = await self.web.request("POST", self.base_url, data={"q": query, "b": "", "kl": REGION}, attempts=1)
        page = parse_results(result.text) if result.ok and result.status == 200 else None
        if result.status in (202, 429) or (page is not None and page.anomaly):
            self.cooldown.start(self.cooldown_s)
            log.warning("ddg_rate_limited", http_status=result.status, cooldown_s=self.cooldown_s)
            return SearchResult(RATE_LIMITED, f"HTTP {result.status}: DuckDuckGo rate-limit page",
                                http_status=result.status, query=query)
        if page is None:
            status, detail = self._failure(result)
            return SearchResult(status, detail, http_status=result.status, query=query)
        if not page.recognised:
            return SearchResult(ERROR, "unrecognised results page (DuckDuckGo markup changed?)",
                                http_status=result.status, query=query)
        return SearchResult(OK, f"{len(page.hits)} result(s)", http_status=result.status, query=query,
                            hits=tuple(page.hits))
