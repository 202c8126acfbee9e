"""Prometheus metrics of the runners, served on METRICS_PORT when METRICS_PROMETHEUS_ENABLE is
set. Each runner has a registry of its own: only its series are exposed, and tests can build
several in one process."""

from __future__ import annotations

from typing import Any

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from acra_enrich.config import Settings
from acra_enrich.errors import ConfigError

# Enriching one company takes seconds to minutes (pacing, vendor calls).
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
# Express latency runs from the staging job's enqueue to the company's completion: it includes
# the wait in the queue (and the daily cap), so it spans seconds to hours (target p95 < 1 h).
EXPRESS_LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 2700, 3600, 5400, 7200, 14400, 43200, 86400)


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
