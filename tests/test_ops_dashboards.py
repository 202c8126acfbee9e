"""docs/ops: the Grafana dashboard and the Prometheus alert rules read only series the product
serves (the runners' registries, and the admin API's /metrics as it answers on a real
database), in PromQL that parses, and load as the tools expect them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import promql_parser
import pytest
import yaml
import psycopg
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from acra_enrich.api.app import create_app
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.runners.metrics import DirectMetrics, ExpressMetrics, NightlyMetrics

OPS = Path(__file__).resolve().parents[1] / "docs" / "ops"
_SERIES = re.compile(r"\b(acra_[a-z_]+)\b")


RUNNERS = ("direct", "express", "nightly")
API_SERIES = {"acra_queue_jobs", "acra_queue_oldest_ready_age_seconds", "acra_vendor_budget_used",
              "acra_vendor_budget_remaining"}


def runner_series() -> set[str]:
    """Every series name the runners' registries expose (counters with _total, histograms'
    _bucket/_sum/_count)."""
    names: set[str] = set()
    for metrics in (DirectMetrics(), ExpressMetrics(), NightlyMetrics()):
        registry: CollectorRegistry = metrics.registry
        for family in registry.collect():
            names.update(sample.name for sample in family.samples)
            if family.type == "histogram":
                names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
            if family.type == "counter":
                names.add(f"{family.name}_total")
            if family.type == "gauge":  # a labelled gauge has no sample until a label is set
                names.add(family.name)
    return names


@pytest.fixture
def api_series(db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """The gauges `acra-enrich serve` answers on /metrics (every family, with samples or not)."""
    monkeypatch.setenv("ADMIN_API_TOKENS", "viewer-token-0123456789ab:viewer")
    reset_settings_cache()
    with TestClient(create_app(load_settings())) as client:
        answer = client.get("/metrics", headers={"Authorization": "Bearer viewer-token-0123456789ab"})
    assert answer.status_code == 200, answer.text
    return {family.name for family in text_string_to_metric_families(answer.text)}


def test_the_admin_api_serves_the_queue_and_budget_gauges(api_series: set[str]) -> None:
    assert api_series == API_SERIES


def dashboard_exprs() -> list[str]:
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def rule_exprs() -> list[str]:
    rules = yaml.safe_load((OPS / "prometheus-rules.yml").read_text())
    return [r["expr"] for group in rules["groups"] for r in group["rules"]]


@pytest.mark.parametrize("source", ["dashboard", "rules"])
def test_every_expression_parses_and_reads_served_series(source: str, api_series: set[str]) -> None:
    exprs = dashboard_exprs() if source == "dashboard" else rule_exprs()
    assert len(exprs) >= 8
    served = runner_series() | api_series
    used: set[str] = set()
    for expr in exprs:
        promql_parser.parse(expr)  # raises on a syntax error
        used.update(_SERIES.findall(expr))
    assert used and used <= served, sorted(used - served)
    # Every runner is covered, and the nightly lane's processed, failures, latency, queue depth and budget.
    for runner in RUNNERS:
        assert any(n.startswith(f"acra_{runner}_") for n in used), runner
    assert {"acra_nightly_companies_processed_total", "acra_nightly_failures_total",
            "acra_nightly_latency_seconds_bucket", "acra_queue_oldest_ready_age_seconds"} <= used
    if source == "dashboard":  # every gauge the admin API serves is on the dashboard, and the nightly budget
        assert API_SERIES | {"acra_nightly_queue_depth", "acra_nightly_vendor_budget_left"} <= used


def test_the_dashboard_asks_for_its_data_source_and_has_unique_panel_ids() -> None:
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "${datasource}"


def test_alert_rules_have_a_name_severity_and_summary() -> None:
    rules = yaml.safe_load((OPS / "prometheus-rules.yml").read_text())
    alerts = [r for group in rules["groups"] for r in group["rules"]]
    assert len({r["alert"] for r in alerts}) == len(alerts)
    for rule in alerts:
        assert rule["labels"]["severity"] in ("warning", "critical") and rule["annotations"]["summary"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed (Debian: prometheus)")
def test_promtool_accepts_the_rules() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(OPS / "prometheus-rules.yml")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
