"""Quieter commands (issue 14 §5): a terminal shows warnings and errors in human form (info
with --verbose), a pipe gets JSON lines, the log file keeps everything, and the embedded
server's logger never reaches the console."""

from __future__ import annotations

import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import structlog

from acra_enrich.config import load_settings
from acra_enrich.logs import LOG_FILE, configure_logging
from acra_enrich.sandbox.testing import SandboxHandle, running_sandbox


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def _emit() -> None:
    log = structlog.get_logger("acra_enrich.pipeline")
    log.info("find_domain", domain="acme.sg", duration_ms=12)
    log.warning("llm_call_failed", url="https://acme.sg/", status="timeout")
    logging.getLogger("pgserver").info("exiting 4242 remaining pids=[]")
    logging.getLogger("pgserver").warning("cleaning last handle for server: /tmp/pgdata")


@pytest.mark.parametrize("verbose", [False, True])
def test_a_terminal_gets_human_warnings_and_the_file_everything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None, verbose: bool) -> None:
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    path = configure_logging(load_settings(acra_enrich_home=tmp_path), stderr=True, verbose=verbose)
    _emit()
    shown = terminal.getvalue()
    assert "llm_call_failed" in shown and "status=timeout" in shown and "{" not in shown
    assert ("find_domain" in shown) is verbose
    assert "pgserver" not in shown and "exiting" not in shown and "cleaning last handle" not in shown
    logged = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["event"] for r in logged] == [
        "find_domain", "llm_call_failed", "exiting 4242 remaining pids=[]", "cleaning last handle for server: /tmp/pgdata"]


def test_a_pipe_gets_json_lines_but_never_the_embedded_servers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    configure_logging(load_settings(acra_enrich_home=tmp_path), stderr=True)
    _emit()
    assert [json.loads(line)["event"] for line in piped.getvalue().splitlines()] == ["find_domain", "llm_call_failed"]


# --- the real command on a pseudo-terminal -------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(seed=23, companies=40) as sb:
        yield sb


def _on_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal (as a user's shell has it) and stdout piped."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "acra_enrich", *args], env=env, stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 1.0)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    return proc.wait(timeout=120), stdout, b"".join(chunks).decode(errors="replace")


def test_enrich_one_json_on_a_terminal_prints_only_the_result(
        sandbox: SandboxHandle, env: dict[str, str], db: psycopg.Connection) -> None:
    company = next(c for c in sandbox.world.companies if c.truth.domain and not c.truth.hard_cases & {
        "slow_page", "huge_page", "gzip_bomb", "redirect_loop", "script_only"})
    db.execute("INSERT INTO companies (uen, name, website_domain) VALUES (%s, %s, %s)",
               (company.uen, company.name, company.truth.domain))
    db.commit()
    run_env = {**env, **sandbox.env(), "CRAWL_DOMAIN_MIN_INTERVAL_S": "0.05"}
    code, stdout, stderr = _on_a_terminal(["enrich", "one", company.truth.domain or "", "--json"], run_env)
    assert code == 0, stderr
    assert json.loads(stdout)["website_domain"] == company.truth.domain
    assert '{"' not in stderr and "vendor" not in stderr.lower() and "find_domain" not in stderr, stderr
    log = Path(env["ACRA_ENRICH_HOME"]) / "logs" / LOG_FILE
    events = {json.loads(line)["event"] for line in log.read_text().splitlines()}
    assert {"find_domain", "crawl_extract", "persist", "summary"} <= events

    code, stdout, stderr = _on_a_terminal(["enrich", "one", company.truth.domain or "", "--json", "--verbose"], run_env)
    assert code == 0 and json.loads(stdout)["uen"] == company.uen
    assert "find_domain" in stderr and "summary" in stderr and '{"' not in stderr
