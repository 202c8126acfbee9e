"""Enrichment pipeline benchmark: companies/s against the politeness-bound limit, same run.

    .venv/bin/python bench/pipeline.py [--companies 30] [--seed 1] [--latency-ms 100]
                                       [--interval 0.25] [--concurrency 1,4,8]
                                       [--search-interval S] [--search-providers ddg,searxng]

Enriches the first N live companies of a sandbox world (registry rows from
`write_acra_csv(seed=SEED)`, loaded and synced as `acra-enrich` does; like the runners, the
bench leaves dissolved, struck-off and similar entities alone) with the real pipeline
(`open_pipeline` + `enrich_company` behind an asyncio.Semaphore of c), once per
concurrency level. The sandbox adds LATENCY to every request it answers; company sites are
paced at CRAWL_DOMAIN_MIN_INTERVAL_S = INTERVAL. Before each level the database is emptied
and the registry reloaded, and the pipeline (robots.txt, https/http memory, pacing slots)
is built anew, so every level does the same work from cold caches (search and verification
caches included).

The politeness-bound limit. Within one company the pipeline is sequential (candidate
domains one after the other, then the site's pages, with vendor calls where they happen:
search, reader, LLM, contact vendors), so each company's requests, as the sandbox's request
log has them, form a chain r_1..r_m. Its earliest possible finish, with every request taking
exactly LATENCY and nothing else costing time, is

    s_1 = 0,   e_k = s_k + cost(r_k),   T_i = e_m
    s_k = max(e_{k-1}, a_j + gap(r_k))       j = the company's previous request to r_k's host

    cost(r) = LATENCY; 0 for CONNECT (the https attempt, which the sandbox refuses at once with
              no latency; it still takes its turn in the host's pacing, as it would in production)
    gap(r)  = INTERVAL for a company site, or its robots.txt Crawl-delay when larger (except
              right after the robots.txt fetch, before the delay is known); for a vendor host
              its own min interval (vendor_host_policies)
    a_j     = e_j: as the web client paces a one-at-a-time slot (every company site): the
              interval counts from the end of the previous exchange, when the host has seen it
            = s_j: start-to-start, the bare rule "requests to a host INTERVAL apart" ("s2s")

The chain opens with the guesses' name lookups, which the pipeline sends
NAME_LOOKUPS_AT_ONCE (8) at a time (through the sandbox's proxy each is a robots.txt request
or a CONNECT, answered "cannot resolve" when the name has no site): those k requests are
waves, not links, costing ceil(k / 8) * LATENCY, and each host's pacing counts from its wave.

For p requests to one site and nothing else: T = (LATENCY + INTERVAL) * (p - 1) + LATENCY as
paced, max(LATENCY, INTERVAL) * (p - 1) + LATENCY start-to-start. c companies proceed at once:

    limit companies/s = c / mean_i(T_i)        ratio = measured companies/s / limit (target >= 0.8)

Only requests the sandbox answered count (its log: robots.txt, redirects, retries and
CONNECTs included). The log cannot say which company sent a request, so the bench tags each
request the product's transport sends with the company being enriched and pairs the two.
"pages" is the product's own count (EnrichmentResult.pages_fetched), "requests" what the log
holds. Search calls per company = DuckDuckGo requests in the log / N (target <= 0.5).

A second table splits each company's time outside its bound (before the first request,
between requests, after the last answer) and gives the limit with the finite-N tail included
(the same T_i run in the semaphore's order: the last companies of a level run alone).

The search-bound world (`--search-interval S`): every search provider of
`--search-providers` allows one search per S seconds (DDG_MIN_INTERVAL_S and
SEARXNG_MIN_INTERVAL_S), so searches, not crawling, bound the rate. Companies hold one of c
places (enrich.slots.WorkSlots, as the direct sweep does) and give it up while they wait
for a search (the search lane). Two limits:

    crawl-bound limit  = the politeness-bound limit above (c / mean T_i)
    search-bound limit = searches allowed per second / searches needed per company
        searches allowed per second = sum over providers of 1 / (S + LATENCY): one at a time,
                                      the next S after the previous answer
    ratio = measured companies/s / min(crawl-bound, search-bound)            (target >= 0.9)

and the median time in the pipeline of companies that needed no search beside those that did:
with the lane, the first run at crawl speed whatever the search queue holds.

Per company: guesses looked up, of them names that resolved (through the proxy: that the
proxy did not say "cannot resolve"), HTTP probes of guessed names, searches (target <= 0.4
per live company on a world whose companies mostly have a website).

Uses POSTGRES_DSN when set, else the embedded server under bench/out/home; always in a fresh
database of its own. Stage logs go to bench/out/home/logs. Not a test. Everything but the
politeness waits is cheap, so a run takes about 6.5 s per company (N=30: 3.5 minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import heapq
import math
import os
import statistics
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import httpx
import psycopg
from psycopg import sql

import acra_enrich.web.client as web_client_module
from acra_enrich.config import Settings, load_settings, reset_settings_cache
from acra_enrich.db import make_pool
from acra_enrich.db.connection import describe_dsn
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.extract.page import extract_page
from acra_enrich.enrich.discover.find_domain import NAME_LOOKUPS_AT_ONCE, Company
from acra_enrich.enrich.pipeline import EnrichmentResult, enrich_company
from acra_enrich.enrich.slots import Place, WorkSlots
from acra_enrich.logs import configure_logging
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.sandbox.server import RequestRecord
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox
from acra_enrich.runners.direct import DirectParams
from acra_enrich.vendors import vendor_host_policies
from benchdb import HOME, fresh_database

BENCH_DB = "acra_enrich_bench_pipeline"
ROBOTS_PATH = "/robots.txt"

# Which company the running task is enriching: asyncio.gather gives each task its own copy.
_company: contextvars.ContextVar[int | None] = contextvars.ContextVar("bench_company", default=None)


@dataclass(frozen=True)
class Sent:
    company_id: int | None
    key: tuple[str, str, str]  # (method, host, path) as the sandbox logs it


def log_key(method: str, host: str, path: str) -> tuple[str, str, str]:
    return (method, host, "") if method == "CONNECT" else (method, host, path)


class TaggingTransport(httpx.AsyncBaseTransport):
    """The product's transport, noting for each request sent which company it was for."""

    def __init__(self, inner: httpx.AsyncBaseTransport, sent: list[Sent]) -> None:
        self._inner = inner
        self._sent = sent

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        # Through the proxy, an https URL is a CONNECT (refused by the sandbox) and nothing more.
        method = "CONNECT" if url.scheme == "https" else request.method
        path = url.raw_path.decode("ascii").split("?", 1)[0] or "/"
        self._sent.append(Sent(_company.get(), log_key(method, url.host.lower(), path)))
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


