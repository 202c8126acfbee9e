"""The sandbox's public web: which handler answers a host, and what a reader sees at a URL.

Company sites, their redirecting aliases, parked decoys and third-party pages (directories,
social profiles, job boards) all live here; vendor emulations are routed by the server.
"""

from __future__ import annotations

import random
from urllib.parse import urlencode, urlsplit

from acra_enrich.sandbox import namesakes
from acra_enrich.sandbox.http import Handler, SandboxRequest, SandboxResponse
from acra_enrich.sandbox.responses import redirect
from acra_enrich.sandbox.sites import Reading, Site, parked_page
from acra_enrich.sandbox.thirdparty import HOSTS as THIRD_PARTY_HOSTS
from acra_enrich.sandbox.thirdparty import ThirdParty
from acra_enrich.sandbox.world import HostEntry, World

MAX_READ_REDIRECTS = 5


def third_party(world: World) -> ThirdParty:
    with world.cache_lock:
        tp = world.caches.get("third_party")
        if tp is None:
            tp = world.caches["third_party"] = ThirdParty(world)
        return tp  # type: ignore[return-value]


def _query_suffix(req: SandboxRequest) -> str:
    return "?" + urlencode(req.query, doseq=True) if req.query else ""


def handler_for(world: World, host: str) -> Handler | None:
    """The handler serving `host`, or None when no such host exists in the sandbox web."""
    entry = world.host(host)
    if entry is not None:
        return lambda req: respond(world, entry, req)
    if host in THIRD_PARTY_HOSTS:
        return third_party(world).respond
    return None


def respond(world: World, entry: HostEntry, req: SandboxRequest) -> SandboxResponse:
    if entry.kind == "site":
        return Site(world, entry.company).respond(req)
    if entry.kind == "foreign":
        return namesakes.respond(entry.company, req.path or "/")
    if entry.kind == "redirect":
        # Sandbox sites are plain-http sites, so they redirect to their canonical http address.
        return redirect(f"http://{entry.target_host}{req.path}{_query_suffix(req)}")
    if req.path == "/robots.txt":
        return SandboxResponse.text("User-agent: *\nAllow: /\n")
    r = random.Random(f"{world.seed}:{req.host}:parked")
    return SandboxResponse.html(parked_page(req.host.removeprefix("www."), entry.company, r))


def read(world: World, url: str) -> Reading | None:
    """What a browser-rendering reader (Jina, Tavily extract) gets at `url`; None if the host
    does not exist. Follows redirects like a browser; both http and https work here."""
    for _ in range(MAX_READ_REDIRECTS + 1):
        parts = urlsplit(url if "://" in url else f"http://{url}")
        host, path = (parts.hostname or "").lower(), parts.path or "/"
        entry = world.host(host)
        if entry is None:
            if host in THIRD_PARTY_HOSTS:
                return third_party(world).read(host, path)
            return None
        if entry.kind == "redirect":
            url = f"http://{entry.target_host}{path}"
            continue
        if entry.kind == "foreign":
            return namesakes.read(entry.company, url)
        if entry.kind == "parked":
            r = random.Random(f"{world.seed}:{host}:parked")
            html = parked_page(host.removeprefix("www."), entry.company, r)
            domain = host.removeprefix("www.")
            return Reading(url, domain, f"# {domain}\n\nThis domain may be for sale. [Make an offer]"
                           f"(https://www.sedo.com/search/details/?domain={domain})", html=html)
        return Site(world, entry.company).read(path)
    return Reading(url, "", "", status=508)
