"""Lusha v2: `GET /v2/person` and `GET /v2/company`, key in the `api_key` header.

A person is found by first and last name plus `companyDomain` or `companyName`, or by
`email` or `linkedinUrl`, among the world's `truth.people` that Lusha knows
(`known_to_lusha`). Found: `{"contact": {"data": {...}, "error": null, "isCreditCharged": true}}`;
not found: HTTP 200 with `data: null`, an `error` object and no credit charged. Errors use
Lusha's `{"statusCode", "message", "errors"}`: 401 for a missing or "invalid" key, 403 for a
key containing "inactive" (account not active), 400 for missing parameters, 429 on faults.
"""

from __future__ import annotations

import zlib

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.markup import phone_display
from acra_enrich.sandbox.responses import key_ok
from acra_enrich.sandbox.search import engine
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import Person, SandboxCompany, World

VENDOR = "lusha"
_MESSAGES = {400: "Badly formatted request", 401: "The API key is invalid",
             403: "Your account is not active. Please reach out to support at support@lusha.com for assistance",
             404: "The requested endpoint was not found",
             429: "Hourly API rate limit exceeded. Limit: 150 calls per hour. Reset in 60 seconds",
             500: "There's a problem on Lusha's end"}


def _error(status: int, message: str | None = None, errors: list[str] | None = None) -> SandboxResponse:
    return SandboxResponse.json({"statusCode": status, "message": message or _MESSAGES.get(status, _MESSAGES[500]),
                                 "errors": errors or []}, status)


def _company_for(world: World, domain: str | None, name: str | None) -> SandboxCompany | None:
    if domain:
        bare = domain.lower().removeprefix("http://").removeprefix("https://").removeprefix("www.").split("/")[0]
        entry = world.host(bare)
        if entry is not None and entry.kind != "parked":
            return entry.company
        return None
    found = engine(world).matches(name or "")
    return found[0] if found else None


def _person_data(c: SandboxCompany, p: Person) -> dict[str, object]:
    return {
        "firstName": p.first_name, "lastName": p.last_name, "fullName": p.full_name,
        "emailAddresses": [{"email": p.email, "emailType": "work", "emailConfidence": "A+"}] if p.email else [],
        "phoneNumbers": [{"number": phone_display(p.phone, 0), "phoneType": "mobile", "doNotCall": False}]
        if p.phone else [],
        "jobTitle": p.title,
        "company": {"name": c.brand, "domain": c.truth.domain, "fqdn": c.truth.domain,
                    "location": {"country": "Singapore", "city": "Singapore"}},
        "location": {"country": "Singapore", "city": "Singapore"},
        "socialLinks": {"linkedin": p.linkedin_url},
    }


def _not_found() -> SandboxResponse:
    return SandboxResponse.json({"contact": {"data": None, "error": {"code": 404, "name": "NOT_FOUND",
                                                                     "message": "Could not find requested data"},
                                             "isCreditCharged": False}})


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        key = req.headers.get("api_key")
        if not key_ok(key):
            return _error(401)
        if "inactive" in (key or "").lower():
            return _error(403)
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, _error)
        if req.method == "GET" and req.path == "/v2/person":
            return _person(world, req)
        if req.method == "GET" and req.path == "/v2/company":
            return _company(world, req)
        return _error(404)

    return handle


def _person(world: World, req: SandboxRequest) -> SandboxResponse:
    first, last = (req.arg("firstName") or "").strip().lower(), (req.arg("lastName") or "").strip().lower()
    email, linkedin = (req.arg("email") or "").strip().lower(), (req.arg("linkedinUrl") or "").strip().rstrip("/")
    domain, name = req.arg("companyDomain"), req.arg("companyName")
    if not (email or linkedin or (first and last and (domain or name))):
        return _error(400, "Validation failed", ["firstName and lastName with companyName or companyDomain, "
                                                 "or email, or linkedinUrl are required"])
    candidates: list[SandboxCompany]
    if email or linkedin:
        candidates = [c for c in world.companies if c.truth.people]
    else:
        found = _company_for(world, domain, name)
        candidates = [found] if found is not None else []
    for c in candidates:
        for p in c.truth.people:
            if not p.known_to_lusha:
                continue
            if (email and p.email == email) or (linkedin and p.linkedin_url == linkedin) or (
                    first and last and p.last_name.lower() == last
                    and p.first_name.lower().split()[0] == first.split()[0]):
                return SandboxResponse.json({"contact": {"data": _person_data(c, p), "error": None,
                                                         "isCreditCharged": True}})
    return _not_found()


def _company(world: World, req: SandboxRequest) -> SandboxResponse:
    c = _company_for(world, req.arg("domain"), req.arg("company"))
    if c is None or c.truth.domain is None:
        return SandboxResponse.json({"data": None, "error": {"code": 404, "message": "Could not find requested data"}})
    n = c.truth.employees_est
    return SandboxResponse.json({"data": {
        "id": zlib.crc32(c.uen.encode()),
        "name": c.brand, "domain": c.truth.domain, "fqdn": c.truth.domain,
        "employees": f"{n}" if n else "1 - 10", "industry": c.industry.capitalize(),
        "location": {"country": "Singapore", "city": "Singapore"},
        "social": {"linkedin": c.truth.linkedin_url}, "description": c.truth.about_text,
    }})
