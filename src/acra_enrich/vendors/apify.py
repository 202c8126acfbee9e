"""Apify: run the LinkedIn company-employees actor synchronously and read its dataset.

`POST {APIFY_BASE_URL}/v2/acts/{APIFY_LINKEDIN_ACTOR}/run-sync-get-dataset-items?token=…`
with the actor's input as the JSON body; the answer (200/201) is the array of dataset items.
HTTP 408 means the run outlasted the endpoint's 300 s: the run goes on (and is billed) but
this call has nothing, reported as `timeout`. The request is sent once: a retried POST would
start (and pay for) a second run.

Actors differ in their input; the common shape `{"companies": [...], "maxItems": N}` is sent
(APIFY_MAX_ITEMS caps the pay-per-result charge) and items are read tolerantly
(fullName/name, jobTitle/title/headline, profileUrl/linkedinUrl/url). One run takes one unit
of APIFY_MAX_RUNS_PER_DAY, given back only when the run was refused before it started.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from acra_enrich.config import Settings
from acra_enrich.vendors.base import DISABLED, ERROR, OK, VendorClient, VendorOutcome, secret_values
from acra_enrich.vendors.budget_gate import BudgetGate
from acra_enrich.web import WebClient

VENDOR = "apify"
_REFUSED_BEFORE_RUN = frozenset({400, 401, 402, 403, 404, 429})  # no run started: nothing billed


@dataclass(frozen=True)
class LinkedInPerson:
    full_name: str
    first_name: str | None
    last_name: str | None
    title: str | None
    profile_url: str | None
    company_linkedin_url: str | None = None


@dataclass(frozen=True)
class PeopleResult(VendorOutcome):
    people: tuple[LinkedInPerson, ...] = ()


def _text(item: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _person(item: Any) -> LinkedInPerson | None:
    if not isinstance(item, dict):
        return None
    first, last = _text(item, "firstName", "first_name"), _text(item, "lastName", "last_name")
    full = _text(item, "fullName", "full_name", "name") or " ".join(p for p in (first, last) if p)
    if not full:
        return None
    return LinkedInPerson(
        full_name=full, first_name=first, last_name=last,
        title=_text(item, "jobTitle", "title", "position", "headline"),
        profile_url=_text(item, "profileUrl", "linkedinUrl", "linkedin_url", "url"),
        company_linkedin_url=_text(item, "companyLinkedinUrl", "companyUrl"),
    )


class ApifyClient(VendorClient):
    vendor = VENDOR

    def __init__(self, web: WebClient, settings: Settings, budget: BudgetGate | None) -> None:
        token = settings.apify_token
        reason = None
        if not settings.enable_apify_linkedin:
            reason = "ENABLE_APIFY_LINKEDIN is off"
        elif token is None:
            reason = "APIFY_TOKEN is not set"
        super().__init__(web, budget, disabled_reason=reason, secrets=secret_values(token))
        self.base_url = settings.apify_base_url.rstrip("/")
        self.actor = settings.apify_linkedin_actor.replace("/", "~")  # the API spells user/name as user~name
        self.max_items = settings.apify_max_items
        self._token = token

    async def company_people(self, company: str) -> PeopleResult:
        """People the actor lists for `company` (a LinkedIn company URL, else a domain or name)."""
        if not self.enabled:
            return PeopleResult(DISABLED, self._disabled_detail())
        assert self._token is not None
        url = f"{self.base_url}/v2/acts/{quote(self.actor, safe='~')}/run-sync-get-dataset-items"
        answer = await self._json_call(
            "POST", url, params={"token": self._token.get_secret_value(), "maxItems": self.max_items},
            json={"companies": [company], "maxItems": self.max_items}, attempts=1,
            message_at=("error", "message"), refund_statuses=_REFUSED_BEFORE_RUN,
        )
        if not answer.ok:
            return PeopleResult(answer.status, answer.detail, answer.http_status)
        if not isinstance(answer.body, list):
            return PeopleResult(ERROR, "dataset items are not a JSON array", http_status=answer.http_status)
        people = tuple(p for p in (_person(item) for item in answer.body[: self.max_items]) if p is not None)
        return PeopleResult(OK, f"{len(people)} person(s)", http_status=answer.http_status, people=people)
