"""Stages 4 (llm_extract) and 5 (contacts) against the sandbox over real HTTP.

Facts come from crawling the sandbox's generated sites with the product's own extraction; the
LLM emulation answers deterministically from the prompt and, for `llm_invents` companies,
invents an email, a phone number and a LinkedIn URL that occur nowhere in the corpus.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import psycopg
import pytest

from acra_enrich.config import Settings, load_settings
from acra_enrich.enrich.contacts.stage import ContactsResult, VerificationCache, find_contacts, verify_emails
from acra_enrich.enrich.extract.page import extract_page, merge_facts, nav_links
from acra_enrich.enrich.facts import CompanyFacts, Sourced
from acra_enrich.enrich.refine.llm import chunk_corpus, corpus_sections, llm_extract
from acra_enrich.enrich.extract.phones import to_e164
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.sandbox.vendors.zerobounce import verdict
from acra_enrich.sandbox.world import SandboxCompany
from acra_enrich.vendors import Vendors
from acra_enrich.web import make_web_client
from vendor_helpers import company_where, sandbox, sb, vendor_bundle  # noqa: F401 (sandbox, sb: fixtures)

OPENAI = "api.openai.com"
ZEROBOUNCE_HOSTS = ("api.zerobounce.net", "bulkapi.zerobounce.net")


@pytest.fixture
async def vendors(sb: SandboxHandle) -> AsyncIterator[Vendors]:
    async with vendor_bundle(load_settings()) as bundle:
        yield bundle


def quiet_site(company: SandboxCompany) -> bool:
    """A site without the crawl hard cases (slow, huge, bombs, script-only), which are not under test here."""
    noisy = {"slow_page", "huge_page", "gzip_bomb", "redirect_loop", "script_only", "robots_bait"}
    return not (company.truth.hard_cases & noisy)


async def crawl(settings: Settings, company: SandboxCompany) -> CompanyFacts:
    """Home page plus its about/contact/careers links, through the product's extraction."""
    async with make_web_client(settings) as web:
        home = await web.get_site(company.truth.site_host or "", "/")
        assert home.ok, home
        pages = [extract_page(home.final_url, home.text, role="home")]
        for link in nav_links(home.final_url, home.text)[:4]:
            page = await web.get(link.url)
            if page.ok:
                role = link.kind if link.kind in ("about", "contact", "careers") else "other"
                pages.append(extract_page(page.final_url, page.text, role=role))
    return merge_facts(pages, text_limit=settings.extract_corpus_char_limit)


def cache_rows(db: psycopg.Connection) -> dict[str, str]:
    db.rollback()  # see rows committed by the stage's own connection
    return dict(db.execute("SELECT email, status FROM email_verification_cache").fetchall())


# --- llm_extract ---------------------------------------------------------------------------------


async def test_llm_invented_contact_data_is_discarded_and_corpus_values_kept(sb: SandboxHandle,
                                                                             vendors: Vendors) -> None:
    settings = load_settings()
    company = company_where(sb, quiet_site, lambda c: "llm_invents" in c.truth.hard_cases and bool(c.truth.emails))
    invented_email, invented_phone, invented_url = company.truth.llm_invented
    facts = await crawl(settings, company)
    assert facts.emails and invented_email not in facts.text

    result = await llm_extract(facts, vendors.llm, settings, company_name=company.name)

    assert result.status == "ok", result.degraded
    merged = result.facts
    assert merged is not None
    assert [e for e in merged.emails if e.method != "llm"] == facts.emails  # deterministic values untouched
    assert invented_email not in {e.value for e in merged.emails}
    assert invented_phone not in {p.value for p in merged.phones}
    assert invented_url not in {s.value for s in merged.socials.values()}
    assert merged.linkedin_url == facts.linkedin_url
    assert {kind for kind, _ in result.discarded} >= {"email", "phone", "url"}
    assert (("email", invented_email) in result.discarded)
    assert result.discarded_invented == len(result.discarded) >= 3
    assert result.counts["llm_calls"] == result.counts["llm_chunks"] == len(sb.requests(host=OPENAI)) == 1
    assert result.counts["llm_tokens"] > 0