@contextmanager
def tagged_transports(sent: list[Sent]) -> Iterator[None]:
    build = web_client_module.build_transport
    with mock.patch.object(web_client_module, "build_transport",
                           lambda settings, resolver=None: TaggingTransport(build(settings, resolver), sent)):
        yield




def registry_rows(companies: int) -> int:
    """Registry rows to generate for `companies` live ones (about 60% of generated rows are live)."""
    return companies * 2 + 10


def load_registry(dsn: str, companies: int, seed: int) -> list[Company]:
    """Empty every table, load and sync the registry rows the sandbox world is built from, and
    return the first `companies` live ones: the runners never enrich dissolved, struck-off or
    similar entities, so neither does the bench."""
    patterns = DirectParams.from_settings(load_settings()).status_patterns()
    with psycopg.connect(dsn) as conn, tempfile.TemporaryDirectory() as tmp:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
        conn.commit()
        path = Path(tmp) / "acra.csv"
        with open(path, "wb") as handle:
            write_acra_csv(handle, rows=registry_rows(companies), seed=seed)
        load_acra_file(conn, path)
        sync_companies(conn)
        # Registry order (staging id), not company_id: sync assigns ids in no fixed order, and
        # every level must enrich the same companies.
        rows = conn.execute(
            "SELECT c.company_id, c.name, c.uen, c.website_domain FROM companies c"
            " JOIN staging_acra_companies s ON s.uen = c.uen"
            " WHERE coalesce(btrim(c.status), '') = '' OR NOT lower(btrim(c.status)) LIKE ANY (%s)"
            " ORDER BY s.id LIMIT %s", (patterns, companies))
        found = [Company(*row) for row in rows]
        conn.commit()
    if len(found) < companies:
        raise SystemExit(f"only {len(found)} live companies in {registry_rows(companies)} generated rows")
    return found


@dataclass
class Level:
    concurrency: int
    wall_s: float
    cpu_s: float  # this process's CPU time: the pipeline and the in-process sandbox (not PostgreSQL, not
    # the extraction worker process)
    results: list[EnrichmentResult]
    windows: dict[int, tuple[float, float]]  # company_id -> monotonic start and end of enrich_company
    chains: dict[int, list[RequestRecord]]  # company_id -> its requests, in order
    unmatched: int  # log records no company could be paired with (should be 0)


