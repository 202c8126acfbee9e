"""Lusha person lookup: `GET {LUSHA_BASE_URL}/v2/person` with the key in the `api_key` header.

A person is asked for by email, by LinkedIn profile URL, or by first + last name with the
company's domain or name. Not found is HTTP 200 with `contact.data: null` and
`isCreditCharged: false`: an `ok` outcome without a person. Each lookup takes one unit of
LUSHA_MAX_CONTACT_LOOKUPS (per day), given back when Lusha charged no credit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acra_enrich.config import Settings
from acra_enrich.vendors.base import DISABLED, ERROR, OK, VendorClient, VendorOutcome, secret_values
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.web import WebClient

VENDOR = "lusha"


@dataclass(frozen=True)
class LushaPerson:
    full_name: str | None
    first_name: str | None
    last_name: str | None
    title: str | None
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    linkedin_url: str | None


@dataclass(frozen=True)
class PersonResult(VendorOutcome):
    person: LushaPerson | None = None


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _parse_person(data: dict[str, Any]) -> LushaPerson:
    emails = tuple(e["email"] for e in data.get("emailAddresses") or []
                   if isinstance(e, dict) and _str(e.get("email")))
    phones = tuple(p["number"] for p in data.get("phoneNumbers") or []
                   if isinstance(p, dict) and _str(p.get("number")) and not p.get("doNotCall"))
    links = data.get("socialLinks")
    social = links if isinstance(links, dict) else {}
    return LushaPerson(
        full_name=_str(data.get("fullName")), first_name=_str(data.get("firstName")),
        last_name=_str(data.get("lastName")), title=_str(data.get("jobTitle")),
        emails=emails, phones=phones, linkedin_url=_str(social.get("linkedin")),
    )


class LushaClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        key = settings.lusha_api_key
        reason = None
        if not settings.enable_lusha_fallback:
            reason = "ENABLE_LUSHA_FALLBACK is off"
        elif key is None:
            reason = "LUSHA_API_KEY is not set"
        super().__init__(web, budget, disabled_reason=reason, secrets=secret_values(key))
        self.base_url = settings.lusha_base_url.rstrip("/")
        self._key = key

    async def person(self, *, email: str | None = None, linkedin_url: str | None = None,
                     first_name: str | None = None, last_name: str | None = None,
                     company_domain: str | None = None, company_name: str | None = None) -> PersonResult:
        if not self.enabled:
            return PersonResult(DISABLED, self._disabled_detail())
        assert self._key is not None
        params = {k: v for k, v in {
            "email": email, "linkedinUrl": linkedin_url, "firstName": first_name, "lastName": last_name,
            "companyDomain": company_domain, "companyName": company_name,
        }.items() if v}
        if not (email or linkedin_url or (first_name and last_name and (company_domain or company_name))):
            return PersonResult(ERROR, "need an email, a LinkedIn URL, or a name with a company")
        answer = await self._json_call("GET", f"{self.base_url}/v2/person", params=params,
                                       headers={"api_key": self._key.get_secret_value()}, message_at=("message",))
        if not answer.ok:
            return PersonResult(answer.status, answer.detail, answer.http_status)
        contact = answer.body.get("contact") if isinstance(answer.body, dict) else None
        if not isinstance(contact, dict):
            await self._refund(1)
            return PersonResult(ERROR, "answer without a contact object", http_status=answer.http_status)
        if contact.get("isCreditCharged") is False:
            await self._refund(1)
        data = contact.get("data")
        if not isinstance(data, dict):
            return PersonResult(OK, "not found", http_status=answer.http_status)
        return PersonResult(OK, "found", http_status=answer.http_status, person=_parse_person(data))
