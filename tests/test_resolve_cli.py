"""`acra-enrich resolve ...` as a user runs it (subprocesses, real database)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import psycopg

from resolve_helpers import add_registry_company, queue_rows, snapshot


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "acra_enrich", "resolve", *args], env=env, capture_output=True,
                          text=True, timeout=180, check=False)


def _json(*args: str, env: dict[str, str]) -> dict:
    done = _cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_resolve_names_and_a_company_called_like_a_subcommand(db: psycopg.Connection, env: dict[str, str]) -> None:
    plain = _cli("ACME PTE LTD", "--budget", "0", env=env)
    assert plain.returncode == 0, plain.stderr
    assert "PENDING_LOOKUP" in plain.stdout and "ACME PTE LTD" in plain.stdout
    out = _json("names", "file", "Acme Private Limited", "--budget", "0", env=env)
    assert [(r["name"], r["status"]) for r in out["results"]] == [("file", "PENDING_LOOKUP"),
                                                                  ("Acme Private Limited", "PENDING_LOOKUP")]
    # one open request per normalised name: "ACME PTE LTD" and "Acme Private Limited" share one
    assert [(name, key) for _, name, key, *_ in queue_rows(db)] == [("ACME PTE LTD", "acme"), ("file", "file")]


def test_import_mappings_plan_then_real_then_resolve(db: psycopg.Connection, env: dict[str, str],
                                                    tmp_path: Path) -> None:
    mappings = _write(tmp_path / "m.csv", "alias,match_type,company_id,priority\n"
                      "Acme Pte. Ltd.,normalized_name,201912345N,\n"
                      "P0190,plan_code,201912345N,1\n"
                      "X,colour,1,\n"
                      "Y,plan_code,,\n"
                      f"{'Z' * 301},plan_code,1,\n"
                      f"Z,plan_code,{'1' * 101},\n")
    before = snapshot(db)
    planned = _json("import-mappings", str(mappings), "--plan", env=env)
    assert (planned["inserted"], planned["rejected"], planned["plan"]["total_writes"]) == (2, 4, 2)
    assert snapshot(db) == before
    real = _json("import-mappings", str(mappings), env=env)
    assert (real["inserted"], real["updated"], real["unchanged"]) == (2, 0, 0)
    assert [s["line"] for s in real["reject_samples"]] == [4, 5, 6, 7]
    assert [s["reason"] for s in real["reject_samples"]][2:] == ["alias longer than 300 characters",
                                                              "company_id longer than 100 characters"]
    assert _json("import-mappings", str(mappings), env=env)["unchanged"] == 2
    result = _json("ACME LIMITED", env=env)["results"][0]
    assert (result["status"], result["company_id"], result["source"]) == ("SUCCESS_INTERNAL", "201912345N",
                                                                         "normalized_name")
    bad = _cli("import-mappings", str(_write(tmp_path / "bad.csv", "name,id\nx,1\n")), env=env)
    assert bad.returncode == 2 and "missing column" in bad.stderr


def test_resolve_file_writes_results_and_plan_mode_writes_nothing(db: psycopg.Connection, env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    add_registry_company(db, "201912345N", "ZEBRA LOGISTICS PTE. LTD.")
    db.execute("INSERT INTO company_mapping (alias, match_type, priority, company_id, source) "
               "VALUES ('P1', 'plan_code', 2, 'C-P1', 'import')")
    db.commit()
    source = _write(tmp_path / "mentions.csv", "ref,Customer_Name,plan_code,uen\n"
                    "1,,P1,\n"
                    "2,Zebra Logistics Ltd,,\n"
                    "3,Unknown Widgets Pte Ltd,,\n"
                    "4,,P9,\n"
                    "5,,,201912345N\n")
    before = snapshot(db)
    planned = _json("file", str(source), "--plan", "-o", str(tmp_path / "plan.csv"), env=env)
    assert planned["statuses"] == {"SUCCESS_INTERNAL": 2, "SUCCESS_EXTERNAL": 1, "PENDING_LOOKUP": 1,
                                   "TEMP_ASSIGNED": 1}
    assert snapshot(db) == before

    report = _json("file", str(source), "--budget", "1", env=env)
    assert report["output"] == str(tmp_path / "mentions.resolved.csv") and report["external_lookups"] == 1
    with open(report["output"], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["ref"], r["company_id"], r["status"], r["temp_id"]) for r in rows] == [
        ("1", "C-P1", "SUCCESS_INTERNAL", ""),
        ("2", "201912345N", "SUCCESS_EXTERNAL", ""),
        ("3", "", "PENDING_LOOKUP", ""),
        ("4", "TEMP_000001", "TEMP_ASSIGNED", "TEMP_000001"),
        ("5", "201912345N", "SUCCESS_INTERNAL", ""),
    ]
    # the plan showed the same results a real run gave
    with open(tmp_path / "plan.csv", newline="", encoding="utf-8") as f:
        assert [r["company_id"] for r in csv.DictReader(f)] == [r["company_id"] for r in rows]
    # resolving the result file again keeps its columns (no duplicates) and the same answers
    again = _json("file", report["output"], "-o", str(tmp_path / "again.csv"), env=env)
    with open(again["output"], newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["ref", "Customer_Name", "plan_code", "uen", "company_id", "status", "source",
                                     "temp_id"]
        assert [r["company_id"] for r in reader] == ["C-P1", "201912345N", "", "TEMP_000001", "201912345N"]
    missing = _cli("file", str(tmp_path / "nope.csv"), env=env)
    assert missing.returncode == 2


def test_process_queue_and_queue_status(db: psycopg.Connection, env: dict[str, str]) -> None:
    assert _json("Zebra Logistics", "Nobody Anywhere", "--budget", "0", env=env)["results"][0]["status"] == \
        "PENDING_LOOKUP"
    add_registry_company(db, "201912345N", "ZEBRA LOGISTICS PTE. LTD.")
    status = _json("queue-status", env=env)
    assert (status["pending"], status["ready"], status["done"]) == (2, 2, 0)
    before = snapshot(db)
    assert _json("process-queue", "--plan", env=env)["plan"]["total_writes"] > 0
    assert snapshot(db) == before
    report = _json("process-queue", "--batch-size", "1", env=env)
    assert (report["claimed"], report["done"], report["retrying"]) == (2, 1, 1)
    status = _json("queue-status", env=env)
    assert (status["pending"], status["ready"], status["done"]) == (1, 0, 1)
    assert status["top_errors"] == [{"error": "no candidate above the confidence threshold", "requests": 1}]
    text = _cli("queue-status", env=env)
    assert text.returncode == 0 and "next retry at" in text.stdout


def test_resolve_through_the_sandbox_eqc_keeps_stdout_pure_json(db: psycopg.Connection, env: dict[str, str]) -> None:
    from acra_enrich.sandbox.testing import running_sandbox

    with running_sandbox(seed=7, companies=40) as sb:
        company = next(c for c in sb.world.companies if c.status.startswith("Live"))
        sandbox_env = {**env, **sb.env()}
        done = _cli(company.display_name, "--json", env=sandbox_env)
        assert done.returncode == 0, done.stderr
        [result] = json.loads(done.stdout)["results"]  # nothing but the JSON document on stdout
        assert (result["status"], result["company_id"], result["source"]) == ("SUCCESS_EXTERNAL", company.uen, "eqc")
        assert [r.path.split("?")[0] for r in sb.requests(host="eqc.sandbox.test")] == [
            "/kg-api-hfd/api/search/", "/kg-api-hfd/api/search/findDepart"]
        sb.faults.inject("eqc", "429")
        limited = _json("Some Other Company Pte Ltd", env=sandbox_env)["results"][0]
        assert limited["status"] == "PENDING_LOOKUP" and "EqcRateLimitError" in limited["detail"]
