"""Deterministic firmographics extraction from fetched pages (no network, no database).

`extract_page` turns one page (URL + HTML) into `PageFacts`; `merge_facts` merges one site's
pages into `CompanyFacts`. Every value keeps the URL it came from and the rule that found it.
`nav_links`, `page_signals` and `identity_score` serve crawling and domain verification.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from urllib.parse import urlsplit

import structlog
from selectolax.lexbor import LexborHTMLParser
from stdnum.sg import uen as sg_uen

from acra_enrich.enrich.extract.about import DEFAULT_TIMEOUT_S, about_text
from acra_enrich.enrich.extract.address import address_from_text
from acra_enrich.enrich.extract.careers import employees_hint, jobs_from_list, open_jobs_from_text
from acra_enrich.enrich.extract.dom import limit_nesting, meta_content, parse_html, sanitize_html, title_of, visible_text
from acra_enrich.enrich.extract.emails import extract_emails
from acra_enrich.enrich.facts import Address, CompanyFacts, PageFacts, PageRole, Sourced
from acra_enrich.enrich.discover.identity import IdentityScore, identity_score
from acra_enrich.enrich.extract.links import LinkCandidate, ats_links, linkedin_rank, nav_links, rank_nav_links, social_links
from acra_enrich.enrich.extract.phones import extract_phones, merge_numbers
from acra_enrich.enrich.extract.signals import PageSignals, page_signals
from acra_enrich.enrich.sites import host_matches, registrable_domain
from acra_enrich.enrich.extract.structured import StructuredData, extract_structured
from acra_enrich.enrich.extract.revenue import find_revenue
from acra_enrich.enrich.extract.techstack import detect_tech

__all__ = [
    "Address", "CompanyFacts", "IdentityScore", "LinkCandidate", "PageFacts", "PageSignals", "Sourced",
    "extract_page", "identity_score", "merge_facts", "nav_links", "page_signals",
]

log = structlog.get_logger(__name__)

T = TypeVar("T")

# Rules scan at most this much visible text, whatever `text_limit` keeps for the corpus.
_RULES_TEXT_CHARS = 200_000
_UEN_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])(\d{8}[A-Z]|\d{9}[A-Z]|[RST]\d{2}[A-Z]{2}\d{4}[A-Z])(?![A-Za-z0-9])")
_CAREERS_PATH = re.compile(r"/(?:careers?|jobs?|join-us|joinus|vacancies|hiring|work-with-us|openings)(?:[/.?-]|$)", re.I)
# Pages are merged in this order of trust for contact data (a contact page states it on purpose).
_CONTACT_ORDER: dict[str, int] = {"contact": 0, "home": 1, "about": 2, "careers": 3, "other": 4}
_CORPUS_ORDER: dict[str, int] = {"home": 0, "about": 1, "contact": 2, "careers": 3, "other": 4}
_JOBS_METHODS = {"jsonld": 0, "microdata": 0, "text": 1, "ats_links": 2, "job_list": 3}


def _uens(text: str, identifiers: Iterable[tuple[str, str]], url: str) -> list[Sourced[str]]:
    found: dict[str, Sourced[str]] = {}
    candidates = [(value.strip().upper(), method) for value, method in identifiers]
    candidates += [(m.group(1), "text") for m in _UEN_CANDIDATE.finditer(text)]
    for value, method in candidates:
        if value not in found and sg_uen.is_valid(value):
            found[value] = Sourced(sg_uen.compact(value), url, method)
    return list(found.values())


def _ats_job_links(links: list[str]) -> int:
    """Distinct ATS links that point at one posting (deeper than the board's root page)."""
    return sum(1 for link in links if len([s for s in urlsplit(link).path.split("/") if s]) >= 2)


def _jobs(
    role: PageRole, url: str, tree: LexborHTMLParser, text: str, structured: StructuredData, ats: list[str]
) -> Sourced[int] | None:
    """Open-job count, most explicit evidence first: JobPosting markup (any page), then on a
    careers page its "N open positions" text, ATS posting links, or the items of a jobs list."""
    if structured.job_postings:
        return Sourced(structured.job_postings, url, structured.job_postings_method or "jsonld")
    if role != "careers" and not _CAREERS_PATH.search(urlsplit(url).path):
        return None
    from_text = open_jobs_from_text(text)
    if from_text is not None:
        return Sourced(from_text, url, "text")
    ats_jobs = _ats_job_links(ats)
    if ats_jobs:
        return Sourced(ats_jobs, url, "ats_links")
    from_list = jobs_from_list(tree)
    if from_list:
        return Sourced(from_list, url, "job_list")
    return None


def extract_page(
    url: str,
    html: str,
    *,
    role: PageRole = "other",
    text_limit: int = 40_000,
    about_timeout_s: float = DEFAULT_TIMEOUT_S,
) -> PageFacts:
    """Everything deterministic rules find on one page. Never raises: a page that defeats the
    rules yields empty facts (logged), not an exception."""
    try:
        return _extract_page(url, html, role, text_limit, about_timeout_s)
    except Exception as exc:  # hostile pages must not stop a company's enrichment
        log.warning("extract_page_failed", url=url, role=role, error=f"{type(exc).__name__}: {exc}"[:300])
        return PageFacts(url=url, role=role)


def _extract_page(url: str, html: str, role: PageRole, text_limit: int, about_timeout_s: float) -> PageFacts:
    html = limit_nesting(sanitize_html(html))
    tree = parse_html(html)
    visible = visible_text(tree, limit=max(text_limit, _RULES_TEXT_CHARS))
    title = title_of(tree)
    structured = extract_structured(html, url, tree)

    site_names: list[Sourced[str]] = []
    if title:
        site_names.append(Sourced(title, url, "title"))
    seen_names = {title.casefold()} if title else set()
    for name, method in structured.site_names:
        if name.casefold() not in seen_names:
            seen_names.add(name.casefold())
            site_names.append(Sourced(name, url, method))

    address: Sourced[Address] | None = None
    if structured.address is not None:
        address = Sourced(structured.address[0], url, structured.address[1])
    else:
        found = address_from_text(visible)
        address = Sourced(found, url, "text") if found else None

    about: Sourced[str] | None = None
    if role in ("home", "about"):
        description = structured.og.get("og:description") or meta_content(tree, name="description")
        about = about_text(html, url, visible, description=description, timeout_s=about_timeout_s)

    linkedin, socials = social_links(tree, url, structured.same_as, visible)
    ats = ats_links(tree, url)
    careers_links = [c for c in rank_nav_links(tree, url) if c.kind == "careers"]
    careers = bool(
        role == "careers" or careers_links or ats or structured.job_postings or _CAREERS_PATH.search(urlsplit(url).path)
    )
    jobs = _jobs(role, url, tree, visible, structured, ats)

    employees: Sourced[int] | None = None
    if structured.employees is not None:
        employees = Sourced(structured.employees[0], url, structured.employees[1])
    else:
        hint = employees_hint(visible)
        employees = Sourced(hint, url, "text") if hint else None

    numbers = extract_phones(tree, visible, url, telephones=structured.telephones, faxes=structured.faxes,
                             countries=structured.countries)
    return PageFacts(
        url=url,
        role=role,
        title=title,
        site_names=site_names,
        emails=extract_emails(tree, visible, url, structured.emails, role=role),
        phones=numbers.phones,
        faxes=numbers.faxes,
        region=numbers.region.region,
        linkedin_url=linkedin,
        socials=socials,
        address=address,
        about_text=about,
        tech_stack=detect_tech(tree, url),
        careers=careers,
        jobs_count=jobs,
        employees_est=employees,
        revenue=find_revenue(visible, url),
        uens=_uens(visible, structured.identifiers, url),
        text=visible[:text_limit],
    )


# ---------------------------------------------------------------------------------------------
# merging


def _ordered(pages: Sequence[PageFacts], order: dict[str, int]) -> list[PageFacts]:
    return sorted(pages, key=lambda p: order.get(p.role, 9))  # stable: input order within a role


def _dedupe(items: Iterable[Sourced[T]], key: Callable[[T], object] = lambda v: v) -> list[Sourced[T]]:
    seen: set[object] = set()
    out: list[Sourced[T]] = []
    for item in items:
        k = key(item.value)
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def _first(items: Iterable[T | None]) -> T | None:
    return next((item for item in items if item is not None), None)


def merge_facts(pages: Sequence[PageFacts], *, text_limit: int = 40_000) -> CompanyFacts:
    """One site's pages -> CompanyFacts; every value still carries the page it came from.

    Preferences: about text from the about page, else the home page, else any; LinkedIn company
    pages over other LinkedIn URLs; company-domain emails before others; structured (JSON-LD,
    microdata) addresses and head counts over text-derived ones; contact/home pages before the rest.
    """
    if not pages:
        return CompanyFacts(url="")
    contact_first = _ordered(pages, _CONTACT_ORDER)
    corpus_first = _ordered(pages, _CORPUS_ORDER)
    home = next((p for p in pages if p.role == "home"), pages[0])
    domain = registrable_domain(home.url)

    emails = _dedupe(e for p in contact_first for e in p.emails)
    emails.sort(key=lambda e: 0 if host_matches(e.value.rsplit("@", 1)[-1], domain) else 1)

    linkedins = [p.linkedin_url for p in contact_first if p.linkedin_url is not None]
    linkedin = min(linkedins, key=lambda s: linkedin_rank(s.value)) if linkedins else None
    socials: dict[str, Sourced[str]] = {}
    for page in corpus_first:
        for network, profile in page.socials.items():
            socials.setdefault(network, profile)
    if linkedin is not None:
        socials["linkedin"] = linkedin

    addresses = [p.address for p in contact_first if p.address is not None]
    address = min(
        addresses,
        key=lambda a: (a.method == "text", a.value.postal_code is None, a.value.street is None),
        default=None,
    )

    about_order = {"about": 0, "home": 1}
    about = _first(p.about_text for p in sorted(pages, key=lambda p: about_order.get(p.role, 2)))

    jobs_candidates = [p.jobs_count for p in pages if p.jobs_count is not None]
    careers_pages = {p.url for p in pages if p.role == "careers"}
    jobs = min(
        jobs_candidates,
        key=lambda j: (j.source_url not in careers_pages, _JOBS_METHODS.get(j.method, 9)),
        default=None,
    )
    employee_order = {"about": 0, "home": 1}
    employees_candidates = [
        p.employees_est for p in sorted(pages, key=lambda p: employee_order.get(p.role, 2)) if p.employees_est
    ]
    employees = min(employees_candidates, key=lambda e: e.method == "text", default=None)

    phones, faxes, region = merge_numbers([((*p.phones, *p.faxes), p.region) for p in contact_first])

    texts = []
    size = 0
    for page in corpus_first:
        if not page.text or size >= text_limit:
            continue
        chunk = f"## {page.url}\n{page.text}"
        texts.append(chunk[: text_limit - size])
        size += len(texts[-1]) + 2

    return CompanyFacts(
        url=home.url,
        title=home.title or _first(p.title for p in corpus_first),
        site_names=_dedupe((s for p in corpus_first for s in p.site_names), key=str.casefold),
        emails=emails,
        phones=phones,
        faxes=faxes,
        region=region,
        linkedin_url=linkedin,
        socials=socials,
        address=address,
        about_text=about,
        tech_stack=_dedupe(t for p in corpus_first for t in p.tech_stack),
        careers=any(p.careers for p in pages),
        jobs_count=jobs,
        employees_est=employees,
        revenue=_first(p.revenue for p in sorted(pages, key=lambda p: employee_order.get(p.role, 2))),
        uens=_dedupe(u for p in corpus_first for u in p.uens),
        text="\n\n".join(texts)[:text_limit],
        pages=[p.url for p in pages],
    )
