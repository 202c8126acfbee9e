"""Apify `POST /v2/acts/{actorId}/run-sync-get-dataset-items` (and the actor-tasks form).

The actor behaves like a LinkedIn company-employees scraper: the input (any shape) is
searched for a LinkedIn company URL, a domain, a UEN or a company name, and the dataset is
the company's `truth.people` (name, title, profile URL). Token via `?token=` or Bearer;
errors are `{"error": {"type", "message"}}` as Apify sends them: 401 `token-not-provided` /
`user-or-token-not-found`, 408 `run-timeout-exceeded` (the "timeout" fault: the real endpoint
gives up after 300 s), 429 `rate-limit-exceeded`.
"""

from __future__ import annotations

import json
import re

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.responses import bearer, key_ok
from acra_enrich.sandbox.search import engine
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import SandboxCompany, World

VENDOR = "apify"
_PATH = re.compile(r"^/v2/(?:acts|actor-tasks)/([^/]+)/run-sync-get-dataset-items/?$")
_TYPES = {400: ("invalid-input", "Input is not valid"), 404: ("record-not-found", "Actor was not found"),
          408: ("run-timeout-exceeded", "Actor run exceeded the timeout of 300 seconds for this API endpoint"),
          429: ("rate-limit-exceeded", "You have exceeded the rate limit. Please try again later.")}


def _error(status: int, type_: str | None = None, message: str | None = None) -> SandboxResponse:
    t, m = _TYPES.get(status, ("internal-server-error", "Internal server error"))
    return SandboxResponse.json({"error": {"type": type_ or t, "message": message or m}}, status)


def _find_company(world: World, text: str) -> SandboxCompany | None:
    for url in re.findall(r"linkedin\.com/company/([A-Za-z0-9_%-]+)", text):
        for c in world.companies:
            if c.truth.linkedin_url and c.truth.linkedin_url.rstrip("/").endswith("/" + url):
                return c
    for domain in re.findall(r"(?:[a-z0-9-]+\.)+(?:com\.sg|sg|com|io|asia|co|net)\b", text.lower()):
        entry = world.host(domain.removeprefix("www."))
        if entry is not None and entry.kind != "parked" and not entry.company.is_decoy:
            return entry.company
    strings = " ".join(str(v) for v in re.findall(r'"([^"]{3,200})"', text))
    found = [c for c in engine(world).matches(strings) if not c.is_decoy]
    return found[0] if found else None


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        if not _PATH.match(req.path):
            return _error(404, "page-not-found", "We have bad news: there is no API endpoint at this URL.")
        token = req.arg("token") or bearer(req.headers)
        if not token:
            return _error(401, "token-not-provided", "Authentication token was not provided")
        if not key_ok(token):
            return _error(401, "user-or-token-not-found", "User was not found or authentication token is not valid")
        fault = faults.take(VENDOR)
        if fault == "timeout":
            return _error(408)
        if fault:
            return fault_response(fault, _error)
        try:
            body = req.json() if req.body else {}
        except ValueError:
            return _error(400, message="Input is not valid JSON")
        company = _find_company(world, json.dumps(body))
        limit = req.arg("maxItems") or req.arg("limit") or (body.get("maxItems") if isinstance(body, dict) else None)
        items = [] if company is None else [{
            "fullName": p.full_name, "firstName": p.first_name, "lastName": p.last_name,
            "headline": f"{p.title} at {company.brand}", "jobTitle": p.title,
            "profileUrl": p.linkedin_url, "linkedinUrl": p.linkedin_url,
            "companyName": company.brand, "companyLinkedinUrl": company.truth.linkedin_url,
            "location": "Singapore",
        } for p in company.truth.people]
        if limit is not None:
            items = items[:int(limit)]
        headers = {"X-Apify-Pagination-Offset": "0", "X-Apify-Pagination-Limit": str(len(items)),
                   "X-Apify-Pagination-Count": str(len(items)), "X-Apify-Pagination-Total": str(len(items))}
        return SandboxResponse.json(items, 201, headers)

    return handle
