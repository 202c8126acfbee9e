"""`acra-enrich run nightly` (one tenant, every active tenant, or the queue worker)."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Optional

import typer

from acra_enrich.cli_support import database, err, fail, out
from acra_enrich.config import Settings, get_settings
from acra_enrich.errors import ConfigError
from acra_enrich.tenants.store import active_tenants, resolve_tenant

if TYPE_CHECKING:
    from acra_enrich.runners.nightly.dag import NightlyParams, NightlySummary

# The DAG and its clients (the whole enrichment pipeline) are imported by the commands that
# run them: every other command of the CLI starts without them (about 0.6 s).


def run_nightly_cmd(
    tenant: Optional[str] = typer.Option(None, "--tenant", help="tenant id or name; default: every active tenant"),
    limit: Optional[int] = typer.Option(None, "--limit", min=0, help="at most N targets (within the daily cap)"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the target set, provisional scores and what would "
                                 "be synced; write nothing"),
    from_manifest: Optional[int] = typer.Option(None, "--from-manifest", metavar="RUN_ID",
                                                help="resume that run: finished stages and companies are not repeated"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    worker: bool = typer.Option(False, "--worker", help="run queued nightly_tenant jobs (the scheduler's), "
                                "SCHED_TENANT_CONCURRENCY tenants at once, until stopped"),
    once: bool = typer.Option(False, "--once", help="with --worker: run what is queued now, then exit"),
) -> None:
    """A tenant's nightly shortlist: refresh companies and ICP candidates, select the capped daily target set, enrich, verify emails, score with a rationale, sync High and Medium companies to its Odoo.

    Cap: SCHED_DAILY_CAP_PER_TENANT (or SHORTLIST_DAILY_CAP, default 20) companies per tenant per Asia/Singapore day. Each stage is recorded in run_manifests; a run that died resumes with --from-manifest RUN_ID. A vendor budget that runs out degrades its step and the summary says so. SIGINT/SIGTERM: no new companies; the run ends `interrupted` and resumes with --from-manifest. Exit 2: bad usage, unknown tenant, no ICP, or the tenant's run already in progress; exit 3: the database cannot be reached.
    """
    from acra_enrich.logs import configure_logging
    from acra_enrich.runners.nightly.dag import NightlyParams

    if worker:
        if tenant is not None or dry_run or from_manifest is not None or limit is not None:
            raise typer.BadParameter("--worker takes its tenants from the queue; it goes with --once only",
                                     param_hint="--worker")
        _worker(once, as_json)
        return
    if once:
        raise typer.BadParameter("--once goes with --worker", param_hint="--once")
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
        summaries, refused = asyncio.run(_run_all(settings, ids, NightlyParams(limit=limit, dry_run=dry_run,
                                                                              from_manifest=from_manifest)))
    if as_json:
        print(json.dumps([s.as_dict() for s in summaries], default=str, indent=2))
    else:
        for summary in summaries:
            print_summary(summary)
    if refused:
        if len(ids) == 1:
            fail(refused[0])
        for error in refused:
            err.print(f"[bold red]error:[/] {error}", highlight=False)
        raise typer.Exit(2)


def _worker(once: bool, as_json: bool) -> None:
    from acra_enrich.logs import configure_logging
    from acra_enrich.runners.nightly.worker import run_worker

    with database():
        settings = get_settings()
        configure_logging(settings, stderr=not err.is_terminal)
        stats = asyncio.run(run_worker(settings, once=once))
    if as_json:
        print(json.dumps(stats.__dict__, indent=2))
        return
    out.print(f"nightly worker stopped: {stats.claimed} tenant job(s) claimed, {stats.done} done, "
              f"{stats.retried} to retry, {stats.failed} failed, {stats.deferred} deferred, "
              f"{stats.released} released", highlight=False)


def scheduler_cmd(
    once: bool = typer.Option(False, "--once", help="fire the latest slot if nobody did, then exit"),
    as_json: bool = typer.Option(False, "--json", help="print what was fired as JSON"),
) -> None:
    """Fire SCHED_START_CRON (default 0 1 * * *, Asia/Singapore): at each slot, one nightly_tenant job per active tenant (SCHED_TENANT_INCLUDE/EXCLUDE) on the nightly lane, for `acra-enrich run nightly --worker` to run.

    Any number of scheduler processes fire each slot exactly once. A slot missed while no scheduler ran fires once at start-up (not once per missed day). SCHED_ENABLED=false: wait without firing. SIGINT/SIGTERM stop it.
    """
    from acra_enrich.logs import configure_logging
    from acra_enrich.runners.nightly.scheduler import Scheduler

    with database():
        settings = get_settings()
        configure_logging(settings, stderr=not err.is_terminal)
        fired = asyncio.run(Scheduler(settings).run(once=once))
    if as_json:
        print(json.dumps([{"slot_at": f.slot_at.isoformat(), "jobs": f.jobs, "missed": f.missed} for f in fired]))
        return
    for f in fired:
        out.print(f"slot {f.slot_at:%Y-%m-%d %H:%M %Z}{' (missed, caught up)' if f.missed else ''}: "
                  f"{len(f.jobs)} tenant job(s) queued", highlight=False)
    if not fired:
        out.print("no slot fired (already fired by another scheduler, or SCHED_ENABLED is false)")


async def _run_all(settings: Settings, ids: list[int], params: NightlyParams,
                   ) -> tuple[list[NightlySummary], list[ConfigError]]:
    """Each tenant in turn, on one set of clients; one refused (no ICP, disabled, already running)
    does not stop the others. /metrics is served while they run (not for a dry run)."""
    from acra_enrich.db import make_pool
    from acra_enrich.runners.nightly.dag import run_nightly_for_tenant
    from acra_enrich.runners.nightly.kit import open_kit
    from acra_enrich.runners.nightly.watch import NightlyWatch
    from acra_enrich.runners.signals import on_stop_signals
    from acra_enrich.vendors import SlackClient

    stop = asyncio.Event()
    uninstall = on_stop_signals(lambda sig: stop.set())
    watch = NightlyWatch(settings)
    summaries, refused = [], []
    try:
        if not params.dry_run:
            watch.serve(settings)
        with make_pool(settings, min_size=1) as pool:
            async with open_kit(settings, pool) as kit:
                watch.slack = SlackClient(kit.vendor_web, settings)
                for tenant_id in ids:
                    if stop.is_set():
                        break
                    try:
                        summaries.append(await run_nightly_for_tenant(settings, tenant_id, params, kit=kit,
                                                                      stop=stop, watch=watch))
                    except ConfigError as exc:
                        refused.append(exc)
        return summaries, refused
    finally:
        watch.close()
        uninstall()


# Why a company kept its rule-based rationale, as the summary says it.
_WHY_RULES = {"no_llm": "no LLM configured (OPENAI_API_KEY unset)", "rejected": "rephrasing refused by the fact check",
              "budget_exhausted": "OPENAI_DAILY_TOKENS_CAP reached"}


def print_summary(s: NightlySummary) -> None:
    """Plain lines (label: value), readable at any terminal width and easy to grep."""
    title = f"nightly {'dry run' if s.dry_run else 'run ' + str(s.run_id)} of tenant {s.tenant_id} ({s.tenant}): {s.status}"
    lines = [("day", s.day), ("stopped because", s.stop_reason), ("ICP candidates", f"{s.candidates:,}"),
             ("selected", f"{s.selected:,} (daily cap {s.daily_cap})")]
    if s.enriched:
        lines.append(("enriched", ", ".join(f"{k} {v}" for k, v in sorted(s.enriched.items()))))
    if s.verification:
        lines.append(("emails", ", ".join(f"{k} {v}" for k, v in s.verification.items())))
    if s.buckets:
        lines.append(("scored", ", ".join(f"{b} {s.buckets[b]}" for b in ("High", "Medium", "Low") if s.buckets[b])))
    if s.rationales:
        origin = s.rationales
        why = ", ".join(f"{_WHY_RULES.get(k, k.replace('_', ' '))} {v}" for k, v in sorted(origin.items())
                        if k not in ("llm", "cached", "rules", "llm_tokens") and v)
        lines.append(("rationales", f"LLM {origin.get('llm', 0)}, LLM cached {origin.get('cached', 0)}, rule-based "
                      f"{origin.get('rules', 0)}" + (f" ({why})" if why else "")))
    if s.synced:
        lines.append(("odoo", ", ".join(f"{k} {v}" for k, v in sorted(s.synced.items()))))
    lines += [("degraded", note) for note in s.degraded]
    before, after = s.vendor_usage.get("before", {}), s.vendor_usage.get("after", {})
    used = [f"{v} {after[v]['used'] - before.get(v, {}).get('used', 0)}" for v in after
            if after[v]["used"] - before.get(v, {}).get("used", 0)]
    if used:
        lines.append(("vendor units used", ", ".join(used) + " (all processes, during this run)"))
    lines.append(("duration", f"{s.duration_s:,.1f} s"))
    out.print(title, highlight=False, markup=False)
    for label, value in lines:
        out.print(f"  {label + ':':<19}{value}", highlight=False, markup=False)
    if s.shortlist:
        out.print("  shortlist (bucket, score, UEN, name: rationale -> Odoo):", highlight=False)
    for r in s.shortlist:
        if s.dry_run:
            odoo = r.get("would_sync", "")
        else:
            odoo = r["sync_status"] or ""
            if r["partner_id"]:
                odoo += f" (partner {r['partner_id']}" + (f", lead {r['lead_id']})" if r["lead_id"] else ")")
            if r["sync_error"]:
                odoo += f": {r['sync_error'][:120]}"
        score = f"{r['score']:.2f}" if r["score"] is not None else "-"
        out.print(f"    {r['bucket'] or '-':<6} {score:>4}  {r['uen'] or ''}  {r['name']}: {r['rationale'] or ''}"
                  f" -> {odoo}", highlight=False, markup=False)
