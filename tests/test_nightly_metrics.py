"""The nightly runner's /metrics and failure-spike alert, on a real PostgreSQL and the sandbox
web: /metrics scraped while the worker runs a queued tenant, every value checked against what
the run recorded (targets, manifests, Odoo, budgets); a run whose companies all fail sends one
Slack message."""

from __future__ import annotations

import asyncio
import socket
import time
import urllib.request
from collections import Counter
from typing import Any

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from acra_enrich.cli import app
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.runners.nightly.scheduler import enqueue_nightly_tenant
from acra_enrich.runners.nightly.worker import run_worker
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.vendors import VENDOR_BUDGETS
from tests.nightly_helpers import DAY, make_tenant, nightly_env, registry_file, sandbox  # noqa: F401

STAGES = ["refresh_companies", "refresh_candidates", "select_targets", "enrich", "verify_emails", "score", "odoo_sync"]
DEADLINE_S = 300.0  # a guard against a hung run, not a timing assertion


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return {s.name + "{" + ",".join(f"{k}={v}" for k, v in sorted(s.labels.items())) + "}": s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def with_prefix(samples: dict[str, float], prefix: str) -> dict[str, float]:
    return {k[len(prefix):]: v for k, v in samples.items() if k.startswith(prefix)}


@pytest.fixture
def metrics_port(monkeypatch: pytest.MonkeyPatch) -> int:
    port = free_port()
    for name, value in {"METRICS_PROMETHEUS_ENABLE": "true", "METRICS_PORT": str(port),
                        "METRICS_ADDR": "127.0.0.1"}.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    return port


def test_the_worker_serves_metrics_that_match_what_the_run_did(
        nightly_env: dict[str, str], db: psycopg.Connection, sandbox: SandboxHandle, metrics_port: int) -> None:
    tenant = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    job_id = enqueue_nightly_tenant(db, tenant, DAY).job_id
    db.commit()
    db.autocommit = True
    stop = asyncio.Event()

    def scrape_when_done() -> dict[str, float]:
        deadline = time.monotonic() + DEADLINE_S
        while True:  # the job is done in the database a moment before the worker counts it
            assert time.monotonic() < deadline, "the tenant job never finished"
            if db.execute("SELECT status FROM background_jobs WHERE job_id = %s", (job_id,)).fetchone() == ("done",):
                samples = scrape(metrics_port)
                if samples.get("acra_nightly_jobs_total{outcome=done}") == 1:
                    return samples
            time.sleep(0.2)

    async def run_and_scrape() -> dict[str, float]:
        worker = asyncio.create_task(run_worker(load_settings(), stop=stop))
        try:
            return await asyncio.to_thread(scrape_when_done)
        finally:
            stop.set()
            await worker

    samples = asyncio.run(run_and_scrape())
    (run_id, summary), = db.execute("SELECT run_id, summary FROM enrichment_runs WHERE kind = 'nightly'").fetchall()
    assert summary["status"] == "done"
    outcomes = Counter(s for (s,) in db.execute("SELECT enrich_status FROM nightly_targets WHERE run_id = %s",
                                                (run_id,)))
    assert sum(outcomes.values()) == 8
    processed = with_prefix(samples, "acra_nightly_companies_processed_total{status=")
    assert processed == {f"{k}}}": float(v) for k, v in outcomes.items()}
    enriched = sum(v for k, v in outcomes.items() if k != "fresh")
    assert samples["acra_nightly_latency_seconds_count{}"] == enriched
    assert samples["acra_nightly_latency_seconds_sum{}"] > 0
    assert samples["acra_nightly_failures_total{}"] == outcomes["failed"]
    assert samples["acra_nightly_in_flight{}"] == 0

    # Each stage once, with the duration its manifest recorded.
    manifests = dict(db.execute("SELECT stage, payload FROM run_manifests WHERE run_id = %s", (run_id,)).fetchall())
    assert sorted(manifests) == sorted(STAGES)
    for stage, payload in manifests.items():
        assert samples[f"acra_nightly_stage_seconds_count{{stage={stage}}}"] == 1
        assert samples[f"acra_nightly_stage_seconds_sum{{stage={stage}}}"] == pytest.approx(payload["seconds"])
        notes = len(payload.get("degraded", []))
        assert samples.get(f"acra_nightly_degraded_steps_total{{stage={stage}}}", 0) == notes

    assert with_prefix(samples, "acra_nightly_tenant_runs_total") == {"{status=done}": 1}

    # Odoo: one outcome per exported company, as the sandbox's Odoo holds them.
    partners = [p for p in sandbox.odoo.records("a", "res.partner") if p["is_company"]]
    assert partners
    assert with_prefix(samples, "acra_nightly_odoo_sync_total") == {"{outcome=created}": len(partners)}
    assert samples["acra_nightly_odoo_leads_created_total{}"] == len(sandbox.odoo.records("a", "crm.lead"))

    # Vendor budget left: the run's last snapshot.
    after = summary["vendor_usage"]["after"]
    for vendor, (_, window) in VENDOR_BUDGETS.items():
        left = max(0, after[vendor]["cap"] - after[vendor]["used"])
        assert samples[f"acra_nightly_vendor_budget_left{{vendor={vendor},window={window}}}"] == left
    assert any(after[v]["used"] for v in after), "the run should have spent some vendor budget"

    assert samples["acra_nightly_queue_depth{lane=nightly}"] == 0
    assert samples["acra_nightly_alerts_total{}"] == 0
    assert sandbox.slack_messages() == []


def test_a_failure_spike_sends_one_slack_message(nightly_env: dict[str, str], db: psycopg.Connection,
                                                 sandbox: SandboxHandle, metrics_port: int,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHED_DAILY_CAP_PER_TENANT", "12")
    monkeypatch.setenv("NIGHTLY_ERROR_ALERT_THRESHOLD", "50")
    make_tenant(db, "A")
    # Every company unreachable: a known website that does not resolve, a name nothing finds.
    db.execute("UPDATE staging_acra_companies SET entity_name = 'Zqxv' || id || ' Pte. Ltd.'")
    sync_companies(db, full=True)
    db.execute("UPDATE companies SET website_domain = 'nosuchsite-' || company_id || '.com.sg'")
    db.commit()
    reset_settings_cache()
    result = CliRunner().invoke(app, ["run", "nightly", "--tenant", "A"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    failed = db.execute("SELECT count(*) FROM nightly_targets WHERE enrich_status = 'failed'").fetchone()[0]
    assert failed == 12
    run_id = db.execute("SELECT run_id FROM enrichment_runs WHERE kind = 'nightly'").fetchone()[0]
    texts = [m["payload"]["text"] for m in sandbox.slack_messages()]
    # The tenth failure crosses the threshold; the monitor is then quiet for its window.
    assert len(texts) == 1, texts
    assert f"nightly run {run_id}: 10 of 10 in the last 60 min companies failed" in texts[0]
    with pytest.raises(OSError):  # served while the command runs only
        scrape(metrics_port)


def test_a_refused_tenant_counts_as_refused(nightly_env: dict[str, str], db: psycopg.Connection) -> None:
    from acra_enrich.runners.nightly import NightlyParams, run_nightly_for_tenant
    from acra_enrich.runners.nightly.watch import NightlyWatch
    from acra_enrich.errors import ConfigError
    from acra_enrich.tenants.store import add_tenant

    db.autocommit = True
    tenant = add_tenant(db, "NoIcp")
    settings = load_settings()
    watch = NightlyWatch(settings)
    with pytest.raises(ConfigError, match="has no ICP"):
        asyncio.run(run_nightly_for_tenant(settings, tenant, NightlyParams(day=DAY), watch=watch))
    samples: dict[str, Any] = {s.name + str(s.labels): s.value for f in watch.metrics.registry.collect()
                               for s in f.samples if s.name == "acra_nightly_tenant_runs_total"}
    assert samples == {"acra_nightly_tenant_runs_total{'status': 'refused'}": 1.0}
