"""Configuration errors and the command line as a user meets them (subprocesses, real DB)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from acra_enrich.config import load_settings
from acra_enrich.errors import ConfigError


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acra_enrich", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("ACRA_DIRECT_CONCURRENCY", "zero", "ACRA_DIRECT_CONCURRENCY"),
        ("ACRA_DIRECT_CONCURRENCY", "0", "greater than or equal to 1"),
        ("CRAWL_DOMAIN_MIN_INTERVAL_S", "-1", "CRAWL_DOMAIN_MIN_INTERVAL_S"),
        ("ENRICH_SKIP_IF_ANY_HISTORY", "maybe", "ENRICH_SKIP_IF_ANY_HISTORY"),
        ("DDG_BASE_URL", "ftp://x", "http:// or https://"),
        ("METRICS_PORT", "70000", "METRICS_PORT"),
    ],
)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_settings()
    assert variable in str(caught.value)


def test_an_empty_secret_means_unset_so_the_vendor_is_disabled(monkeypatch: pytest.MonkeyPatch) -> None:
    from acra_enrich.vendors import ApifyClient, LushaClient
    from acra_enrich.web import make_web_client

    for name in ("APIFY_TOKEN", "LUSHA_API_KEY", "SLACK_WEBHOOK_URL"):
        monkeypatch.setenv(name, "  ")
    monkeypatch.setenv("ENABLE_APIFY_LINKEDIN", "true")
    monkeypatch.setenv("ENABLE_LUSHA_FALLBACK", "true")
    settings = load_settings()
    assert (settings.apify_token, settings.lusha_api_key, settings.slack_webhook_url) == (None, None, None)
    web = make_web_client(settings)
    assert not ApifyClient(web, settings, None).enabled  # type: ignore[arg-type]
    assert not LushaClient(web, settings, None).enabled  # type: ignore[arg-type]


def test_dotenv_is_honoured_and_the_environment_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ENRICH_RECHECK_DAYS=12\nCRAWL_MAX_PAGES=3\n")
    monkeypatch.setenv("CRAWL_MAX_PAGES", "5")
    settings = load_settings()
    assert (settings.enrich_recheck_days, settings.crawl_max_pages) == (12, 5)


def test_cli_stops_at_start_with_exit_2_on_bad_config_without_echoing_secrets(env: dict[str, str]) -> None:
    done = _cli("db", "status", env={**env, "SEARCH_MAX_PER_HOUR": "lots", "OPENAI_API_KEY": "sk-secret"})
    assert done.returncode == 2
    assert "SEARCH_MAX_PER_HOUR" in done.stderr and "lots" in done.stderr
    assert "sk-secret" not in done.stderr + done.stdout
    shown = _cli("config", env={**env, "OPENAI_API_KEY": "sk-secret"})
    assert shown.returncode == 0 and "OPENAI_API_KEY" in shown.stdout and "sk-secret" not in shown.stdout


def test_ingest_sync_and_status_end_to_end(env: dict[str, str], db: psycopg.Connection, tmp_path: Path) -> None:
    sample = tmp_path / "acra.csv"
    made = _cli("sample", "acra", "--rows", "300", "--seed", "5", "--malformed-rate", "0.05", "-o", str(sample), env=env)
    assert made.returncode == 0, made.stderr
    with open(sample, "rb") as handle:
        assert handle.readline().startswith(b"issuance_agency_id,uen,entity_name")

    loaded = _cli("ingest", "acra", str(sample), "--json", env=env)
    assert loaded.returncode == 0, loaded.stderr
    report = json.loads(loaded.stdout)
    assert report["read"] == 300 and report["rejected"] > 0
    assert report["inserted"] == 300 - report["rejected"]

    human = _cli("ingest", "acra", str(sample), env=env)
    assert "inserted 0" in human.stdout and f"unchanged {report['inserted']}" in human.stdout
    assert "staging_acra_rejects" in human.stdout  # tells the user where to look

    synced = _cli("sync", "companies", "--json", env=env)
    assert json.loads(synced.stdout)["inserted"] == report["inserted"]

    status = json.loads(_cli("db", "status", "--json", env=env).stdout)
    assert status["tables"]["companies"] == report["inserted"]
    assert status["recent_loads"][0]["kind"] == "sync"


def test_ingest_errors_are_exit_2_and_name_the_file(env: dict[str, str], tmp_path: Path) -> None:
    missing = _cli("ingest", "acra", str(tmp_path / "nope.csv"), env=env)
    assert missing.returncode == 2 and "nope.csv" in missing.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("name,status\nX,Live\n")
    refused = _cli("ingest", "acra", str(bad), env=env)
    assert refused.returncode == 2
    assert "bad.csv" in refused.stderr and "uen" in refused.stderr


def test_ingest_ssic_loads_a_reference_file(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "ssic2020.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Singapore Standard Industrial Classification 2020"])
        writer.writerow([])
        writer.writerow(["SSIC 2020", "SSIC 2020 Title"])
        writer.writerow(["J", "INFORMATION AND COMMUNICATIONS"])
        writer.writerow(["62", "INFORMATION TECHNOLOGY AND COMPUTER SERVICE ACTIVITIES"])
        writer.writerow(["62011", "Development of software and applications (except games and cybersecurity)"])
        writer.writerow(["", "a note without a code"])
    done = _cli("ingest", "ssic", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert "3 codes" in done.stdout and "skipped 1" in done.stdout
