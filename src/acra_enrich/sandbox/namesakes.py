"""A foreign namesake's one-page site: a Malaysian "(M) Sdn. Bhd." with the Singapore company's
name, at the Singapore company's obvious domain. Everything on it says Malaysia (Kuala Lumpur
address, +60 line, company number) and nothing says Singapore."""

from __future__ import annotations

from html import escape

import phonenumbers

from acra_enrich.sandbox.http import SandboxResponse
from acra_enrich.sandbox.sites import Reading
from acra_enrich.sandbox.world import SandboxCompany

_COPYRIGHT_YEAR = 2025


def _blocks(company: SandboxCompany) -> tuple[str, list[tuple[str, str]]]:
    t = company.truth
    assert t.address is not None and t.phones
    phone = phonenumbers.format_number(phonenumbers.parse(t.phones[0]), phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    address = f"{t.address.street}, {t.address.postal_code} {t.address.city}, {t.address.country}"
    industry = (company.industry or "professional services").lower().rstrip(".")
    legal = f"© {_COPYRIGHT_YEAR} {company.display_name} ({t.registration_no}). All rights reserved."
    title = f"{company.brand} | Trusted in Malaysia since {company.incorporated[:4]}"
    return title, [
        (f"<h1>{escape(company.brand)}</h1>", f"# {company.brand}"),
        (f"<p>{escape(company.display_name)} serves clients across Malaysia in {escape(industry)}.</p>",
         f"{company.display_name} serves clients across Malaysia in {industry}."),
        (f"<address>{escape(address)}</address>", address),
        (f'<p>Tel: <a href="tel:{t.phones[0]}">{escape(phone)}</a></p>', f"Tel: {phone}"),
        (f'<p>Email: <a href="mailto:{t.emails[0]}">{t.emails[0]}</a></p>', f"Email: {t.emails[0]}"),
        (f'<footer><p class="legal">{escape(legal)}</p></footer>', legal),
    ]


def respond(company: SandboxCompany, path: str) -> SandboxResponse:
    if path == "/robots.txt":
        return SandboxResponse.text("User-agent: *\nDisallow:\n")
    if path not in ("/", "/index.html"):
        return SandboxResponse.html("<html><body><h1>Not Found</h1></body></html>", 404)
    title, blocks = _blocks(company)
    body = "".join(h for h, _ in blocks)
    return SandboxResponse.html(f'<!doctype html><html lang="en-MY"><head><meta charset="utf-8">'
                                f"<title>{escape(title)}</title></head><body>{body}</body></html>")


def read(company: SandboxCompany, url: str) -> Reading:
    title, blocks = _blocks(company)
    return Reading(url, title, "\n\n".join(m for _, m in blocks))