async def test_a_fax_the_llm_reports_as_a_phone_is_refused(sb: SandboxHandle, vendors: Vendors) -> None:
    settings = load_settings()
    company = company_where(sb, quiet_site, lambda c: "llm_invents" in c.truth.hard_cases
                            and any(f.startswith("+65") for f in c.truth.faxes))
    facts = await crawl(settings, company)
    fax = next(f.value for f in facts.faxes if f.value.startswith("+65"))

    result = await llm_extract(facts, vendors.llm, settings, company_name=company.name)

    assert result.facts is not None and result.counts["rejected_fax"] >= 1
    assert fax not in {p.value for p in result.facts.phones}
    assert fax in {f.value for f in result.facts.faxes}


async def test_llm_fills_a_value_extraction_missed_with_the_page_it_occurs_on(sb: SandboxHandle,
                                                                               vendors: Vendors) -> None:
    settings = load_settings()
    # A site printing an address in plain text (others obfuscate it or only link it).
    for company in (c for c in sb.world.companies if c.truth.domain and quiet_site(c) and c.truth.emails
                    and c.truth.phones):
        facts = await crawl(settings, company)
        missed = next((e for e in facts.emails if e.value in facts.text), None)
        if missed is not None and facts.phones:
            break
    else:
        raise AssertionError("no site prints an email address in plain text: pick another seed")
    sb.reset()
    missed_phone = facts.phones[0]
    # As if the deterministic rules had not recognised this address and this number.
    partial = dataclasses.replace(facts, emails=[e for e in facts.emails if e != missed],
                                  phones=facts.phones[1:])

    result = await llm_extract(partial, vendors.llm, settings, company_name=company.name)

    assert result.facts is not None
    added = {e.value: e for e in result.facts.emails}[missed.value]
    assert added.method == "llm"
    assert missed.value in dict(corpus_sections(facts))[added.source_url]  # a page it is written on
    phones = {p.value: p for p in result.facts.phones}
    assert phones[missed_phone.value].method == "llm"
    page_digits = re.sub(r"\D", "", dict(corpus_sections(facts))[phones[missed_phone.value].source_url])
    assert missed_phone.value.removeprefix("+65") in page_digits
    assert result.counts["added_emails"] >= 1 and result.counts["added_phones"] >= 1


def test_corpus_is_chunked_within_limits_along_page_sections() -> None:
    pages = [f"http://acme.sg/{name}" for name in ("", "about", "contact")]
    text = "\n\n".join(f"## {url}\n" + "\n".join(f"line {i} of {url}" for i in range(400)) for url in pages)
    facts = CompanyFacts(url=pages[0], text=text, pages=pages)
    sections = corpus_sections(facts)
    assert [url for url, _ in sections] == pages

    chunks = chunk_corpus(sections, max_chunks=3, char_limit=20_000)
    assert len(chunks) <= 3
    assert all(chunk.startswith("## http://acme.sg/") for chunk in chunks)
    assert sum(len(c) for c in chunks) <= 20_000 + 3 * 200  # headers repeat per piece
    assert "line 0 of http://acme.sg/" in chunks[0]

    capped = chunk_corpus(sections, max_chunks=2, char_limit=5_000)
    assert len(capped) <= 2 and "contact" not in "".join(capped)  # the tail beyond the limit is not sent


