"""The product's job types and the named functions that queue them.

The seeds name `enqueue_staging_upsert` and `enqueue_enrich_candidates` (nightly lane); each
has an express twin. A staging job brings registry rows into `companies` (the UENs given, or
every row loaded or changed since a time) and queues enrich jobs for them in batches; an
enrich job runs the pipeline for its companies.

Params a caller may add: `batch_size`, `concurrency`, `daily_cap` override the lane's
settings, and are honoured only with `authorized: true` (the dispatcher logs and ignores
them otherwise).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import psycopg

from acra_enrich.errors import ConfigError
from acra_enrich.jobs.model import Enqueued
from acra_enrich.jobs.queue import enqueue

STAGING_UPSERT = "staging_upsert"
ENRICH_CANDIDATES = "enrich_candidates"
EXPRESS_STAGING_UPSERT = "acra_express_staging_upsert"
EXPRESS_ENRICH = "acra_express_enrich"
OVERRIDES = ("batch_size", "concurrency", "daily_cap")


def _staging_params(uens: Sequence[str] | None, since: datetime | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    if (uens is None) == (since is None):
        raise ConfigError("a staging job takes either a list of UENs or a `since` time, not both or neither")
    params: dict[str, Any] = dict(extra or {})
    if uens is not None:
        cleaned = [u.strip().upper() for u in uens if u and u.strip()]
        if not cleaned:
            raise ConfigError("a staging job needs at least one UEN")
        params["uens"] = list(dict.fromkeys(cleaned))
    else:
        assert since is not None
        if since.tzinfo is None:
            raise ConfigError(f"since {since.isoformat()}: give a time zone (e.g. +08:00)")
        params["since"] = since.isoformat()
    _check_overrides(params)
    return params


def _check_overrides(params: dict[str, Any]) -> None:
    for name in OVERRIDES:
        value = params.get(name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"params.{name}: expected a whole number of at least 1 (got {value!r})")


def _key(prefix: str, params: dict[str, Any]) -> str:
    """The same request while the first is live is one job."""
    basis = ",".join(params["uens"]) if "uens" in params else params["since"]
    return f"{prefix}:{hashlib.sha1(basis.encode()).hexdigest()[:16]}"


def _enqueue_staging(conn: psycopg.Connection, job_type: str, lane: str, uens: Sequence[str] | None,
                     since: datetime | None, tenant_id: int | None, params: dict[str, Any] | None,
                     priority: int, idempotency_key: str | None) -> Enqueued:
    body = _staging_params(uens, since, params)
    return enqueue(conn, job_type, body, lane=lane, tenant_id=tenant_id, priority=priority,
                   idempotency_key=idempotency_key or _key(job_type, body))


def enqueue_staging_upsert(conn: psycopg.Connection, *, uens: Sequence[str] | None = None,
                           since: datetime | None = None, tenant_id: int | None = None,
                           params: dict[str, Any] | None = None, priority: int = 0,
                           idempotency_key: str | None = None) -> Enqueued:
    """Nightly lane: upsert staging rows into companies, then queue `enrich_candidates` jobs."""
    return _enqueue_staging(conn, STAGING_UPSERT, "nightly", uens, since, tenant_id, params, priority,
                            idempotency_key)


def enqueue_express_staging_upsert(conn: psycopg.Connection, *, uens: Sequence[str] | None = None,
                                   since: datetime | None = None, tenant_id: int | None = None,
                                   params: dict[str, Any] | None = None, priority: int = 0,
                                   idempotency_key: str | None = None) -> Enqueued:
    """Express lane twin of `enqueue_staging_upsert` (then `acra_express_enrich` jobs)."""
    return _enqueue_staging(conn, EXPRESS_STAGING_UPSERT, "express", uens, since, tenant_id, params, priority,
                            idempotency_key)


def _enqueue_enrich(conn: psycopg.Connection, job_type: str, lane: str, company_ids: Sequence[int],
                    tenant_id: int | None, params: dict[str, Any] | None, priority: int,
                    idempotency_key: str | None) -> Enqueued:
    ids = list(dict.fromkeys(int(c) for c in company_ids))
    if not ids:
        raise ConfigError("an enrich job needs at least one company id")
    body = {**(params or {}), "company_ids": ids}
    _check_overrides(body)
    return enqueue(conn, job_type, body, lane=lane, tenant_id=tenant_id, priority=priority,
                   idempotency_key=idempotency_key)


def enqueue_enrich_candidates(conn: psycopg.Connection, company_ids: Sequence[int], *,
                              tenant_id: int | None = None, params: dict[str, Any] | None = None,
                              priority: int = 0, idempotency_key: str | None = None) -> Enqueued:
    """Nightly lane: run the pipeline for these companies."""
    return _enqueue_enrich(conn, ENRICH_CANDIDATES, "nightly", company_ids, tenant_id, params, priority,
                           idempotency_key)


def enqueue_express_enrich(conn: psycopg.Connection, company_ids: Sequence[int], *,
                           tenant_id: int | None = None, params: dict[str, Any] | None = None,
                           priority: int = 0, idempotency_key: str | None = None) -> Enqueued:
    """Express lane twin of `enqueue_enrich_candidates`."""
    return _enqueue_enrich(conn, EXPRESS_ENRICH, "express", company_ids, tenant_id, params, priority,
                           idempotency_key)
