"""The direct runner in process (`run_direct`): selection, anchors, resume marker, skip policy,
batch limit and daily cap, concurrency, dry run, run header, external stop, /metrics and
failure-spike alerts, on a real PostgreSQL and the sandbox web over real HTTP.

Each test starts with no run, history, resume marker or daily count, over the registry rows
the sandbox world is built from; expectations are computed here from staging, never copied
from a run.
"""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
import structlog
from direct_helpers import StagingRow, eligible, is_live, staging
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from acra_enrich.budget import used
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.errors import ConfigError, DatabaseUnavailable
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.runners import direct
from acra_enrich.runners.alerts import FailureSpikeMonitor
from acra_enrich.runners.direct import DirectParams, DirectSummary, run_direct
from acra_enrich.runners.watermark import Watermark
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox

SEED, ROWS = 8, 40
# Small pages, so that sweeps cross page boundaries with a few dozen rows.
PAGE_ROWS = 5
# Stages the runner does not govern (LLM refinement, contact vendors): without their keys
# each company costs fewer sandbox calls and the module stays fast.
UNUSED_VENDOR_KEYS = ("OPENAI_API_KEY", "APIFY_TOKEN", "LUSHA_API_KEY", "ZEROBOUNCE_API_KEY")


@dataclass
class World:
    sandbox: SandboxHandle
    conn: psycopg.Connection
    registry: list[tuple[int, str, str | None]]  # staging (id, entity_name, status) as loaded
    websites: list[tuple[str, str | None]]  # companies (uen, website_domain) as set up


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def world(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """This worker's database emptied and loaded with the registry rows the sandbox world is
    built from, and the environment pointed at both. Companies start with their websites
    known (the world's truth), as after an earlier enrichment: no test here is about finding
    them, and guessing and searching for every company would make each sweep slow."""
    tmp = tmp_path_factory.mktemp("direct")
    path = tmp / "acra.csv"
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=ROWS, seed=SEED)
    with running_sandbox(seed=SEED, companies=ROWS) as sandbox, pytest.MonkeyPatch.context() as mp, \
            psycopg.connect(pg_dsn, autocommit=True) as conn:
        for name, value in {**sandbox.env(), "POSTGRES_DSN": pg_dsn, "ACRA_ENRICH_HOME": str(tmp / "home"),
                            "CRAWL_MAX_PAGES": "1", "CRAWL_RETRY_BACKOFF_S": "0"}.items():
            mp.setenv(name, value)
        for name in UNUSED_VENDOR_KEYS:
            mp.delenv(name, raising=False)
        mp.chdir(tmp)  # keep any developer .env out
        reset_settings_cache()
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")]
        conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in tables)))
        with psycopg.connect(pg_dsn) as loader:
            load_acra_file(loader, path)
        sync_companies(conn)
        for company in sandbox.world.companies:
            conn.execute("UPDATE companies SET website_domain = %s WHERE uen = %s",
                         (company.truth.domain, company.uen))
        yield World(sandbox, conn,
                    registry=conn.execute("SELECT id, entity_name, entity_status_description"
                                          " FROM staging_acra_companies ORDER BY id").fetchall(),
                    websites=conn.execute("SELECT uen, website_domain FROM companies ORDER BY uen").fetchall())
    reset_settings_cache()


@pytest.fixture
def staged(world: World, monkeypatch: pytest.MonkeyPatch) -> psycopg.Connection:
    """No run, history, marker or daily count; staging and known websites as loaded (tests
    edit them); autocommit, so reads see the runner's commits."""
    conn = world.conn
    conn.execute("TRUNCATE company_enrichment_runs, enrichment_runs, service_progress, vendor_usage"
                 " RESTART IDENTITY CASCADE")
    ids, names, statuses = (list(c) for c in zip(*world.registry))
    conn.execute("UPDATE staging_acra_companies s SET entity_name = v.name, entity_status_description = v.status"
                 " FROM unnest(%s::bigint[], %s::text[], %s::text[]) AS v(id, name, status)"
                 " WHERE s.id = v.id AND (s.entity_name, s.entity_status_description)"
                 " IS DISTINCT FROM (v.name, v.status)", (ids, names, statuses))
    uens, websites = (list(c) for c in zip(*world.websites))
    conn.execute("UPDATE companies c SET website_domain = v.website FROM unnest(%s::text[], %s::text[])"
                 " AS v(uen, website) WHERE c.uen = v.uen AND c.website_domain IS DISTINCT FROM v.website",
                 (uens, websites))
    world.sandbox.reset()
    monkeypatch.setattr(direct, "PAGE_ROWS", PAGE_ROWS)
    monkeypatch.setattr(direct, "DRY_RUN_PAGE_ROWS", PAGE_ROWS)
    reset_settings_cache()
    return conn


