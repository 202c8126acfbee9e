"""Pages about a company that are not its website: business directories, social profiles, a
marketplace and external job boards. Search results point at them (often above the real
site), so the product's verifier meets them and must reject them as "the website"."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from html import escape

from acra_enrich.sandbox import names
from acra_enrich.sandbox.http import SandboxRequest, SandboxResponse
from acra_enrich.sandbox.sites import Reading
from acra_enrich.sandbox.world import SandboxCompany, World

DIRECTORY_HOSTS = ("www.sgpbusiness.com", "opengovsg.com", "recordowl.com")
SOCIAL_HOSTS = ("www.linkedin.com", "linkedin.com", "sg.linkedin.com", "www.facebook.com", "facebook.com",
                "www.instagram.com", "x.com", "www.youtube.com")
MARKETPLACE_HOSTS = ("www.carousell.sg",)
ATS_HOSTS = ("boards.greenhouse.io", "jobs.lever.co")
HOSTS = frozenset((*DIRECTORY_HOSTS, *SOCIAL_HOSTS, *MARKETPLACE_HOSTS, *ATS_HOSTS))


def directory_url(host: str, company: SandboxCompany) -> str:
    if host == "opengovsg.com":
        return f"https://opengovsg.com/corporate/{company.uen}"
    if host == "recordowl.com":
        return f"https://recordowl.com/company/{names.slug(company.name)}-{company.uen.lower()}"
    title = "-".join(w.capitalize() for w in re.findall(r"[A-Za-z0-9]+", names.ascii_fold(company.name)))
    return f"https://www.sgpbusiness.com/company/{title}"


def carousell_url(company: SandboxCompany) -> str:
    return f"https://www.carousell.sg/u/{names.slug(company.name).replace('-', '')[:20]}/"


def lists_website(world: World, company: SandboxCompany) -> bool:
    """Whether the directory (recordowl) prints the company's website: some do."""
    return company.truth.domain is not None and random.Random(f"{world.seed}:{company.uen}:dirweb").random() < 0.3


@dataclass(frozen=True)
class _Target:
    kind: str  # directory, linkedin, facebook, social, carousell, ats
    company: SandboxCompany


class ThirdParty:
    """Routes third-party URLs back to the company they are about."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.index: dict[tuple[str, str], _Target] = {}
        for company in (*world.companies, *world.decoys):
            self._index(company)

    def _index(self, c: SandboxCompany) -> None:
        def put(url: str, kind: str) -> None:
            rest = url.split("://", 1)[1]
            host, _, path = rest.partition("/")
            self.index[(host, "/" + path.rstrip("/"))] = _Target(kind, c)

        for host in DIRECTORY_HOSTS:
            put(directory_url(host, c), "directory")
        put(carousell_url(c), "carousell")
        t = c.truth
        if t.linkedin_url:
            put(t.linkedin_url, "linkedin")
        for url in t.socials.values():
            put(url, "social")
        if t.ats_url:
            put(t.ats_url, "ats")

    def find(self, host: str, path: str) -> _Target | None:
        return self.index.get((host, path.rstrip("/") or "/"))

    def respond(self, req: SandboxRequest) -> SandboxResponse:
        host = req.host
        if req.path == "/robots.txt":
            return SandboxResponse.text("User-agent: *\nDisallow: /search\n")
        if host.endswith("linkedin.com"):
            # LinkedIn answers crawlers with its own status 999 and no content.
            return SandboxResponse(999, {"Content-Type": "text/html"},
                                   b"<html><head><script>location='https://www.linkedin.com/authwall'</script></head></html>")
        target = self.find(host, req.path)
        if target is None:
            return SandboxResponse.html("<html><body><h1>404 Not Found</h1></body></html>", 404)
        reading = self.read_target(host, target)
        return SandboxResponse.html(reading.html)

    def read(self, host: str, path: str) -> Reading:
        target = self.find(host, path)
        if target is None:
            return Reading(f"https://{host}{path}", "404 Not Found", "404 Not Found", 404)
        return self.read_target(host, target)

    def read_target(self, host: str, target: _Target) -> Reading:
        c = target.company
        url = f"https://{host}"
        if target.kind == "directory":
            return self._directory(host, c)
        if target.kind == "ats":
            return self._ats(c)
        if target.kind == "carousell":
            title = f"{c.brand} (@{names.slug(c.name).replace('-', '')[:20]}) | Carousell Singapore"
            text = f"{c.brand} - Verified seller - Joined 2021 - 4.8 rating - Listings: industrial supplies and more."
        else:
            title = f"{c.brand} | {'Facebook' if 'facebook' in host else host.split('.')[-2].capitalize()}"
            text = f"Log in or sign up to see more from {c.brand}."
        html = (f'<html><head><title>{escape(title)}</title><meta property="og:title" content="{escape(c.brand)}">'
                f"</head><body><h1>{escape(c.brand)}</h1><p>{escape(text)}</p></body></html>")
        return Reading(url, title, f"# {c.brand}\n\n{text}", html=html)

    def _directory(self, host: str, c: SandboxCompany) -> Reading:
        site = {"www.sgpbusiness.com": "SGPBusiness", "opengovsg.com": "OpenGovSG", "recordowl.com": "RecordOwl"}[host]
        title = f"{c.name} ({c.uen}) - Singapore Company | {site}"
        rows = [("Company name", c.name), ("UEN", c.uen), ("Entity type", c.entity_type),
                ("Status", c.status or "Unknown"), ("Incorporation date", c.incorporated or "-"),
                ("Principal activity", c.industry or "-")]
        if c.registered_address:
            a = c.registered_address
            rows.append(("Registered address", f"{a.street.upper()}, SINGAPORE {a.postal_code}"))
        if host == "recordowl.com" and lists_website(self.world, c):
            rows.append(("Website", f"http://{c.truth.domain}"))
        table = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
        intro = (f"{c.name} (UEN {c.uen}) is a {c.entity_type} registered in Singapore. "
                 f"The company's status is {c.status or 'unknown'}.")
        html = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title></head><body>'
                f'<div class="directory"><h1>{escape(c.name)}</h1><p>{escape(intro)}</p>'
                f'<table class="company-info">{table}</table>'
                f"<p>Data from ACRA. {site} is not affiliated with this company.</p></div></body></html>")
        md = f"# {c.name}\n\n{intro}\n\n" + "\n".join(f"| {k} | {v} |" for k, v in rows)
        return Reading(directory_url(host, c), title, md, html=html)

    def _ats(self, c: SandboxCompany) -> Reading:
        url = c.truth.ats_url or ""
        r = random.Random(f"{self.world.seed}:{c.uen}:ats")
        titles = [r.choice(("Sales Executive", "Account Manager", "Project Engineer", "Data Analyst",
                            "Operations Executive", "Software Engineer", "HR Executive"))
                  for _ in range(c.truth.jobs_count or 0)]
        openings = "".join(f'<div class="opening"><a href="{url}/jobs/{4000000 + i}">{escape(t)}</a>'
                           '<span class="location">Singapore</span></div>' for i, t in enumerate(titles))
        title = f"Jobs at {c.brand}"
        html = (f'<!DOCTYPE html><html><head><title>{escape(title)}</title></head><body><h1>Current openings at '
                f'{escape(c.brand)}</h1><section class="level-0">{openings}</section></body></html>')
        md = f"# Current openings at {c.brand}\n\n" + "\n".join(f"[{t}]({url}/jobs/{4000000 + i}) Singapore"
                                                               for i, t in enumerate(titles))
        return Reading(url, title, md, html=html)
