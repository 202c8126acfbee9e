"""What a nightly process tells operators while it runs: Prometheus series (NightlyMetrics, on
METRICS_ADDR:METRICS_PORT when METRICS_PROMETHEUS_ENABLE is set) and one Slack message when
enrichment failures spike (more than NIGHTLY_ERROR_ALERT_THRESHOLD percent of the companies of
the last NIGHTLY_ERROR_WINDOW_MIN minutes, across the tenants of the process; then quiet for a
window). One watch per process (`run nightly` or the worker), shared by its tenant runs."""

from __future__ import annotations

from typing import Any

import structlog

from acra_enrich.config import Settings
from acra_enrich.runners.alerts import TimedFailureMonitor
from acra_enrich.runners.metrics import NightlyMetrics
from acra_enrich.vendors import VENDOR_BUDGETS, SlackClient

log = structlog.get_logger("acra_enrich.nightly")


class NightlyWatch:
    def __init__(self, settings: Settings) -> None:
        self.metrics = NightlyMetrics()
        self.monitor = TimedFailureMonitor(settings.nightly_error_window_min * 60,
                                           settings.nightly_error_alert_threshold, runner="nightly")
        self.slack: SlackClient | None = None  # set once the process has its vendor web client

    def serve(self, settings: Settings) -> bool:
        return self.metrics.start(settings)

    def close(self) -> None:
        self.metrics.close()

    async def company_done(self, status: str, seconds: float, error: str | None, run_id: int,
                           logger: Any = log) -> None:
        m = self.metrics
        m.processed.labels(status=status).inc()
        m.latency.observe(max(0.0, seconds))
        failed = status == "failed"
        if failed:
            m.failures.inc()
        spike = self.monitor.record(error, failed)
        if spike is None:
            return
        m.alerts.inc()
        logger.warning("failure_spike", failures=spike.failures, window=spike.total,
                       ratio_pct=round(spike.ratio_pct, 1), threshold_pct=spike.threshold_pct,
                       top_errors=spike.top_errors)
        if self.slack is not None:
            outcome = await self.slack.post(spike.message(run_id))
            logger.info("alert_sent", channel="slack", status=outcome.status, detail=outcome.detail)

    def fresh(self, count: int) -> None:
        if count:
            self.metrics.processed.labels(status="fresh").inc(count)

    def stage_done(self, stage: str, seconds: float, degraded: list[str]) -> None:
        self.metrics.stage_seconds.labels(stage=stage).observe(seconds)
        if degraded:
            self.metrics.degraded.labels(stage=stage).inc(len(degraded))

    def budgets(self, snapshot: dict[str, dict[str, int]]) -> None:
        for vendor, budget in snapshot.items():
            window = VENDOR_BUDGETS[vendor][1]
            self.metrics.budget_left.labels(vendor=vendor, window=window).set(max(0, budget["cap"] - budget["used"]))

    def synced(self, outcome: str, lead_created: bool = False) -> None:
        self.metrics.odoo_sync.labels(outcome=outcome).inc()
        if lead_created:
            self.metrics.odoo_leads.inc()

    def run_ended(self, status: str) -> None:
        self.metrics.tenant_runs.labels(status=status).inc()

    def job_ended(self, job: object, outcome: str, seconds: float) -> None:
        """The worker's dispatcher observer."""
        self.metrics.jobs.labels(outcome=outcome).inc()