async def enrich_all(settings: Settings, companies: list[Company], concurrency: int,
                     windows: dict[int, tuple[float, float]]) -> tuple[list[EnrichmentResult], float]:
    with make_pool(settings) as pool:
        async with open_pipeline(settings, pool) as deps:
            slots = WorkSlots(concurrency)

            async def one(company: Company) -> EnrichmentResult:
                await slots.acquire()
                place = Place(slots)  # given up while the company waits for a search
                try:
                    _company.set(company.company_id)
                    started = time.monotonic()
                    result = await enrich_company(deps, company, place=place)
                    windows[company.company_id] = (started, time.monotonic())
                    return result
                finally:
                    place.give_up()

            started = time.perf_counter()
            results = await asyncio.gather(*(one(c) for c in companies))
            return list(results), time.perf_counter() - started


def pair(log: list[RequestRecord], sent: list[Sent]) -> tuple[dict[int, list[RequestRecord]], int]:
    """Each logged request to the company that sent it: same (method, host, path), first come first paired."""
    waiting: dict[tuple[str, str, str], deque[int | None]] = defaultdict(deque)
    for s in sent:
        waiting[s.key].append(s.company_id)
    chains: dict[int, list[RequestRecord]] = defaultdict(list)
    unmatched = 0
    for record in sorted(log, key=lambda r: r.seq):
        queue = waiting.get(log_key(record.method, record.host, record.path))
        company_id = queue.popleft() if queue else None
        if company_id is None:
            unmatched += 1
        else:
            chains[company_id].append(record)
    return chains, unmatched


def run_level(sandbox: SandboxHandle, settings: Settings, dsn: str, args: argparse.Namespace,
              concurrency: int) -> Level:
    companies = load_registry(dsn, args.companies, args.seed)
    sandbox.reset()
    sent: list[Sent] = []
    windows: dict[int, tuple[float, float]] = {}
    cpu = time.process_time()
    with tagged_transports(sent):
        results, wall_s = asyncio.run(enrich_all(settings, companies, concurrency, windows))
    cpu_s = time.process_time() - cpu
    chains, unmatched = pair(sandbox.requests(), sent)
    return Level(concurrency, wall_s, cpu_s, results, windows, chains, unmatched)


