"""The pipeline: how one company is enriched, whoever asked for it.

find_domain -> crawl -> extract -> llm_extract -> contacts -> persist, each stage logged
with its counts, its duration and any degraded fallback. A vendor failure degrades its
stage; the company fails only when nothing at all could be fetched. Runners decide which
companies go through here; nothing in this module knows which runner called it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Protocol

import psycopg
import structlog
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from acra_enrich.config import Settings
from acra_enrich.enrich.crawl.crawler import PageFailure, crawl_site
from acra_enrich.enrich.extract.page import merge_facts
from acra_enrich.enrich.facts import CompanyFacts
from acra_enrich.enrich.discover.find_domain import Company, DomainDecision, Reader, Searcher, find_domain, search_query
from acra_enrich.enrich.discover.homepages import HomepageCache
from acra_enrich.enrich.discover.search_lane import SearchLane
from acra_enrich.enrich.slots import Place
from acra_enrich.enrich.persist.store import ContactRecord, PersistInput, persist
from acra_enrich.sqlfiles import load_queries
from acra_enrich.web import WebClient

_Q = load_queries("acra_enrich.enrich.sql", "persist.sql")
log = structlog.get_logger("acra_enrich.pipeline")
FALLBACKS = ("reader:", "jina_reader:")
# The database going away is not the company's fault: these reach the caller (a runner
# retries them or stops) instead of being recorded as the company's failure.
TRANSIENT_DB_ERRORS: tuple[type[Exception], ...] = (psycopg.OperationalError, PoolTimeout)


class StageOutcome(Protocol):
    """What the pipeline reads from any optional stage's (LLM, contacts) result."""

    @property
    def counts(self) -> dict[str, int]: ...
    @property
    def degraded(self) -> list[str]: ...


class LlmOutcome(StageOutcome, Protocol):
    @property
    def facts(self) -> CompanyFacts | None: ...  # None: nothing merged, keep the crawled facts


class ContactsOutcome(StageOutcome, Protocol):
    @property
    def contacts(self) -> list[ContactRecord]: ...
    @property
    def email_status(self) -> dict[str, str]: ...


class LlmStage(Protocol):
    def __call__(self, company: Company, facts: CompanyFacts) -> Awaitable[LlmOutcome]: ...


class ContactsStage(Protocol):
    def __call__(self, company: Company, domain: str, facts: CompanyFacts) -> Awaitable[ContactsOutcome]: ...


@dataclass
class PipelineDeps:
    settings: Settings
    web: WebClient
    pool: ConnectionPool
    searcher: Searcher | None = None  # used as it is when there is no search lane (holds the caller's place)
    search_lane: SearchLane | None = None  # every search of the process, at the providers' pace
    reader: Reader | None = None
    llm_stage: LlmStage | None = None
    contacts_stage: ContactsStage | None = None
    homepages: HomepageCache | None = None  # candidate homepages shared between companies


@dataclass
class EnrichmentResult:
    company: Company
    status: str  # ok | partial | no_site | failed
    domain: DomainDecision | None = None
    facts: CompanyFacts | None = None
    contacts: list[ContactRecord] = field(default_factory=list)
    email_status: dict[str, str] = field(default_factory=dict)
    pages_fetched: int = 0
    fetch_failures: list[PageFailure] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    error: str | None = None
    duration_ms: int = 0
    history_id: int | None = None

    def summary(self) -> dict[str, Any]:
        facts = self.facts
        return {
            "company_id": self.company.company_id,
            "uen": self.company.uen,
            "name": self.company.name,
            "status": self.status,
            "website_domain": self.domain.domain if self.domain else None,
            "found_by": self.domain.found_by if self.domain else None,
            "confidence": self.domain.confidence if self.domain else None,
            "pages_fetched": self.pages_fetched,
            "emails": [e.value for e in facts.emails] if facts else [],
            "phones": [p.value for p in facts.phones] if facts else [],
            "faxes": [f.value for f in facts.faxes] if facts else [],
            "linkedin_url": facts.linkedin_url.value if facts and facts.linkedin_url else None,
            "address": facts.address.value.__dict__ if facts and facts.address else None,
            "about_text": facts.about_text.value if facts and facts.about_text else None,
            "tech_stack": sorted({t.value for t in facts.tech_stack}) if facts else [],
            "jobs_count": facts.jobs_count.value if facts and facts.jobs_count else None,
            "employees_est": facts.employees_est.value if facts and facts.employees_est else None,
            "revenue_sgd": facts.revenue.value.amount_sgd if facts and facts.revenue else None,
            "contacts": [c.__dict__ for c in self.contacts],
            "email_verification": self.email_status,
            "degraded": self.degraded,
            "error": self.error,
            "duration_ms": self.duration_ms,
        }


