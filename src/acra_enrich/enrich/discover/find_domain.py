"""Stage 1, find_domain: the company's own website, verified before it is believed.

Order of candidates, cheapest first: the domain we already hold, then domains guessed
from the legal name (most companies need nothing more; see guesses.py: each guess is
looked up first and only names that resolve are fetched), then one web search whose
directory, social and marketplace hits are dropped. Every candidate's homepage is fetched
and scored (`identity_score`: name against title / og:site_name / JSON-LD name, the UEN
printed on the page, Singapore address or +65 phone, parked-domain signs) and only a
candidate above the threshold is accepted. The verified homepage is handed on to the crawl
so it is never fetched twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import structlog
from cleanco import basename

from acra_enrich.enrich.extract.dom import text_as_html
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.enrich.facts import PageFacts
from acra_enrich.enrich.discover.homepages import HomepageCache, HomepageView
from acra_enrich.enrich.discover.identity import IdentityScore, identity_score
from acra_enrich.enrich.extract.signals import PageSignals, page_signals
from acra_enrich.enrich.discover.blocklist import is_blocked
from acra_enrich.enrich.discover.guesses import guess_domains
from acra_enrich.enrich.sites import registrable_domain
from acra_enrich.web import FetchResult, WebClient

log = structlog.get_logger("acra_enrich.find_domain")

ACCEPT_SCORE = 0.5
EXACT_NAME = 0.95
# A candidate this sure ends the search at once; otherwise the best one above ACCEPT_SCORE wins.
CERTAIN_SCORE = 0.85
# Once a candidate is accepted, only the next few (the same name under the other suffixes)
# may still beat it; probing every remaining guess costs requests to strangers' sites.
MORE_AFTER_ACCEPT = 2
MAX_SEARCH_CANDIDATES = 4
NAME_LOOKUPS_AT_ONCE = 8  # a company's guesses looked up together (DNS, or the proxy's robots.txt answer)

# Read-only members: search clients answer with frozen dataclasses.
class SearchHit(Protocol):
    @property
    def url(self) -> str: ...


class SearchOutcome(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def hits(self) -> Sequence[SearchHit]: ...


class Searcher(Protocol):
    @property
    def enabled(self) -> bool: ...

    async def search(self, query: str) -> SearchOutcome: ...


class Reader(Protocol):
    """Renders a page that needs a browser (script-only) as text, e.g. the Jina reader."""

    enabled: bool

    async def read_text(self, url: str) -> str | None: ...


@dataclass(frozen=True)
class Company:
    company_id: int
    name: str
    uen: str | None
    website_domain: str | None = None


@dataclass
class Candidate:
    domain: str
    found_by: str  # existing | guess | search
    score: float = 0.0
    outcome: str = "untried"  # accepted | rejected | unreachable | untried
    reasons: list[str] = field(default_factory=list)
    shared: bool = False  # its homepage was fetched for another company a moment ago


@dataclass
class DomainDecision:
    domain: str | None
    found_by: str | None
    confidence: float
    homepage: FetchResult | None = None
    homepage_facts: PageFacts | None = None
    candidates: list[Candidate] = field(default_factory=list)
    searched: bool = False
    search_status: str | None = None
    search_provider: str | None = None  # which provider answered the search (ddg, searxng, tavily)
    degraded: list[str] = field(default_factory=list)
    guesses: int = 0  # guessed names looked up
    guesses_alive: int = 0  # of them, names that resolved (or that only a request could tell about)

    @property
    def fetches(self) -> int:
        return sum(1 for c in self.candidates if c.outcome != "untried" and not c.shared)

    @property
    def probes(self) -> int:
        """Guessed candidates whose homepage this company requested over HTTP."""
        return sum(1 for c in self.candidates if c.found_by == "guess" and c.outcome != "untried" and not c.shared)


def search_query(name: str) -> str:
    return f'"{basename(name).strip() or name.strip()}" Singapore'


def domains_from_hits(hits: Sequence[SearchHit]) -> list[str]:
    """Registrable domains of the hits, in rank order, without directories and platforms."""
    seen: list[str] = []
    for hit in hits:
        domain = registrable_domain(hit.url)
        if domain and not is_blocked(domain) and domain not in seen:
            seen.append(domain)
    return seen


@dataclass
class _Verified:
    score: IdentityScore
    signals: PageSignals
    facts: PageFacts
    homepage: FetchResult


async def _fetch_view(web: WebClient, reader: Reader | None, candidate: Candidate) -> HomepageView:
    # A guess that does not answer is simply not the site: no retries for it.
    homepage = await web.get_site(candidate.domain, attempts=1 if candidate.found_by == "guess" else None)
    if not homepage.ok:
        return HomepageView(homepage)
    facts = await asyncio.to_thread(extract_page, homepage.final_url, homepage.text, role="home")
    signals = page_signals(homepage.text, facts.text)
    if (signals.script_only or signals.blocked) and reader is not None and reader.enabled:
        text = await reader.read_text(homepage.final_url)
        if text:
            facts = await asyncio.to_thread(extract_page, homepage.final_url, text_as_html(facts.title, text), role="home")
            signals = page_signals(text_as_html(facts.title, text), facts.text)
            return HomepageView(homepage, facts, signals, via_reader=True)
    return HomepageView(homepage, facts, signals)


async def _verify(
    web: WebClient, reader: Reader | None, company: Company, candidate: Candidate, degraded: list[str],
    homepages: HomepageCache | None,
) -> _Verified | None:
    if homepages is None:
        view = await _fetch_view(web, reader, candidate)
    else:
        view, candidate.shared = await homepages.view(candidate.domain, lambda: _fetch_view(web, reader, candidate),
                                                      reuse_failure=candidate.found_by == "guess")
    homepage = view.homepage
    if view.facts is None or view.signals is None:
        candidate.outcome = "unreachable"
        candidate.reasons.append(homepage.error or f"HTTP {homepage.status}")
        return None
    facts, signals = view.facts, view.signals
    if view.via_reader and not candidate.shared:
        degraded.append("jina_reader:verify")
    score = identity_score(company.name, company.uen, facts, signals)
    candidate.score = score.score
    candidate.reasons.extend(score.reasons)
    # Many small sites print nothing but their name on the homepage (the address and UEN
    # sit on a contact page): an exact name on a domain built from, or searched by, that
    # name is enough, unless the page names another entity's UEN, is parked or foreign.
    exact_name = score.name_similarity >= EXACT_NAME and not score.other_uens and not score.parked \
        and not score.foreign
    if exact_name:
        candidate.score = max(candidate.score, ACCEPT_SCORE)
    candidate.outcome = "accepted" if candidate.score >= ACCEPT_SCORE else "rejected"
    if candidate.found_by == "existing" and candidate.outcome == "rejected" and _known_site_stands(
            candidate, homepage, score):
        # A website we hold (an earlier verified run, an import, an operator) is the company's
        # unless its page says otherwise: brands differ from legal names ("LeewardPro" for
        # Leeward Productions). A weak match only lowers its confidence.
        candidate.outcome = "accepted"
        candidate.reasons.append("known website kept: no negative evidence (weak name match)")
        log.info("known_website_weak_match", domain=candidate.domain, company=company.name,
                 confidence=candidate.score, name_similarity=score.name_similarity)
    return _Verified(score, signals, facts, homepage)


def _known_site_stands(candidate: Candidate, homepage: FetchResult, score: IdentityScore) -> bool:
    """A known website keeps its place unless parked, another UEN's, a foreign namesake's, or
    now redirecting to another site (a lapsed domain taken over: verified like any candidate)."""
    moved = registrable_domain(homepage.final_url) not in ("", candidate.domain)
    return not score.negative and not moved


async def _alive_guesses(web: WebClient, guesses: list[str], decision: DomainDecision) -> list[str]:
    """The guesses whose name resolves (or may), in rank order: a name without an address costs
    a lookup and never an HTTP probe. Looked up together, a few at a time."""
    gate = asyncio.Semaphore(NAME_LOOKUPS_AT_ONCE)

    async def lookup(domain: str) -> bool | None:
        async with gate:
            return await web.site_exists(domain)

    found = await asyncio.gather(*(lookup(d) for d in guesses))
    alive = [d for d, exists in zip(guesses, found) if exists is not False]
    decision.guesses, decision.guesses_alive = len(guesses), len(alive)
    return alive


async def find_domain(
    web: WebClient,
    company: Company,
    *,
    searcher: Searcher | None,
    reader: Reader | None = None,
    cached_search: list[str] | None = None,
    homepages: HomepageCache | None = None,
) -> tuple[DomainDecision, list[str] | None]:
    """Decide the company's website. Returns the decision and, when a search ran, the
    domains it yielded (for the caller to cache). `homepages` shares candidate fetches
    between companies (see enrich.homepages)."""
    decision = DomainDecision(domain=None, found_by=None, confidence=0.0)
    best: tuple[Candidate, _Verified] | None = None

    async def consider(candidates: list[Candidate]) -> bool:
        nonlocal best
        tried_since_accept = 0
        for candidate in candidates:
            if any(c.domain == candidate.domain for c in decision.candidates):
                continue
            if best is not None:
                if tried_since_accept >= MORE_AFTER_ACCEPT:
                    break
                tried_since_accept += 1
            decision.candidates.append(candidate)
            verified = await _verify(web, reader, company, candidate, decision.degraded, homepages)
            if verified and candidate.outcome == "accepted" and (best is None or candidate.score > best[0].score):
                best = (candidate, verified)
                if candidate.score >= CERTAIN_SCORE:
                    return True
        return best is not None

    existing = [Candidate(company.website_domain.lower(), "existing")] if company.website_domain else []
    done = await consider(existing)
    if not done:
        alive = await _alive_guesses(web, guess_domains(company.name), decision)
        done = await consider([Candidate(d, "guess") for d in alive])
    searched_domains: list[str] | None = None
    if not done:
        if cached_search is not None:
            decision.search_status = "cached"
            domains = cached_search
        elif searcher is None or not searcher.enabled:
            decision.search_status = "disabled"
            domains = []
        else:
            outcome = await searcher.search(search_query(company.name))
            decision.searched = True
            decision.search_status = outcome.status
            decision.search_provider = getattr(outcome, "provider", None) or getattr(searcher, "vendor", None)
            domains = domains_from_hits(outcome.hits) if outcome.status == "ok" else []
            if outcome.status == "ok":
                searched_domains = domains
            else:
                decision.degraded.append(f"search:{outcome.status}")
        await consider([Candidate(d, "search") for d in domains[:MAX_SEARCH_CANDIDATES]])
    if best is not None:
        candidate, verified = best
        # A guess may redirect to the real site (acme.com -> www.acme.com.sg): keep where it landed.
        decision.domain = registrable_domain(verified.homepage.final_url) or candidate.domain
        decision.found_by = candidate.found_by
        decision.confidence = round(candidate.score, 3)
        decision.homepage = verified.homepage
        decision.homepage_facts = verified.facts
    return decision, searched_domains