class Politeness:
    """The chain bound of the module docstring, for one sandbox world and one set of settings."""

    def __init__(self, sandbox: SandboxHandle, settings: Settings, latency_s: float) -> None:
        self.latency_s = latency_s
        self.interval_s = settings.crawl_domain_min_interval_s
        self.vendors = {httpx.URL(url).host: policy for url, policy in vendor_host_policies(settings).items()}
        self.crawl_delay = {c.truth.site_host: c.truth.crawl_delay_s for c in sandbox.world.companies
                            if c.truth.site_host and c.truth.crawl_delay_s}

    def pacing(self, host: str, after_robots: bool) -> tuple[float, bool]:
        """(gap, whether it counts from the end of the previous exchange) for a host, as the web
        client paces it: a one-at-a-time slot (every company site) counts from the end."""
        policy = self.vendors.get(host)
        if policy is not None:
            return policy.min_interval_s or 0.0, policy.concurrency == 1
        delay = 0.0 if after_robots else self.crawl_delay.get(host, 0.0)
        return max(self.interval_s, delay), True

    def cost(self, r: RequestRecord) -> float:
        return 0.0 if r.method == "CONNECT" else self.latency_s

    def walk(self, chain: list[RequestRecord], *, actual: bool, end_spacing: bool = True) -> tuple[float, float]:
        """(finish, slack). actual=False: the chain's earliest finish. actual=True: on the log's
        own times, the seconds requests arrived later than latency and pacing allowed after the
        request before them (the pipeline's own work between requests)."""
        end: float | None = None
        slack = 0.0
        last: dict[str, tuple[float, float, bool]] = {}  # host -> start, end of its previous request, robots.txt?
        if not actual:
            # The guesses' name lookups go out NAME_LOOKUPS_AT_ONCE at a time (through the
            # sandbox's proxy each is a robots.txt request): waves, not a chain.
            lookups = self.lookup_wave(chain)
            for i, r in enumerate(chain[:lookups]):
                start = (i // NAME_LOOKUPS_AT_ONCE) * self.latency_s
                last[r.host] = (start, start + self.cost(r), r.path == ROBOTS_PATH)
            if lookups:
                end = math.ceil(lookups / NAME_LOOKUPS_AT_ONCE) * self.latency_s
            chain = chain[lookups:]
        for r in chain:
            earliest = end if end is not None else (r.t_monotonic if actual else 0.0)
            if r.host in last:
                start_j, end_j, after_robots = last[r.host]
                gap, from_end = self.pacing(r.host, after_robots)
                earliest = max(earliest, (end_j if from_end and end_spacing else start_j) + gap)
            start = r.t_monotonic if actual else earliest
            slack += max(0.0, start - earliest)
            end = start + self.cost(r)
            last[r.host] = (start, end, r.path == ROBOTS_PATH)
        return end or 0.0, slack

    @staticmethod
    def lookup_wave(chain: list[RequestRecord]) -> int:
        """How many requests open the chain as name lookups: robots.txt requests (and proxy
        CONNECTs) to hosts not seen before, ahead of any other request."""
        seen: set[tuple[str, str]] = set()
        n = 0
        for r in chain:
            if (r.method, r.host) in seen or not (r.method == "CONNECT" or r.path == ROBOTS_PATH):
                break
            seen.add((r.method, r.host))
            n += 1
        return n if n > 1 else 0

    def min_time(self, chain: list[RequestRecord], *, end_spacing: bool = True) -> float:
        return self.walk(chain, actual=False, end_spacing=end_spacing)[0]

    def slack(self, chain: list[RequestRecord]) -> float:
        return self.walk(chain, actual=True)[1]


def fifo_makespan(durations: list[float], concurrency: int) -> float:
    """Finish time of `durations` run in order through a semaphore of `concurrency`."""
    slots = [0.0] * min(concurrency, len(durations))
    for d in durations:
        heapq.heapreplace(slots, slots[0] + d)
    return max(slots, default=0.0)


def where_time_goes(level: Level, bound: Politeness) -> str:
    """Mean per company: enrich_company's time, and the part of it outside the chain bound
    (before the first request, between requests beyond latency and pacing, after the last answer)."""
    took, before, between, after = [], [], [], []
    for r in level.results:
        start, end = level.windows[r.company.company_id]
        chain = level.chains.get(r.company.company_id, [])
        took.append(end - start)
        if chain:
            before.append(chain[0].t_monotonic - start)
            between.append(bound.slack(chain))
            after.append(end - chain[-1].t_monotonic - bound.cost(chain[-1]))
    return (f"{statistics.mean(took):>6.2f} {statistics.mean(before):>6.2f} {statistics.mean(between):>7.2f} "
            f"{statistics.mean(after):>6.2f} {level.cpu_s / level.wall_s:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--companies", type=int, default=30, help="companies in the sandbox world (N)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the registry sample and the world")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="latency the sandbox adds to each request")
    parser.add_argument("--interval", type=float, default=0.25, help="CRAWL_DOMAIN_MIN_INTERVAL_S, seconds")
    parser.add_argument("--concurrency", default="1,4,8", help="comma-separated concurrency levels")
    parser.add_argument("--search-interval", type=float, default=None,
                        help="seconds between searches of each provider: a search-bound world")
    parser.add_argument("--search-providers", default="ddg,searxng", help="SEARCH_PROVIDERS for --search-interval")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",") if c.strip()]

    dsn = fresh_database(BENCH_DB)
    print(f"database: {describe_dsn(dsn)} ({'POSTGRES_DSN' if os.environ.get('POSTGRES_DSN') else 'embedded'})")
    with running_sandbox(seed=args.seed, companies=registry_rows(args.companies), latency_ms=args.latency_ms) as sandbox:
        os.environ.update({**sandbox.env(), "POSTGRES_DSN": dsn, "ACRA_ENRICH_HOME": str(HOME),
                           "CRAWL_DOMAIN_MIN_INTERVAL_S": str(args.interval)})
        if args.search_interval is not None:
            os.environ.update({"DDG_MIN_INTERVAL_S": str(args.search_interval),
                               "SEARXNG_MIN_INTERVAL_S": str(args.search_interval),
                               "SEARCH_PROVIDERS": args.search_providers})
        reset_settings_cache()
        settings = load_settings()
        configure_logging(settings, stderr=False)
        bound = Politeness(sandbox, settings, args.latency_ms / 1000)
        print(f"{args.companies} companies (seed {args.seed}), sandbox latency {args.latency_ms:g} ms, "
              f"CRAWL_DOMAIN_MIN_INTERVAL_S {args.interval:g} s, CRAWLER_TIMEOUT_S {settings.crawler_timeout_s:g} s")
        # The extraction worker process starts on first use (a second or more, once per
        # process): not the first level's first company's cost.
        extract_page("http://warm.up/", "<html><title>Warm up</title><body><p>About us.</p></body></html>",
                     role="about")
        providers = settings.search_provider_order
        search_hosts = {httpx.URL(u).host for u in (settings.ddg_base_url, settings.searxng_base_url,
                                                     settings.tavily_base_url) if u}
        print(f"{'c':>3} {'wall s':>7} {'co/s':>6} {'limit':>6} {'ratio':>6} {'s2s limit':>9} {'ratio':>6} "
              f"{'search/co':>9} {'pages/co':>8} {'requests/co':>11}  statuses")
        diagnostics, discovery, search_bound = [], [], []
        for c in levels:
            level = run_level(sandbox, settings, dsn, args, c)
            n = len(level.results)
            chains = [level.chains.get(r.company.company_id, []) for r in level.results]
            min_times = [bound.min_time(chain) for chain in chains]
            rate = n / level.wall_s
            limit = c / statistics.mean(min_times)
            s2s_limit = c / statistics.mean(bound.min_time(chain, end_spacing=False) for chain in chains)
            requests = sum(len(chain) for chain in chains)
            searches = sum(1 for chain in chains for r in chain
                           if r.host in search_hosts and r.path in ("/html/", "/search"))
            pages = sum(r.pages_fetched for r in level.results)
            statuses = Counter(r.status for r in level.results)
            print(f"{c:>3} {level.wall_s:>7.1f} {rate:>6.2f} {limit:>6.2f} {rate / limit:>6.2f} {s2s_limit:>9.2f} "
                  f"{rate / s2s_limit:>6.2f} {searches / n:>9.2f} {pages / n:>8.1f} {requests / n:>11.1f}  "
                  + " ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
                  + (f"  ({level.unmatched} log records unpaired)" if level.unmatched else ""), flush=True)
            # The limit assumes c companies in flight all the time; with N finite the last ones
            # run alone. The same chains run in the semaphore's order show what that costs.
            tail_limit = n / fifo_makespan(min_times, c)
            diagnostics.append(f"{c:>3} {statistics.mean(min_times):>6.2f} {where_time_goes(level, bound)} "
                               f"{tail_limit:>10.2f} {rate / tail_limit:>6.2f}")
            decisions = [r.domain for r in level.results if r.domain is not None]
            discovery.append(f"{c:>3} {sum(d.guesses for d in decisions) / n:>8.1f} "
                             f"{sum(d.guesses_alive for d in decisions) / n:>8.2f} "
                             f"{sum(d.probes for d in decisions) / n:>8.2f} {searches / n:>9.2f} "
                             + " ".join(f"{p} {sum(1 for d in decisions if d.search_provider == p and d.searched)}"
                                        for p in providers))
            if args.search_interval is not None and searches:
                allowed = len(providers) / (args.search_interval + args.latency_ms / 1000)
                search_limit = allowed / (searches / n)
                took = {r.company.company_id: level.windows[r.company.company_id] for r in level.results}
                plain = [took[r.company.company_id][1] - took[r.company.company_id][0]
                         for r in level.results if not (r.domain and r.domain.searched)]
                searched = [took[r.company.company_id][1] - took[r.company.company_id][0]
                            for r in level.results if r.domain and r.domain.searched]
                search_bound.append(
                    f"{c:>3} {limit:>11.3f} {search_limit:>12.3f} {rate:>8.3f} {rate / min(limit, search_limit):>6.2f} "
                    f"{statistics.median(plain) if plain else 0:>12.1f} {statistics.median(searched) if searched else 0:>13.1f}")
        print("\nwhere the time goes, mean per company, seconds: T_i = chain bound; took = enrich_company with"
              " persist;\nbefore first request, between requests beyond latency and pacing, after the last answer")
        print(f"{'c':>3} {'T_i':>6} {'took':>6} {'before':>6} {'between':>7} {'after':>6} {'CPU/wall':>8} "
              f"{'tail-aware limit':>10} {'ratio':>6}")
        print("\n".join(diagnostics))
        print("\ndomain discovery per company: guesses looked up, names that resolved, HTTP probes of guesses,"
              " searches; searches answered per provider")
        print(f"{'c':>3} {'guesses':>8} {'resolved':>8} {'probes':>8} {'searches':>9}  by provider")
        print("\n".join(discovery))
        if search_bound:
            print(f"\nsearch-bound world: {', '.join(providers)} each one search per {args.search_interval:g} s"
                  f" (+ latency); companies/s against both limits; median seconds in the pipeline")
            print(f"{'c':>3} {'crawl limit':>11} {'search limit':>12} {'co/s':>8} {'ratio':>6} "
                  f"{'no search':>12} {'with search':>13}")
            print("\n".join(search_bound))
    print("targets: ratio >= 0.8; search-bound ratio >= 0.9; searches per live company <= 0.4")


if __name__ == "__main__":
    main()
