"""Stage 5, contacts: people at the company, and verdicts on every email address we hold.

1. Apify's LinkedIn company-employees actor (ENABLE_APIFY_LINKEDIN + APIFY_TOKEN), asked with
   the company's LinkedIn page when extraction found one, else its name.
2. Lusha (ENABLE_LUSHA_FALLBACK + LUSHA_API_KEY) only when step 1 found nobody: Lusha needs a
   person to look up, so it is asked about the personal-looking addresses on the company's own
   domain (jane.tan@acme.sg, not info@), at most LUSHA_LOOKUPS_PER_COMPANY of them.
3. ZeroBounce verification of the company's emails and the contacts' emails. The
   `email_verification_cache` table is read first and written after, so an address is paid
   for once. Up to BATCH_FROM - 1 unknown addresses go through /v2/validate one by one (that
   endpoint allows thousands of calls a minute); more go through /v2/validatebatch, whose
   limit is 5 calls a minute, in batches of up to 200.

A vendor refusal or failure (429, 5xx, bad key, budget) degrades the stage, named in
`degraded` as "<vendor>:<status>"; it never raises and never fails the company. A disabled
vendor is not a degradation: it was simply not asked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import psycopg
import structlog
from psycopg.types.json import Jsonb

from acra_enrich.enrich.extract.emails import clean_email
from acra_enrich.enrich.facts import CompanyFacts
from acra_enrich.enrich.persist.store import ContactRecord
from acra_enrich.enrich.sites import host_matches, registrable_domain
from acra_enrich.errors import DatabaseUnavailable
from acra_enrich.sqlfiles import load_queries
from acra_enrich.vendors.apify import ApifyClient
from acra_enrich.vendors.base import BUDGET_EXHAUSTED, DISABLED, OK, RATE_LIMITED, UNAUTHORIZED
from acra_enrich.vendors.budget_gate import ThreadedConnection
from acra_enrich.vendors.lusha import LushaClient
from acra_enrich.vendors.zerobounce import MAX_BATCH, PROVIDER, EmailVerdict, VerifyResult, ZeroBounceClient

log = structlog.get_logger(__name__)
_Q = load_queries("acra_enrich.enrich.sql", "contacts.sql")

LUSHA_LOOKUPS_PER_COMPANY = 3
BATCH_FROM = 5
# Failures after which asking the same vendor again in this company is pointless.
_STOP_STATUSES = frozenset({DISABLED, BUDGET_EXHAUSTED, UNAUTHORIZED, RATE_LIMITED})
# Mailboxes of a function, not a person: Lusha knows people.
ROLE_LOCALS = frozenset("""
info enquiry enquiries inquiry inquiries sales hello hi contact contactus contact-us admin administrator
accounts account accounting office support help helpdesk careers career hr jobs recruitment marketing mail
general billing finance service services customerservice cs team reception booking bookings orders order
noreply no-reply donotreply webmaster media press pr feedback enquire ask shop store events privacy legal
""".split())


# The record persist upserts into `contacts` (full_name, title, source, first/last name, email,
# phone, linkedin_url, source_url); `source` here is apify_linkedin or lusha.
Contact = ContactRecord


@dataclass(frozen=True)
class Verification:
    status: str  # ZeroBounce's: valid | invalid | catch-all | unknown | spamtrap | abuse | do_not_mail
    sub_status: str | None
    provider: str
    cached: bool = False  # from email_verification_cache: nothing was paid this time


@dataclass
class ContactsResult:
    contacts: list[Contact] = field(default_factory=list)
    verifications: dict[str, Verification] = field(default_factory=dict)  # lower-case email -> verdict
    counts: dict[str, int] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)

    @property
    def email_status(self) -> dict[str, str]:
        return {email: v.status for email, v in self.verifications.items()}


class HasName(Protocol):
    @property
    def name(self) -> str: ...  # read-only, so the pipeline's frozen Company qualifies


# --- verification cache -----------------------------------------------------------------------


class VerificationCache:
    """`email_verification_cache` through an autocommit connection, off the event loop."""

    def __init__(self, db: ThreadedConnection) -> None:
        self._db = db

    async def lookup(self, emails: Sequence[str]) -> dict[str, Verification]:
        if not emails:
            return {}

        def read(conn: psycopg.Connection) -> list[tuple[str, str, str | None, str]]:
            return conn.execute(_Q["cached_verifications"], {"emails": list(emails)}).fetchall()

        rows = await self._db.arun(read)
        return {email: Verification(status, sub, provider, cached=True) for email, status, sub, provider in rows}

    async def store(self, verdicts: Sequence[EmailVerdict]) -> None:
        if not verdicts:
            return

        def write(conn: psycopg.Connection) -> None:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_Q["store_verification"], [
                    {"email": v.email, "status": v.status, "sub_status": v.sub_status, "provider": PROVIDER,
                     "response": Jsonb(v.response)} for v in verdicts])

        await self._db.arun(write)


# --- verification -------------------------------------------------------------------------------


@dataclass
class VerificationRun:
    verifications: dict[str, Verification] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    degraded: list[str] = field(default_factory=list)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


async def verify_emails(emails: Iterable[str], zerobounce: ZeroBounceClient, cache: VerificationCache, *,
                        batch_from: int = BATCH_FROM) -> VerificationRun:
    """Verdicts for `emails` (normalised, de-duplicated): cached ones free, the rest paid once.

    Also the entry point for bulk verification (e.g. a nightly step over many companies): pass
    every address at once and the unknown ones go in batches of up to 200."""
    addresses = list(dict.fromkeys(e for e in (clean_email(raw) for raw in emails) if e))
    run = VerificationRun(counts={"emails": len(addresses), "verified_cached": 0, "verified_paid": 0})
    if not addresses:
        return run
    try:
        run.verifications.update(await cache.lookup(addresses))
    except (psycopg.Error, DatabaseUnavailable) as exc:
        # Without the cache we cannot promise not to pay twice: verify nothing this time.
        log.warning("verification_cache_unavailable", error=type(exc).__name__)
        run.degraded.append("zerobounce:cache_unavailable")
        return run
    run.counts["verified_cached"] = len(run.verifications)
    missing = [a for a in addresses if a not in run.verifications]
    if not missing or not zerobounce.enabled:
        run.counts["unverified"] = len(missing)
        return run
    results: list[VerifyResult] = []
    if len(missing) >= batch_from:
        for batch in _chunks(missing, MAX_BATCH):
            results.append(await zerobounce.validate_batch(batch))
            if results[-1].status in _STOP_STATUSES:
                break
    else:
        for address in missing:
            results.append(await zerobounce.validate(address))
            if results[-1].status in _STOP_STATUSES:
                break
    verdicts = [v for r in results for v in r.verdicts if v.email in missing]
    for result in results:
        if result.status != OK:
            run.degraded.append(f"zerobounce:{result.status}")
            log.warning("zerobounce_failed", status=result.status, detail=result.detail)
    try:
        await cache.store(verdicts)
    except (psycopg.Error, DatabaseUnavailable) as exc:
        log.warning("verification_cache_write_failed", error=type(exc).__name__, verdicts=len(verdicts))
        run.degraded.append("zerobounce:cache_write_failed")
    for v in verdicts:
        run.verifications[v.email] = Verification(v.status, v.sub_status, PROVIDER)
    run.counts["verified_paid"] = len(verdicts)
    run.counts["unverified"] = len(addresses) - len(run.verifications)
    run.degraded = list(dict.fromkeys(run.degraded))
    return run


# --- people ------------------------------------------------------------------------------------


def personal_emails(emails: Iterable[str], domain: str | None) -> list[str]:
    """Addresses on the company's own domain whose mailbox looks like a person's."""
    found = []
    for email in emails:
        local, _, host = email.lower().partition("@")
        if domain and not host_matches(host, domain):
            continue
        if local in ROLE_LOCALS or local.split(".")[0] in ROLE_LOCALS or not any(c.isalpha() for c in local):
            continue
        found.append(email.lower())
    return list(dict.fromkeys(found))


async def _apify_people(apify: ApifyClient, target: str, result: ContactsResult) -> None:
    people = await apify.company_people(target)
    result.counts["apify_people"] = len(people.people)
    if people.status not in (OK, DISABLED):
        result.degraded.append(f"apify:{people.status}")
        log.warning("apify_failed", status=people.status, detail=people.detail)
    for p in people.people:
        result.contacts.append(Contact(
            full_name=p.full_name, title=p.title, source="apify_linkedin", first_name=p.first_name,
            last_name=p.last_name, linkedin_url=p.profile_url,
            source_url=p.profile_url or p.company_linkedin_url,
        ))


async def _lusha_people(lusha: LushaClient, candidates: Sequence[str], result: ContactsResult) -> None:
    lookups = 0
    for email in candidates[:LUSHA_LOOKUPS_PER_COMPANY]:
        found = await lusha.person(email=email)
        lookups += 1
        if found.status != OK:
            result.degraded.append(f"lusha:{found.status}")
            log.warning("lusha_failed", status=found.status, detail=found.detail)
            if found.status in _STOP_STATUSES:
                break
            continue
        person = found.person
        if person is None:
            continue
        result.contacts.append(Contact(
            full_name=person.full_name, title=person.title, source="lusha", first_name=person.first_name,
            last_name=person.last_name, email=(person.emails[0].lower() if person.emails else email),
            phone=person.phones[0] if person.phones else None, linkedin_url=person.linkedin_url,
            source_url=person.linkedin_url,
        ))
    result.counts["lusha_lookups"] = lookups


async def find_contacts(*, company_name: str, domain: str | None, facts: CompanyFacts | None,
                        apify: ApifyClient, lusha: LushaClient, zerobounce: ZeroBounceClient,
                        cache: VerificationCache, extra_emails: Iterable[str] = (),
                        verify: bool = True) -> ContactsResult:
    """The stage; never raises (see the module docstring). With `verify` false, step 3 is left
    to the caller (a nightly run verifies all its companies' addresses in batches)."""
    result = ContactsResult(counts={"apify_people": 0, "lusha_lookups": 0})
    try:
        await _find(company_name, domain, facts, apify, lusha, zerobounce, cache, extra_emails, verify, result)
    except Exception as exc:  # a bug here must cost the company its contacts, not its run
        log.exception("contacts_failed", company=company_name, error=type(exc).__name__)
        result.degraded.append(f"contacts:internal_error:{type(exc).__name__}")
    result.degraded = list(dict.fromkeys(result.degraded))
    return result


async def _find(company_name: str, domain: str | None, facts: CompanyFacts | None, apify: ApifyClient,
                lusha: LushaClient, zerobounce: ZeroBounceClient, cache: VerificationCache,
                extra_emails: Iterable[str], verify: bool, result: ContactsResult) -> None:
    company_emails = [e.value for e in facts.emails] if facts else []
    domain = registrable_domain(domain) if domain else (registrable_domain(facts.url) if facts and facts.url else None)
    if apify.enabled:
        target = facts.linkedin_url.value if facts and facts.linkedin_url else company_name
        await _apify_people(apify, target, result)
    if lusha.enabled and not result.contacts:
        await _lusha_people(lusha, personal_emails(company_emails, domain), result)
    if not verify:
        return
    contact_emails = [c.email for c in result.contacts if c.email]
    run = await verify_emails([*company_emails, *contact_emails, *extra_emails], zerobounce, cache)
    result.verifications = run.verifications
    result.counts.update(run.counts)
    result.degraded.extend(run.degraded)


class ContactsStage:
    """The stage as the pipeline calls it: `await stage(company, domain, facts)`."""

    def __init__(self, apify: ApifyClient, lusha: LushaClient, zerobounce: ZeroBounceClient,
                 cache: VerificationCache, *, verify: bool = True) -> None:
        self.apify, self.lusha, self.zerobounce, self.cache = apify, lusha, zerobounce, cache
        self.verify = verify

    async def __call__(self, company: HasName, domain: str | None, facts: CompanyFacts | None) -> ContactsResult:
        return await find_contacts(company_name=company.name, domain=domain, facts=facts, apify=self.apify,
                                   lusha=self.lusha, zerobounce=self.zerobounce, cache=self.cache,
                                   verify=self.verify)
