"""A small web search over the sandbox world, shared by the DuckDuckGo and Tavily emulations.

Queries are matched against company names (legal suffixes and filler words ignored) or a
UEN. Results are what a real engine returns for a Singapore SME: business directories,
social profiles and marketplaces, often ranked above the company's own site (the
`directory_above` hard case), plus parked or look-alike decoy domains.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass

from acra_enrich.sandbox import names
from acra_enrich.sandbox.sites import Site, first_sentence
from acra_enrich.sandbox.thirdparty import DIRECTORY_HOSTS, carousell_url, directory_url
from acra_enrich.sandbox.world import SandboxCompany, World

_STOP = frozenset("""
pte ltd private limited singapore sg official website site web company companies llp lp the of and inc
contact email phone about us www com http https homepage home page linkedin facebook profile
""".split())
_UEN = re.compile(r"\b(?:\d{8}[A-Z]|\d{9}[A-Z]|[ST]\d{2}[A-Z]{2}\d{4}[A-Z])\b", re.I)
_SITE = re.compile(r"\bsite:(\S+)", re.I)


@dataclass(frozen=True)
class Hit:
    title: str
    url: str
    snippet: str
    kind: str  # site, directory, social, marketplace, parked, decoy


class SearchEngine:
    def __init__(self, world: World) -> None:
        self.world = world
        self.entities: list[SandboxCompany] = [*world.companies, *world.decoys]
        self.tokens: list[frozenset[str]] = []
        self.index: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(self.entities):
            toks = frozenset(t for t in names.name_tokens(c.name) if t not in _STOP)
            self.tokens.append(toks)
            for t in toks:
                self.index[t].append(i)

    def query_tokens(self, query: str) -> set[str]:
        text = _SITE.sub(" ", query)
        return {t.replace("&", "") for t in re.findall(r"[a-z0-9]+(?:&[a-z0-9]+)?", names.ascii_fold(text).lower())
                if t not in _STOP}

    def matches(self, query: str) -> list[SandboxCompany]:
        """Companies the query is about, best first."""
        uens = {m.upper() for m in _UEN.findall(query)}
        found = [c for c in (self.world.company(u) for u in uens) if c is not None]
        q = self.query_tokens(query)
        scores: dict[int, float] = {}
        for t in q:
            for i in self.index.get(t, ()):
                scores[i] = scores.get(i, 0.0) + 1.0
        ranked = []
        for i, matched in scores.items():
            coverage = matched / max(len(self.tokens[i]), 1)
            if coverage >= 0.5 or matched >= 2:
                ranked.append((coverage + matched / max(len(q), 1), i))
        ranked.sort(key=lambda x: (-x[0], x[1]))
        for _, i in ranked:
            if self.entities[i] not in found:
                found.append(self.entities[i])
        return found

    def search(self, query: str, limit: int = 10) -> list[Hit]:
        companies = self.matches(query)
        hits: list[Hit] = []
        if companies:
            hits += self.results_for(companies[0])
            for other in companies[1:3]:  # name-sharing companies show up further down
                hits += [h for h in self.results_for(other) if h.kind in ("site", "decoy")][:1]
                hits += [h for h in self.results_for(other) if h.kind == "directory"][:1]
        site = _SITE.search(query)
        if site:
            prefix = site.group(1).lower().removeprefix("https://").removeprefix("http://").removeprefix("www.")
            hits = [h for h in hits if _bare(h.url).startswith(prefix)]
        seen: set[str] = set()
        unique = [h for h in hits if not (h.url in seen or seen.add(h.url))]  # type: ignore[func-returns-value]
        return unique[:limit]

    def results_for(self, c: SandboxCompany) -> list[Hit]:
        t = c.truth
        r = random.Random(f"{self.world.seed}:{c.uen}:search")
        dirs = [Hit(f"{c.name} ({c.uen}) - Singapore Company", directory_url(h, c),
                    f"{c.name} (UEN: {c.uen}) is a {c.entity_type} incorporated on "
                    f"{c.incorporated or 'an unknown date'}. "
                    f"The company's status is {c.status or 'unknown'}.", "directory")
                for h in r.sample(DIRECTORY_HOSTS, r.choice((2, 3)))]
        socials: list[Hit] = []
        if t.linkedin_url:
            socials.append(Hit(f"{c.brand} | LinkedIn", t.linkedin_url,
                               f"{c.brand} | {r.randrange(12, 3000)} followers on LinkedIn. {c.industry.capitalize()}.",
                               "social"))
        if "facebook" in t.socials:
            socials.append(Hit(f"{c.brand} - Home | Facebook", t.socials["facebook"],
                               f"{c.brand}, Singapore. {r.randrange(40, 5000)} likes.", "social"))
        market = [Hit(f"{c.brand} | Carousell Singapore", carousell_url(c),
                      f"Shop from {c.brand} on Carousell.", "marketplace")] if r.random() < 0.25 else []
        decoys: list[Hit] = []
        for d in t.decoy_domains:
            entry = self.world.host(d)
            if entry is None:
                continue
            if entry.kind == "parked":
                decoys.append(Hit(d, f"http://{d}/", f"{d} - This domain may be for sale. Related searches.", "parked"))
            elif entry.kind == "foreign":
                decoys.append(Hit(f"{entry.company.brand} | Malaysia", f"https://www.{d}/",
                                  f"{entry.company.display_name}, Kuala Lumpur.", "decoy"))
            else:
                owner = entry.company
                if owner.truth.site_host:
                    decoys.append(self._site_hit(owner, "decoy"))
        if t.domain is None:
            return dirs + socials + decoys + market
        site = self._site_hit(c, "site")
        if "directory_above" in t.hard_cases:
            return dirs[:2] + socials + decoys + [site] + dirs[2:] + market
        if "lookalike_decoy" in t.hard_cases:
            return decoys + [site] + socials + dirs + market
        return [site] + socials + dirs + decoys + market

    def _site_hit(self, c: SandboxCompany, kind: str) -> Hit:
        site = Site(self.world, c)
        return Hit(f"{c.brand} | {site.tagline}", f"https://{c.truth.site_host}/",
                   first_sentence(c.truth.about_text or c.display_name), kind)


def _bare(url: str) -> str:
    return url.split("://", 1)[-1].removeprefix("www.")


def engine(world: World) -> SearchEngine:
    with world.cache_lock:
        found = world.caches.get("search")
        if found is None:
            found = world.caches["search"] = SearchEngine(world)
        return found  # type: ignore[return-value]
