"""Tenants and ICPs from the command line: Odoo keys named by variable (never stored), the
scheduler's active tenants, ICP files checked field by field, and the migration of keys an
earlier version stored in plain text."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from alembic import command
from typer.testing import CliRunner

from acra_enrich.cli import app
from acra_enrich.config import load_settings, reset_settings_cache
from acra_enrich.db.migrate import _alembic_config
from acra_enrich.tenants.icp import IcpFileError, load_icp_file
from acra_enrich.tenants.store import active_tenants

ODOO = ["--odoo-url", "http://odoo.sandbox.test", "--odoo-db", "acme", "--odoo-user", "api@acme.sg"]


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def tenants() -> list[dict[str, object]]:
    return {t["name"]: t for t in json.loads(run("tenants", "list", "--json"))}  # type: ignore[return-value]


def test_tenants_add_list_disable_and_the_schedulers_choice(db: psycopg.Connection,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_ODOO_KEY", "s3cret-odoo-key")
    assert "tenant 1 (Acme) added" in run("tenants", "add", "Acme", *ODOO, "--odoo-key-env", "ACME_ODOO_KEY")
    out = run("tenants", "add", "Beta", *ODOO, "--odoo-key-env", "BETA_ODOO_KEY")
    assert "BETA_ODOO_KEY is not set here" in out
    run("tenants", "add", "NoCrm")
    listed = tenants()
    assert listed["Acme"]["odoo_key_set"] is True and listed["Beta"]["odoo_key_set"] is False
    assert [n for n, t in listed.items() if t["scheduled"]] == ["Acme", "Beta"]  # NoCrm has no Odoo
    # The key itself is nowhere in the database.
    dump = json.dumps(db.execute("SELECT row_to_json(o) FROM odoo_connections o").fetchall())
    assert "s3cret" not in dump and "ACME_ODOO_KEY" in dump

    assert "disabled" in run("tenants", "disable", "beta")
    assert [n for n, t in tenants().items() if t["scheduled"]] == ["Acme"]
    run("tenants", "enable", "2")
    monkeypatch.setenv("SCHED_TENANT_EXCLUDE", "acme")
    reset_settings_cache()
    assert [t.name for t in active_tenants(db, load_settings())] == ["Beta"]
    monkeypatch.setenv("SCHED_TENANT_EXCLUDE", "")
    monkeypatch.setenv("SCHED_TENANT_INCLUDE", "1,NoCrm")
    assert [t.name for t in active_tenants(db, load_settings())] == ["Acme"]


@pytest.mark.parametrize("args, message", [
    (["Acme"], "already exists"),
    (["Other", "--odoo-url", "http://x"], "missing --odoo-db, --odoo-user, --odoo-key-env"),
    (["Other", *ODOO, "--odoo-key-env", "sk-live-abc-123"], "expected the name of an environment variable"),
    (["Other", "--odoo-url", "ftp://x", "--odoo-db", "d", "--odoo-user", "u", "--odoo-key-env", "K"],
     "expected an http:// or https:// URL"),
])
def test_bad_tenant_input_is_refused_naming_the_option(db: psycopg.Connection, args: list[str], message: str) -> None:
    run("tenants", "add", "Acme")
    assert message in run("tenants", "add", *args, code=2)
    assert len(tenants()) == 1


def test_icp_set_and_show(db: psycopg.Connection, tmp_path: Path) -> None:
    run("tenants", "add", "Acme")
    icp = tmp_path / "icp.yaml"
    icp.write_text("ssic_codes: [J, '70201', 62]\nindustry_words: [software]\nemployees: {min: 10, max: 500}\n"
                   "postal_districts: [9, 1]\nkeywords: [cloud]\n")
    assert "criteria: industry, status, employees, district, keywords" in run("icp", "set", "Acme", "--file", str(icp))
    shown = json.loads(run("icp", "show", "1", "--json"))
    assert shown == {"ssic_codes": ["J", "70201", "62"], "industry_words": ["software"],
                     "employees": {"min": 10, "max": 500}, "postal_districts": [1, 9], "keywords": ["cloud"]}
    assert "ssic_codes:" in run("icp", "show", "Acme")
    run("tenants", "add", "Beta")
    assert "has no ICP" in run("icp", "show", "Beta", code=1)


@pytest.mark.parametrize("text, suffix, message", [
    ("ssic_codes: [J]\nemployes: {min: 1}\n", ".yaml", "employes: unknown field"),
    ("ssic_codes: [J]\nemployees: {min: 50, max: 10}\n", ".yaml", "employees: min (50) is above max (10)"),
    ("ssic_codes: [J, '999999']\n", ".yaml", "ssic_codes: entry 1 ('999999') is not an SSIC 2020"),
    ("ssic_codes: [J]\nemployees: {min: -1}\n", ".yaml", "employees.min: Input should be greater than or equal to 0"),
    ("keywords: [cloud]\n", ".yaml", "name the industry"),
    ("ssic_codes: [J]\npostal_districts: [29]\n", ".yaml", "29 is not a Singapore postal district"),
    ("ssic_codes: [J\n", ".yaml", "line 2, column 1: not valid YAML"),
    ('{"ssic_codes": ["J"],}', ".json", "line 1, column 22: not valid JSON"),
    ("[1, 2]", ".json", "expected a mapping of ICP fields"),
    ("ssic_codes: [J]", ".txt", "expected a .yaml, .yml or .json file"),
])
def test_a_bad_icp_file_is_refused_with_the_field_named(tmp_path: Path, text: str, suffix: str, message: str) -> None:
    path = tmp_path / f"icp{suffix}"
    path.write_text(text)
    with pytest.raises(IcpFileError) as caught:
        load_icp_file(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_icp_set_refuses_ssic_codes_the_reference_does_not_know(db: psycopg.Connection, tmp_path: Path) -> None:
    run("tenants", "add", "Acme")
    icp = tmp_path / "icp.json"
    icp.write_text('{"ssic_codes": ["62", "6209", "62999"]}')
    assert "no SSIC 2020 code starts with '62999'" in run("icp", "set", "Acme", "-f", str(icp), code=2)
    assert "has no ICP" in run("icp", "show", "Acme", code=1)


def test_the_migration_replaces_a_stored_key_with_the_name_of_its_variable(blank_database: str) -> None:
    command.upgrade(_alembic_config(blank_database), "0005")
    with psycopg.connect(blank_database) as conn:
        conn.execute("INSERT INTO tenants (tenant_id, name) VALUES (7, 'old')")
        conn.execute("INSERT INTO odoo_connections (tenant_id, base_url, db_name, username, api_key) "
                     "VALUES (7, 'https://old.odoo.com', 'old', 'api', 'plain-text-key')")
    command.upgrade(_alembic_config(blank_database), "head")
    with psycopg.connect(blank_database) as conn:
        row = conn.execute("SELECT row_to_json(o)::text FROM odoo_connections o").fetchone()
    assert row is not None and "plain-text-key" not in row[0]
    assert json.loads(row[0])["api_key_env"] == "ODOO_API_KEY_7"
    assert json.loads(row[0])["base_url"] == "https://old.odoo.com"
