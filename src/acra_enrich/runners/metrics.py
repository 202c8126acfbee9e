"""Prometheus metrics of the runners, served on METRICS_PORT when METRICS_PROMETHEUS_ENABLE is
set. Each runner has a registry of its own: only its series are exposed, and tests can build
several in one process."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.errors import ConfigError
from acra_enrich.jobs import LANES, queue_depth

# Enriching one company takes seconds to minutes (pacing, vendor calls).
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
# Express latency runs from the staging job's enqueue to the company's completion: it includes
# the wait in the queue (and the daily cap), so it spans seconds to hours (target p95 < 1 h).
EXPRESS_LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 14400, 43200, 86400)
# A nightly stage takes milliseconds (a set-based refresh) to an hour or more (a large shortlist's enrichment).
STAGE_BUCKETS = (0.05, 0.25, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
DEPTH_CACHE_S = 1.0
log = structlog.get_logger("acra_enrich.metrics")


class RunnerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._server: Any = None

    def start(self, settings: Settings) -> bool:
        """Serve /metrics when enabled; a busy port is a configuration error (exit 2)."""
        if not settings.metrics_prometheus_enable:
            return False
        try:
            self._server, _thread = start_http_server(settings.metrics_port, addr=settings.metrics_addr,
                                                      registry=self.registry)
        except OSError as exc:
            raise ConfigError(f"METRICS_ADDR/METRICS_PORT {settings.metrics_addr}:{settings.metrics_port}: "
                              f"cannot serve /metrics there ({exc})") from None
        return True

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class SearchMetrics(Collector):
    """The search lane's figures per provider, read at scrape time (the lane is set once the
    pipeline is open): searches sent, answered, websites verified from them, the yield, and
    the companies waiting for a search without a slot."""

    def __init__(self) -> None:
        self.lane: Any = None  # enrich.discover.search_lane.SearchLane

    def collect(self) -> Iterator[Metric]:
        calls = CounterMetricFamily("acra_search_calls", "Web searches sent, by provider", labels=["provider"])
        answered = CounterMetricFamily("acra_search_answered", "Web searches answered, by provider",
                                       labels=["provider"])
        verified = CounterMetricFamily("acra_search_domains_verified",
                                       "Websites verified from a provider's search results", labels=["provider"])
        yields = GaugeMetricFamily("acra_search_yield", "Websites verified per answered search, by provider",
                                   labels=["provider"])
        parked = GaugeMetricFamily("acra_search_parked", "Companies waiting for a web search without a slot")
        if self.lane is not None:
            for name, stats in self.lane.stats().items():
                calls.add_metric([name], stats.calls)
                answered.add_metric([name], stats.answered)
                verified.add_metric([name], stats.verified)
                yields.add_metric([name], stats.yield_)
            parked.add_metric([], self.lane.parked)
        yield from (calls, answered, verified, yields, parked)


class DirectMetrics(RunnerMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.processed = Counter("acra_direct_companies_processed", "Companies that went through the pipeline, "
                                 "by outcome (ok, partial, no_site, failed)", ["status"], registry=self.registry)
        self.failures = Counter("acra_direct_failures", "Companies whose enrichment failed", registry=self.registry)
        self.skipped = Counter("acra_direct_skipped", "Live rows skipped by the skip policy",
                               registry=self.registry)
        self.latency = Histogram("acra_direct_latency_seconds", "Wall time to enrich one company",
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.in_flight = Gauge("acra_direct_in_flight", "Companies being enriched right now", registry=self.registry)
        self.marker = Gauge("acra_direct_resume_marker", "Staging id below which every row is finished",
                            registry=self.registry)
        self.search = SearchMetrics()
        self.registry.register(self.search)


class ExpressMetrics(RunnerMetrics):
    def __init__(self) -> None:
        super().__init__()
        self.processed = Counter("acra_express_companies_processed", "Companies the express lane enriched, "
                                 "by outcome (ok, partial, no_site, failed)", ["status"], registry=self.registry)
        self.failures = Counter("acra_express_failures", "Express companies whose enrichment failed",
                                registry=self.registry)
        self.latency = Histogram("acra_express_latency_seconds", "From the staging job's enqueue to the "
                                 "completion of each of its companies", buckets=EXPRESS_LATENCY_BUCKETS,
                                 registry=self.registry)
        self.queue_depth = Gauge("acra_express_queue_depth", "Jobs queued (ready or waiting) per lane",
                                 ["lane"], registry=self.registry)
        self.jobs = Counter("acra_express_jobs", "Express jobs ended by this dispatcher, by outcome "
                            "(done, retried, failed, cancelled, deferred, released, lost)", ["outcome"],
                            registry=self.registry)
        self.in_flight = Gauge("acra_express_in_flight", "Companies being enriched right now",
                               registry=self.registry)


class NightlyMetrics(RunnerMetrics):
    def __init__(self) -> None:
        super().__init__()
        r = self.registry
        self.processed = Counter("acra_nightly_companies_processed", "Nightly target companies by outcome (ok, "
                                 "partial, no_site, failed; fresh: enriched within ENRICH_RECHECK_DAYS, not again)",
                                 ["status"], registry=r)
        self.failures = Counter("acra_nightly_failures", "Nightly companies whose enrichment failed", registry=r)
        self.latency = Histogram("acra_nightly_latency_seconds", "Wall time to enrich one nightly company",
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("acra_nightly_in_flight", "Nightly companies being enriched right now", registry=r)
        self.stage_seconds = Histogram("acra_nightly_stage_seconds", "Duration of each stage of a tenant's run "
                                       "(stages a resumed run found done are not counted)", ["stage"],
                                       buckets=STAGE_BUCKETS, registry=r)
        self.tenant_runs = Counter("acra_nightly_tenant_runs", "Tenant runs ended, by outcome (done, interrupted, "
                                   "failed; refused: no ICP, disabled, already running)", ["status"], registry=r)
        self.odoo_sync = Counter("acra_nightly_odoo_sync", "Companies the Odoo sync handled, by outcome of their "
                                 "partner (created, updated, unchanged, failed)", ["outcome"], registry=r)
        self.odoo_leads = Counter("acra_nightly_odoo_leads_created", "crm.lead records the Odoo sync created",
                                  registry=r)
        self.degraded = Counter("acra_nightly_degraded_steps", "Degraded steps of tenant runs (a budget reached, "
                                "verification deferred, Odoo refusing or not configured, the daily cap), by stage",
                                ["stage"], registry=r)
        self.budget_left = Gauge("acra_nightly_vendor_budget_left", "Units left in a vendor's current window when "
                                 "a tenant run last took its budget snapshot", ["vendor", "window"], registry=r)
        self.queue_depth = Gauge("acra_nightly_queue_depth", "Jobs queued (ready or waiting) per lane "
                                 "(run nightly --worker)", ["lane"], registry=r)
        self.jobs = Counter("acra_nightly_jobs", "nightly_tenant jobs ended by this worker, by outcome (done, "
                            "retried, failed, cancelled, deferred, released, lost)", ["outcome"], registry=r)
        self.alerts = Counter("acra_nightly_alerts", "Failure-spike alerts raised", registry=r)


class LaneDepths:
    """Queued jobs per lane for a queue-depth gauge, read through `pool()` (None until the runner
    has one) when /metrics is scraped, at most once a second."""

    def __init__(self, pool: Callable[[], ConnectionPool | None]) -> None:
        self.pool = pool
        self._depth: dict[str, int] = {}
        self._at = float("-inf")

    def bind(self, gauge: Gauge) -> None:
        for lane in LANES:
            gauge.labels(lane=lane).set_function(partial(self.value, lane))

    def value(self, lane: str) -> float:
        now = time.monotonic()
        if now - self._at > DEPTH_CACHE_S:
            pool = self.pool()
            if pool is None:
                return float("nan")
            try:
                with pool.connection() as conn:
                    depth: dict[str, int] = dict.fromkeys(LANES, 0)
                    for row in queue_depth(conn):
                        if row["status"] == "queued":
                            depth[row["lane"]] = row["jobs"]
                self._depth, self._at = depth, now
            except Exception as exc:  # a scrape must answer; the log says why the value is missing
                log.warning("queue_depth_unavailable", error=str(exc).strip()[:300])
                return float("nan")
        return float(self._depth.get(lane, 0))
