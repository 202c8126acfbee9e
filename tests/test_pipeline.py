"""The enrichment pipeline end to end: 200+ generated companies on the sandbox web, against
the world's ground truth, through the product's real HTTP client and a real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import psycopg
import pytest

from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db import make_pool
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.find_domain import Company
from acra_enrich.enrich.pipeline import EnrichmentResult, enrich_company
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.sandbox.sites import BAIT_PATH
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox

SEED, COMPANIES = 31, 220
PACING_S = 0.2


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
    wrong, found, with_site, guessable, guessable_found = [], 0, 0, 0, 0
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
    # A wrong website poisons everything downstream (emails, scores, CRM): precision must be
    # near perfect, so the verifier's threshold is set for it. Guessable sites need no search
    # and must nearly all be found (the rest print a shortened brand the verifier will not
    # bet on); search-only ones depend on the search stage.
    assert len(wrong) <= max(1, found // 50), wrong
    assert with_site > 50 and guessable > 30
    assert guessable_found / guessable >= 0.85, (guessable_found, guessable)


def test_extracted_fields_match_the_truth(world_run) -> None:
    sandbox, results, _ = world_run
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # right, extracted, true
    for uen, result in results.items():
        truth = sandbox.company(uen).truth
        if not result.domain or result.domain.domain != truth.domain or result.facts is None:
            continue
        facts = result.facts
        for name, got, expected in (
            ("emails", {e.value for e in facts.emails}, set(truth.emails)),
            ("phones", {p.value for p in facts.phones}, set(truth.phones)),
            ("linkedin", {facts.linkedin_url.value} if facts.linkedin_url else set(),
             {truth.linkedin_url} if truth.linkedin_url else set()),
            ("postal_code", {facts.address.value.postal_code} if facts.address else set(),
             {truth.address.postal_code} if truth.address else set()),
        ):
            counts[name][0] += len(got & expected)
            counts[name][1] += len(got)
            counts[name][2] += len(expected)
    for name, (right, extracted, true) in counts.items():
        assert true > 20, name
        # Precision: a value we report must be the company's (sales will write to it).
        assert right / max(extracted, 1) >= 0.95, (name, right, extracted)
        # Recall: most truth values are on pages a polite crawl of a few pages reaches.
        assert right / true >= 0.7, (name, right, true)


def test_politeness_robots_and_user_agent(world_run) -> None:
    sandbox, results, _ = world_run
    # CONNECT (the https attempt) is refused by the proxy and never reaches a site.
    log = [r for r in sandbox.requests() if r.method != "CONNECT"]
    site_hosts = {c.truth.site_host for c in sandbox.world.companies if c.truth.domain}
    assert not [r for r in log if r.path.startswith(BAIT_PATH)], "fetched a robots-disallowed path"
    assert all("acra-enrich" in r.user_agent for r in log if r.host in site_hosts)
    # Request spacing per host is asserted against server timestamps in test_web_client.py.
    bait = {e for c in sandbox.world.companies for e in c.truth.bait_emails}
    extracted = {e.value for r in results.values() if r.facts for e in r.facts.emails}
    assert not bait & extracted


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
