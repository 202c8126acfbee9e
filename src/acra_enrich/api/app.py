"""The admin API: health, runs, jobs and the queue, vendor budgets, Prometheus metrics.

Every route but /health needs a bearer token (see api.auth): none or an unknown one is 401,
a viewer token on a write is 403, and a token pinned to a tenant reads through that tenant's
row-level security (its own runs and jobs only) and may not name another tenant (403). Jobs
go through `acra_enrich.jobs` exactly as `acra-enrich jobs` does; runs through the same named
queries as `acra-enrich runs`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Annotated, Any, AsyncIterator, Literal
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from psycopg_pool import ConnectionPool, PoolTimeout

from acra_enrich.api.auth import Grant, Role, grant_for, parse_tokens
from acra_enrich.config import Settings
from acra_enrich.db import make_pool, schema_state, tenant_context
from acra_enrich.errors import ConfigError
from acra_enrich.jobs import JobNotFound, cancel_job, enqueue_express_staging_upsert, get_job, list_jobs, queue_depth
from acra_enrich.sqlfiles import load_queries
from acra_enrich.vendors.budget_gate import VENDOR_BUDGETS

_Q = load_queries("acra_enrich.api.sql", "api.sql")
_RUNS = load_queries("acra_enrich.runners.sql", "runs.sql")
BIGINT = 2**63 - 1
SINGAPORE = ZoneInfo("Asia/Singapore")
Id = Annotated[int, Path(ge=1, le=BIGINT)]


# --- response and request records (the OpenAPI schema schemathesis checks against) --------------

class Health(BaseModel):
    database: Literal["ok", "unreachable"]
    schema_revision: str | None = None
    schema_head: str | None = None
    schema_up_to_date: bool = False
    oldest_ready_job_age_s: dict[str, float | None] = Field(default_factory=dict, description="per lane")


class Run(BaseModel):
    run_id: int
    kind: str
    tenant_id: int | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    processed: int
    skipped: int
    failed: int
    stop_reason: str | None = None


class RunDetail(Run):
    params: dict[str, Any]
    summary: dict[str, Any] | None
    companies_by_status: dict[str, int]


class Job(BaseModel):
    job_id: int
    tenant_id: int | None
    job_type: str
    lane: str
    status: str
    params: dict[str, Any] | None = Field(None, description="in /jobs/{job_id}; not in lists")
    priority: int
    attempts: int
    max_attempts: int
    run_after: datetime
    last_error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class _Express(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: int = Field(0, ge=-1000, le=1000)
    tenant_id: int | None = Field(None, ge=1, le=BIGINT, description="a pinned token may only name its own")
    batch_size: int | None = Field(None, ge=1, le=10_000)
    concurrency: int | None = Field(None, ge=1, le=100)
    daily_cap: int | None = Field(None, ge=1, le=1_000_000)
    authorized: bool = Field(False, description="let the overrides take effect")


class ExpressByUens(_Express):
    """An express staging job for these registry rows (as `jobs enqueue express --uen`)."""

    uens: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{8,12}$")]] = Field(..., min_length=1, max_length=10_000)


class ExpressSince(_Express):
    """An express staging job for every row loaded or changed since a time (`--since`)."""

    since: AwareDatetime


class Enqueued(BaseModel):
    job_id: int
    created: bool


class Cancelled(BaseModel):
    job_id: int
    result: str


class QueueRow(BaseModel):
    lane: str
    status: str
    jobs: int
    oldest_ready_age_s: float | None
    waiting: int
    stalled: int


class VendorBudget(BaseModel):
    vendor: str
    window: str
    cap: int
    used: int
    left: int


# --- the app --------------------------------------------------------------------------------------

def create_app(settings: Settings) -> FastAPI:
    grants = parse_tokens(settings.admin_api_tokens.get_secret_value() if settings.admin_api_tokens else None)
    bearer = HTTPBearer(auto_error=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = make_pool(settings, min_size=1)
        try:
            yield
        finally:
            app.state.pool.close()

    app = FastAPI(title="acra-enrich admin API", version="1", lifespan=lifespan,
                  description="Runs, jobs, the queue and vendor budgets of acra-enrich. Bearer tokens from "
                              "ADMIN_API_TOKENS (viewer: read; operator: also queue and cancel).")

    @app.exception_handler(psycopg.OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "the database cannot be reached"}, status_code=503)

    def caller(role: Role) -> Any:
        def check(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Grant:
            grant = grant_for(grants, credentials.credentials) if credentials is not None else None
            if grant is None:
                raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
            if not grant.allows(role):
                raise HTTPException(403, f"this token's role ({grant.role}) may not do this")
            return grant
        return Depends(check)

    @contextmanager
    def database(request: Request, grant: Grant | None = None) -> Iterator[psycopg.Connection]:
        """One transaction, committed when the request's work succeeded; as the token's tenant
        when it is pinned to one."""
        pool: ConnectionPool = request.app.state.pool
        with pool.connection() as conn:
            if grant is not None and grant.tenant_id is not None:
                with tenant_context(conn, grant.tenant_id):
                    yield conn
            else:
                with conn.transaction():
                    yield conn

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health(request: Request, response: Response) -> Health:
        """Database reachable, migrations current, queue lag per lane (no token needed)."""
        try:
            with database(request) as conn:
                state = schema_state(conn)
                lag = {row["lane"]: row["oldest_ready_age_s"] for row in queue_depth(conn) if row["status"] == "queued"}
        except (psycopg.OperationalError, PoolTimeout):
            response.status_code = 503
            return Health(database="unreachable")
        if not state.up_to_date:
            response.status_code = 503
        return Health(database="ok", schema_revision=state.current, schema_head=state.head,
                      schema_up_to_date=state.up_to_date, oldest_ready_job_age_s=lag)

    @app.get("/runs", response_model=list[Run])
    def runs(request: Request, grant: Grant = caller("viewer"),
             kind: Literal["direct", "express", "nightly", "one"] | None = None,
             limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        """Enrichment runs of every kind, newest first (a pinned token: its tenant's)."""
        with database(request, grant) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            return cur.execute(_RUNS["list_runs"], {"kind": kind, "limit": limit}).fetchall()

    @app.get("/runs/{run_id}", response_model=RunDetail, responses={404: {}})
    def run(request: Request, run_id: Id, grant: Grant = caller("viewer")) -> dict[str, Any]:
        with database(request, grant) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            found = cur.execute(_RUNS["get_run"], {"run_id": run_id}).fetchone()
            if found is None:
                raise HTTPException(404, f"run {run_id} does not exist")
            statuses = cur.execute(_RUNS["history_by_status"], {"run_id": run_id}).fetchall()
        stop = (found.get("summary") or {}).get("stop_reason")
        return {**found, "stop_reason": stop, "companies_by_status": {r["status"]: r["companies"] for r in statuses}}

    @app.get("/jobs", response_model=list[Job], responses={422: {}})
    def jobs(request: Request, grant: Grant = caller("viewer"),
             lane: Literal["express", "nightly"] | None = None,
             status: Literal["queued", "running", "done", "failed", "cancelled"] | None = None,
             job_type: Annotated[str | None, Query(alias="type", pattern=r"^[a-z_]{1,64}$")] = None,
             limit: int = Query(50, ge=1, le=1000)) -> list[dict[str, Any]]:
        """The newest jobs, by lane, status and type (a pinned token: its tenant's)."""
        with database(request, grant) as conn:
            return list_jobs(conn, lane=lane, status=status, job_type=job_type, limit=limit)

    @app.post("/jobs", response_model=Enqueued, status_code=201,
              responses={200: {"model": Enqueued, "description": "the same request is already queued or running"},
                         403: {}, 404: {"description": "no such tenant"}, 422: {}})
    def enqueue(request: Request, body: ExpressByUens | ExpressSince, response: Response,
                grant: Grant = caller("operator")) -> Enqueued:
        """Queue an express staging job (UENs, or `since`), validated as the command line does."""
        tenant = body.tenant_id
        if grant.tenant_id is not None:
            if tenant not in (None, grant.tenant_id):
                raise HTTPException(403, "this token is pinned to another tenant")
            tenant = grant.tenant_id
        overrides: dict[str, Any] = {k: v for k, v in (("batch_size", body.batch_size),
                                                       ("concurrency", body.concurrency),
                                                       ("daily_cap", body.daily_cap)) if v is not None}
        if body.authorized:
            overrides["authorized"] = True
        try:
            with database(request, grant) as conn:
                job = enqueue_express_staging_upsert(
                    conn, uens=getattr(body, "uens", None), since=getattr(body, "since", None), tenant_id=tenant,
                    params=overrides, priority=body.priority)
        except psycopg.errors.ForeignKeyViolation:
            raise HTTPException(404, f"tenant {tenant} does not exist") from None
        except ConfigError as exc:
            raise HTTPException(422, str(exc)) from None
        if not job.created:
            response.status_code = 200
        return Enqueued(job_id=job.job_id, created=job.created)

    @app.post("/jobs/{job_id}/cancel", response_model=Cancelled, responses={404: {}, 409: {}})
    def cancel(request: Request, job_id: Id, grant: Grant = caller("operator")) -> Cancelled:
        """Cancel a queued job, or ask a running one to stop."""
        try:
            with database(request, grant) as conn:
                result = cancel_job(conn, job_id)
        except JobNotFound as exc:
            raise HTTPException(404, str(exc)) from None
        except ConfigError as exc:
            raise HTTPException(409, str(exc)) from None
        return Cancelled(job_id=job_id, result=result)

    @app.get("/jobs/{job_id}", response_model=Job, responses={404: {}})
    def job(request: Request, job_id: Id, grant: Grant = caller("viewer")) -> dict[str, Any]:
        try:
            with database(request, grant) as conn:
                return get_job(conn, job_id)
        except JobNotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @app.post("/admin/runs/nightly", response_model=Enqueued, status_code=201,
              responses={200: {"model": Enqueued, "description": "already queued or running for today"},
                         403: {}, 404: {"description": "no such tenant"}, 409: {"description": "tenant not active"}})
    def run_nightly(request: Request, response: Response, grant: Grant = caller("operator"),
                    tenant_id: int = Query(..., ge=1, le=BIGINT)) -> Enqueued:
        """Queue a tenant's nightly run for today (Asia/Singapore) now; `run nightly --worker` does it."""
        from acra_enrich.runners.nightly.scheduler import enqueue_nightly_tenant

        if grant.tenant_id is not None and grant.tenant_id != tenant_id:
            raise HTTPException(403, "this token is pinned to another tenant")
        with database(request) as conn:  # the tenant's status is the owner's table, read outside RLS
            found = conn.execute(_Q["tenant_status"], {"tenant_id": tenant_id}).fetchone()
        if found is None:
            raise HTTPException(404, f"tenant {tenant_id} does not exist")
        if found[0] != "active":
            raise HTTPException(409, f"tenant {tenant_id} is {found[0]}")
        with database(request, grant) as conn:
            job = enqueue_nightly_tenant(conn, tenant_id, datetime.now(SINGAPORE).date())
        if not job.created:
            response.status_code = 200
        return Enqueued(job_id=job.job_id, created=job.created)

    @app.get("/queue", response_model=list[QueueRow])
    def queue(request: Request, grant: Grant = caller("viewer")) -> list[dict[str, Any]]:
        """Jobs per lane and status, the oldest ready job's age, waiting and stalled jobs."""
        with database(request, grant) as conn:
            return queue_depth(conn)

    @app.get("/vendors", response_model=list[VendorBudget])
    def vendors(request: Request, grant: Grant = caller("viewer")) -> list[VendorBudget]:
        """Each vendor's budget in its current Asia/Singapore window: cap, used, left."""
        return _budgets(request, settings)

    @app.get("/metrics", response_class=Response,
             responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
    def metrics(request: Request, grant: Grant = caller("viewer")) -> Response:
        """Queue depth and oldest ready age per lane, vendor budgets used and left (Prometheus)."""
        registry = CollectorRegistry()
        depth = GaugeMetricFamily("acra_queue_jobs", "Jobs per lane and status (finished: last 24 h)",
                                  labels=["lane", "status"])
        age = GaugeMetricFamily("acra_queue_oldest_ready_age_seconds", "Age of the oldest ready queued job",
                                labels=["lane"])
        used = GaugeMetricFamily("acra_vendor_budget_used", "Units spent in the current window",
                                 labels=["vendor", "window"])
        left = GaugeMetricFamily("acra_vendor_budget_remaining", "Units left in the current window",
                                 labels=["vendor", "window"])
        with database(request, grant) as conn:
            for row in queue_depth(conn):
                depth.add_metric([row["lane"], row["status"]], row["jobs"])
                if row["status"] == "queued":
                    age.add_metric([row["lane"]], row["oldest_ready_age_s"] or 0.0)
        for budget in _budgets(request, settings):
            used.add_metric([budget.vendor, budget.window], budget.used)
            left.add_metric([budget.vendor, budget.window], budget.left)

        class _Fixed:
            def collect(self) -> Iterator[GaugeMetricFamily]:
                yield from (depth, age, used, left)

        registry.register(_Fixed())  # type: ignore[arg-type]
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    def _budgets(request: Request, settings: Settings) -> list[VendorBudget]:
        with database(request) as conn:  # budgets are shared by every tenant: no tenant context
            spent = {(v, w): int(u) for v, w, u in conn.execute(_Q["vendor_usage"]).fetchall()}
        out = []
        for vendor, (field, window) in sorted(VENDOR_BUDGETS.items()):
            cap = int(getattr(settings, field))
            taken = spent.get((vendor, window), 0)
            out.append(VendorBudget(vendor=vendor, window=window, cap=cap, used=taken, left=max(0, cap - taken)))
        return out

    return app
