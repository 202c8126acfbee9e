"""Stage 2, crawl: a few pages of the verified site, chosen the way a person would.

From the homepage, the site's own navigation is followed to its about, contact and careers
pages (ranked by link text and path, same site only; pages found there are followed too,
so a contact page two clicks deep is reached); common paths are tried only for what the
navigation did not offer. At most CRAWL_MAX_PAGES page requests, the homepage included,
however many of them fail; robots.txt and pacing enforced by the web client. A page that
is blocked, empty or needs a browser is read through the reader fallback (Jina, else
Tavily) and the fallback is named in `degraded`; a page that gives nothing is recorded
with the web client's reason code.

A page is fetched once per crawl: tracking parameters (utm_*, gclid, fbclid, ... as courlan
knows them) are dropped from the URL, and links that differ only in navigation markers
(`?loc=MainNav` vs `?loc=Footer`, `ref=`) or in www/trailing slash are the same page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from courlan.clean import clean_query

from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.enrich.facts import PageFacts, PageRole
from acra_enrich.enrich.extract.dom import text_as_html
from acra_enrich.enrich.discover.find_domain import Reader
from acra_enrich.enrich.extract.links import LinkCandidate, nav_links
from acra_enrich.enrich.extract.signals import page_signals
from acra_enrich.web import ROBOTS_DISALLOWED, FetchResult, WebClient

WANTED_KINDS: tuple[PageRole, ...] = ("about", "contact", "careers")
COMMON_PATHS: dict[str, tuple[str, ...]] = {
    "about": ("/about", "/about-us"),
    "contact": ("/contact", "/contact-us"),
    "careers": ("/careers",),
}
EMPTY_PAGE = "empty_page"  # answered 2xx with nothing to read (and no reader could render it)
# The history row names the failed pages of a default-sized crawl; with a larger
# CRAWL_MAX_PAGES a site whose every link fails must not bloat the row.
MAX_RECORDED_FAILURES = 8


@dataclass(frozen=True)
class PageFailure:
    url: str
    reason: str  # a web.result reason code (http_status comes with its status), or EMPTY_PAGE
    status: int | None = None


@dataclass
class CrawlResult:
    pages: list[PageFacts]
    fetched: int = 0  # page requests made (the homepage, fetched during discovery, excluded)
    failures: list[PageFailure] = field(default_factory=list)  # the first MAX_RECORDED_FAILURES
    degraded: list[str] = field(default_factory=list)
    skipped_by_robots: int = 0


# Query parameters that say where a link was placed, not which page it is.
_NAV_MARKERS = frozenset({"loc", "ref", "src", "source", "from", "nav", "menu", "position", "placement", "origin",
                          "cmp", "intcmp", "icid", "trk", "trkinfo", "sessionid", "sid", "phpsessid", "jsessionid"})


def fetch_url(url: str) -> str:
    """`url` without its fragment and tracking parameters: what is worth requesting."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", clean_query(parts.query), ""))


def page_key(url: str) -> str:
    """Which page a URL is, for fetching each page once: host without www, path without its
    trailing slash, the query without tracking parameters and navigation markers."""
    parts = urlsplit(fetch_url(url))
    host = (parts.hostname or "").lower().removeprefix("www.")
    query = urlencode(sorted((k, v) for k, v in parse_qsl(parts.query) if k.lower() not in _NAV_MARKERS))
    return f"{host}{parts.path.rstrip('/').lower()}?{query}"


async def crawl_site(
    web: WebClient,
    homepage: FetchResult,
    homepage_facts: PageFacts,
    *,
    max_pages: int,
    reader: Reader | None,
    text_limit: int,
) -> CrawlResult:
    result = CrawlResult(pages=[homepage_facts])
    seen = {page_key(homepage.url), page_key(homepage.final_url)}
    found: set[str] = set()
    frontier: list[LinkCandidate] = list(nav_links(homepage.final_url, homepage.text))
    seeds = {kind: [urljoin(homepage.final_url, path) for path in paths] for kind, paths in COMMON_PATHS.items()}

    while result.fetched < max_pages - 1:  # failed requests count too: a broken site costs no more
        nxt = _next_target(frontier, seeds, found, seen)
        if nxt is None:
            break
        url, kind = nxt
        seen.add(page_key(url))
        page = await web.get(url)
        result.fetched += 1
        if page.final_url:
            seen.add(page_key(page.final_url))  # "/about" that redirects to "/about-us/" is that page
        if page.error == ROBOTS_DISALLOWED:
            result.skipped_by_robots += 1
            continue
        html = page.text if page.ok else ""
        facts = await asyncio.to_thread(extract_page, page.final_url or url, html, role=kind, text_limit=text_limit) if html else None
        signals = page_signals(html, facts.text) if facts is not None else None
        needs_reader = page.ok and signals is not None and (signals.script_only or signals.blocked or signals.empty)
        if (needs_reader or (not page.ok and page.status in (401, 403, 429, 503))) and reader is not None and reader.enabled:
            text = await reader.read_text(page.final_url or url)
            if text:
                result.degraded.append(f"reader:{kind}")
                facts = await asyncio.to_thread(extract_page, page.final_url or url, text_as_html(facts.title if facts else None, text),
                                                role=kind, text_limit=text_limit)
        if facts is None:
            if len(result.failures) < MAX_RECORDED_FAILURES:
                result.failures.append(PageFailure(url, page.error or EMPTY_PAGE, page.status))
            continue
        result.pages.append(facts)
        found.add(kind)
        frontier.extend(nav_links(page.final_url or url, html))
    return result


def _next_target(
    frontier: list[LinkCandidate], seeds: dict[str, list[str]], found: set[str], seen: set[str]
) -> tuple[str, PageRole] | None:
    """The best unseen link for a kind not yet found; then common paths for missing kinds."""
    frontier.sort(key=lambda c: c.score, reverse=True)
    for candidate in frontier:
        if candidate.kind not in found and page_key(candidate.url) not in seen:
            return fetch_url(candidate.url), candidate.kind
    for kind in WANTED_KINDS:
        if kind in found:
            continue
        for url in seeds.get(kind, []):
            if page_key(url) not in seen:
                return url, kind
    return None
