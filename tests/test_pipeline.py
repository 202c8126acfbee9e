"""The enrichment pipeline end to end: 200+ generated companies on the sandbox web, against
the world's ground truth, through the product's real HTTP client and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any, Iterator

import httpx
import psycopg
import pytest

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db import make_pool
from acra_enrich.enrich.crawl.crawler import EMPTY_PAGE, PageFailure, crawl_site
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.enrich.discover.find_domain import Company, search_query
from acra_enrich.enrich.pipeline import EnrichmentResult, enrich_company
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.sandbox.markup import AGENCIES
from acra_enrich.sandbox.sites import BAIT_PATH, HAZARD_PATHS
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.web import (
    DECOMPRESSION_BOMB,
    HTTP_STATUS,
    REASONS,
    TIMEOUT,
    TOO_LARGE,
    TOO_MANY_REDIRECTS,
    FetchResult,
    WebClient,
    make_web_client,
)

SEED, COMPANIES = 31, 220
PACING_S = 0.2
# The client starts a host's next request no sooner than PACING_S after the previous answer
# came back, and the sandbox logs a request (on the same monotonic clock) before answering
# it, so arrivals are PACING_S apart exactly; this only covers asyncio waking a timer up to
# its clock resolution early, and float rounding.
CLOCK_SLACK_S = 0.001


@pytest.fixture(scope="module")
def world_run(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxHandle, dict[str, EnrichmentResult], psycopg.Connection]]:
    """Load the registry rows the world is built from, enrich every company once."""
    tmp = tmp_path_factory.mktemp("pipeline")
    with running_sandbox(seed=SEED, companies=COMPANIES) as sandbox, pytest.MonkeyPatch.context() as mp:
        for key, value in {**sandbox.env(), "POSTGRES_DSN": pg_dsn, "ACRA_ENRICH_HOME": str(tmp / "home"),
                           "CRAWL_DOMAIN_MIN_INTERVAL_S": str(PACING_S), "CRAWLER_TIMEOUT_S": "3"}.items():
            mp.setenv(key, value)
        mp.chdir(tmp)
        reset_settings_cache()
        settings = load_settings()
        with psycopg.connect(pg_dsn) as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'")]
            conn.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY CASCADE")
            conn.commit()
            path = tmp / "acra.csv"
            with open(path, "wb") as handle:
                write_acra_csv(handle, rows=COMPANIES, seed=SEED)
            load_acra_file(conn, path)
            sync_companies(conn)
            # Sites that call themselves by a brand ("SerachosRes") came from an import: they are
            # known websites, kept without a name match.
            for company in sandbox.world.with_case("brand_title"):
                conn.execute("UPDATE companies SET website_domain = %s WHERE uen = %s",
                             (company.truth.domain, company.uen))
            companies = [Company(*row) for row in conn.execute(
                "SELECT company_id, name, uen, website_domain FROM companies ORDER BY company_id")]
            conn.commit()

        async def run_all() -> list[EnrichmentResult]:
            with make_pool(settings) as pool:
                async with open_pipeline(settings, pool) as deps:
                    gate = asyncio.Semaphore(16)

                    async def one(company: Company) -> EnrichmentResult:
                        async with gate:
                            return await enrich_company(deps, company)

                    return await asyncio.gather(*(one(c) for c in companies))

        results = {r.company.uen: r for r in asyncio.run(run_all())}
        with psycopg.connect(pg_dsn) as conn:
            yield sandbox, results, conn
    reset_settings_cache()


def test_every_company_gets_one_history_row_and_none_fails(world_run) -> None:
    sandbox, results, conn = world_run
    assert len(results) == COMPANIES
    assert conn.execute("SELECT count(*), count(DISTINCT company_id) FROM company_enrichment_runs").fetchone() == (
        COMPANIES, COMPANIES)
    failed = [r.summary() for r in results.values() if r.status == "failed"]
    assert failed == []


def test_domain_discovery_against_ground_truth(world_run) -> None:
    sandbox, results, _ = world_run
    wrong, found, with_site, guessable, guessable_found, search_only, search_only_found = [], 0, 0, 0, 0, 0, 0
    for uen, result in results.items():
        truth = sandbox.company(uen).truth
        domain = result.domain.domain if result.domain else None
        if domain and domain != truth.domain:
            wrong.append((result.company.name, domain, truth.domain))
        if truth.domain:
            with_site += 1
            found += domain == truth.domain
            if truth.found_by == "guess":
                guessable += 1
                guessable_found += domain == truth.domain
            else:
                search_only += 1
                search_only_found += domain == truth.domain
    # A wrong website poisons everything downstream (emails, scores, CRM): none is taken, the
    # decoys of this world (parked, look-alike, foreign namesakes at the obvious guess) included.
    # Guessable sites need no search and are all found (58 of 58, the 16 under plain name
    # variants such as acme-group.com included); 0.96 leaves room for two verification
    # fetches timing out on a slow machine. Search-only sites rank below directories and social
    # profiles, which the search stage drops; all 24 of this world are found, and 0.9 leaves
    # room for two lost to a slow machine, not for a search stage that stopped working.
    assert wrong == []
    assert with_site > 50 and guessable > 50 and search_only > 15
    assert guessable_found / guessable >= 0.96, (guessable_found, guessable)
    assert search_only_found / search_only >= 0.9, (search_only_found, search_only)
    # The precision traps of this world: a Malaysian namesake at the obvious guess (14 companies,
    # some without a site of their own) is never taken; sites known from an import that call
    # themselves by a brand ("SerachosRes") are kept without a name match.
    namesakes = sandbox.world.with_case("foreign_namesake")
    taken = [r.domain.domain for u, r in results.items() if r.domain and r.domain.domain
             in sandbox.company(u).truth.decoy_domains]
    assert len(namesakes) >= 10 and taken == []
    branded = sandbox.world.with_case("brand_title")
    assert branded and all((results[c.uen].domain.domain, results[c.uen].domain.found_by) == (c.truth.domain, "existing")
                           for c in branded if results[c.uen].domain)


def test_search_runs_once_and_only_when_guesses_fail(world_run) -> None:
    sandbox, results, _ = world_run
    env = sandbox.env()
    providers = {httpx.URL(env["DDG_BASE_URL"]).host, httpx.URL(env["SEARXNG_BASE_URL"]).host, "api.tavily.com"}
    calls = [r for r in sandbox.requests() if r.host in providers and r.path in ("/html/", "/search")]
    searched = [r for r in results.values() if r.domain and r.domain.searched]
    # One request per query (no repeats, no retries; companies whose names make the same query
    # waited for one search together), spread over the providers while DuckDuckGo was busy.
    assert len(calls) == len({search_query(r.company.name) for r in searched})
    assert {r.domain.search_provider for r in searched} <= {"ddg", "searxng", "tavily"}
    # Guesses come first: a company whose guessed domain was accepted never costs a search.
    assert not [r.company.name for r in searched if r.domain.found_by in ("existing", "guess")]
    # A site under any plain form of the name (acmebright-eng.com, acme-group.sg ...) is found
    # by guessing: the only companies with a site that cost a search are those whose domain
    # is a brand no guess derives (24 of 82 in this world). Each company without a site costs
    # one search to be recorded as no_site (cached: later runs skip it).
    truth = {u: sandbox.company(u).truth for u in results}
    searched_sites = [u for u, r in results.items() if truth[u].domain and r.domain and r.domain.searched]
    assert [truth[u].domain for u in searched_sites if truth[u].found_by != "search_only"] == []
    with_site = [u for u in results if truth[u].domain]
    assert len(searched_sites) / len(with_site) <= 0.3


def test_extracted_fields_match_the_truth(world_run) -> None:
    sandbox, results, _ = world_run
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # right, extracted, true
    faxes_as_phones, wrong_country = [], []
    for uen, result in results.items():
        truth = sandbox.company(uen).truth
        if not result.domain or result.domain.domain != truth.domain or result.facts is None:
            continue
        facts = result.facts
        for name, got, expected in (
            ("emails", {e.value for e in facts.emails}, set(truth.emails)),
            ("phones", {p.value for p in facts.phones}, set(truth.phones)),
            ("faxes", {f.value for f in facts.faxes}, set(truth.faxes)),
            ("linkedin", {facts.linkedin_url.value} if facts.linkedin_url else set(),
             {truth.linkedin_url} if truth.linkedin_url else set()),
            ("postal_code", {facts.address.value.postal_code} if facts.address else set(),
             {truth.address.postal_code} if truth.address else set()),
        ):
            counts[name][0] += len(got & expected)
            counts[name][1] += len(got)
            counts[name][2] += len(expected)
        faxes_as_phones += [p.value for p in facts.phones if p.value in truth.faxes]
        # The same subscriber digits under another country code: a number read in the wrong country.
        true_numbers = {*truth.phones, *truth.faxes}
        wrong_country += [n.value for n in (*facts.phones, *facts.faxes) if n.value not in true_numbers
                          and any(t.endswith(n.value[-8:]) for t in true_numbers)]
    assert faxes_as_phones == [] and wrong_country == []
    agencies = {f"{mailbox}@{domain}" for _, domain, mailbox in AGENCIES}
    assert not agencies & {e.value for r in results.values() if r.facts for e in r.facts.emails}
    # The world prints faxes beside phones (same line, tables, icons, tel: links, footers),
    # offices abroad in their own national formats, agency credits with the agency's address,
    # LinkedIn links with ?trk=, country subdomains, trailing slashes, icons only, share
    # buttons and founders' profiles; every field is read right on this seed (1.0 / 1.0). The
    # thresholds leave room for a page lost to a timeout on a slow machine, not for a rule
    # that stopped working.
    for name, (right, extracted, true) in counts.items():
        assert true > 20, name
        # Precision: a value we report must be the company's (sales will write to it).
        assert right / max(extracted, 1) >= 0.98, (name, right, extracted)
        # Recall: the truth values are on pages a polite crawl of a few pages reaches.
        assert right / true >= 0.95, (name, right, true)


def test_politeness_robots_and_user_agent(world_run) -> None:
    sandbox, results, _ = world_run
    # CONNECT (the https attempt) is refused by the proxy and never reaches a site.
    log = [r for r in sandbox.requests() if r.method != "CONNECT"]
    site_hosts = {c.truth.site_host for c in sandbox.world.companies if c.truth.domain}
    assert not [r for r in log if r.path.startswith(BAIT_PATH)], "fetched a robots-disallowed path"
    assert all("acra-enrich" in r.user_agent for r in log if r.host in site_hosts)
    arrivals: dict[str, list[float]] = defaultdict(list)
    for r in log:
        if r.host in site_hosts:
            arrivals[r.host].append(r.t_monotonic)
    closest = min((b - a, host) for host, times in arrivals.items() for a, b in pairwise(sorted(times)))
    assert closest[0] >= PACING_S - CLOCK_SLACK_S, closest
    # Crawl-delay holds between every two requests to the host, robots.txt and the homepage included.
    delayed = [c for c in sandbox.world.with_case("crawl_delay") if len(arrivals[c.truth.site_host]) > 2]
    assert delayed
    for company in delayed:
        times = sorted(arrivals[company.truth.site_host])
        assert min(b - a for a, b in pairwise(times)) >= (company.truth.crawl_delay_s or 0) - CLOCK_SLACK_S
    # A page is fetched once per run, however many tagged links (?loc=MainNav, ?loc=Footer,
    # utm_*) point at it.
    # (Homepages are probed by every company that guesses their domain; a www host's robots.txt
    # may redirect to the apex's.)
    fetched = Counter((r.host, r.path) for r in log if r.host in site_hosts and r.path not in ("/", "/robots.txt"))
    assert not {k: n for k, n in fetched.items() if n > 1}
    bait = {e for c in sandbox.world.companies for e in c.truth.bait_emails}
    extracted = {e.value for r in results.values() if r.facts for e in r.facts.emails}
    assert not bait & extracted


def test_hard_pages_are_not_crawled_and_failed_pages_are_recorded(world_run) -> None:
    sandbox, results, conn = world_run
    requested = {(r.host, r.path) for r in sandbox.requests()}
    for case, path in HAZARD_PATHS.items():
        companies = sandbox.world.with_case(case)
        assert companies, case
        for company in companies:
            assert results[company.uen].status in ("ok", "partial"), results[company.uen].summary()
            # The crawl follows about, contact and careers links only: a news page dripping for
            # 30 s or a catalogue of 6 MiB costs nothing (the caps are tested just below).
            assert (company.truth.site_host, path) not in requested

    # Every page the crawl could not use is in the history row with the web client's reason.
    site_hosts = {c.truth.site_host for c in sandbox.world.companies if c.truth.domain}
    recorded: list[dict[str, Any]] = [f for (failures,) in conn.execute(
        "SELECT fields->'fetch_failures' FROM company_enrichment_runs WHERE status IN ('ok', 'partial')")
        for f in failures]
    assert {f["reason"] for f in recorded} <= REASONS | {EMPTY_PAGE}
    missing = [(r.host, r.path) for r in sandbox.requests()
               if r.host in site_hosts and r.status == 404 and r.path != "/robots.txt"]
    recorded_404 = [f for f in recorded if f["status"] == 404 and httpx.URL(f["url"]).host in site_hosts]
    assert missing and len(recorded_404) == len(missing)
    assert all(f["reason"] == HTTP_STATUS for f in recorded_404)


async def test_hard_pages_end_within_the_caps_with_their_reason(world_run) -> None:
    sandbox, _, _ = world_run
    expected = {"slow_page": TIMEOUT, "huge_page": TOO_LARGE, "gzip_bomb": DECOMPRESSION_BOMB,
                "redirect_loop": TOO_MANY_REDIRECTS}
    hosts = {case: sandbox.world.with_case(case)[0].truth.site_host for case in expected}

    async def crawl(web: WebClient, case: str) -> list[PageFailure]:
        home = f"http://{hosts[case]}/"
        # The hard page behind the contact link: a wanted page that turns out pathological.
        html = f'<html><body><nav><a href="{HAZARD_PATHS[case]}">Contact us</a></nav></body></html>'
        homepage = FetchResult(url=home, final_url=home, status=200, text=html)
        crawled = await crawl_site(web, homepage, extract_page(home, html, role="home"), max_pages=2, reader=None,
                                   text_limit=10_000)
        return crawled.failures

    async with make_web_client(load_settings()) as web:  # CRAWLER_TIMEOUT_S=3 from the fixture
        failures = await asyncio.gather(*(crawl(web, case) for case in expected))
    assert [[(f.url, f.reason) for f in found] for found in failures] == [
        [(f"http://{hosts[case]}{HAZARD_PATHS[case]}", reason)] for case, reason in expected.items()]


def test_a_second_run_is_idempotent_apart_from_history(world_run) -> None:
    sandbox, results, conn = world_run
    before = conn.execute("SELECT count(*) FROM lead_emails").fetchone()[0]
    companies_before = conn.execute("SELECT md5(string_agg(c::text, '|' ORDER BY company_id)) FROM "
                                    "(SELECT company_id, website_domain, about_text, phone, linkedin_url FROM companies) c").fetchone()
    uen = next(u for u, r in results.items() if r.status == "ok")
    settings = load_settings()

    async def again() -> EnrichmentResult:
        with make_pool(settings) as pool:
            async with open_pipeline(settings, pool) as deps:
                return await enrich_company(deps, results[uen].company)

    asyncio.run(again())
    assert conn.execute("SELECT count(*) FROM lead_emails").fetchone()[0] == before
    assert conn.execute("SELECT md5(string_agg(c::text, '|' ORDER BY company_id)) FROM "
                        "(SELECT company_id, website_domain, about_text, phone, linkedin_url FROM companies) c"
                        ).fetchone() == companies_before
    assert conn.execute("SELECT count(*) FROM company_enrichment_runs WHERE company_id = %s",
                        (results[uen].company.company_id,)).fetchone()[0] == 2


def test_enrich_one_cli_prints_the_result_as_json_and_records_it(world_run) -> None:
    sandbox, results, conn = world_run
    # Not the company the idempotency test re-runs; one whose site only a search finds.
    uen = next(u for u, r in reversed(results.items()) if r.status == "ok"
               and sandbox.company(u).truth.found_by == "search_only" and sandbox.company(u).truth.emails)
    company_id = results[uen].company.company_id
    history = "SELECT max(id) FROM company_enrichment_runs WHERE company_id = %s"
    before = conn.execute(history, (company_id,)).fetchone()[0]
    # The fixture's environment: this database, the sandbox as proxy and vendors, its pacing.
    done = subprocess.run([sys.executable, "-m", "acra_enrich", "enrich", "one", uen, "--json"], env=dict(os.environ),
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = json.loads(done.stdout)
    truth = sandbox.company(uen).truth
    assert (printed["uen"], printed["website_domain"]) == (uen, truth.domain)
    assert printed["status"] in ("ok", "partial") and printed["emails"]
    assert set(printed["emails"]) <= set(truth.emails)
    assert conn.execute("SELECT status, website_domain FROM company_enrichment_runs WHERE company_id = %s AND id > %s",
                        (company_id, before)).fetchall() == [(printed["status"], truth.domain)]
