"""EQC-style company lookup emulation (host `eqc.sandbox.test`).

EQC ("Enterprise Query Center", eqc.pingan.com, the registry-lookup service of seed 004)
has no public reference; this follows the shape public client code uses against it
(LINSUISHENG034/WorkDataHub `io/connectors/eqc`), with the world's Singapore companies
in place of Chinese ones and the UEN in the field where EQC carries the unified social
credit code:

- auth: a `token` request header. Missing -> 401 `{"error": "TokenRequired"}`; rejected
  (like every emulation, a token containing "invalid") -> 200 `{"error": "TokenExpired"}`
  (EQC reports an expired token in the body of a 200, which is why clients must look for
  it there).
- search: `GET /kg-api-hfd/api/search/?key=NAME` -> `{"list": [item, ...], "total": n}`,
  best match first, at most 10 items; `GET /kg-api-hfd/api/search/searchAll?keyword=NAME
  &currentPage=1&pageSize=10` -> the same items paged, plus `currentPage`, `pageSize`.
  An item: `{"companyId": "614810477", "companyFullName": "ACME PTE. LTD.",
  "unite_code": "201912345N", "registered_status": "Live Company",
  "establish_date": "2019-04-01"}`. `companyId` is EQC's own id, a 9-digit string.
- detail: `GET /kg-api-hfd/api/search/findDepart?targetId=ID` ->
  `{"businessInfodto": {"company_id", "companyFullName", "company_en_name", "unite_code",
  "registered_status", "registered_date", "company_type", "industry_name", "address"}}`;
  an unknown id answers 200 `{"businessInfodto": null}` (clients treat an empty record
  as not found).

Search matches the way a registry search box does: every word of the query (legal
suffix dropped, case and accents folded) must appear in the name; an exact name comes
first, then shorter names. Only registry companies are searchable, never the world's
look-alike decoys.

Faults (`faults.take("eqc")`, rendered by vendors._common): "429" -> 429
`{"error": "TooManyRequests"}` with Retry-After; "500"/"502"/"503" -> that status with
`{"error": "ServerError"}`; "timeout" -> the server hangs past any client timeout;
"202" -> an empty 202; "bad_json" -> a 200 whose JSON is cut off.
"""

from __future__ import annotations

import hashlib
import threading
from collections import defaultdict
from typing import Any, Sequence

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.names import name_tokens
from acra_enrich.sandbox.responses import key_ok
from acra_enrich.sandbox.vendors._common import fault_response

VENDOR = "eqc"
API = "/kg-api-hfd/api/search"
MAX_PAGE_SIZE = 10


def eqc_company_id(uen: str) -> str:
    """EQC's id for a company: 9 digits, stable per UEN, unrelated to it on its face."""
    digest = int(hashlib.sha256(f"eqc:{uen}".encode()).hexdigest(), 16)
    return str(100_000_000 + digest % 900_000_000)


class _Index:
    """Word -> companies, built on first use (a world can hold tens of thousands)."""

    def __init__(self, companies: Sequence[Any]) -> None:
        self.companies = list(companies)
        self.by_id: dict[str, Any] = {}
        self.by_word: dict[str, set[int]] = defaultdict(set)
        for position, company in enumerate(self.companies):
            self.by_id[eqc_company_id(company.uen)] = company
            for word in set(name_tokens(company.name.upper())):
                self.by_word[word].add(position)

    def search(self, query: str) -> list[Any]:
        # Registry names are upper case, and so is what name_tokens recognises as a legal suffix.
        wanted_tokens = name_tokens(query.upper())
        if not wanted_tokens:
            return []
        hits = set.intersection(*(self.by_word.get(w, set()) for w in set(wanted_tokens)))
        wanted = " ".join(wanted_tokens)
        found = [self.companies[i] for i in hits]
        found.sort(key=lambda c: (" ".join(name_tokens(c.name.upper())) != wanted, len(c.name), c.name))
        return found


def _item(company: Any) -> dict[str, Any]:
    return {
        "companyId": eqc_company_id(company.uen),
        "companyFullName": company.name,
        "unite_code": company.uen,
        "registered_status": getattr(company, "status", None),
        "establish_date": getattr(company, "incorporated", None) or None,
    }


def _detail(company: Any) -> dict[str, Any]:
    address = getattr(company, "registered_address", None)
    display = getattr(company, "display_name", None)
    return {
        "company_id": eqc_company_id(company.uen),
        "companyFullName": company.name,
        "company_en_name": display if isinstance(display, str) else company.name,
        "unite_code": company.uen,
        "registered_status": getattr(company, "status", None),
        "registered_date": getattr(company, "incorporated", None) or None,
        "company_type": getattr(company, "entity_type", None),
        "industry_name": getattr(company, "industry", None),
        "address": f"{address.street}, Singapore {address.postal_code}" if address else None,
    }


def _error(status: int) -> SandboxResponse:
    return SandboxResponse.json({"error": "TooManyRequests" if status == 429 else "ServerError"}, status)


def make_handler(world: Any, faults: Faults) -> Handler:
    index: _Index | None = None
    lock = threading.Lock()

    def companies() -> _Index:
        nonlocal index
        with lock:
            if index is None:
                index = _Index(world.companies)
            return index

    def page(query: str | None, current: int, size: int) -> SandboxResponse:
        found = companies().search(query or "")
        start = (current - 1) * size
        return SandboxResponse.json({
            "list": [_item(c) for c in found[start:start + size]],
            "total": len(found),
            "currentPage": current,
            "pageSize": size,
        })

    def handle(request: SandboxRequest) -> SandboxResponse:
        token = request.headers.get("token")
        if not token:
            return SandboxResponse.json({"error": "TokenRequired"}, status=401)
        mode = faults.take(VENDOR)
        if mode is not None:
            return fault_response(mode, _error)
        if not key_ok(token):
            return SandboxResponse.json({"error": "TokenExpired"})
        if request.method != "GET":
            return SandboxResponse.json({"error": "MethodNotAllowed"}, status=405)
        path = request.path.rstrip("/")
        if path == API:
            return page(request.arg("key"), 1, MAX_PAGE_SIZE)
        if path == f"{API}/searchAll":
            try:
                current = max(1, int(request.arg("currentPage", "1") or "1"))
                size = min(MAX_PAGE_SIZE, max(1, int(request.arg("pageSize", "10") or "10")))
            except ValueError:
                return SandboxResponse.json({"error": "BadRequest"}, status=400)
            return page(request.arg("keyword"), current, size)
        if path == f"{API}/findDepart":
            company = companies().by_id.get((request.arg("targetId") or "").strip())
            return SandboxResponse.json({"businessInfodto": _detail(company) if company else None})
        return SandboxResponse.json({"error": "NotFound"}, status=404)

    return handle
