"""`acra-enrich run direct` as an operator meets it: a real subprocess against the sandbox web
and this worker's PostgreSQL, stopped with SIGKILL and SIGTERM, given bad configuration or
no database, and read through its JSON log lines."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import psycopg
import pytest
from direct_helpers import eligible

from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.sample import write_acra_csv
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox

SEED, ROWS = 41, 24
LATENCY_MS = 10  # keeps a run going for several seconds, so a signal lands mid-run
POLL_DEADLINE_S = 90.0  # a guard against a hung run, not a timing assertion
PIPELINE_STAGES = ("find_domain", "crawl_extract", "chunks", "llm_extract", "contacts", "persist", "summary")


@dataclass
class Cli:
    """A running `acra-enrich` with stdout/stderr in files (a pipe could fill up and block it)."""

    proc: subprocess.Popen[bytes]
    out: Path
    err: Path

    def wait(self) -> int:
        return self.proc.wait(timeout=POLL_DEADLINE_S)

    def stdout(self) -> str:
        return self.out.read_text()

    def stderr(self) -> str:
        return self.err.read_text()

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=SEED, companies=ROWS, latency_ms=LATENCY_MS) as handle:
        yield handle


@pytest.fixture(scope="module")
def registry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("direct") / "acra.csv"
    with open(path, "wb") as handle:
        write_acra_csv(handle, rows=ROWS, seed=SEED)
    return path


@pytest.fixture
def staged(db: psycopg.Connection, registry_file: Path) -> psycopg.Connection:
    """The emptied database with the sandbox's registry rows in staging (companies left to
    the runner's own upsert); autocommit, so polling sees the subprocess's commits."""
    load_acra_file(db, registry_file)
    db.commit()
    db.autocommit = True
    return db


StartCli = Callable[..., Cli]


@pytest.fixture
def start_cli(env: dict[str, str], sandbox: SandboxHandle, tmp_path: Path) -> Iterator[StartCli]:
    """`start_cli(*args, extra_env={...})` starts `acra-enrich run direct` on this worker's database
    and the sandbox web; a run a failed test left behind is killed at teardown."""
    base_env = {**env, **sandbox.env()}
    started: list[Cli] = []

    def start(*args: str, extra_env: dict[str, str] | None = None) -> Cli:
        n = len(started)
        out, err = tmp_path / f"cli-{n}.out", tmp_path / f"cli-{n}.err"
        with open(out, "wb") as o, open(err, "wb") as e:
            proc = subprocess.Popen([sys.executable, "-m", "acra_enrich", "run", "direct", *args],
                                    env={**base_env, **(extra_env or {})}, stdout=o, stderr=e, stdin=subprocess.DEVNULL)
        started.append(Cli(proc, out, err))
        return started[-1]

    yield start
    for cli in started:
        if cli.proc.poll() is None:
            cli.proc.kill()
            cli.proc.wait()


def _finish(cli: Cli) -> dict[str, Any]:
    assert cli.wait() == 0, cli.stderr()[-3000:]
    return json.loads(cli.stdout())


def _wait_for_history(conn: psycopg.Connection, cli: Cli, at_least: int) -> None:
    """Until the running CLI has committed `at_least` history rows."""
    deadline = time.monotonic() + POLL_DEADLINE_S
    while conn.execute("SELECT count(*) FROM company_enrichment_runs").fetchone()[0] < at_least:
        assert cli.proc.poll() is None, f"the run ended early: {cli.stderr()[-3000:]}"
        assert time.monotonic() < deadline, "no history row appeared"
        time.sleep(0.05)


def _eligible(conn: psycopg.Connection) -> dict[str, int]:
    """Live staging rows, UEN -> staging id."""
    return {row.uen: row.id for row in eligible(conn)}


def _history(conn: psycopg.Connection) -> list[tuple[str, int]]:
    """(uen, run_id) of every history row."""
    return conn.execute("SELECT c.uen, h.run_id FROM company_enrichment_runs h JOIN companies c USING (company_id)"
                        ).fetchall()


def _run_row(conn: psycopg.Connection, run_id: int) -> tuple[str, Any, int, dict[str, Any] | None]:
    return conn.execute("SELECT status, ended_at, processed, summary FROM enrichment_runs WHERE run_id = %s",
                        (run_id,)).fetchone()


def _marker(conn: psycopg.Connection) -> int | None:
    row = conn.execute("SELECT last_id FROM service_progress WHERE key = 'acra_direct'").fetchone()
    return row[0] if row else None


def test_sigkill_mid_run_then_restart_enriches_every_live_company_exactly_once(
        staged: psycopg.Connection, start_cli: StartCli) -> None:
    conn = staged
    eligible = _eligible(conn)
    assert 0 < len(eligible) < ROWS  # the sample has dissolved rows, or exclusion is not tested

    killed = start_cli("--concurrency", "2")
    _wait_for_history(conn, killed, at_least=1)
    killed.proc.kill()
    assert killed.wait() == -signal.SIGKILL
    (killed_run,) = conn.execute("SELECT run_id FROM enrichment_runs WHERE status = 'running'").fetchone()
    done_before = {uen for uen, _ in _history(conn)}
    marker_at_kill = _marker(conn) or 0

    summary = _finish(start_cli("--json"))

    history = _history(conn)
    uens = [uen for uen, _ in history]
    # Exactly once: a company whose history row committed before the kill is not enriched
    # again (the skip policy), and one that was in flight without a row is enriched by the restart.
    assert sorted(uens) == sorted(eligible)
    assert {uen for uen, run in history if run == killed_run} == done_before
    assert summary["status"] == "done" and summary["start_after"] == marker_at_kill
    assert summary["processed"] == len(eligible) - len(done_before) > 0
    # Finished companies past the saved marker are passed over by the policy, not redone.
    assert summary["skipped"] == sum(1 for uen in done_before if eligible[uen] > marker_at_kill)

    status, ended_at, processed, closed = _run_row(conn, killed_run)
    assert (status, processed) == ("interrupted", len(done_before)) and ended_at is not None
    assert closed is not None and "died" in closed["stop_reason"]
    top = conn.execute("SELECT max(id) FROM staging_acra_companies").fetchone()[0]
    assert _marker(conn) == summary["marker"] == top


def test_sigterm_drains_in_flight_companies_saves_the_marker_and_exits_0(
        staged: psycopg.Connection, start_cli: StartCli) -> None:
    conn = staged
    eligible = _eligible(conn)
    cli = start_cli("--concurrency", "2", "--json")
    _wait_for_history(conn, cli, at_least=1)
    cli.proc.send_signal(signal.SIGTERM)
    summary = _finish(cli)

    assert summary["status"] == "interrupted" and summary["stop_reason"] == "signal SIGTERM"
    status, ended_at, processed, stored = _run_row(conn, summary["run_id"])
    assert (status, processed) == ("interrupted", summary["processed"]) and ended_at is not None
    assert stored == summary
    finished = {uen for uen, run in _history(conn) if run == summary["run_id"]}
    assert len(finished) == summary["processed"]
    unfinished = [row_id for uen, row_id in eligible.items() if uen not in finished]
    assert unfinished, "the run ended before the signal: nothing was interrupted"
    # Companies in flight at the signal finish within the grace period, so the marker covers
    # every finished one and stops before the first company not yet enriched.
    assert max(eligible[uen] for uen in finished) <= _marker(conn) == summary["marker"] <= min(unfinished) - 1


def test_a_company_waiting_for_a_search_frees_its_slot_and_the_marker_stays_behind_it(
        staged: psycopg.Connection, start_cli: StartCli) -> None:
    """One slot, searches one per 6 s (DuckDuckGo only): a company whose guesses failed parks on
    the search lane and the next companies are enriched meanwhile, so rows finish out of staging
    order; SIGKILL then loses nothing and the marker never passes the parked company."""
    conn = staged
    eligible = _eligible(conn)
    slow = {"SEARCH_PROVIDERS": "ddg", "DDG_MIN_INTERVAL_S": "6"}
    killed = start_cli("--concurrency", "1", extra_env=slow)
    deadline = time.monotonic() + POLL_DEADLINE_S

    def parked() -> list[int]:
        done = {uen for uen, _ in _history(conn)}
        waiting = [row_id for uen, row_id in eligible.items() if uen not in done]
        return [row_id for row_id in waiting if any(eligible[uen] > row_id for uen in done)]

    while not parked():
        assert killed.proc.poll() is None, f"the run ended early: {killed.stderr()[-3000:]}"
        assert time.monotonic() < deadline, "no company finished while an earlier one waited for its search"
        time.sleep(0.05)
    killed.proc.kill()
    assert killed.wait() == -signal.SIGKILL
    waiting = min(parked())
    assert (_marker(conn) or 0) < waiting  # not finished: the resume point stays behind it

    summary = _finish(start_cli("--json", "--concurrency", "2"))
    assert sorted(uen for uen, _ in _history(conn)) == sorted(eligible)  # each once, the parked one too
    assert summary["status"] == "done" and summary["search"]
    assert set(summary["search"]) <= {"ddg", "searxng", "tavily"}
    assert all({"calls", "answered", "verified", "yield"} <= set(figures) for figures in summary["search"].values())


@pytest.mark.parametrize(("extra_env", "args", "named"), [
    ({"ACRA_DIRECT_CONCURRENCY": "abc"}, (), "ACRA_DIRECT_CONCURRENCY"),
    ({}, ("--start-from-uen", "000000000Z"), "ACRA_DIRECT_START_FROM_UEN"),
    ({"ACRA_DIRECT_START_AFTER_ID": "3", "ACRA_DIRECT_START_FROM_UEN": "000000000Z"}, (),
         "ACRA_DIRECT_START_AFTER_ID"),
], ids=["not-a-number", "unknown-uen", "two-anchors"])
def test_bad_configuration_exits_2_naming_the_variable(
        staged: psycopg.Connection, start_cli: StartCli,
        extra_env: dict[str, str], args: tuple[str, ...], named: str) -> None:
    cli = start_cli(*args, extra_env=extra_env)
    assert cli.wait() == 2
    assert named in cli.stderr()
    assert staged.execute("SELECT count(*) FROM enrichment_runs").fetchone()[0] == 0


def test_no_database_exits_3(start_cli: StartCli) -> None:
    with socket.socket() as probe:  # a port nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cli = start_cli(extra_env={"POSTGRES_DSN": f"postgresql://acra@127.0.0.1:{port}/acra", "DB_CONNECT_TIMEOUT_S": "2"})
    assert cli.wait() == 3
    assert "cannot reach the database" in cli.stderr()


def test_without_a_terminal_stderr_carries_one_json_line_per_stage_per_company(
        staged: psycopg.Connection, start_cli: StartCli, sandbox: SandboxHandle) -> None:
    eligible = sorted(_eligible(staged).items(), key=lambda item: item[1])
    # Enough companies in id order to include a few with a guessable website: only they go
    # through every stage (a company without a site stops after find_domain).
    with_site = [i for i, (uen, _) in enumerate(eligible) if sandbox.company(uen).truth.found_by == "guess"]
    limit = with_site[2] + 1
    cli = start_cli("--limit", str(limit), "--json")
    summary = _finish(cli)
    lines = cli.log_lines()  # every line is JSON: json.loads fails the test otherwise
    run_id = summary["run_id"]

    by_company: dict[str, list[str]] = {}
    for line in lines:
        event = line["event"]
        if event == "select":
            assert line["run_id"] == run_id and isinstance(line["staging_id"], int)
            by_company.setdefault(line["uen"], []).append(event)
        elif event == "upsert" or event in PIPELINE_STAGES:
            assert line["run_id"] == run_id and isinstance(line["company_id"], int), line
            by_company[line["uen"]].append(event)
            # The counts an operator greps for, on the stage that knows them.
            counts = {"find_domain": "domains", "crawl_extract": "pages", "chunks": "chunks", "summary": "emails"}
            if event in counts:
                assert isinstance(line[counts[event]], int), line
            if event != "chunks" and "skipped" not in line:  # a stage that ran says how long it took
                assert isinstance(line["duration_ms"], int), line
    assert sorted(by_company) == sorted(uen for uen, _ in eligible[:limit])
    for uen, events in by_company.items():
        assert events[:3] == ["select", "upsert", "find_domain"] and events[-2:] == ["persist", "summary"], events
    full = ["select", "upsert", *PIPELINE_STAGES]
    assert sum(events == full for events in by_company.values()) >= 2
    assert lines[-1]["event"] == "run_summary" and lines[-1]["processed"] == summary["processed"] == limit