# ------------------------------------------------------------------------------- helpers


def run(*, observer: Any = None, stop: asyncio.Event | None = None, **flags: Any) -> DirectSummary:
    """One sweep with the current environment; `flags` are the CLI's overrides."""
    settings = load_settings()
    return asyncio.run(run_direct(settings, DirectParams.from_settings(settings, **flags),
                                  observer=observer, stop=stop))


def history(conn: psycopg.Connection, run_id: int | None = None) -> Counter[str]:
    """History rows per UEN (of one run, or all)."""
    rows = conn.execute(
        "SELECT c.uen FROM company_enrichment_runs h JOIN companies c USING (company_id)"
        " WHERE %(run_id)s::bigint IS NULL OR h.run_id = %(run_id)s", {"run_id": run_id})
    return Counter(uen for (uen,) in rows)


def marker(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT last_id FROM service_progress WHERE key = %s", (direct.MARKER_KEY,)).fetchone()
    return row[0] if row else None


def set_marker(conn: psycopg.Connection, last_id: int) -> None:
    conn.execute("INSERT INTO service_progress (key, last_id) VALUES (%s, %s)", (direct.MARKER_KEY, last_id))


def backdate_history(conn: psycopg.Connection, uens: list[str], days: int) -> None:
    conn.execute("UPDATE company_enrichment_runs h SET updated_at = now() - make_interval(days => %s)"
                 " FROM companies c WHERE c.company_id = h.company_id AND c.uen = ANY(%s)", (days, uens))


def make_unreachable(conn: psycopg.Connection, rows: list[StagingRow]) -> None:
    """Companies whose known website does not resolve and whose name no guess or search finds:
    the pipeline records them as failed."""
    for row in rows:
        # Letters and digits no world company uses: every guessed domain is unknown to the
        # sandbox and its search has no hit.
        conn.execute("UPDATE staging_acra_companies SET entity_name = %s WHERE id = %s",
                     (f"Zqxv{row.id:03d} Pte. Ltd.", row.id))
    sync_companies(conn, full=True)  # staging was edited by hand, not loaded
    for row in rows:
        conn.execute("UPDATE companies SET website_domain = %s WHERE uen = %s",
                     (f"nosuchsite-{row.id}.com.sg", row.uen))


class Recorder:
    """An Observer that remembers what the sweep reported, optionally asking it to stop."""

    def __init__(self, stop_after: int | None = None, stop: asyncio.Event | None = None) -> None:
        self.total: int | None = None
        self.advanced_uens: list[str] = []
        self.statuses: list[str] = []
        self._stop_after, self._stop = stop_after, stop

    def started(self, run_id: int | None, total: int | None) -> None:
        self.total = total

    def advanced(self, uen: str, status: str) -> None:
        self.advanced_uens.append(uen)
        self.statuses.append(status)
        if self._stop is not None and len(self.statuses) == self._stop_after:
            self._stop.set()

    def skipped(self, count: int) -> None:
        pass


# ------------------------------------------------------------------------- start anchors


@pytest.mark.parametrize("anchor", ["env ACRA_DIRECT_START_AFTER_ID", "flag start_from_uen"])
def test_start_anchor_is_exclusive_and_wins_over_the_marker(
        staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch, anchor: str) -> None:
    live = eligible(staged)
    start = live[-4]  # a live row: exclusivity means even it is not enriched
    set_marker(staged, live[-1].id)  # a marker an anchored run must ignore
    if anchor.startswith("env"):
        monkeypatch.setenv("ACRA_DIRECT_START_AFTER_ID", str(start.id))
        summary = run()
    else:
        summary = run(start_from_uen=start.uen)

    assert summary.start_after == start.id
    assert history(staged) == Counter(r.uen for r in live[-3:])
    assert summary.marker == marker(staged) == staging(staged)[-1].id


def test_unknown_start_uen_is_a_configuration_error(staged: psycopg.Connection) -> None:
    with pytest.raises(ConfigError, match="not in staging"):
        run(start_from_uen="199999999Z")
    assert staged.execute("SELECT count(*) FROM enrichment_runs").fetchone()[0] == 0


def test_batch_limit_stops_below_unprocessed_rows_and_next_run_resumes_from_marker(
        staged: psycopg.Connection) -> None:
    live = eligible(staged)
    first = run(batch_limit=3)

    assert first.processed == 3 and first.stop_reason == "batch limit of 3 reached"
    assert history(staged) == Counter(r.uen for r in live[:3])
    assert first.marker == marker(staged) == live[2].id  # below the first unprocessed row

    # force: the skip policy would also pass over the first three, only the marker shows here.
    second = run(batch_limit=3, force=True)
    assert second.start_after == live[2].id and second.skipped == 0
    assert history(staged, second.run_id) == Counter(r.uen for r in live[3:6])
    assert marker(staged) == live[5].id


# ---------------------------------------------------------------------------- selection


def test_excluded_statuses_are_never_enriched_and_no_status_is_live(staged: psycopg.Connection) -> None:
    excluded_list = load_settings().excluded_statuses
    rows = staging(staged)
    # The smallest tail of the registry with four excluded rows (and, the generator being
    # what it is, several live ones): two lose their status, two stay excluded.
    tail_start = max(i for i in range(len(rows))
                     if sum(not is_live(r.status, excluded_list) for r in rows[i:]) >= 4)
    tail = rows[tail_start:]
    dead = [r for r in tail if not is_live(r.status, excluded_list)]
    staged.execute("UPDATE staging_acra_companies SET entity_status_description = NULL WHERE id = %s", (dead[0].id,))
    staged.execute("UPDATE staging_acra_companies SET entity_status_description = '  ' WHERE id = %s", (dead[1].id,))
    live_row = next(r for r in tail if is_live(r.status, excluded_list) and r.status)
    # Matching ignores case.
    staged.execute("UPDATE staging_acra_companies SET entity_status_description = 'STRUCK OFF' WHERE id = %s",
                   (live_row.id,))
    expected = eligible(staged, after_id=tail[0].id - 1)

    summary = run(start_after_id=tail[0].id - 1, concurrency=4)

    enriched = history(staged)
    assert enriched == Counter(r.uen for r in expected)
    assert {dead[0].uen, dead[1].uen} <= set(enriched)
    assert not {dead[2].uen, dead[3].uen, live_row.uen} & set(enriched)
    assert summary.processed == len(expected)


@pytest.mark.parametrize("setting", ["live company, Cancelled", ""])
def test_exclusion_list_is_configurable(staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch,
                                        setting: str) -> None:
    monkeypatch.setenv("ACRA_DIRECT_EXCLUDE_STATUSES", setting)
    recorder = Recorder()
    summary = run(dry_run=True, observer=recorder)

    rows = staging(staged)
    excluded = [s for s in setting.split(",") if s.strip()]
    expected = [r.uen for r in rows if is_live(r.status, [s.strip() for s in excluded])]
    assert recorder.advanced_uens == expected and summary.selected == len(expected)
    # Not vacuous: the default list's "Struck Off" is swept now; an empty list sweeps every row.
    swept = {r.status for r in rows if r.uen in expected}
    assert "Struck Off" in swept
    assert ("Live Company" in swept) == (not excluded)


def test_dry_run_writes_nothing_and_counts_what_it_would_enrich(staged: psycopg.Connection) -> None:
    start = staging(staged)[9].id
    set_marker(staged, start)
    before = staged.execute("SELECT last_id, updated_at FROM service_progress").fetchall()
    recorder = Recorder()

    summary = run(dry_run=True, observer=recorder)

    expected = eligible(staged, after_id=start)
    assert summary.dry_run and summary.run_id is None
    assert summary.selected == len(expected) == recorder.total
    assert recorder.advanced_uens == [r.uen for r in expected]
    assert summary.processed == 0
    for table in ("enrichment_runs", "company_enrichment_runs", "vendor_usage"):
        assert staged.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0] == 0
    assert staged.execute("SELECT last_id, updated_at FROM service_progress").fetchall() == before


