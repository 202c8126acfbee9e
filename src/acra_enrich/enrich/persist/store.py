"""Stage 6, persist: everything one run learned about one company, in one transaction.

The `companies` core columns are only ever filled or improved, never blanked (but a stored
phone that this run's pages label as a fax is taken out of `phone`); a history
row records what this run saw (status, fields with their source URLs, pages, fallbacks,
error, duration); emails and contacts are upserted. Running the same company twice adds a
history row and changes nothing else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from acra_enrich.enrich.extract.phones import main_fax, main_phone
from acra_enrich.enrich.facts import CompanyFacts, Phone
from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.enrich.sql", "persist.sql")


@dataclass(frozen=True)
class ContactRecord:
    full_name: str | None
    title: str | None
    source: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    linkedin_url: str | None = None
    source_url: str | None = None

    @property
    def key(self) -> str:
        """Identity of a contact within a company: profile URL, else email, else name."""
        basis = (self.linkedin_url or "").lower().rstrip("/") or (self.email or "").lower() or (self.full_name or "").lower()
        return hashlib.sha1(basis.encode()).hexdigest()


@dataclass
class PersistInput:
    company_id: int
    status: str  # ok | partial | no_site | failed
    run_id: int | None = None
    tenant_id: int | None = None
    job_id: int | None = None  # the queue job this run was for: one history row per job and company
    website_domain: str | None = None
    website_source: str | None = None
    website_confidence: float | None = None
    facts: CompanyFacts | None = None
    email_status: dict[str, str] = field(default_factory=dict)  # email -> verification status
    contacts: list[ContactRecord] = field(default_factory=list)
    pages_fetched: int = 0
    degraded: list[str] = field(default_factory=list)
    error: str | None = None
    duration_ms: int = 0
    extra_fields: dict[str, Any] = field(default_factory=dict)
    corpus: str | None = None


def _fields(facts: CompanyFacts | None, extra: dict[str, Any]) -> dict[str, Any]:
    """Every value with the URL it came from, for the history row."""
    if facts is None:
        return dict(extra)

    def sourced(item: Any) -> dict[str, Any] | None:
        if item is None:
            return None
        value = item.value
        if hasattr(value, "__dataclass_fields__"):
            value = {k: getattr(value, k) for k in value.__dataclass_fields__}
        return {"value": value, "source_url": item.source_url, "method": item.method}

    def number(item: Phone) -> dict[str, Any]:
        return {**(sourced(item) or {}), "kind": item.kind, "basis": item.basis, "confidence": item.confidence,
                "extension": item.extension, "as_printed": item.raw}

    return {
        "emails": [sourced(e) for e in facts.emails],
        "phones": [number(p) for p in facts.phones],
        "faxes": [number(p) for p in facts.faxes],
        "region": facts.region,
        "linkedin_url": sourced(facts.linkedin_url),
        "socials": {k: sourced(v) for k, v in facts.socials.items()},
        "address": sourced(facts.address),
        "about_text": sourced(facts.about_text),
        "tech_stack": [sourced(t) for t in facts.tech_stack],
        "jobs_count": sourced(facts.jobs_count),
        "employees_est": sourced(facts.employees_est),
        "revenue": sourced(facts.revenue),
        "uens": [sourced(u) for u in facts.uens],
        "careers": facts.careers,
        "pages": facts.pages,
        **extra,
    }


def persist(conn: psycopg.Connection, data: PersistInput) -> int:
    """Write the run; returns the history row id. Commits (one transaction)."""
    facts = data.facts
    address = facts.address.value if facts and facts.address else None
    emails = [e.value for e in facts.emails] if facts else []
    phones = [p.value for p in facts.phones] if facts else []
    faxes = [f.value for f in facts.faxes] if facts else []
    phone = main_phone(facts.phones) if facts else None
    fax = main_fax(facts.faxes) if facts else None
    tech = sorted({t.value for t in facts.tech_stack}) if facts else []
    revenue = facts.revenue if facts else None
    with conn.transaction():
        conn.execute(_Q["update_company"], {
            "company_id": data.company_id,
            "website_domain": data.website_domain,
            "website_source": data.website_source,
            "website_confidence": data.website_confidence,
            "about_text": facts.about_text.value if facts and facts.about_text else None,
            "employees_est": facts.employees_est.value if facts and facts.employees_est else None,
            "linkedin_url": facts.linkedin_url.value if facts and facts.linkedin_url else None,
            "hq_address": address.street if address else None,
            "hq_postal_code": address.postal_code if address else None,
            "hq_city": address.city if address else None,
            "hq_country": address.country if address else None,
            "phone": phone.value if phone else None,
            "fax": fax.value if fax else None,
            "faxes": faxes,
            "tech_stack": Jsonb(tech) if tech else None,
            "jobs_count": facts.jobs_count.value if facts and facts.jobs_count else None,
            "revenue_sgd": revenue.value.amount_sgd if revenue else None,
            "revenue_text": revenue.value.as_written if revenue else None,
            "revenue_url": revenue.source_url if revenue else None,
        })
        history_id = fetch_one(conn, _Q["insert_history"], {
            "run_id": data.run_id,
            "tenant_id": data.tenant_id,
            "job_id": data.job_id,
            "company_id": data.company_id,
            "status": data.status,
            "about_text": facts.about_text.value if facts and facts.about_text else None,
            "public_emails": Jsonb(emails),
            "phones": Jsonb(phones),
            "faxes": Jsonb(faxes),
            "tech_stack": Jsonb(tech),
            "jobs_count": facts.jobs_count.value if facts and facts.jobs_count else None,
            "linkedin_url": facts.linkedin_url.value if facts and facts.linkedin_url else None,
            "website_domain": data.website_domain,
            "fields": Jsonb(_fields(facts, data.extra_fields)),
            "pages_fetched": data.pages_fetched,
            "degraded": Jsonb(data.degraded),
            "error": data.error,
            "duration_ms": data.duration_ms,
            "corpus": data.corpus,
        })[0]
        sources = {e.value: e for e in facts.emails} if facts else {}
        contact_emails = {c.email.lower(): c for c in data.contacts if c.email}
        for email in {*sources, *contact_emails}:
            origin = sources.get(email)
            conn.execute(_Q["upsert_lead_email"], {
                "company_id": data.company_id,
                "email": email,
                "source": origin.method if origin else contact_emails[email].source,
                "source_url": origin.source_url if origin else contact_emails[email].source_url,
                "verification_status": data.email_status.get(email, "unverified"),
            })
        for contact in data.contacts:
            conn.execute(_Q["upsert_contact"], {
                "company_id": data.company_id, "contact_key": contact.key, "full_name": contact.full_name,
                "first_name": contact.first_name, "last_name": contact.last_name, "title": contact.title,
                "email": contact.email.lower() if contact.email else None, "phone": contact.phone,
                "linkedin_url": contact.linkedin_url, "source": contact.source, "source_url": contact.source_url,
            })
    return int(history_id)
