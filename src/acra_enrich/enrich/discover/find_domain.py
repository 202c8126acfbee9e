"""Stage 1, find_domain: the company's own website, verified before it is believed.

Order of candidates, cheapest first: the domain we already hold, then domains guessed
from the legal name (most companies need nothing more), then one web search whose
directory, social and marketplace hits are dropped. Every candidate's homepage is fetched
and scored (`identity_score`: name against title / og:site_name / JSON-LD name, the UEN
printed on the page, Singapore address or +65 phone, parked-domain signs) and only a
candidate above the threshold is accepted. The verified homepage is handed on to the crawl
so it is never fetched twice.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from cleanco import basename

from acra_enrich.enrich.extract.dom import text_as_html
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.enrich.facts import PageFacts
from acra_enrich.enrich.discover.homepages import HomepageCache, HomepageView
from acra_enrich.enrich.discover.identity import IdentityScore, identity_score
from acra_enrich.enrich.extract.signals import PageSignals, page_signals
from acra_enrich.enrich.discover.blocklist import is_blocked
from acra_enrich.enrich.sites import registrable_domain
from acra_enrich.web import FetchResult, WebClient

ACCEPT_SCORE = 0.5
EXACT_NAME = 0.95
# A candidate this sure ends the search at once; otherwise the best one above ACCEPT_SCORE wins.
CERTAIN_SCORE = 0.85
MAX_GUESSES = 15
# Once a candidate is accepted, only the next few (the same name under the other suffixes)
# may still beat it; probing every remaining guess costs requests to strangers' sites.
MORE_AFTER_ACCEPT = 2
MAX_SEARCH_CANDIDATES = 4
GUESS_SUFFIXES = (".com.sg", ".sg", ".com")
# Line-of-business words that trail a name ("ACME BLUE TRADING") and are often left out
# of the domain (acmeblue.com.sg); region tags likewise.
_TRAILING_WORDS = frozenset("""
singapore sg asia pacific international holdings holding group services service trading enterprise
enterprises company engineering construction technologies technology logistics consultancy consulting
investments investment solutions design renovation education ventures supplies systems electrical
transport travel digital media studio properties development management partners advisory resources
industries manufacturing marine catering cleaning works agency food stall clinic medical healthcare
security robotics tuition centre center cafe restaurant bakery beauty fitness realty motor shipping
store mart mini minimart shop plumbing coffee automobile automotive assurance insurance me fb florist kitchen
import export interior interiors contractor contractors builders build printing laundry salon spa
dental pharmacy optical tailor furniture electronics hardware fintech biotech software studios
associates accountants chartered law legal corporation co
""".split())
# Words too common to be a brand on their own: Singapore surnames, auspicious and everyday
# words that thousands of unrelated names share. A name's other words are its brand.
_COMMON_WORDS = frozenset("""
tan lim lee ng ong wong goh chua chan koh teo ang yeo tay ho low sim chong chew chia lau toh seah
wee lai kwek heng foo quek poh yap loh soh kang hock seng huat hup chuan kim ah sin soon guan heng
eng joo keat meng chye golden fortune sunrise sun star lucky happy prosperity prosperous wealth
harmony unity united universal global international eastern western east west north south new
great grand royal supreme premier prime elite apex alpha omega zenith summit pinnacle crown
dragon phoenix lion tiger eagle jade pearl diamond crystal gold silver orient oriental pacific
ocean sea blue green red white black city metro central capital victory vision wisdom evergreen
sunshine bright smart best first one top true trust noble royal bismillah al sri raja kumar
""".split())
_PARENS = re.compile(r"\([^)]*\)")
_WORD = re.compile(r"[a-z0-9]+(?:&[a-z0-9]+)?")


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
    enabled: bool

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
    degraded: list[str] = field(default_factory=list)

    @property
    def fetches(self) -> int:
        return sum(1 for c in self.candidates if c.outcome != "untried" and not c.shared)


def guess_domains(name: str) -> list[str]:
    """Domains a company with this legal name plausibly owns, most likely first.

    Labels: the core words (trailing line-of-business words dropped) joined; the brand -
    the name's uncommon words, which is what many companies register on their own; the
    core words hyphenated; the whole name joined and hyphenated. Each under .com.sg, .sg
    and .com.
    """
    folded = unicodedata.normalize("NFKD", _PARENS.sub(" ", name)).encode("ascii", "ignore").decode("ascii")
    words = [w.replace("&", "") for w in _WORD.findall(basename(folded).lower())]
    core = list(words)
    while len(core) > 1 and core[-1] in _TRAILING_WORDS:
        core.pop()
    brand = [w for w in words if w not in _COMMON_WORDS and w not in _TRAILING_WORDS and not w.isdigit()]
    labels: list[str] = []
    for label in ("".join(core), "".join(brand), "-".join(core), "".join(words), "-".join(words)):
        if 3 <= len(label) <= 63 and label not in labels:
            labels.append(label)
    return [label + suffix for label in labels for suffix in GUESS_SUFFIXES][:MAX_GUESSES]


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
    # name is enough, unless the page names another entity's UEN or is parked.
    exact_name = score.name_similarity >= EXACT_NAME and not score.other_uens and not score.parked
    if exact_name:
        candidate.score = max(candidate.score, ACCEPT_SCORE)
    candidate.outcome = "accepted" if candidate.score >= ACCEPT_SCORE else "rejected"
    return _Verified(score, signals, facts, homepage)


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
    done = await consider(existing) or await consider([Candidate(d, "guess") for d in guess_domains(company.name)])
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
