"""Domain discovery's shared candidate homepages: sibling companies guessing the same
domains reuse one fetch (sandbox web over real HTTP, the product's web client)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dns_server import TestDns

from acra_enrich.config import Settings, load_settings
from acra_enrich.enrich.discover.find_domain import Candidate, Company, DomainDecision, find_domain
from acra_enrich.enrich.discover.guesses import guess_domains
from acra_enrich.enrich.discover.homepages import HomepageCache
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.sandbox.world import SandboxCompany
from acra_enrich.web import make_web_client
from acra_enrich.web.client import WebClient


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
    # The same candidates with the same outcomes, except that guesses the proxy could not resolve
    # for one company are not even looked at by the other once that answer is known.
    answered = [(c.domain, c.outcome) for c in first.candidates if c.outcome != "unreachable"]
    assert [(c.domain, c.outcome) for c in second.candidates if c.outcome != "unreachable"] == answered
    assert {c.domain for c in second.candidates} <= {c.domain for c in first.candidates}


def test_without_the_cache_each_company_fetches_again(sb: SandboxHandle, settings: Settings) -> None:
    truth = guessable(sb)
    siblings = [Company(1, truth.name, truth.uen), Company(2, truth.name, truth.uen)]
    first, _ = asyncio.run(discover(settings, siblings, None, together=False))
    accepted = first.domain
    assert accepted is not None
    assert homepage_requests(sb, [accepted]) == 2  # what the cache saves


def test_a_name_the_proxy_cannot_resolve_is_not_fetched_again_for_a_known_website(
        sb: SandboxHandle, settings: Settings) -> None:
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
    # The guesses ended at the proxy's "cannot resolve": not even candidates.
    assert probe.candidates == [] and probe.guesses > 0 and probe.guesses_alive == 0
    existing: Candidate = known.candidates[0]
    assert existing.outcome == "unreachable" and existing.found_by == "existing" and not existing.shared
    assert "name_not_resolved" in existing.reasons[0] or "resolve" in existing.reasons[0]
    robots = [r for r in sb.requests() if r.host == missing]
    assert [r.path for r in robots] == ["/robots.txt"]  # asked once, for both companies


# --- guesses are cheap: wide, looked up first, verified as ever ------------------------------------


@pytest.fixture(scope="module")
def world_sb() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=31, companies=220) as handle:
        yield handle


def test_sites_under_plain_name_variants_are_found_without_a_search(world_sb: SandboxHandle, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(**{k.lower(): v for k, v in world_sb.env().items()})
    # (Sites that call themselves by another brand are known websites: tested below.)
    variants = [c for c in world_sb.world.with_case("name_variant") if "brand_title" not in c.truth.hard_cases]
    assert len(variants) >= 8  # acmebright-eng.com, acme-group.sg, acmebrightsg.com, acmebright.asia ...
    companies = [Company(i, c.name, c.uen) for i, c in enumerate(variants)]
    decisions = asyncio.run(discover(settings, companies, HomepageCache(), together=True))
    assert [(d.domain, d.found_by) for d in decisions] == [(c.truth.domain, "guess") for c in variants]


def proxied_company_without_a_site(world_sb: SandboxHandle, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, SandboxCompany]:
    """Settings through the sandbox's proxy and a company with no site and 30+ guessed names."""
    monkeypatch.chdir(tmp_path)
    world_sb.reset()
    settings = load_settings(**{k.lower(): v for k, v in world_sb.env().items()})
    nobody = next(c for c in world_sb.world.companies if c.truth.domain is None and not c.truth.decoy_domains
                  and len(guess_domains(c.name)) >= 30)
    return settings, nobody


