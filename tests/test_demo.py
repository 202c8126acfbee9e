"""`acra-enrich demo` (the bundled samples are checked in test_entities_registered.py)."""

from __future__ import annotations

import re
import subprocess
import sys

import psycopg


def test_demo_runs_end_to_end_and_is_repeatable(env: dict[str, str], db: psycopg.Connection) -> None:
    first = subprocess.run([sys.executable, "-m", "acra_enrich", "demo"], env=env, capture_output=True, text=True,
                           timeout=300, check=False)
    assert first.returncode == 0, first.stderr
    assert "inserted 1,995" in first.stdout and "rejected 5" in first.stdout
    # Step 5: the direct runner over the sample against the sandbox web.
    assert "run 1: done (batch limit of 40 reached); processed 40" in first.stdout, first.stdout
    # Step 6: a demo tenant's nightly shortlist, synced to the sandbox's Odoo.
    assert "6. nightly" in first.stdout and "selected; scored" in first.stdout, first.stdout
    synced = re.search(r"synced to Odoo \(database 'demo'\): (\d+) companies", first.stdout)
    assert synced is not None and int(synced[1]) > 0, first.stdout
    first_marker = int(re.search(r"resume marker ([\d,]+)", first.stdout)[1].replace(",", ""))
    second = subprocess.run([sys.executable, "-m", "acra_enrich", "demo"], env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    assert second.returncode == 0, second.stderr
    assert "inserted 0  updated 0  unchanged 1,995" in second.stdout
    # The second demo resumes the sweep after the first one's marker: no company twice.
    second_marker = int(re.search(r"resume marker ([\d,]+)", second.stdout)[1].replace(",", ""))
    assert second_marker > first_marker
    assert "today's cap was taken by an earlier demo run" in second.stdout, second.stdout
    with psycopg.connect(env["POSTGRES_DSN"]) as conn:
        runs, rows, companies, enriched = conn.execute(
            "SELECT count(DISTINCT run_id), count(*), count(DISTINCT company_id), "
            "count(*) FILTER (WHERE status IN ('ok', 'partial')) FROM company_enrichment_runs "
            "WHERE run_id IN (SELECT run_id FROM enrichment_runs WHERE kind = 'direct')").fetchone()
        nightly = conn.execute("SELECT count(*), count(DISTINCT company_id) FROM lead_scores").fetchone()
    assert nightly == (10, 10)  # the cap, once: the second demo's run found today's cap taken
    assert (runs, rows, companies) == (2, 80, 80)
    assert enriched >= 40  # about half the sample's live companies have a website in the sandbox
