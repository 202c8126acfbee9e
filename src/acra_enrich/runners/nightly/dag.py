"""One tenant's nightly run: `run_nightly_for_tenant(settings, tenant_id, params)`.

Stages, each recorded in `run_manifests` (stage, status, payload) and skipped when a resumed
run finds it done:

1. refresh_companies  sync staging -> companies when staging changed since the tenant's last run
2. refresh_candidates rebuild the tenant's ICP candidates set-based (icp_candidates)
3. select_targets     the capped daily target set (nightly_targets), with caps and a budget snapshot
4. enrich             the pipeline, SCHED_COMPANY_CONCURRENCY at once (Tavily after Jina for thin
                      pages; Lusha for companies without contacts, inside the pipeline)
5. verify_emails      ZeroBounce in batches through the verification cache
6. score              features, score, bucket, rationale; companies.revenue_bucket
7. odoo_sync          High and Medium companies into the tenant's Odoo

Every tenant read and write goes through a pool pinned to the tenant (row-level security);
only the registry sync uses a system connection. One run per tenant at a time (an advisory
lock). Per-company progress lives in nightly_targets, so a resumed run (`--from-manifest`, or a
queue job's next attempt) repeats no company a stage finished: a company with a history row of
the run counts as enriched, and Odoo records are looked up before they are created. A budget
that runs out degrades its step (fewer contacts, verification deferred), named in the summary;
it never fails the run.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import structlog
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.db import connect, make_pool
from acra_enrich.enrich.contacts.stage import verify_emails
from acra_enrich.enrich.discover.find_domain import Company
from acra_enrich.enrich.persist.store import PersistInput, persist
from acra_enrich.enrich.pipeline import TRANSIENT_DB_ERRORS, enrich_company
from acra_enrich.errors import ConfigError
from acra_enrich.registry.company_sync import sync_companies
from acra_enrich.runners.nightly.kit import NightlyKit, open_kit
from acra_enrich.runners.nightly.odoo_sync import OdooSync, SyncFailed
from acra_enrich.runners.nightly.rationale import rephrase_rationales
from acra_enrich.runners.nightly.watch import NightlyWatch
from acra_enrich.runners.statuses import excluded_status_patterns
from acra_enrich.scoring import LeadInputs, LeadScore, revenue_bucket, score_lead
from acra_enrich.sqlfiles import fetch_one, load_queries
from acra_enrich.tenants.icp import Icp, candidate_params
from acra_enrich.tenants.store import current_icp, odoo_connection, resolve_tenant
from acra_enrich.vendors import VENDOR_BUDGETS, OdooClient
from acra_enrich.vendors.policies import api_policy
from acra_enrich.web import make_web_client

_Q = load_queries("acra_enrich.runners.nightly.sql", "nightly.sql")
SINGAPORE = ZoneInfo("Asia/Singapore")
ANALYZE_AFTER_CHANGES = 10_000  # candidate rows written by one refresh
STAGES = ("refresh_companies", "refresh_candidates", "select_targets", "enrich", "verify_emails", "score", "odoo_sync")
SYNC_CONCURRENCY = 4
# Not a company's fault: the run stops (and resumes later).
PASS_THROUGH: tuple[type[BaseException], ...] = (*TRANSIENT_DB_ERRORS, asyncio.CancelledError)
log = structlog.get_logger("acra_enrich.nightly")


class NightlyBusy(ConfigError):
    """Another nightly run of the same tenant holds its lock."""


@dataclass(frozen=True)
class NightlyParams:
    day: date | None = None  # the Asia/Singapore day the run is for (today when None)
    limit: int | None = None  # at most this many targets (on top of the daily cap)
    dry_run: bool = False
    from_manifest: int | None = None  # resume this run
    job_id: int | None = None  # the queue job running it (its retry resumes the same run)


@dataclass
class NightlySummary:
    tenant_id: int
    tenant: str
    run_id: int | None = None
    status: str = "done"  # done | interrupted | failed
    stop_reason: str = "finished"
    dry_run: bool = False
    resumed: bool = False
    day: str = ""
    daily_cap: int = 0
    selected: int = 0
    candidates: int = 0
    enriched: Counter[str] = field(default_factory=Counter)
    verification: dict[str, int] = field(default_factory=dict)
    buckets: Counter[str] = field(default_factory=Counter)
    rationales: dict[str, int] = field(default_factory=dict)  # where rationales came from (LLM configured)
    synced: Counter[str] = field(default_factory=Counter)
    degraded: list[str] = field(default_factory=list)
    vendor_usage: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)  # before/after -> vendor
    stages: dict[str, str] = field(default_factory=dict)
    shortlist: list[dict[str, Any]] = field(default_factory=list)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("enriched", "buckets", "synced"):
            data[key] = dict(getattr(self, key))
        data["duration_s"] = round(self.duration_s, 3)
        return data

    def totals(self) -> dict[str, int]:
        failed = self.enriched.get("failed", 0) + self.synced.get("failed", 0)
        return {"processed": sum(self.enriched.values()), "skipped": self.enriched.get("fresh", 0), "failed": failed}


def singapore_today() -> date:
    return datetime.now(SINGAPORE).date()


def _budget_snapshot(conn: psycopg.Connection, settings: Settings) -> dict[str, dict[str, int]]:
    used = {(v, w): int(u) for v, w, u in conn.execute(_Q["budget_snapshot"]).fetchall()}
    snapshot = {}
    for vendor, (setting, window) in VENDOR_BUDGETS.items():
        snapshot[vendor] = {"used": used.get((vendor, window), 0), "cap": int(getattr(settings, setting))}
    return snapshot


async def run_nightly_for_tenant(settings: Settings, tenant_id: int, params: NightlyParams | None = None, *,
                                 kit: NightlyKit | None = None, stop: asyncio.Event | None = None,
                                 watch: NightlyWatch | None = None) -> NightlySummary:
    """Run (or resume, or dry-run) one tenant's nightly DAG to its end; the summary says how it went.

    `kit` shares clients between tenant runs of one process (the worker); without it the run
    builds its own. `stop` asks the run to stop taking companies (it resumes later). `watch`
    (metrics and alerts) is the process's; without it the run counts into one nobody serves."""
    params = params or NightlyParams()
    watch = watch or NightlyWatch(settings)
    run: _Run | None = None
    try:
        with connect(settings, autocommit=True) as system:
            tenant = resolve_tenant(system, tenant_id)
            if tenant.status != "active":
                raise ConfigError(f"tenant {tenant.tenant_id} ({tenant.name}) is {tenant.status}; "
                                  "`acra-enrich tenants enable` it first")
            locked = params.dry_run or bool(fetch_one(system, _Q["try_tenant_lock"], {"tenant_id": tenant_id})[0])
            if not locked:
                raise NightlyBusy(f"tenant {tenant_id} ({tenant.name}): another nightly run of this tenant is in "
                                  "progress; wait for it or stop it")
            try:
                with make_pool(settings, min_size=1, tenant_id=tenant_id) as pool:
                    run = _Run(settings, tenant.tenant_id, tenant.name, params, system, pool, stop, watch)
                    if kit is not None:
                        return await run.execute(kit)
                    async with open_kit(settings, pool) as own:
                        return await run.execute(own)
            finally:
                if not params.dry_run:
                    system.execute(_Q["tenant_unlock"], {"tenant_id": tenant_id})
    except ConfigError:
        if not params.dry_run and (run is None or not run.finished):  # refused: the run never started
            watch.run_ended("refused")
        raise