# -------------------------------------------------------------------------- skip policy


def test_recheck_window_skips_recent_history_and_reenriches_old(
        staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENRICH_RECHECK_DAYS", "7")
    a, b, c = eligible(staged)[:3]
    run(batch_limit=2)
    backdate_history(staged, [b.uen], days=8)

    summary = run(start_after_id=0, batch_limit=2)

    assert summary.skipped == 1  # a: enriched a moment ago
    assert history(staged, summary.run_id) == Counter([b.uen, c.uen])
    assert history(staged) == Counter({a.uen: 1, b.uen: 2, c.uen: 1})


def test_skip_if_any_history_skips_old_history_and_force_ignores_both_policies(
        staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b, c = eligible(staged)[:3]
    run(batch_limit=2)
    backdate_history(staged, [a.uen, b.uen], days=400)  # far outside any recheck window
    monkeypatch.setenv("ENRICH_SKIP_IF_ANY_HISTORY", "true")

    policy = run(start_after_id=0, batch_limit=1)
    assert policy.skipped == 2
    assert history(staged, policy.run_id) == Counter([c.uen])

    # a and b have old history, c a recent one: force enriches all three again.
    forced = run(start_after_id=0, batch_limit=3, force=True)
    assert forced.skipped == 0
    assert history(staged, forced.run_id) == Counter([a.uen, b.uen, c.uen])


# ---------------------------------------------------------------------------- daily cap


def test_daily_cap_holds_across_runs_in_one_day(staged: psycopg.Connection,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACRA_DIRECT_DAILY_CAP", "3")
    live = eligible(staged)
    first = run(batch_limit=2)
    second = run()

    assert (first.processed, second.processed) == (2, 1)
    assert second.status == "done" and "daily cap of 3" in second.stop_reason
    assert sum(history(staged).values()) == 3
    assert used(staged, direct.DAILY_CAP_COUNTER, "day") == 3
    assert marker(staged) == live[2].id  # the row the cap refused is left for tomorrow


# ------------------------------------------------------------------------- concurrency


def test_concurrency_four_enriches_every_eligible_row_exactly_once(staged: psycopg.Connection) -> None:
    expected = eligible(staged)
    assert len(expected) > max(PAGE_ROWS, 4 * 4)  # more than one page of selection
    recorder = Recorder()

    summary = run(concurrency=4, observer=recorder)

    assert recorder.total == len(expected)
    assert history(staged) == Counter(r.uen for r in expected)  # each once, nothing else
    assert sorted(recorder.advanced_uens) == sorted(r.uen for r in expected)
    assert summary.processed == len(expected) and summary.skipped == 0
    assert summary.marker == marker(staged) == staging(staged)[-1].id


# ------------------------------------------------------------------ run header and stop


def test_run_header_records_params_counters_and_end(staged: psycopg.Connection) -> None:
    summary = run(batch_limit=2, concurrency=2)

    (kind, status, started, ended, processed, skipped, failed, params, stored), = staged.execute(
        "SELECT kind, status, started_at, ended_at, processed, skipped, failed, params, summary"
        " FROM enrichment_runs WHERE run_id = %s", (summary.run_id,)).fetchall()
    assert (kind, status) == ("direct", "done")
    assert ended is not None and ended >= started
    assert (processed, skipped, failed) == (summary.processed, summary.skipped, summary.failed) == (2, 0, 0)
    assert params["batch_limit"] == 2 and params["concurrency"] == 2 and params["start_after"] == 0
    assert params["excluded_statuses"] == load_settings().excluded_statuses
    assert stored["stop_reason"] == summary.stop_reason and stored["marker"] == summary.marker


def test_external_stop_interrupts_and_marker_covers_only_finished_rows(staged: psycopg.Connection) -> None:
    live = eligible(staged)
    stop = asyncio.Event()
    recorder = Recorder(stop_after=1, stop=stop)

    summary = run(concurrency=2, observer=recorder, stop=stop)

    assert summary.status == "interrupted" and summary.stop_reason == "stop requested"
    enriched = history(staged)
    assert 1 <= summary.processed == sum(enriched.values()) < len(live)
    status, ended, processed = staged.execute(
        "SELECT status, ended_at, processed FROM enrichment_runs WHERE run_id = %s", (summary.run_id,)).fetchone()
    assert (status, processed) == ("interrupted", summary.processed) and ended is not None
    # Every live row up to the marker is finished, the next one is not: a restart resumes there.
    saved = marker(staged)
    assert saved == summary.marker
    assert all(r.uen in enriched for r in live if r.id <= saved)
    assert next(r for r in live if r.id > saved).uen not in enriched


def test_in_flight_companies_past_the_grace_period_are_abandoned_not_marked_done(
        world: World, staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    live = eligible(staged)
    monkeypatch.setenv("ACRA_DIRECT_GRACE_S", "0.05")
    reset_settings_cache()
    # The first company finishes fast; then every request takes long enough for the other
    # slot's company to be caught in flight by the stop.
    stop = asyncio.Event()

    class SlowAfterFirst(Recorder):
        def advanced(self, uen: str, status: str) -> None:
            world.sandbox.set_latency_ms(400)
            super().advanced(uen, status)

    try:
        with structlog.testing.capture_logs() as logs:
            summary = run(concurrency=2, observer=SlowAfterFirst(stop_after=1, stop=stop), stop=stop)
    finally:
        world.sandbox.set_latency_ms(0)
    abandoned = [e for e in logs if e["event"] == "abandoned_in_flight"]
    assert summary.status == "interrupted" and abandoned and abandoned[0]["companies"] >= 1
    enriched = history(staged)
    assert summary.processed == sum(enriched.values())
    # The abandoned companies are neither recorded nor behind the marker: the next run takes them.
    first_not_done = next(r for r in live if r.uen not in enriched)
    assert marker(staged) < first_not_done.id


# ----------------------------------------------------------------------------- metrics


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> dict[str, float]:
    """/metrics over HTTP, as `sample{labels}` -> value (labels sorted)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a proxy for loopback
    with opener.open(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


def total(samples: dict[str, float], name: str) -> float:
    return sum(v for k, v in samples.items() if k.startswith(name + "{"))


class Scraper(Recorder):
    """Scrapes /metrics over HTTP from inside the run, right after each event it is told of."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.port = port
        self.at_advance: list[dict[str, float]] = []
        self.at_skip: list[tuple[int, dict[str, float]]] = []

    def advanced(self, uen: str, status: str) -> None:
        super().advanced(uen, status)
        self.at_advance.append(scrape(self.port))

    def skipped(self, count: int) -> None:
        self.at_skip.append((count, scrape(self.port)))


def test_metrics_served_over_http_during_the_run(staged: psycopg.Connection,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    run(batch_limit=1)  # the first live company: enriched, so the next run skips it
    make_unreachable(staged, [eligible(staged)[1]])  # the second: fails
    port = _free_port()
    monkeypatch.setenv("METRICS_PROMETHEUS_ENABLE", "true")
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("METRICS_ADDR", "127.0.0.1")
    scraper = Scraper(port)

    summary = run(start_after_id=0, batch_limit=4, concurrency=2, observer=scraper)

    assert "failed" in scraper.statuses and summary.failed >= 1
    assert len(scraper.at_advance) == summary.processed == 4
    for n, samples in enumerate(scraper.at_advance, start=1):
        failed_so_far = scraper.statuses[:n].count("failed")
        assert total(samples, "acra_direct_companies_processed_total") == n
        # A labelled series appears with its first outcome.
        assert samples.get("acra_direct_companies_processed_total{status=failed}", 0) == failed_so_far
        assert samples["acra_direct_failures_total{}"] == failed_so_far
        assert samples["acra_direct_latency_seconds_count{}"] == n
        assert samples["acra_direct_latency_seconds_bucket{le=+Inf}"] == n
        # The two slots at most (the reporting company's slot goes at once to one coming back
        # from the search lane), and companies waiting for a search without a slot.
        assert 0 <= samples["acra_direct_in_flight{}"] <= 2 + samples["acra_search_parked{}"]
    # With two slots the second company is under way when the first is reported.
    assert max(s["acra_direct_in_flight{}"] for s in scraper.at_advance) >= 1
    assert [(n, s["acra_direct_skipped_total{}"]) for n, s in scraper.at_skip] == [(1, 1.0)]
    with pytest.raises(OSError):  # served for the run only
        scrape(port)


# ------------------------------------------------------------------------------- alerts


WINDOW = 10


def test_failure_spike_alerts_once_per_window_and_pauses(staged: psycopg.Connection, world: World,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    live = eligible(staged)
    make_unreachable(staged, live)
    monkeypatch.setenv("ACRA_DIRECT_ERROR_ALERT_THRESHOLD", "20")
    monkeypatch.setenv("ACRA_DIRECT_ERROR_WINDOW", str(WINDOW))
    monkeypatch.setenv("ACRA_DIRECT_PAUSE_ON_ERROR_SPIKE", "true")
    monkeypatch.setenv("ACRA_DIRECT_PAUSE_S", "0.05")

    with structlog.testing.capture_logs() as logs:
        summary = run(concurrency=4)

    assert summary.failed == summary.processed == len(live)
    # Every outcome is a failure: the first alert comes with the window's tenth outcome, then
    # the monitor is quiet for a window and fires again on the outcome after it.
    fired_at = list(range(WINDOW, summary.failed + 1, WINDOW + 1))
    assert len(fired_at) >= 2
    messages = [m["payload"]["text"] for m in world.sandbox.slack_messages()]
    assert len(messages) == summary.alerts == len(fired_at)
    for text in messages:
        assert f"direct run {summary.run_id}:" in text
        assert f"{WINDOW} of the last {WINDOW} companies failed" in text
        assert "the known website could not be fetched" in text
    spikes = [e for e in logs if e["event"] == "failure_spike"]
    pauses = [e["seconds"] for e in logs if e["event"] == "paused"]
    assert len(spikes) == len(fired_at)
    # No calm window between the spikes: each pause doubles the last.
    assert pauses == [0.05 * 2 ** i for i in range(len(fired_at))]


# -------------------------------------------------------------------------- unit tests


def test_watermark_never_passes_an_unfinished_row() -> None:
    mark = Watermark(10)
    for row_id in (11, 13, 17):
        mark.take(row_id)
    assert mark.marker == 10 and mark.in_flight == 3
    mark.finish(17)  # finishing out of order moves nothing
    mark.finish(13)
    assert mark.marker == 10
    mark.finish(11)
    assert mark.marker == 17 and mark.in_flight == 0
    mark.take(20)
    mark.pass_over(30)  # rows needing no work beyond an unfinished one wait behind it
    assert mark.marker == 19
    mark.finish(20)
    assert mark.marker == 30
    with pytest.raises(ValueError):
        mark.take(25)


def test_failure_spike_monitor_fires_once_per_window_and_counts_consecutive_spikes() -> None:
    monitor = FailureSpikeMonitor(window=10, threshold_pct=20)
    outcomes = [monitor.record("boom", failed=True) for _ in range(9)]
    assert outcomes == [None] * 9  # too few outcomes to judge
    first = monitor.record("boom", failed=True)
    assert first is not None and (first.failures, first.total) == (10, 10)
    assert first.top_errors == [("boom", 10)] and monitor.consecutive == 1
    assert [monitor.record("boom", failed=True) for _ in range(10)] == [None] * 10  # quiet for a window
    assert monitor.record("boom", failed=True) is not None
    assert monitor.consecutive == 2
    # A calm evaluation resets the run of spikes; the ratio must exceed the threshold.
    quiet = [monitor.record(None, failed=False) for _ in range(10)]
    assert quiet == [None] * 10
    assert monitor.record(None, failed=False) is None and monitor.consecutive == 0
    # 2 of the last 10: exactly the threshold, not above it.
    assert [monitor.record("boom", failed=True) for _ in range(2)] == [None, None]
    assert monitor.consecutive == 0
    spike = monitor.record("other", failed=True)
    assert spike is not None and spike.failures == 3 and monitor.consecutive == 1
    assert "run 7: 3 of the last 10 companies failed" in spike.message(7)


def test_a_flag_anchor_replaces_the_environment_anchor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACRA_DIRECT_START_AFTER_ID", "7")
    settings = load_settings()
    assert DirectParams.from_settings(settings).start_after_id == 7
    params = DirectParams.from_settings(settings, start_from_uen="T01AB2345C")
    assert (params.start_after_id, params.start_from_uen) == (None, "T01AB2345C")
    with pytest.raises(ConfigError, match="one start anchor"):
        DirectParams.from_settings(settings, start_after_id=3, start_from_uen="T01AB2345C")


@pytest.mark.parametrize("force", [False, True])
def test_the_page_query_plans_the_skip_policy_as_an_anti_join(staged: psycopg.Connection, force: bool) -> None:
    # Written as `force OR NOT EXISTS (...)` the planner hashes every company with recent
    # history again for each page (a full scan per 50 companies on a shared database).
    params = DirectParams.from_settings(load_settings(), force=force)
    query = direct._Q["eligible_page"]
    plan = "\n".join(r[0] for r in staged.execute("EXPLAIN " + query, {
        "after_id": 0, "upto_id": 10**9, "page_size": 50, "excluded": params.status_patterns(), "force": force,
        "any_history": False, "recheck_days": 30}))
    assert "Anti Join" in plan, plan


def test_a_transient_database_error_is_retried_and_a_hard_error_recorded(
        staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = eligible(staged)[:3]
    flaky, broken = rows[0].uen, rows[1].uen
    real = direct.enrich_company
    calls: Counter[str] = Counter()

    async def sometimes_failing(deps: Any, company: Any, **kwargs: Any) -> Any:
        calls[company.uen] += 1
        if company.uen == flaky and calls[flaky] == 1:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        if company.uen == broken:
            raise ValueError("a value persist cannot store")
        return await real(deps, company, **kwargs)

    monkeypatch.setattr(direct, "enrich_company", sometimes_failing)
    monkeypatch.setattr(direct, "RETRY_BACKOFF_S", 0.01)
    with structlog.testing.capture_logs() as logs:
        summary = run(batch_limit=3)
    assert calls[flaky] == 2 and calls[broken] == 1  # a hard error is not retried
    assert [e for e in logs if e["event"] == "transient_error"][0]["attempt"] == 1
    assert (summary.processed, summary.failed) == (3, 1)
    assert history(staged) == Counter(r.uen for r in rows)  # one row each, the retried one included
    error = staged.execute("SELECT h.status, h.error FROM company_enrichment_runs h JOIN companies c"
                           " USING (company_id) WHERE c.uen = %s", (broken,)).fetchone()
    assert error == ("failed", "ValueError: a value persist cannot store")


def test_a_database_that_stays_away_ends_the_run_with_database_unavailable(
        staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_database(deps: Any, company: Any, **kwargs: Any) -> Any:
        raise psycopg.OperationalError("could not connect to server")

    monkeypatch.setattr(direct, "enrich_company", no_database)
    monkeypatch.setattr(direct, "RETRY_BACKOFF_S", 0.01)
    monkeypatch.setenv("ACRA_DIRECT_RETRIES", "2")
    reset_settings_cache()
    with pytest.raises(DatabaseUnavailable, match="could not connect"):
        run(concurrency=2)
    status, ended = staged.execute("SELECT status, ended_at IS NOT NULL FROM enrichment_runs").fetchone()
    assert (status, ended) == ("failed", True)
    assert history(staged) == Counter()  # nothing recorded as the companies' fault
    assert (marker(staged) or 0) < eligible(staged)[0].id  # no row counts as finished


def test_the_terminal_progress_bar_shows_progress_rate_eta_and_outcomes() -> None:
    import io
    import re

    from rich.console import Console

    from acra_enrich.runners.console import ProgressBar

    screen = io.StringIO()
    with ProgressBar(Console(file=screen, force_terminal=True, width=160)) as bar:
        bar.started(7, 10)
        for status in ("ok", "ok", "no_site", "failed"):
            bar.advanced("UEN", status)
        bar.skipped(2)
    last = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue()).strip().splitlines()[-1]
    assert "direct run 7" in last and "4/10" in last and "/h" in last and "ETA" in last
    assert "failed 1" in last and "no_site 1" in last and "ok 2" in last and "skipped 2" in last


def test_a_busy_metrics_port_is_a_configuration_error_before_any_run_row(
        staged: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("METRICS_PROMETHEUS_ENABLE", "true")
        monkeypatch.setenv("METRICS_ADDR", "127.0.0.1")
        monkeypatch.setenv("METRICS_PORT", str(taken.getsockname()[1]))
        with pytest.raises(ConfigError, match="METRICS_PORT"):
            run(batch_limit=1)
    assert staged.execute("SELECT count(*) FROM enrichment_runs").fetchone()[0] == 0


def test_db_status_shows_the_latest_runs_and_the_resume_marker(staged: psycopg.Connection) -> None:
    from acra_enrich.db import schema_state
    from acra_enrich.db.status import database_status

    summary = run(batch_limit=2)
    status = database_status(staged, schema_state(staged))
    latest = status["recent_runs"][0]
    assert (latest["run_id"], latest["kind"], latest["status"], latest["processed"]) == (
        summary.run_id, "direct", "done", 2)
    assert latest["stop_reason"] == "batch limit of 2 reached"
    assert [(m["key"], m["last_id"]) for m in status["progress_markers"]] == [(direct.MARKER_KEY, summary.marker)]


def test_search_yield_per_provider_in_the_summary_metrics_and_db_status(staged: psycopg.Connection, world: World,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from acra_enrich.db import schema_state
    from acra_enrich.db.status import database_status

    # Searches of earlier tests are not this run's; sites only a search finds are not known yet.
    staged.execute("TRUNCATE search_cache, domain_checks")
    staged.execute("UPDATE companies SET website_domain = NULL WHERE uen = ANY(%s)",
                   ([c.uen for c in world.sandbox.world.with_case("search_only")],))

    port = _free_port()
    monkeypatch.setenv("METRICS_PROMETHEUS_ENABLE", "true")
    monkeypatch.setenv("METRICS_PORT", str(port))
    monkeypatch.setenv("METRICS_ADDR", "127.0.0.1")
    monkeypatch.setenv("SEARCH_PROVIDERS", "searxng,ddg")
    scraper = Scraper(port)

    summary = run(concurrency=2, observer=scraper)

    searches = staged.execute("SELECT provider, count(*) FROM search_cache GROUP BY provider").fetchall()
    verified = dict(staged.execute("SELECT search_provider, count(*) FROM domain_checks WHERE found_by = 'search'"
                                   " GROUP BY search_provider").fetchall())
    assert searches and "searxng" in dict(searches)  # the first provider in SEARCH_PROVIDERS order
    assert verified.get("searxng", 0) > 0  # sites only a search finds were found through it
    assert {p: f["answered"] for p, f in summary.search.items()} == dict(searches)
    assert {p: f["verified"] for p, f in summary.search.items() if f["verified"]} == verified
    last = scraper.at_advance[-1]
    for provider, figures in summary.search.items():
        assert last[f"acra_search_answered_total{{provider={provider}}}"] == figures["answered"]
        assert last[f"acra_search_domains_verified_total{{provider={provider}}}"] == figures["verified"]
        assert last[f"acra_search_yield{{provider={provider}}}"] == pytest.approx(figures["yield"], abs=0.001)
    rows = {r["provider"]: r for r in database_status(staged, schema_state(staged))["search_yield"]}
    assert {p: (r["searches"], r["verified"]) for p, r in rows.items()} == {
        p: (n, verified.get(p, 0)) for p, n in searches}