async def test_llm_sends_one_call_per_chunk(sb: SandboxHandle, vendors: Vendors,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MAX_CHUNKS", "3")
    settings = load_settings()
    company = company_where(sb, quiet_site)
    facts = await crawl(settings, company)
    padding = "\n".join(f"Our service number {i} is described here at length." for i in range(300))
    big = dataclasses.replace(facts, text=facts.text + "\n" + padding)
    result = await llm_extract(big, vendors.llm, settings, company_name=company.name)
    assert result.status == "ok"
    assert result.counts["llm_chunks"] == result.counts["llm_calls"] == len(sb.requests(host=OPENAI)) == 3


@pytest.mark.parametrize("mode,reason,calls", [("500", "llm:error", 2), ("429", "llm:rate_limited", 1)])
async def test_llm_failures_degrade_the_stage_without_raising(mode: str, reason: str, calls: int, sb: SandboxHandle,
                                                              vendors: Vendors, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_MAX_CHUNKS", "2")
    settings = load_settings()
    company = company_where(sb, quiet_site)
    facts = await crawl(settings, company)
    big = dataclasses.replace(facts, text=facts.text + "\n" + "\n".join(f"filler {i} " * 8 for i in range(200)))
    sb.faults.inject("openai", mode, 10)

    result = await llm_extract(big, vendors.llm, settings, company_name=company.name)

    assert (result.status, result.facts, result.degraded) == ("degraded", None, [reason])
    # A 500 is tried per chunk; a 429 stops the stage at once (asking again would only add load).
    assert result.counts["llm_calls"] == calls
    assert await vendors.budget.used("openai") == 0  # refused calls hold no tokens


async def test_llm_token_budget_is_enforced_before_sending(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_DAILY_TOKENS_CAP", "200")
    settings = load_settings()
    company = company_where(sb, quiet_site)
    facts = await crawl(settings, company)
    async with vendor_bundle(settings) as bundle:
        result = await llm_extract(facts, bundle.llm, settings, company_name=company.name)
    assert result.degraded == ["llm:budget_exhausted"]
    assert sb.requests(host=OPENAI) == []


async def test_llm_stage_is_skipped_when_not_configured(sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    settings = load_settings()
    facts = CompanyFacts(url="http://acme.sg/", text="## http://acme.sg/\nWrite to info@acme.sg", pages=["http://acme.sg/"])
    async with vendor_bundle(settings) as bundle:
        result = await llm_extract(facts, bundle.llm, settings)
    assert (result.status, result.facts, result.degraded) == ("skipped", None, [])
    assert sb.requests() == []


# --- contacts -------------------------------------------------------------------------------------


def facts_for(company: SandboxCompany) -> CompanyFacts:
    home = f"http://{company.truth.site_host}/"
    linkedin = Sourced(company.truth.linkedin_url, home, "link") if company.truth.linkedin_url else None
    return CompanyFacts(url=home, emails=[Sourced(e, home, "text") for e in company.truth.emails],
                        linkedin_url=linkedin, pages=[home])


async def run_contacts(vendors: Vendors, company: SandboxCompany) -> ContactsResult:
    return await find_contacts(company_name=company.name, domain=company.truth.domain, facts=facts_for(company),
                               apify=vendors.apify, lusha=vendors.lusha, zerobounce=vendors.zerobounce,
                               cache=VerificationCache(vendors.budget.connection))


def zerobounce_requests(sb: SandboxHandle) -> int:
    return sum(len(sb.requests(host=h)) for h in ZEROBOUNCE_HOSTS)


async def test_apify_contacts_and_the_verification_cache_prevent_a_second_paid_check(
        sb: SandboxHandle, vendors: Vendors, db: psycopg.Connection) -> None:
    company = company_where(sb, lambda c: len(c.truth.people) >= 2 and 1 <= len(c.truth.emails) < 5)
    expected = {e: verdict(sb.world, e)[0] for e in company.truth.emails}

    first = await run_contacts(vendors, company)

    assert first.degraded == []
    assert [(c.full_name, c.title, c.linkedin_url, c.source) for c in first.contacts] == [
        (p.full_name, p.title, p.linkedin_url, "apify_linkedin") for p in company.truth.people]
    assert {e: v.status for e, v in first.verifications.items()} == expected
    assert not any(v.cached for v in first.verifications.values())
    assert first.counts["verified_paid"] == len(expected)
    assert sb.requests(host="api.lusha.com") == []  # Apify found people: no fallback
    assert cache_rows(db) == expected
    paid_requests = zerobounce_requests(sb)
    assert paid_requests == len(expected)  # few addresses: one /validate call each

    second = await run_contacts(vendors, company)

    assert zerobounce_requests(sb) == paid_requests  # not one more request to ZeroBounce
    assert second.email_status == first.email_status
    assert all(v.cached for v in second.verifications.values())
    assert (second.counts["verified_paid"], second.counts["verified_cached"]) == (0, len(expected))
    assert await vendors.budget.used("zerobounce") == len(expected)


async def test_lusha_fallback_looks_up_personal_addresses_when_apify_finds_nobody(
        sb: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENABLE_APIFY_LINKEDIN", "false")
    settings = load_settings()
    company = company_where(sb, lambda c: bool(c.truth.people) and c.truth.people[0].known_to_lusha
                            and c.truth.people[0].email in c.truth.emails)
    boss = company.truth.people[0]
    async with vendor_bundle(settings) as bundle:
        result = await run_contacts(bundle, company)

    assert [(c.full_name, c.email, c.source) for c in result.contacts] == [(boss.full_name, boss.email, "lusha")]
    assert to_e164(result.contacts[0].phone or "") == boss.phone
    assert boss.email in result.verifications
    asked = [r for r in sb.requests(host="api.lusha.com")]
    assert len(asked) == result.counts["lusha_lookups"] == 1  # role mailboxes (info@, sales@ …) are not people
    assert sb.requests(host="api.apify.com") == []


async def test_vendor_429_and_5xx_degrade_contacts_without_failing(sb: SandboxHandle, vendors: Vendors,
                                                                   db: psycopg.Connection) -> None:
    company = company_where(sb, lambda c: bool(c.truth.people) and c.truth.people[0].known_to_lusha
                            and c.truth.people[0].email in c.truth.emails)
    sb.faults.inject("apify", "429", 5)
    sb.faults.inject("lusha", "503", 5)
    sb.faults.inject("zerobounce", "500", 10)

    result = await run_contacts(vendors, company)

    assert result.contacts == []
    assert result.degraded == ["apify:rate_limited", "lusha:error", "zerobounce:error"]
    assert result.verifications == {}
    assert result.counts["unverified"] == len(company.truth.emails)
    assert cache_rows(db) == {}
    assert await vendors.budget.used("zerobounce") == 0 and await vendors.budget.used("lusha") == 0


async def test_many_addresses_are_verified_in_one_batch_and_cached(sb: SandboxHandle, vendors: Vendors,
                                                                   db: psycopg.Connection) -> None:
    company = company_where(sb, lambda c: bool(c.truth.emails))
    domain = company.truth.domain
    addresses = [*company.truth.emails, *(f"person{i}@{domain}" for i in range(6))]
    cache = VerificationCache(vendors.budget.connection)

    run = await verify_emails([a.upper() for a in addresses], vendors.zerobounce, cache)

    assert set(run.verifications) == set(addresses)  # normalised to lower case
    assert run.verifications[f"person0@{domain}"].status == "invalid"  # an unknown mailbox, as ZeroBounce says
    assert len(sb.requests(host="bulkapi.zerobounce.net")) == 1
    assert sb.requests(host="api.zerobounce.net") == []
    assert set(cache_rows(db)) == set(addresses)

    again = await verify_emails(addresses, vendors.zerobounce, cache)
    assert len(sb.requests(host="bulkapi.zerobounce.net")) == 1
    assert {e: v.status for e, v in again.verifications.items()} == {e: v.status for e, v in run.verifications.items()}


async def test_zerobounce_bad_key_leaves_addresses_unverified_and_uncached(
        sb: SandboxHandle, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROBOUNCE_API_KEY", "zb-invalid-key")
    settings = load_settings()
    company = company_where(sb, lambda c: bool(c.truth.emails))
    async with vendor_bundle(settings) as bundle:
        run = await verify_emails(company.truth.emails, bundle.zerobounce, VerificationCache(bundle.budget.connection))
    assert run.degraded == ["zerobounce:unauthorized"]
    assert run.verifications == {}
    assert cache_rows(db) == {}
    assert zerobounce_requests(sb) == 1  # the first refusal stops the rest