class _Run:
    def __init__(self, settings: Settings, tenant_id: int, name: str, params: NightlyParams,
                 system: psycopg.Connection, pool: ConnectionPool, stop: asyncio.Event | None,
                 watch: NightlyWatch) -> None:
        self.settings = settings
        self.watch = watch
        self.tenant_id = tenant_id
        self.params = params
        self.system = system
        self.pool = pool
        self.stop = stop or asyncio.Event()
        self.summary = NightlySummary(tenant_id, name, dry_run=params.dry_run, daily_cap=settings.nightly_daily_cap)
        self.run_id = 0
        self.stages: dict[str, tuple[str, dict[str, Any]]] = {}
        self.log = log.bind(tenant_id=tenant_id)
        self.t0 = time.monotonic()
        self.finished = False

    # --- the run --------------------------------------------------------------------------

    async def execute(self, kit: NightlyKit) -> NightlySummary:
        with self.pool.connection() as conn:
            icp = current_icp(conn)
        if icp is None:
            raise ConfigError(f"tenant {self.tenant_id} ({self.summary.tenant}) has no ICP; "
                              f"set one with `acra-enrich icp set {self.tenant_id} --file icp.yaml`")
        if self.params.dry_run:
            return await asyncio.to_thread(self._dry_run, icp)
        self._open_run()
        self.summary.vendor_usage = {"before": _budget_snapshot(self.system, self.settings)}
        self.watch.budgets(self.summary.vendor_usage["before"])
        try:
            await self._stage("refresh_companies", self._refresh_companies)
            await self._stage("refresh_candidates", lambda: self._refresh_candidates(icp))
            await self._stage("select_targets", self._select_targets)
            await self._stage("enrich", lambda: self._enrich(kit))
            await self._stage("verify_emails", lambda: self._verify(kit))
            await self._stage("score", lambda: self._score(kit))
            await self._stage("odoo_sync", lambda: self._odoo_sync(kit))
        except _Stopped:
            self.summary.status, self.summary.stop_reason = "interrupted", "stop requested; resume with " \
                f"--from-manifest {self.run_id}"
        except asyncio.CancelledError:
            self.summary.status, self.summary.stop_reason = "interrupted", "cancelled (stop or lost lease); it " \
                f"resumes with --from-manifest {self.run_id} or the job's next attempt"
            self._finish()
            raise
        except BaseException as exc:
            self.summary.status = "failed"
            self.summary.stop_reason = f"{type(exc).__name__}: {exc}"[:500]
            self._finish()
            raise
        self._finish()
        return self.summary

    def _open_run(self) -> None:
        p, s = self.params, self.summary
        with self.pool.connection() as conn:
            resume = p.from_manifest
            if resume is None and p.job_id is not None:
                row = conn.execute(_Q["run_of_job"], {"job_id": p.job_id}).fetchone()
                resume = row[0] if row else None
            if resume is not None:
                row = conn.execute(_Q["get_run"], {"run_id": resume}).fetchone()
                if row is None:
                    raise ConfigError(f"--from-manifest {resume}: no nightly run {resume} of tenant "
                                      f"{self.tenant_id} ({s.tenant})")
                if row[1] == "done":
                    raise ConfigError(f"--from-manifest {resume}: run {resume} already finished; nothing to resume")
                self.run_id, s.resumed = resume, True
                s.day = str(row[2].get("day") or "")
                conn.execute(_Q["reopen_run"], {"run_id": resume})
            else:
                s.day = (p.day or singapore_today()).isoformat()
                values = {"day": s.day, "limit": p.limit, "daily_cap": s.daily_cap, "job_id": p.job_id}
                self.run_id = int(fetch_one(conn, _Q["start_run"], {"tenant_id": self.tenant_id,
                                                                     "params": Jsonb(values)})[0])
            for (old,) in conn.execute(_Q["close_abandoned_runs"], {"run_id": self.run_id}).fetchall():
                self.log.warning("abandoned_run_closed", run_id=old)
            self.stages = {stage: (status, dict(payload)) for stage, status, payload in
                           conn.execute(_Q["stages"], {"run_id": self.run_id}).fetchall()}
            conn.commit()
        s.run_id = self.run_id
        self.log = self.log.bind(run_id=self.run_id)
        self.log.info("nightly_start", day=s.day, resumed=s.resumed, done=[k for k, v in self.stages.items()
                                                                          if v[0] == "done"])

    async def _stage(self, stage: str, work: Any) -> None:
        status, payload = self.stages.get(stage, ("pending", {}))
        if status == "done":
            self.summary.stages[stage] = "done earlier"
            self._absorb(stage, payload)
            return
        self._write_stage("start_stage", stage)
        t = time.monotonic()
        payload = await work()
        payload["seconds"] = round(time.monotonic() - t, 3)
        self.watch.stage_done(stage, payload["seconds"], payload.get("degraded", []))
        self._write_stage("end_stage", stage, "done", payload)
        self.summary.stages[stage] = "done"
        self._absorb(stage, payload)
        self.log.info("stage_done", stage=stage, **{k: v for k, v in payload.items() if k != "company_ids"})
        if self.stop.is_set():
            raise _Stopped()

    def _write_stage(self, query: str, stage: str, status: str = "running", payload: dict[str, Any] | None = None,
                     ) -> None:
        with self.pool.connection() as conn:
            conn.execute(_Q[query], {"tenant_id": self.tenant_id, "run_id": self.run_id, "stage": stage,
                                     "status": status, "payload": Jsonb(payload or {})})
            conn.commit()

    def _absorb(self, stage: str, payload: dict[str, Any]) -> None:
        """What a stage's payload tells the summary (also for stages a resumed run skips)."""
        s = self.summary
        if stage == "refresh_candidates":
            s.candidates = int(payload.get("candidates", 0))
        elif stage == "select_targets":
            s.selected = len(payload.get("company_ids", []))
        elif stage == "score":
            s.rationales = {k: int(v) for k, v in payload.get("rationale", {}).items()}
        elif stage == "verify_emails":
            s.verification = {k: int(v) for k, v in payload.items() if k.startswith(("verified", "unverified", "emails"))}
        s.degraded.extend(d for d in payload.get("degraded", []) if d not in s.degraded)

    def _finish(self) -> None:
        s = self.summary
        s.duration_s = time.monotonic() - self.t0
        try:
            s.vendor_usage["after"] = _budget_snapshot(self.system, self.settings)
            self.watch.budgets(s.vendor_usage["after"])
            with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                s.shortlist = cur.execute(_Q["shortlist"], {"run_id": self.run_id}).fetchall()
                s.buckets = Counter(r["bucket"] for r in s.shortlist if r["bucket"])
                s.enriched = Counter(r["enrich_status"] for r in s.shortlist if r["enrich_status"])
                s.synced.update({k: v for k, v in Counter(r["sync_status"] for r in s.shortlist
                                                           if r["sync_status"]).items()})
                cur.execute(_Q["finish_run"], {"run_id": self.run_id, "status": s.status, **s.totals(),
                                               "summary": Jsonb({k: v for k, v in s.as_dict().items()
                                                                 if k != "shortlist"})})
                conn.commit()
        except psycopg.Error as exc:
            self.log.error("run_not_closed", error=str(exc).strip()[:300])
        self.watch.run_ended(s.status)
        self.finished = True
        self.log.info("run_summary", **{k: v for k, v in s.as_dict().items() if k != "shortlist"})

    # --- 1. companies --------------------------------------------------------------------

    async def _refresh_companies(self) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with self.pool.connection() as conn:
                last = conn.execute(_Q["last_staging_mark"]).fetchone()
            since = last[0] if last else None
            changed = fetch_one(self.system, _Q["staging_changed_at"])[0]
            if changed is None:
                return {"staging_changed_at": None, "synced": False, "reason": "staging is empty"}
            if since is not None and changed <= since:
                return {"staging_changed_at": changed.isoformat(), "synced": False,
                        "reason": "staging unchanged since the tenant's last run"}
            self.system.execute(_Q["sync_lock"])
            try:
                with connect(self.settings) as conn:
                    report = sync_companies(conn, since=since)
            finally:
                self.system.execute(_Q["sync_unlock"])
            return {"staging_changed_at": changed.isoformat(), "synced": True, "since": since.isoformat() if since
                    else None, **report.as_dict()}

        return await asyncio.to_thread(work)

    # --- 2. candidates -------------------------------------------------------------------

    def _candidate_query_params(self, icp: Icp) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id,
                **candidate_params(icp, excluded_status_patterns(self.settings.excluded_statuses))}

    async def _refresh_candidates(self, icp: Icp) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with self.pool.connection() as conn:
                row = fetch_one(conn, _Q["refresh_candidates"], self._candidate_query_params(icp))
                conn.commit()
            counts = dict(zip(("candidates", "added", "changed", "removed"), map(int, row)))
            if counts["added"] + counts["changed"] + counts["removed"] > ANALYZE_AFTER_CHANGES:
                # The target selection comes next, before autovacuum would notice: planned on
                # statistics that miss a million new candidates, its tiers walk all of them.
                self.system.execute(_Q["analyze_candidates"])
            return {**counts, "criteria": icp.criteria()}

        return await asyncio.to_thread(work)

    # --- 3. targets -----------------------------------------------------------------------

    def _cap(self, conn: psycopg.Connection) -> tuple[int, int]:
        taken = int(fetch_one(conn, _Q["selected_today"], {"run_id": self.run_id, "day": self.summary.day})[0])
        cap = max(self.summary.daily_cap - taken, 0)
        if self.params.limit is not None:
            cap = min(cap, self.params.limit)
        return cap, taken

    async def _select_targets(self) -> dict[str, Any]:
        def work() -> dict[str, Any]:
            with self.pool.connection() as conn:
                cap, taken = self._cap(conn)
                rows = conn.execute(_Q["select_targets"], {
                    "tenant_id": self.tenant_id, "run_id": self.run_id, "cap": cap, "day": self.summary.day,
                    "recheck_days": self.settings.enrich_recheck_days}).fetchall()
                conn.commit()
            rows.sort(key=lambda r: r[1])
            budgets = _budget_snapshot(self.system, self.settings)
            self.watch.budgets(budgets)
            degraded = [] if cap else [f"daily cap of {self.summary.daily_cap} reached for {self.summary.day}: "
                                       f"{taken} companies already taken"]
            return {"company_ids": [r[0] for r in rows], "tiers": dict(Counter(r[2] for r in rows)),
                    "cap": cap, "daily_cap": self.summary.daily_cap, "taken_today": taken, "limit": self.params.limit,
                    "budgets": budgets, "degraded": degraded}

        return await asyncio.to_thread(work)

    def _targets(self) -> list[dict[str, Any]]:
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(_Q["targets"], {"run_id": self.run_id}).fetchall()

    # --- 4. enrich ------------------------------------------------------------------------

    async def _enrich(self, kit: NightlyKit) -> dict[str, Any]:
        def prepare() -> list[dict[str, Any]]:
            with self.pool.connection() as conn:
                done = len(conn.execute(_Q["reconcile_enriched"], {"run_id": self.run_id}).fetchall())
                fresh = len(conn.execute(_Q["mark_fresh"], {"run_id": self.run_id,
                                                            "recheck_days": self.settings.enrich_recheck_days}
                                         ).fetchall())
                conn.commit()
            if done:
                self.log.info("resume_enrich", already_enriched=done)
            self.summary.enriched["fresh"] += fresh
            self.watch.fresh(fresh)
            return [t for t in self._targets() if t["enrich_status"] is None]

        todo = await asyncio.to_thread(prepare)
        deps = kit.for_tenant(self.pool)
        slots = asyncio.Semaphore(self.settings.sched_company_concurrency)
        outcomes: Counter[str] = Counter()
        degraded: Counter[str] = Counter()
        tavily_before = kit.readers.used["tavily"]

        async def one(target: dict[str, Any]) -> None:
            async with slots:
                if self.stop.is_set():
                    return
                company = Company(target["company_id"], target["name"], target["uen"], target["website_domain"])
                t = time.monotonic()
                self.watch.metrics.in_flight.inc()
                try:
                    result = await enrich_company(deps, company, run_id=self.run_id, tenant_id=self.tenant_id,
                                                  logger=self.log)
                    status, error = result.status, result.error
                    degraded.update(result.degraded)
                except PASS_THROUGH:
                    raise
                except Exception as exc:  # bad data or a bug in persist: record it, go on with the run
                    status = "failed"
                    error = f"{type(exc).__name__}: {exc}"[:2000]
                    self.log.error("company_failed", company_id=company.company_id, error=error)
                    await asyncio.to_thread(self._record_failure, company, error, int((time.monotonic() - t) * 1000))
                finally:
                    self.watch.metrics.in_flight.dec()
                await asyncio.to_thread(self._set, "set_enrich_status", company.company_id, status)
                outcomes[status] += 1
                await self.watch.company_done(status, time.monotonic() - t, error, self.run_id, self.log)

        try:
            async with asyncio.TaskGroup() as group:
                for target in todo:
                    group.create_task(one(target))
        except ExceptionGroup as eg:
            raise eg.exceptions[0] from None
        if self.stop.is_set():
            raise _Stopped()
        notes = []
        if degraded.get("lusha:budget_exhausted"):
            notes.append("fewer contacts: LUSHA_MAX_CONTACT_LOOKUPS reached")
        for vendor in ("jina", "tavily", "apify", "ddg", "openai"):
            if degraded.get(f"{vendor}:budget_exhausted"):
                notes.append(f"{vendor} budget reached: its step degraded")
        return {"enriched": dict(outcomes), "fresh": self.summary.enriched["fresh"],
                "tavily_reads": kit.readers.used["tavily"] - tavily_before,
                "degraded_markers": dict(degraded), "degraded": notes}

    def _set(self, query: str, company_id: int, status: str, error: str | None = None) -> None:
        with self.pool.connection() as conn:
            conn.execute(_Q[query], {"run_id": self.run_id, "company_id": company_id, "status": status,
                                     "error": error})
            conn.commit()

    def _record_failure(self, company: Company, error: str, duration_ms: int) -> None:
        with self.pool.connection() as conn:
            persist(conn, PersistInput(company_id=company.company_id, status="failed", run_id=self.run_id,
                                       tenant_id=self.tenant_id, error=error, duration_ms=duration_ms))

    # --- 5. verification -------------------------------------------------------------------

    async def _verify(self, kit: NightlyKit) -> dict[str, Any]:
        def unverified() -> list[str]:
            with self.pool.connection() as conn:
                return [r[0] for r in conn.execute(_Q["unverified_emails"], {"run_id": self.run_id})]

        emails = await asyncio.to_thread(unverified)
        result = await verify_emails(emails, kit.zerobounce, kit.cache)

        def save() -> None:
            with self.pool.connection() as conn:
                for email, verdict in result.verifications.items():
                    conn.execute(_Q["set_verification"], {"run_id": self.run_id, "email": email,
                                                          "status": verdict.status})
                conn.commit()

        await asyncio.to_thread(save)
        left = result.counts.get("unverified", 0)
        notes = []
        if left and not kit.zerobounce.enabled:
            notes.append(f"verification deferred: {left} address(es) (ZeroBounce not configured)")
        elif left:
            why = "ZEROBOUNCE_MAX_VERIFICATIONS reached" if "zerobounce:budget_exhausted" in result.degraded \
                else ", ".join(result.degraded) or "no verdict"
            notes.append(f"verification deferred: {left} address(es) ({why})")
        return {**result.counts, "vendor_degraded": result.degraded, "degraded": notes}

    # --- 6. score ----------------------------------------------------------------------------

    def _lead_scores(self, conn: psycopg.Connection) -> list[tuple[int, LeadScore]]:
        scored = []
        recheck = self.settings.enrich_recheck_days
        now = datetime.now(timezone.utc)
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(_Q["lead_inputs"], {"run_id": self.run_id}).fetchall()
        for row in rows:
            revenue = revenue_bucket(stated_sgd=row["revenue_stated_sgd"], employees_est=row["employees_est"],
                                     paid_up_capital_sgd=float(row["paid_up_capital_sgd"])
                                     if row["paid_up_capital_sgd"] is not None else None)
            conn.execute(_Q["set_revenue"], {"company_id": row["company_id"], "bucket": revenue[0] if revenue else None,
                                             "source": revenue[1] if revenue else None})
            lead = score_lead(LeadInputs(
                fit=row["fit"], website_domain=row["website_domain"], verified_emails=row["verified_emails"],
                contact_titles=tuple(row["titles"]), jobs_count=row["jobs_count"], tech_stack=tuple(row["tech_stack"]),
                enriched_at=row["enriched_at"], revenue_bucket=revenue[0] if revenue else None),
                recheck_days=recheck, now=now)
            values = {"tenant_id": self.tenant_id, "company_id": row["company_id"], "run_id": self.run_id}
            conn.execute(_Q["upsert_features"], {**values, "features": Jsonb(lead.features)})
            conn.execute(_Q["upsert_score"], {**values, "score": lead.score, "bucket": lead.bucket,
                                              "rationale": lead.rationale, "features_hash": lead.features_hash})
            scored.append((row["company_id"], lead))
        return scored

    async def _score(self, kit: NightlyKit) -> dict[str, Any]:
        def work() -> list[tuple[int, LeadScore]]:
            with self.pool.connection() as conn:
                scored = self._lead_scores(conn)
                conn.commit()
            return scored

        scored = await asyncio.to_thread(work)
        payload = {"scored": len(scored), "buckets": dict(Counter(lead.bucket for _, lead in scored))}
        if kit.llm is None:
            payload["rationale"] = {"rules": len(scored), "no_llm": len(scored)}
        else:  # the rule-based rationales are saved already: a failure here loses none
            payload.update(await rephrase_rationales(self.pool, kit.llm, self.tenant_id, scored, self.log))
        return payload

    # --- 7. Odoo -------------------------------------------------------------------------------

    async def _odoo_sync(self, kit: NightlyKit) -> dict[str, Any]:
        def rows() -> tuple[list[dict[str, Any]], Any]:
            with self.pool.connection() as conn:
                conn.execute(_Q["skip_low"], {"run_id": self.run_id})
                conn.commit()
                connection = odoo_connection(conn)
                with conn.cursor(row_factory=dict_row) as cur:
                    return cur.execute(_Q["to_sync"], {"run_id": self.run_id}).fetchall(), connection

        todo, connection = await asyncio.to_thread(rows)
        if connection is None:
            return {"synced": 0, "degraded": ["Odoo not configured for this tenant: nothing synced "
                                              "(`acra-enrich tenants odoo`)"]}
        if not todo:
            return {"synced": 0}
        try:
            key = connection.api_key()
        except ConfigError as exc:
            return await self._sync_impossible(todo, str(exc))
        policy = {connection.base_url: api_policy(self.settings, "odoo")}
        vendor_settings = self.settings.model_copy(update={"crawler_timeout_s": self.settings.vendor_timeout_s})
        async with make_web_client(vendor_settings, host_policies=policy) as web:
            sync = OdooSync(OdooClient(web, connection.base_url, connection.db_name, connection.username, key),
                            self.pool, self.tenant_id, self.settings.score_min_export)
            try:
                await sync.prepare()
            except SyncFailed as exc:
                return await self._sync_impossible(todo, str(exc))
            counts: Counter[str] = Counter()
            slots = asyncio.Semaphore(SYNC_CONCURRENCY)

            async def one(row: dict[str, Any]) -> None:
                async with slots:
                    if self.stop.is_set():
                        return
                    try:
                        done = await sync.sync(row)
                    except SyncFailed as exc:
                        counts[f"failed_{exc.kind}"] += 1
                        self.log.warning("odoo_sync_failed", company_id=row["company_id"], kind=exc.kind,
                                         error=str(exc)[:300])
                        await sync.record_error(row["company_id"], str(exc)[:2000])
                        await asyncio.to_thread(self._set, "set_sync_status", row["company_id"], "failed",
                                                str(exc)[:2000])
                        self.watch.synced("failed")
                        return
                    counts[f"partner_{done.partner}"] += 1
                    counts["contacts_created"] += done.contacts_created
                    counts[f"lead_{done.lead}"] += 1
                    counts["kept_user_edits"] += len(done.kept_user_edits)
                    await asyncio.to_thread(self._set, "set_sync_status", row["company_id"], "synced")
                    self.watch.synced(done.partner, lead_created=done.lead == "created")

            try:
                async with asyncio.TaskGroup() as group:
                    for row in todo:
                        group.create_task(one(row))
            except ExceptionGroup as eg:
                raise eg.exceptions[0] from None
        if self.stop.is_set():
            raise _Stopped()
        failed = sum(v for k, v in counts.items() if k.startswith("failed_"))
        return {"synced": len(todo) - failed, **counts,
                "degraded": [f"Odoo refused {failed} compan{'y' if failed == 1 else 'ies'} (see sync_error)"]
                if failed else []}

    async def _sync_impossible(self, todo: list[dict[str, Any]], reason: str) -> dict[str, Any]:
        """Odoo cannot be used at all (key unset, login refused): every company records why."""
        for row in todo:
            await asyncio.to_thread(self._set, "set_sync_status", row["company_id"], "failed", reason[:2000])
            self.watch.synced("failed")
        self.log.error("odoo_unavailable", reason=reason[:300])
        return {"synced": 0, "failed_all": len(todo), "degraded": [f"Odoo sync impossible: {reason}"[:300]]}

    # --- dry run --------------------------------------------------------------------------------

    def _dry_run(self, icp: Icp) -> NightlySummary:
        """Candidates, targets and provisional scores computed in one transaction that is rolled
        back: what a run would do now (before enrichment), with nothing written."""
        s = self.summary
        s.day = (self.params.day or singapore_today()).isoformat()
        with self.pool.connection() as conn:
            try:
                with conn.transaction(force_rollback=True):
                    self.run_id = int(fetch_one(conn, _Q["start_run"], {"tenant_id": self.tenant_id,
                                                                         "params": Jsonb({"dry_run": True})})[0])
                    mark = conn.execute(_Q["last_staging_mark"]).fetchone()
                    changed = fetch_one(conn, _Q["staging_changed_at"])[0]
                    if changed is not None and (mark is None or changed > mark[0]):
                        s.degraded.append("staging changed since the tenant's last run: a real run first syncs "
                                          "companies from it (this dry run works on companies as they are)")
                    row = fetch_one(conn, _Q["refresh_candidates"], self._candidate_query_params(icp))
                    s.candidates = int(row[0])
                    cap, taken = self._cap(conn)
                    selected = conn.execute(_Q["select_targets"], {
                        "tenant_id": self.tenant_id, "run_id": self.run_id, "cap": cap, "day": s.day,
                        "recheck_days": self.settings.enrich_recheck_days}).fetchall()
                    s.selected = len(selected)
                    if not cap:
                        s.degraded.append(f"daily cap of {s.daily_cap} reached for {s.day}: {taken} companies already taken")
                    s.buckets = Counter(lead.bucket for _, lead in self._lead_scores(conn))
                    connection = odoo_connection(conn)
                    with conn.cursor(row_factory=dict_row) as cur:
                        s.shortlist = cur.execute(_Q["shortlist"], {"run_id": self.run_id}).fetchall()
            finally:
                self.run_id = 0
        for item in s.shortlist:
            exported = item["bucket"] in ("High", "Medium")
            item["would_sync"] = ("nothing (Low)" if not exported else
                                  (f"update partner #{item['partner_id']}" if item["partner_id"] else "create partner")
                                  + (" + lead" if (item["score"] or 0) >= self.settings.score_min_export
                                     and not item["lead_id"] else ""))
        if connection is None:
            s.degraded.append("Odoo not configured for this tenant: nothing would be synced")
        s.stop_reason = "dry run: nothing written (scores are provisional: before enrichment)"
        s.duration_s = time.monotonic() - self.t0
        return s


class _Stopped(Exception):
    """A stop was requested: the run ends `interrupted` and resumes from its manifest."""