def test_a_guess_that_does_not_resolve_costs_one_request_through_the_proxy(world_sb: SandboxHandle, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings, nobody = proxied_company_without_a_site(world_sb, tmp_path, monkeypatch)
    [decision] = asyncio.run(discover(settings, [Company(1, nobody.name, nobody.uen)], None, together=False))
    assert decision.domain is None and decision.guesses == len(guess_domains(nobody.name))
    log = world_sb.requests()
    # At most one CONNECT (the proxy refuses tunnels; remembered), then one robots.txt request per
    # name, which the proxy answers "cannot resolve": no homepage request, no retry, no second scheme.
    assert sum(r.method == "CONNECT" for r in log) <= 1
    per_host: dict[str, list[str]] = {}
    for r in log:
        if r.method != "CONNECT":
            per_host.setdefault(r.host, []).append(r.path)
    assert set(per_host) == set(guess_domains(nobody.name))
    assert all(paths == ["/robots.txt"] for paths in per_host.values())
    assert decision.guesses_alive == 0 and decision.probes == 0 and decision.candidates == []


def test_only_the_first_name_probe_waits_for_the_proxys_connect_answer(world_sb: SandboxHandle, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Until the proxy has answered one CONNECT, probes go one at a time; those that queued
    # behind the first must then go together, not trickle through the same lock one by one
    # (64 of them at a sweep's start took 6 s).
    settings, nobody = proxied_company_without_a_site(world_sb, tmp_path, monkeypatch)
    one_at_a_time: set[str] = set()  # names probed while holding the one-at-a-time lock
    probe = WebClient._probe_robots

    async def counted(self: WebClient, netloc: str) -> bool | None:
        if self._tunnel_probe.locked():
            one_at_a_time.add(netloc)
        return await probe(self, netloc)

    monkeypatch.setattr(WebClient, "_probe_robots", counted)
    [decision] = asyncio.run(discover(settings, [Company(1, nobody.name, nobody.uen)], None, together=False))
    assert decision.domain is None and decision.guesses == len(guess_domains(nobody.name))
    assert len(one_at_a_time) == 1


@pytest.mark.parametrize("private_allowed", [True, False])
def test_without_a_proxy_only_names_that_resolve_are_requested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               private_allowed: bool) -> None:
    monkeypatch.chdir(tmp_path)
    name = "KATRAZEN BRIGHT ENGINEERING PTE. LTD."
    guesses = guess_domains(name)
    live = "katrazen-group.com"
    assert live in guesses
    with TestDns({live: ["127.0.0.1"]}) as dns:  # every other guess is NXDOMAIN
        settings = load_settings(enrich_dns_servers=dns.servers, enrich_http_proxy=None, crawler_timeout_s=2,
                                 enrich_allow_private_networks=private_allowed)

        async def run() -> tuple[DomainDecision, int]:
            async with make_web_client(settings) as web:
                decision, _ = await find_domain(web, Company(1, name, None), searcher=None)
                return decision, web.stats["requests"]

        decision, requests = asyncio.run(run())
    assert all(dns.asked(g) == 2 for g in guesses)  # A and AAAA, once per name, the fetch included
    assert decision.guesses == len(guesses)
    if private_allowed:
        # Only the name that resolves got HTTP requests (nothing listens on loopback's port 80/443).
        assert decision.guesses_alive == 1 and requests >= 1
        assert [(c.domain, c.outcome) for c in decision.candidates] == [(live, "unreachable")]
    else:
        # A name resolving to loopback is no candidate for the SSRF guard: no request at all.
        assert decision.guesses_alive == 0 and requests == 0 and decision.candidates == []


# --- precision: foreign namesakes and websites we already hold ---------------------------------


def _settings(sb: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.chdir(tmp_path)
    return load_settings(**{k.lower(): v for k, v in sb.env().items()})


def test_a_foreign_namesake_at_the_obvious_guess_is_never_taken(world_sb: SandboxHandle, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(world_sb, tmp_path, monkeypatch)
    namesakes = world_sb.world.with_case("foreign_namesake")
    assert len(namesakes) >= 5 and any(c.truth.domain is None for c in namesakes)
    companies = [Company(i, c.name, c.uen) for i, c in enumerate(namesakes)]
    decisions = asyncio.run(discover(settings, companies, HomepageCache(), together=True))
    for company, decision in zip(namesakes, decisions):
        foreign = company.truth.decoy_domains[0]
        assert world_sb.world.host(f"www.{foreign}").kind == "foreign"
        tried = {c.domain: c for c in decision.candidates}
        # The obvious guess was fetched, its name matched, and the Malaysian evidence outweighed it.
        assert tried[foreign].outcome == "rejected" and "foreign namesake" in " ".join(tried[foreign].reasons)
        expected = company.truth.domain if company.truth.found_by == "guess" else None
        assert decision.domain == expected, (company.name, decision.domain, company.truth.domain)


def test_a_namesake_page_is_the_company_when_it_shows_its_uen_or_singapore_address(world_sb: SandboxHandle) -> None:
    company = world_sb.world.with_case("foreign_namesake")[0]
    foreign = world_sb.world.host(f"www.{company.truth.decoy_domains[0]}").company
    from acra_enrich.enrich.discover.identity import identity_score
    from acra_enrich.enrich.extract.page import extract_page
    from acra_enrich.enrich.extract.signals import page_signals
    from acra_enrich.sandbox import namesakes

    page = namesakes.respond(foreign, "/").body.decode()
    url = f"http://www.{foreign.truth.domain}/"

    def score(html: str) -> Any:
        facts = extract_page(url, html, role="home")
        return identity_score(company.name, company.uen, facts, page_signals(html, facts.text))

    alone = score(page)
    assert alone.foreign and alone.score < 0.2 and alone.name_similarity >= 0.95
    own_uen = score(page.replace("</footer>", f"<p>UEN: {company.uen}</p></footer>"))
    sg_office = score(page.replace("</footer>", "<p>Singapore office: 10 Anson Road, Singapore 079903</p></footer>"))
    assert own_uen.foreign is None and own_uen.score >= 0.85
    assert sg_office.foreign is None and sg_office.score >= 0.5


def test_a_known_website_is_kept_without_negative_evidence(world_sb: SandboxHandle, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(world_sb, tmp_path, monkeypatch)
    branded = [c for c in world_sb.world.with_case("brand_title") if "uen_footer" not in c.truth.hard_cases]
    assert branded
    companies = [Company(i, c.name, c.uen, website_domain=c.truth.domain) for i, c in enumerate(branded)]
    decisions = asyncio.run(discover(settings, companies, HomepageCache(), together=True))
    for company, decision in zip(branded, decisions):
        # "SerachosRes" for SERACHOS RESOURCES: the title does not carry the legal name; the
        # site is still the one we hold, with a lower confidence, and no guess is tried.
        assert (decision.domain, decision.found_by) == (company.truth.domain, "existing"), company.name
        assert [c.found_by for c in decision.candidates] == ["existing"]
    assert any(d.confidence < 0.5 for d in decisions)


def test_a_known_website_with_negative_evidence_is_dropped(world_sb: SandboxHandle, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _settings(world_sb, tmp_path, monkeypatch)
    namesake = next(c for c in world_sb.world.with_case("foreign_namesake") if c.truth.found_by == "guess")
    parked = next(c for c in world_sb.world.with_case("parked_decoy") if c.truth.domain)
    lookalike = next(c for c in world_sb.world.with_case("lookalike_decoy") if c.truth.domain)
    held = [(namesake, namesake.truth.decoy_domains[0]), (parked, parked.truth.decoy_domains[0]),
            (lookalike, lookalike.truth.decoy_domains[0])]
    companies = [Company(i, c.name, c.uen, website_domain=wrong) for i, (c, wrong) in enumerate(held)]
    decisions = asyncio.run(discover(settings, companies, HomepageCache(), together=True))
    for (company, wrong), decision in zip(held, decisions):
        assert decision.candidates[0].domain == wrong and decision.candidates[0].outcome == "rejected"
        assert decision.domain != wrong