def _db(deps: PipelineDeps, fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
    """Run a short synchronous database call off the event loop, on a pooled connection."""

    def call() -> Any:
        with deps.pool.connection() as conn:
            return fn(conn, *args)

    return asyncio.to_thread(call)


def _recent_check(conn: Any, company_id: int, recheck_days: int) -> tuple[str, str | None] | None:
    return conn.execute(_Q["recent_domain_check"], {"company_id": company_id, "recheck_days": recheck_days}).fetchone()


def _cached_search(conn: Any, query: str, recheck_days: int) -> tuple[list[str], str] | None:
    row = conn.execute(_Q["cached_search"], {"query": query, "recheck_days": recheck_days}).fetchone()
    return (list(row[0]), row[1]) if row else None


def _save_search(conn: Any, query: str, domains: list[str], provider: str) -> None:
    conn.execute(_Q["save_search"], {"query": query, "provider": provider, "results": Jsonb(domains)})
    conn.commit()


def _record_check(conn: Any, company_id: int, decision: DomainDecision) -> None:
    outcome = "found" if decision.domain else ("no_site" if decision.search_status in ("ok", "cached") else "unverified")
    conn.execute(_Q["record_domain_check"], {
        "company_id": company_id, "outcome": outcome, "domain": decision.domain, "found_by": decision.found_by,
        "confidence": decision.confidence, "search_provider": decision.search_provider,
        "candidates": Jsonb([{"domain": c.domain, "found_by": c.found_by, "score": round(c.score, 3),
                              "outcome": c.outcome} for c in decision.candidates]),
    })
    conn.commit()


async def enrich_company(
    deps: PipelineDeps, company: Company, *, run_id: int | None = None, tenant_id: int | None = None,
    job_id: int | None = None, logger: Any = None, place: Place | None = None,
) -> EnrichmentResult:
    """Enrich one company end to end and persist the outcome (also a failure).

    With `job_id`, the history row is tied to that queue job: a second row for the same job
    and company is refused (psycopg.errors.UniqueViolation, nothing written), which is how a
    retried job knows a company was already done.

    `place`, the caller's concurrency place for this company (enrich.slots), is given up
    while the company waits for a web search and taken back before it goes on, so a search
    holds no place others could crawl with; without it the company waits in whatever place
    its caller holds."""
    settings = deps.settings
    bound = (logger or log).bind(run_id=run_id, uen=company.uen, company_id=company.company_id)
    started = time.monotonic()
    result = EnrichmentResult(company=company, status="failed")
    try:
        await _run_stages(deps, company, result, bound, place)
    except TRANSIENT_DB_ERRORS:
        raise
    except Exception as exc:  # recorded as a failed history row; the caller's run goes on
        result.status = "failed"
        result.error = f"{type(exc).__name__}: {exc}"[:2000]
        bound.error("stage_failed", error=result.error)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    facts = result.facts
    data = PersistInput(
        company_id=company.company_id, status=result.status, run_id=run_id, tenant_id=tenant_id, job_id=job_id,
        website_domain=result.domain.domain if result.domain else None,
        website_source=result.domain.found_by if result.domain else None,
        website_confidence=result.domain.confidence if result.domain else None,
        facts=facts, email_status=result.email_status, contacts=result.contacts,
        pages_fetched=result.pages_fetched, degraded=result.degraded, error=result.error,
        duration_ms=result.duration_ms,
        # The crawled pages that gave nothing, with the web client's reason: a thin result explains itself.
        extra_fields={
            "fetch_failures": [f.__dict__ for f in result.fetch_failures],
            **({"domain_candidates": [c.__dict__ for c in result.domain.candidates]} if result.domain else {}),
        },
        corpus=facts.text if facts and settings.persist_crawl_corpus else None,
    )
    persist_started = time.monotonic()
    result.history_id = await _db(deps, persist, data)
    bound.info("persist", status=result.status, emails=len(facts.emails) if facts else 0,
               contacts=len(result.contacts), duration_ms=int((time.monotonic() - persist_started) * 1000))
    bound.info("summary", status=result.status, domain=data.website_domain, pages=result.pages_fetched,
               emails=len(facts.emails) if facts else 0, contacts=len(result.contacts), degraded=result.degraded,
               error=result.error, duration_ms=result.duration_ms)
    return result


async def _run_stages(deps: PipelineDeps, company: Company, result: EnrichmentResult, bound: Any,
                      place: Place | None) -> None:
    settings = deps.settings
    t = time.monotonic()
    recent = None if company.website_domain else await _db(deps, _recent_check, company.company_id,
                                                            settings.enrich_recheck_days)
    if recent is not None and recent[0] == "no_site":
        result.status = "no_site"
        bound.info("find_domain", outcome="no_site_cached", domains=0, searched=False,
                   duration_ms=int((time.monotonic() - t) * 1000))
        return
    query = search_query(company.name)
    cached = await _db(deps, _cached_search, query, settings.enrich_recheck_days)
    lane = deps.search_lane
    searcher = lane.for_company(place) if lane is not None else deps.searcher
    decision, searched = await find_domain(deps.web, company, searcher=searcher, reader=deps.reader,
                                           homepages=deps.homepages,
                                           cached_search=cached[0] if cached else None)
    if cached and decision.search_status == "cached":
        decision.search_provider = cached[1]
    result.domain = decision
    result.degraded.extend(decision.degraded)
    result.pages_fetched += decision.fetches
    if searched is not None:
        await _db(deps, _save_search, query, searched, decision.search_provider or "unknown")
        if lane is not None and decision.found_by == "search":
            lane.verified(decision.search_provider)
    await _db(deps, _record_check, company.company_id, decision)
    bound.info("find_domain", domain=decision.domain, found_by=decision.found_by, confidence=decision.confidence,
               domains=len(decision.candidates), fetched=decision.fetches, probes=decision.probes,
               guesses=decision.guesses, guesses_alive=decision.guesses_alive, searched=decision.searched,
               search_status=decision.search_status, search_provider=decision.search_provider,
               degraded=decision.degraded, duration_ms=int((time.monotonic() - t) * 1000))
    if decision.domain is None or decision.homepage is None or decision.homepage_facts is None:
        unreachable = decision.candidates and all(c.outcome == "unreachable" for c in decision.candidates)
        result.status = "no_site"
        if company.website_domain and unreachable:
            result.status, result.error = "failed", "the known website could not be fetched"
        return

    t = time.monotonic()
    crawled = await crawl_site(deps.web, decision.homepage, decision.homepage_facts,
                               max_pages=settings.crawl_max_pages, reader=deps.reader,
                               text_limit=settings.extract_corpus_char_limit)
    result.pages_fetched += crawled.fetched
    result.fetch_failures = crawled.failures
    result.degraded.extend(crawled.degraded)
    facts = merge_facts(crawled.pages, text_limit=settings.extract_corpus_char_limit)
    result.facts = facts
    bound.info("crawl_extract", pages=len(crawled.pages), fetched=crawled.fetched,
               robots_skipped=crawled.skipped_by_robots, failures=len(crawled.failures), emails=len(facts.emails),
               phones=len(facts.phones), tech=len(facts.tech_stack), degraded=crawled.degraded,
               duration_ms=int((time.monotonic() - t) * 1000))
    result.status = "ok"

    if deps.llm_stage is not None:
        t = time.monotonic()
        extracted = await deps.llm_stage(company, facts)
        if extracted.facts is not None:
            result.facts = facts = extracted.facts
        result.degraded.extend(extracted.degraded)
        counts = dict(extracted.counts)
        bound.info("chunks", chunks=counts.pop("llm_chunks", 0), corpus_chars=len(facts.text))
        bound.info("llm_extract", **counts, degraded=extracted.degraded,
                   duration_ms=int((time.monotonic() - t) * 1000))
    else:
        bound.info("chunks", chunks=0, corpus_chars=len(facts.text))
        bound.info("llm_extract", skipped="no LLM endpoint configured")
    if deps.contacts_stage is None:
        bound.info("contacts", skipped="no contacts stage configured")
    else:
        t = time.monotonic()
        outcome = await deps.contacts_stage(company, decision.domain, facts)
        result.contacts = outcome.contacts
        result.email_status = outcome.email_status
        result.degraded.extend(outcome.degraded)
        bound.info("contacts", contacts=len(outcome.contacts), verified=len(outcome.email_status), **outcome.counts,
                   degraded=outcome.degraded, duration_ms=int((time.monotonic() - t) * 1000))
    # A fallback that worked (a page read through the reader) is not a loss; anything else
    # degraded (a vendor refused or failed) makes the run partial.
    if result.status == "ok" and any(not d.startswith(FALLBACKS) for d in result.degraded):
        result.status = "partial"
