"""Prometheus metrics of the direct runner, served on METRICS_PORT when
METRICS_PROMETHEUS_ENABLE is set. A registry of its own: only these series are exposed,
and tests can build several in one process."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# Enriching one company takes seconds to minutes (pacing, vendor calls).
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)


class DirectMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
        self._server: Any = None

    def serve(self, port: int, addr: str) -> None:
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
