"""The nightly step of `acra-enrich demo`: a demo tenant with an ICP and a sandbox Odoo, its run,
its shortlist with buckets and rationale, and what reached its Odoo."""

from __future__ import annotations

import asyncio

from psycopg.rows import dict_row
from rich.console import Console
from rich.table import Table

from acra_enrich.config import Settings
from acra_enrich.db import connect, tenant_context
from acra_enrich.runners.nightly.dag import NightlyParams, run_nightly_for_tenant
from acra_enrich.sandbox.testing import SandboxHandle
from acra_enrich.sqlfiles import fetch_one, load_queries
from acra_enrich.tenants.icp import parse_icp
from acra_enrich.tenants.store import OdooConnection, UnknownTenant, add_tenant, resolve_tenant, set_icp

_Q = load_queries("acra_enrich.runners.nightly.sql", "nightly.sql")
DEMO_TENANT, DEMO_CAP = "demo-sales", 10
DEMO_ODOO_DB, DEMO_ODOO_USER, DEMO_KEY_ENV, DEMO_KEY = "demo", "sdr@demo.sg", "DEMO_ODOO_API_KEY", "demo-odoo-key"
# Software, consulting and finance firms, and food and beverage: the sample's common trades.
DEMO_ICP = {"ssic_codes": ["62", "70", "64", "56"], "industry_words": ["software", "consultancy"]}


def nightly_demo(out: Console, settings: Settings, sandbox: SandboxHandle) -> None:
    out.print(f"[bold]6. nightly[/]: tenant {DEMO_TENANT!r} (ICP: SSIC {', '.join(DEMO_ICP['ssic_codes'])}), "
              f"daily cap {DEMO_CAP}, Odoo = the sandbox's emulation")
    sandbox.odoo.create_database(DEMO_ODOO_DB, DEMO_ODOO_USER, DEMO_KEY)
    with connect(settings, autocommit=True) as conn:
        try:
            tenant_id = resolve_tenant(conn, DEMO_TENANT).tenant_id
        except UnknownTenant:
            tenant_id = add_tenant(conn, DEMO_TENANT, OdooConnection("http://odoo.sandbox.test", DEMO_ODOO_DB,
                                                                      DEMO_ODOO_USER, DEMO_KEY_ENV))
        set_icp(conn, tenant_id, parse_icp(DEMO_ICP, "the demo ICP"))
    run_settings = settings.model_copy(update={"sched_daily_cap_per_tenant": DEMO_CAP})
    summary = asyncio.run(run_nightly_for_tenant(run_settings, tenant_id, NightlyParams()))
    out.print(f"   run {summary.run_id}: {summary.status}; {summary.candidates} ICP candidates, {summary.selected} "
              f"selected; scored " + ", ".join(f"{b} {summary.buckets[b]}" for b in ("High", "Medium", "Low")
                                              if summary.buckets[b]) + f"; {summary.duration_s:.1f} s",
              highlight=False, markup=False)
    for note in summary.degraded:
        out.print(f"   degraded: {note}", highlight=False, markup=False)
    with connect(settings) as conn, tenant_context(conn, tenant_id), conn.cursor(row_factory=dict_row) as cur:
        run_id = summary.run_id if summary.selected else fetch_one(conn, _Q["latest_run_with_targets"])[0]
        if not summary.selected:
            out.print(f"   today's cap was taken by an earlier demo run: its shortlist (run {run_id})")
        rows = cur.execute(_Q["shortlist"], {"run_id": run_id}).fetchall()
    table = Table(box=None, title="shortlist")
    for column, width in (("name", 24), ("bucket", 6), ("score", 5), ("rationale", 60), ("odoo", 14)):
        table.add_column(column, overflow="fold" if column == "rationale" else "ellipsis", max_width=width)
    for r in rows:
        odoo = (f"partner {r['partner_id']}" + (f", lead {r['lead_id']}" if r["lead_id"] else "")
                if r["partner_id"] else (r["sync_status"] or ""))
        table.add_row(r["name"], r["bucket"] or "-", f"{r['score']:.2f}" if r["score"] is not None else "-",
                      r["rationale"] or "", odoo)
    out.print(table)
    partners = [p for p in sandbox.odoo.records(DEMO_ODOO_DB, "res.partner") if p["is_company"]]
    people = [p for p in sandbox.odoo.records(DEMO_ODOO_DB, "res.partner") if not p["is_company"]]
    leads = sandbox.odoo.records(DEMO_ODOO_DB, "crm.lead")
    out.print(f"   synced to Odoo (database {DEMO_ODOO_DB!r}): {len(partners)} companies, {len(people)} contacts, "
              f"{len(leads)} leads (score >= {settings.score_min_export:g})", highlight=False)
    for lead in leads[:5]:
        out.print(f"     lead #{lead['id']}: {lead['name']} - {lead.get('description', '')}", highlight=False,
                  markup=False)
