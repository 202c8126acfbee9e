"""The nightly per-tenant DAG on a real PostgreSQL and the sandbox web (company sites, vendors,
Odoo) over real HTTP: a run end to end, re-syncs that create nothing twice and keep an Odoo
user's edit, two tenants sharing companies under row-level security, the dry run, the daily cap,
budgets that degrade a run without failing it, and Odoo refusing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import psycopg
import pytest

from acra_enrich.db import tenant_context
from acra_enrich.runners.nightly import dag
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.tenants.icp import parse_icp
from acra_enrich.tenants.store import set_icp
from tests.nightly_helpers import DAY, ICP, make_tenant, nightly, nightly_env, registry_file, sandbox  # noqa: F401

STAGES = ["refresh_companies", "refresh_candidates", "select_targets", "enrich", "verify_emails", "score", "odoo_sync"]
TENANT_TABLES = ("icp_candidates", "nightly_targets", "lead_features", "lead_scores", "run_manifests", "odoo_records",
                 "enrichment_runs", "company_enrichment_runs")


def rows(conn: psycopg.Connection, query: str, *args: Any) -> list[tuple[Any, ...]]:
    return conn.execute(query, args).fetchall()


def as_tenant(conn: psycopg.Connection, tenant_id: int, query: str, *args: Any) -> list[tuple[Any, ...]]:
    conn.commit()
    with tenant_context(conn, tenant_id):
        return conn.execute(query, args).fetchall()


def test_a_run_end_to_end_then_a_resync_that_duplicates_nothing(nightly_env: dict[str, str], db: psycopg.Connection,
                                                                sandbox: SandboxHandle) -> None:
    tenant = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    summary = nightly(tenant)
    assert summary.status == "done", summary.stop_reason
    assert summary.selected == 8 and summary.candidates > 8
    run = summary.run_id
    assert rows(db, "SELECT stage, status FROM run_manifests WHERE run_id = %s ORDER BY manifest_id", run) == \
        [(s, "done") for s in STAGES]
    # Companies were synced from staging by the run itself, targets are ICP candidates.
    targets = rows(db, "SELECT t.company_id, t.enrich_status, c.industry_code FROM nightly_targets t "
                       "JOIN companies c USING (company_id) WHERE run_id = %s", run)
    assert len(targets) == 8 and all(status in ("ok", "partial", "no_site") for _, status, _ in targets)
    assert all(code[:2] in ("56", "62", "64", "70", "73", "43", "46", "47") or 69 <= int(code[:2]) <= 82
               for _, _, code in targets)
    history = rows(db, "SELECT company_id FROM company_enrichment_runs WHERE run_id = %s AND tenant_id = %s",
                   run, tenant)
    assert sorted(h[0] for h in history) == sorted(t[0] for t in targets)
    scores = rows(db, "SELECT company_id, score, bucket, rationale, rationale_source FROM lead_scores "
                      "WHERE tenant_id = %s", tenant)
    assert len(scores) == 8 and all(r[3].startswith(f"{r[2]} (") if r[4] == "rules" else f"A {r[2]}-" in r[3]
                                    for r in scores)
    features = rows(db, "SELECT features FROM lead_features WHERE tenant_id = %s", tenant)
    assert len(features) == 8 and set(features[0][0]) >= {"icp_industry", "website_found", "verified_emails"}
    exported = {r[0] for r in scores if r[2] in ("High", "Medium")}
    assert exported, "the sandbox world should give some High or Medium leads"
    uens = {r[0]: r[1] for r in rows(db, "SELECT company_id, uen FROM companies")}
    partners = [p for p in sandbox.odoo.records("a", "res.partner") if p["is_company"]]
    assert sorted(p["company_registry"] for p in partners) == sorted(uens[c] for c in exported)
    leads = sandbox.odoo.records("a", "crm.lead")
    assert len(leads) == sum(1 for r in scores if r[1] >= 0.66)
    revenue = rows(db, "SELECT revenue_bucket, revenue_source FROM companies WHERE revenue_bucket IS NOT NULL")
    assert revenue and {src for _, src in revenue} <= {"employees", "paid_up_capital", "stated"}
    summary_row = rows(db, "SELECT status, processed, summary FROM enrichment_runs WHERE run_id = %s", run)[0]
    assert summary_row[0] == "done" and summary_row[1] == 8 and summary_row[2]["buckets"] == dict(summary.buckets)

    # An Odoo user edits a partner; the sync's own bookkeeping is lost (as if the process died
    # between Odoo's answer and the save); the sync runs again: same records, the edit kept.
    edited = partners[0]
    sandbox.odoo.edit("a", "res.partner", edited["id"], {"street": "1 Edited Road", "website": False})
    db.execute("DELETE FROM odoo_records")
    db.execute("UPDATE nightly_targets SET sync_status = NULL WHERE run_id = %s", (run,))
    db.execute("UPDATE run_manifests SET status = 'running' WHERE run_id = %s AND stage = 'odoo_sync'", (run,))
    db.execute("UPDATE enrichment_runs SET status = 'interrupted' WHERE run_id = %s", (run,))
    db.commit()
    again = nightly(tenant, from_manifest=run)
    assert again.status == "done" and again.resumed and again.stages["enrich"] == "done earlier"
    after = sandbox.odoo.records("a", "res.partner")
    assert [p["id"] for p in after] == [p["id"] for p in sandbox.odoo.records("a", "res.partner")]
    assert len([p for p in after if p["is_company"]]) == len(partners)
    assert len(after) == len(sandbox.odoo.records("a", "res.partner"))
    assert len(sandbox.odoo.records("a", "crm.lead")) == len(leads)
    mine = next(p for p in after if p["id"] == edited["id"])
    assert mine["street"] == "1 Edited Road"  # the user's edit stays
    if edited.get("website"):
        assert mine["website"] == edited["website"]  # emptied by the user: a gap the sync fills again
    assert len(rows(db, "SELECT 1 FROM company_enrichment_runs WHERE run_id = %s", run)) == 8  # no pipeline again


def test_two_tenants_sharing_companies_never_see_each_others_rows(nightly_env: dict[str, str],
                                                                  db: psycopg.Connection,
                                                                  sandbox: SandboxHandle) -> None:
    a = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    b = make_tenant(db, "B", {"ssic_codes": ["56", "62", "64", "70", "73"]}, odoo_db="b", key_env="ODOO_KEY_B")
    first = nightly(a)
    def tenant_rows(table: str, tenant: int) -> list[str]:  # in no particular order: as a sorted list
        return sorted(map(repr, rows(db, f"SELECT * FROM {table} WHERE tenant_id = %s", tenant)))

    snapshot = {t: tenant_rows(t, a) for t in TENANT_TABLES}
    for table in TENANT_TABLES:  # B has nothing yet, and A's run wrote nothing for B
        assert rows(db, f"SELECT count(*) FROM {table} WHERE tenant_id = %s", b) == [(0,)]
    second = nightly(b)
    assert first.status == second.status == "done"
    shared = {r[0] for r in rows(db, "SELECT company_id FROM icp_candidates WHERE tenant_id = %s "
                                     "INTERSECT SELECT company_id FROM icp_candidates WHERE tenant_id = %s", a, b)}
    assert shared, "the two ICPs overlap"
    for table in TENANT_TABLES:  # B's run changed none of A's rows
        assert tenant_rows(table, a) == snapshot[table], table
    # Inside a tenant's context only its rows exist.
    for table in TENANT_TABLES:
        seen = as_tenant(db, a, f"SELECT DISTINCT tenant_id FROM {table}")
        assert seen in ([], [(a,)]), table
    # Each tenant's companies went to its own Odoo only.
    uens_b = {r[0] for r in rows(db, "SELECT c.uen FROM lead_scores s JOIN companies c USING (company_id) "
                                     "WHERE s.tenant_id = %s AND s.bucket <> 'Low'", b)}
    assert {p["company_registry"] for p in sandbox.odoo.records("b", "res.partner") if p["is_company"]} == uens_b


def test_dry_run_writes_nothing(nightly_env: dict[str, str], db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    db.execute("INSERT INTO companies (uen, name, industry_code, status) "
               "SELECT uen, entity_name, left(primary_ssic_code, 5), entity_status_description "
               "FROM staging_acra_companies")
    db.commit()
    counts = {t: rows(db, f"SELECT count(*) FROM {t}")[0][0] for t in (*TENANT_TABLES, "companies")}
    summary = nightly(tenant, dry_run=True)
    assert summary.dry_run and summary.run_id is None and summary.selected == 8
    assert len(summary.shortlist) == 8 and all(r["would_sync"] for r in summary.shortlist)
    assert {t: rows(db, f"SELECT count(*) FROM {t}")[0][0] for t in counts} == counts


def test_the_daily_cap_holds_across_runs_of_one_day(nightly_env: dict[str, str], db: psycopg.Connection,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHED_DAILY_CAP_PER_TENANT", "3")
    tenant = make_tenant(db, "A")  # no Odoo: the run says so and syncs nothing
    first = nightly(tenant)
    assert first.selected == 3 and any("Odoo not configured" in d for d in first.degraded)
    second = nightly(tenant)
    assert second.selected == 0 and any("daily cap of 3 reached" in d for d in second.degraded)
    assert second.status == "done"
    next_day = nightly(tenant, day=DAY + timedelta(days=1), limit=2)
    assert next_day.selected == 2
    taken = rows(db, "SELECT run_id, company_id FROM nightly_targets ORDER BY run_id")
    assert len({c for _, c in taken}) == 5  # the next day took other candidates


def test_budgets_degrade_the_run_without_failing_it(nightly_env: dict[str, str], db: psycopg.Connection,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEROBOUNCE_MAX_VERIFICATIONS", "1")
    monkeypatch.setenv("LUSHA_MAX_CONTACT_LOOKUPS", "0")
    monkeypatch.setenv("APIFY_TOKEN", "")  # Lusha is then the only way to people
    tenant = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    summary = nightly(tenant)
    assert summary.status == "done"
    assert any(d.startswith("verification deferred:") and "ZEROBOUNCE_MAX_VERIFICATIONS" in d
               for d in summary.degraded), summary.degraded
    unverified = rows(db, "SELECT count(*) FROM lead_emails WHERE verification_status = 'unverified'")[0][0]
    assert unverified > 0
    assert summary.vendor_usage["after"]["zerobounce"]["used"] <= 1


def test_odoo_refusals_are_recorded_per_company(nightly_env: dict[str, str], db: psycopg.Connection,
                                                sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    sandbox.odoo.set_rights("a", "api@a.sg", "crm.lead", {"read"})  # may not create leads
    a = make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    summary = nightly(a)
    assert summary.status == "done"
    failed = rows(db, "SELECT sync_error FROM nightly_targets WHERE sync_status = 'failed'")
    synced = rows(db, "SELECT count(*) FROM nightly_targets WHERE sync_status = 'synced'")[0][0]
    assert failed and all("AccessError" in e and "crm.lead" in e for (e,) in failed)
    assert synced + len(failed) == summary.buckets["High"] + summary.buckets["Medium"]
    assert sandbox.odoo.records("a", "crm.lead") == []

    monkeypatch.setenv("ODOO_KEY_B", "not-the-key")
    b = make_tenant(db, "B", odoo_db="b", key_env="ODOO_KEY_B")
    refused = nightly(b)
    assert refused.status == "done" and any("Odoo sync impossible" in d for d in refused.degraded)
    errors = as_tenant(db, b, "SELECT DISTINCT sync_error FROM nightly_targets WHERE sync_status = 'failed'")
    assert len(errors) == 1 and "wrong login or API key" in errors[0][0] and "not-the-key" not in errors[0][0]


def test_the_command_line_runs_every_active_tenant_and_names_the_one_it_cannot(
        nightly_env: dict[str, str], db: psycopg.Connection) -> None:
    from typer.testing import CliRunner

    from acra_enrich.cli import app
    from acra_enrich.tenants.store import OdooConnection, add_tenant

    from acra_enrich.registry.company_sync import sync_companies

    make_tenant(db, "A", odoo_db="a", key_env="ODOO_KEY_A")
    sync_companies(db)
    db.commit()
    db.autocommit = True
    add_tenant(db, "B", OdooConnection("http://odoo.sandbox.test", "b", "api@b.sg", "ODOO_KEY_B"))  # no ICP
    result = CliRunner().invoke(app, ["run", "nightly", "--dry-run"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "nightly dry run of tenant 1 (A): done" in result.output and "shortlist" in result.output
    assert "-> nothing (Low)" in result.output  # what would be synced: before enrichment, nothing
    assert "tenant 2 (B) has no ICP" in result.output
    assert "staging changed since the tenant's last run" in result.output
    alone = CliRunner().invoke(app, ["run", "nightly", "--tenant", "B"], catch_exceptions=False)
    assert alone.exit_code == 2 and "has no ICP" in alone.output
    assert db.execute("SELECT count(*) FROM enrichment_runs").fetchone() == (0,)


def candidate_counts(conn: psycopg.Connection, run_id: int | None) -> dict[str, int]:
    payload = rows(conn, "SELECT payload FROM run_manifests WHERE run_id = %s AND stage = 'refresh_candidates'",
                   run_id)[0][0]
    return {k: payload[k] for k in ("candidates", "added", "changed", "removed")}


def test_candidates_follow_the_icp_writing_only_what_changed(nightly_env: dict[str, str],
                                                             db: psycopg.Connection) -> None:
    tenant = make_tenant(db, "A")
    built = nightly(tenant, limit=0)
    n = built.candidates
    assert candidate_counts(db, built.run_id) == {"candidates": n, "added": n, "changed": 0, "removed": 0}
    again = nightly(tenant, limit=0)
    assert candidate_counts(db, again.run_id) == {"candidates": n, "added": 0, "changed": 0, "removed": 0}

    db.commit()
    db.autocommit = True
    set_icp(db, tenant, parse_icp({**ICP, "keywords": ["pte"]}, "test"))  # every fit gains a criterion
    reworded = nightly(tenant, limit=0)
    assert candidate_counts(db, reworded.run_id) == {"candidates": n, "added": 0, "changed": n, "removed": 0}
    set_icp(db, tenant, parse_icp({"ssic_codes": ["62"], "keywords": ["pte"]}, "test"))
    db.autocommit = False
    narrowed = nightly(tenant, limit=0)
    kept = narrowed.candidates
    assert 0 < kept < n
    assert candidate_counts(db, narrowed.run_id) == {"candidates": kept, "added": 0, "changed": 0, "removed": n - kept}
    assert as_tenant(db, tenant, "SELECT count(*) FROM icp_candidates")[0][0] == kept

    code = as_tenant(db, tenant, "SELECT c.industry_code FROM icp_candidates JOIN companies c USING (company_id)")[0][0]
    db.commit()
    db.autocommit = True
    set_icp(db, tenant, parse_icp({"ssic_codes": [code[:4], "K"]}, "test"))  # a class and a whole section
    db.autocommit = False
    nightly(tenant, limit=0)
    taken = as_tenant(db, tenant, "SELECT c.industry_code FROM icp_candidates JOIN companies c USING (company_id)")
    assert any(c.startswith(code[:4]) for c, in taken) and any(c[:2] in ("64", "65", "66") for c, in taken)
    assert all(c.startswith(code[:4]) or c[:2] in ("64", "65", "66") for c, in taken)


def candidate_analyses(conn: psycopg.Connection) -> int:
    conn.commit()  # a fresh statistics snapshot
    [(count,)] = rows(conn, "SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'icp_candidates'")
    conn.commit()
    return int(count)


def test_a_refresh_that_rewrites_many_candidates_refreshes_their_statistics(
        nightly_env: dict[str, str], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = make_tenant(db, "A")
    monkeypatch.setattr(dag, "ANALYZE_AFTER_CHANGES", 10**9)
    before = candidate_analyses(db)
    n = nightly(tenant, limit=0).candidates
    assert candidate_analyses(db) == before  # below the threshold: left to autovacuum

    monkeypatch.setattr(dag, "ANALYZE_AFTER_CHANGES", n - 1)
    nightly(tenant, limit=0)
    assert candidate_analyses(db) == before  # nothing changed: nothing to analyse
    db.autocommit = True
    set_icp(db, tenant, parse_icp({**ICP, "keywords": ["pte"]}, "test"))  # all n candidates change
    db.autocommit = False
    nightly(tenant, limit=0)
    assert candidate_analyses(db) == before + 1


def test_targets_are_never_enriched_then_stale_then_updated_best_fit_first(
        nightly_env: dict[str, str], db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCHED_DAILY_CAP_PER_TENANT", "100")
    # keywords raise the fit of the companies whose words they name
    tenant = make_tenant(db, "A", {**ICP, "keywords": ["engineering", "trading", "technolog", "food", "consult"]})
    nightly(tenant, limit=0)  # companies synced, candidates built, nothing taken
    ranked = as_tenant(db, tenant, "SELECT company_id FROM icp_candidates ORDER BY fit_score DESC, company_id")
    ids = [r[0] for r in ranked]
    assert len(ids) >= 9
    stale, updated, fresh = ids[:2], ids[2:4], ids[4]  # the best fits: tiers must beat fit
    db.execute("UPDATE companies SET enriched_at = now() - interval '400 days' WHERE company_id = ANY(%s)", (stale,))
    db.execute("UPDATE companies SET enriched_at = now() - interval '1 day' WHERE company_id = ANY(%s)", (updated,))
    db.execute("UPDATE companies SET enriched_at = now() WHERE company_id = %s", (fresh,))
    db.commit()
    with tenant_context(db, tenant):  # enriched after the registry changed, scored since: nothing to do
        db.execute("INSERT INTO lead_scores (tenant_id, company_id, score, bucket) VALUES (%s, %s, 0.5, 'Medium')",
                   (tenant, fresh))
    db.commit()
    never = [c for c in ids if c not in (*stale, *updated, fresh)]

    def shortlist(limit: int) -> list[tuple[str, int]]:
        summary = nightly(tenant, dry_run=True, limit=limit)
        uen_of = {uen: cid for cid, uen in rows(db, "SELECT company_id, uen FROM companies")}
        return [(r["tier"], uen_of[r["uen"]]) for r in sorted(summary.shortlist, key=lambda r: r["position"])]

    assert shortlist(3) == [("never_enriched", c) for c in never[:3]]
    assert shortlist(len(ids)) == ([("never_enriched", c) for c in never] + [("stale", c) for c in stale]
                                   + [("updated", c) for c in updated])
