"""ZeroBounce v2: `GET /v2/validate`, `GET /v2/getcredits` (api.zerobounce.net) and
`POST /v2/validatebatch` (bulkapi.zerobounce.net; api. answers it too).

Verdicts are deterministic per address and follow the world: addresses the world knows
(site emails, employees' work addresses) are mostly `valid`, a few `do_not_mail`/role_based
or `unknown`; any address at a catch-all company domain is `catch-all`; unknown mailboxes at
a real domain (what an LLM invents) are `invalid`/mailbox_not_found; unknown or parked
domains are `invalid`. Like the real API, a bad key or exhausted credits is still HTTP 200,
with `{"error": "Invalid API Key or your account ran out of credits"}`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from acra_enrich.sandbox.faults import Faults
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.responses import key_ok
from acra_enrich.sandbox.vendors._common import fault_response
from acra_enrich.sandbox.world import World

VENDOR = "zerobounce"
BAD_KEY = "Invalid API Key or your account ran out of credits"
MAX_BATCH = 200
FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "yahoo.com.sg", "icloud.com"})
_ROLE_LOCALS = frozenset({"info", "enquiry", "enquiries", "sales", "hello", "contact", "admin", "accounts",
                          "office", "support", "careers", "hr"})
_SYNTAX = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def _error(status: int) -> SandboxResponse:
    return SandboxResponse.json({"error": "Internal server error" if status >= 500 else "Too many requests"}, status)


def _known(world: World) -> frozenset[str]:
    with world.cache_lock:
        known = world.caches.get("zerobounce_known")
        if known is None:
            addresses: set[str] = set()
            for c in (*world.companies, *world.decoys):
                t = c.truth
                addresses.update(t.emails)
                addresses.update(t.bait_emails)
                addresses.update(p.email for p in t.people if p.email)
            known = world.caches["zerobounce_known"] = frozenset(a.lower() for a in addresses)
        return known  # type: ignore[return-value]


def verdict(world: World, address: str) -> tuple[str, str]:
    """(status, sub_status) for one address."""
    email = address.strip().lower()
    if not _SYNTAX.match(email):
        return "invalid", "failed_syntax_check"
    local, domain = email.split("@", 1)
    h = int(hashlib.sha1(f"{world.seed}:{email}".encode()).hexdigest()[:8], 16) % 100
    known = email in _known(world)
    if domain in FREE_MAIL:
        return ("valid", "") if known else ("invalid", "mailbox_not_found")
    entry = world.host(domain)
    if entry is None:
        return "invalid", "no_dns_entries"
    if entry.kind == "parked":
        return "invalid", "does_not_accept_mail"
    if entry.company.truth.catch_all:
        return "catch-all", ""
    if not known:
        return "invalid", "mailbox_not_found"
    if h < 6:
        return "unknown", "greylisted"
    if local in _ROLE_LOCALS and h < 16:
        return "do_not_mail", "role_based"
    return "valid", ""


def _result(world: World, address: str) -> dict[str, object]:
    status, sub = verdict(world, address)
    email = address.strip()
    local, _, domain = email.partition("@")
    entry = world.host(domain.lower()) if domain else None
    mx = sub not in ("no_dns_entries", "failed_syntax_check", "does_not_accept_mail")
    return {
        "address": email, "status": status, "sub_status": sub,
        "free_email": domain.lower() in FREE_MAIL, "did_you_mean": None, "account": local, "domain": domain,
        "domain_age_days": "4321" if entry is not None else None,
        "smtp_provider": "google" if domain.lower() in FREE_MAIL else ("microsoft" if mx else None),
        "mx_found": "true" if mx else "false",
        "mx_record": f"mx.{domain.lower()}" if mx and domain else None,
        "firstname": None, "lastname": None, "gender": None, "country": None, "region": None,
        "city": None, "zipcode": None,
        "processed_at": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
    }


def make_handler(world: World, faults: Faults) -> Handler:
    def handle(req: SandboxRequest) -> SandboxResponse:
        path = req.path.rstrip("/")
        if path == "/v2/validatebatch" and req.method == "POST":
            return _batch(req)
        if path == "/v2/getcredits":
            return SandboxResponse.json({"Credits": "100000" if key_ok(req.arg("api_key")) else "-1"})
        if path != "/v2/validate":
            return SandboxResponse.json({"error": "Not found"}, 404)
        if not key_ok(req.arg("api_key")):
            return SandboxResponse.json({"error": BAD_KEY})
        email = req.arg("email")
        if not email:
            return SandboxResponse.json({"error": "Missing parameter: email"}, 400)
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, _error)
        return SandboxResponse.json(_result(world, email))

    def _batch(req: SandboxRequest) -> SandboxResponse:
        try:
            body = req.json() or {}
        except ValueError:
            return SandboxResponse.json({"error": "Invalid JSON"}, 400)
        if not key_ok(body.get("api_key")):
            return SandboxResponse.json({"email_batch": [], "errors": [{"error": BAD_KEY, "email_address": "all"}]})
        batch = body.get("email_batch")
        if not isinstance(batch, list) or not batch:
            return SandboxResponse.json({"error": "Missing parameter: email_batch"}, 400)
        if len(batch) > MAX_BATCH:
            return SandboxResponse.json({"error": f"Too many emails: at most {MAX_BATCH} per request"}, 400)
        fault = faults.take(VENDOR)
        if fault:
            return fault_response(fault, _error)
        results, errors = [], []
        for item in batch:
            email = item.get("email_address") if isinstance(item, dict) else None
            if not email:
                errors.append({"error": "Missing parameter: email_address", "email_address": email or ""})
                continue
            results.append(_result(world, email))
        return SandboxResponse.json({"email_batch": results, "errors": errors})

    return handle
