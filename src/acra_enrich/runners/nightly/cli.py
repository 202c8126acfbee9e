"""`acra-enrich run nightly` (one tenant, every active tenant, or the queue worker)."""

from __future__ import annotations

import asyncio
import json
from typing import Optional

import typer
from rich.table import Table

from acra_enrich.cli_support import database, err, out
from acra_enrich.config import Settings, get_settings
from acra_enrich.errors import ConfigError
from acra_enrich.runners.nightly.dag import NightlyParams, NightlySummary, run_nightly_for_tenant
from acra_enrich.runners.signals import on_stop_signals
from acra_enrich.tenants.store import active_tenants, resolve_tenant


def run_nightly_cmd(
    tenant: Optional[str] = typer.Option(None, "--tenant", help="tenant id or name; default: every active tenant"),
    limit: Optional[int] = typer.Option(None, "--limit", min=0, help="at most N targets (within the daily cap)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the target set, provisional scores and what would "
                                 "be synced; write nothing"),
    from_manifest: Optional[int] = typer.Option(None, "--from-manifest", metavar="RUN_ID",
                                                help="resume that run: finished stages and companies are not repeated"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """A tenant's nightly shortlist: refresh companies and ICP candidates, select the capped daily target set, enrich, verify emails, score with a rationale, sync High and Medium companies to its Odoo.

    Cap: SCHED_DAILY_CAP_PER_TENANT (or SHORTLIST_DAILY_CAP, default 20) companies per tenant per Asia/Singapore day. Each stage is recorded in run_manifests; a run that died resumes with --from-manifest RUN_ID. A vendor budget that runs out degrades its step and the summary says so. SIGINT/SIGTERM: no new companies; the run ends `interrupted` and resumes with --from-manifest. Exit 2: bad usage, unknown tenant, no ICP, or the tenant's run already in progress; exit 3: the database cannot be reached.
    """
    from acra_enrich.logs import configure_logging

    if from_manifest is not None and tenant is None:
        raise typer.BadParameter("--from-manifest needs --tenant", param_hint="--from-manifest")
    with database() as conn:
        settings = get_settings()
        configure_logging(settings, stderr=not err.is_terminal)
        if tenant is not None:
            ids = [resolve_tenant(conn, tenant).tenant_id]
        else:
            ids = [t.tenant_id for t in active_tenants(conn, settings)]
            if not ids:
                raise ConfigError("no active tenant with an Odoo connection (see `acra-enrich tenants list`); "
                                  "give --tenant to run one anyway")
        conn.commit()
        summaries = asyncio.run(_run_all(settings, ids, NightlyParams(limit=limit, dry_run=dry_run,
                                                                     from_manifest=from_manifest)))
    if as_json:
        print(json.dumps([s.as_dict() for s in summaries], default=str, indent=2))
        return
    for summary in summaries:
        print_summary(summary)


async def _run_all(settings: Settings, ids: list[int], params: NightlyParams) -> list[NightlySummary]:
    stop = asyncio.Event()
    uninstall = on_stop_signals(lambda sig: stop.set())
    try:
        summaries = []
        for tenant_id in ids:
            if stop.is_set():
                break
            summaries.append(await run_nightly_for_tenant(settings, tenant_id, params, stop=stop))
        return summaries
    finally:
        uninstall()


def print_summary(s: NightlySummary) -> None:
    title = f"nightly {'dry run' if s.dry_run else 'run ' + str(s.run_id)} of tenant {s.tenant_id} ({s.tenant}): {s.status}"
    table = Table(box=None, show_header=False, title=title)
    rows = [("day", s.day), ("stopped because", s.stop_reason), ("ICP candidates", f"{s.candidates:,}"),
            ("selected", f"{s.selected:,} (daily cap {s.daily_cap})")]
    if s.enriched:
        rows.append(("enriched", ", ".join(f"{k} {v}" for k, v in sorted(s.enriched.items()))))
    if s.buckets:
        rows.append(("scored", ", ".join(f"{b} {s.buckets[b]}" for b in ("High", "Medium", "Low") if s.buckets[b])))
    if s.synced:
        rows.append(("odoo", ", ".join(f"{k} {v}" for k, v in sorted(s.synced.items()))))
    for note in s.degraded:
        rows.append(("degraded", note))
    before, after = s.vendor_usage.get("before", {}), s.vendor_usage.get("after", {})
    used = [f"{v} {after[v]['used'] - before.get(v, {}).get('used', 0)}" for v in after
            if after[v]["used"] - before.get(v, {}).get("used", 0)]
    if used:
        rows.append(("vendor units used", ", ".join(used) + " (all processes, this run's span)"))
    rows.append(("duration", f"{s.duration_s:,.1f} s"))
    for label, value in rows:
        table.add_row(label, value)
    out.print(table)
    if not s.shortlist:
        return
    shortlist = Table("uen", "name", "bucket", "score", "rationale", "odoo", box=None, title="shortlist")
    for r in s.shortlist:
        if s.dry_run:
            odoo = r.get("would_sync", "")
        else:
            odoo = r["sync_status"] or ""
            if r["partner_id"]:
                odoo += f" (partner {r['partner_id']}" + (f", lead {r['lead_id']})" if r["lead_id"] else ")")
            if r["sync_error"]:
                odoo += f": {r['sync_error'][:80]}"
        shortlist.add_row(r["uen"] or "", r["name"], r["bucket"] or "-", f"{r['score']:.2f}" if r["score"] is not None
                          else "-", r["rationale"] or "", odoo)
    out.print(shortlist)
