"""Domain discovery's shared candidate homepages: sibling companies guessing the same
domains reuse one fetch (sandbox web over real HTTP, the product's web client)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from acra_enrich.config import Settings, load_settings
from acra_enrich.enrich.discover.find_domain import Candidate, Company, DomainDecision, find_domain, guess_domains
from acra_enrich.enrich.discover.homepages import HomepageCache
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.sandbox.world import SandboxCompany
from acra_enrich.web import make_web_client


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=31, companies=40) as handle:
        yield handle


@pytest.fixture
def settings(sb: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    sb.reset()
    monkeypatch.chdir(tmp_path)
    return load_settings(**{k.lower(): v for k, v in sb.env().items()})


# Cases that leave the homepage and the guesses alone.
PLAIN = {"obfuscated_at_dot", "obfuscated_paren_at", "mailto_only", "contact_two_deep", "jsonld_org", "microdata_og",
         "employee_hint", "careers_page", "uen_footer", "asset_email_names", "llm_invents", "directory_above"}


def guessable(sb: SandboxHandle) -> SandboxCompany:
    """A company whose guessed site prints its UEN: verified beyond doubt."""
    return next(c for c in sb.world.companies if c.truth.found_by == "guess" and c.truth.hard_cases <= PLAIN
                and "uen_footer" in c.truth.hard_cases)


def homepage_requests(sb: SandboxHandle, domains: list[str]) -> int:
    hosts = set(domains) | {f"www.{d}" for d in domains}
    return sum(1 for r in sb.requests() if r.host in hosts and r.path == "/" and r.method == "GET")


async def discover(settings: Settings, companies: list[Company], cache: HomepageCache | None,
                   *, together: bool) -> list[DomainDecision]:
    async with make_web_client(settings) as web:
        async def one(company: Company) -> DomainDecision:
            decision, _ = await find_domain(web, company, searcher=None, homepages=cache)
            return decision

        if together:
            return list(await asyncio.gather(*(one(c) for c in companies)))
        return [await one(c) for c in companies]


@pytest.mark.parametrize("together", [False, True], ids=["one-after-the-other", "at-once"])
def test_sibling_companies_share_candidate_homepages(sb: SandboxHandle, settings: Settings, together: bool) -> None:
    truth = guessable(sb)
    # Two companies guessing the same domains (here: the same name and UEN, as when a company
    # is enriched again while its homepage is still fresh).
    siblings = [Company(1, truth.name, truth.uen), Company(2, truth.name, truth.uen)]
    cache = HomepageCache()
    first, second = asyncio.run(discover(settings, siblings, cache, together=together))
    assert first.domain == second.domain == truth.truth.domain
    tried = [c.domain for c in first.candidates]
    # Each candidate's homepage was requested once for both companies ...
    assert homepage_requests(sb, tried) <= len(tried)
    assert cache.hits >= 1 and any(c.shared for c in [*first.candidates, *second.candidates])
    # ... and the company that reused a fetch does not count it as its own.
    assert first.fetches + second.fetches == sum(1 for c in [*first.candidates, *second.candidates]
                                                 if c.outcome != "untried" and not c.shared)
    assert [(c.domain, c.outcome) for c in second.candidates] == [(c.domain, c.outcome) for c in first.candidates]


def test_without_the_cache_each_company_fetches_again(sb: SandboxHandle, settings: Settings) -> None:
    truth = guessable(sb)
    siblings = [Company(1, truth.name, truth.uen), Company(2, truth.name, truth.uen)]
    first, _ = asyncio.run(discover(settings, siblings, None, together=False))
    accepted = first.domain
    assert accepted is not None
    assert homepage_requests(sb, [accepted]) == 2  # what the cache saves


def test_a_failed_probe_is_not_reused_for_a_known_website(sb: SandboxHandle, settings: Settings) -> None:
    # A guess gets one attempt; the same domain held as the company's website deserves its own.
    missing = "no-such-company-site.com.sg"
    cache = HomepageCache()

    async def both() -> tuple[DomainDecision, DomainDecision]:
        async with make_web_client(settings) as web:
            probe, _ = await find_domain(web, Company(1, "NO SUCH COMPANY SITE PTE. LTD.", None), searcher=None,
                                         homepages=cache)
            known, _ = await find_domain(web, Company(2, "Other Name Pte Ltd", None, website_domain=missing),
                                         searcher=None, homepages=cache)
            return probe, known

    probe, known = asyncio.run(both())
    assert missing in guess_domains("NO SUCH COMPANY SITE PTE. LTD.")
    probed = next(c for c in probe.candidates if c.domain == missing)
    existing: Candidate = known.candidates[0]
    assert probed.outcome == existing.outcome == "unreachable"
    assert not existing.shared and existing.found_by == "existing"
