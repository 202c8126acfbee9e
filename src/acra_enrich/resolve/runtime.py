"""Wiring: the resolution service as the CLI (and any long-running caller) uses it."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import psycopg

from acra_enrich.config import Settings
from acra_enrich.resolve.mappings import MappingStore
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.resolve.providers import AcraRegistryProvider, ChainProvider, LookupProvider
from acra_enrich.resolve.queue import DEFAULT_LEASE_S, LookupQueue
from acra_enrich.resolve.service import CompanyEnrichmentService

log = logging.getLogger(__name__)


def lookup_providers(settings: Settings, conn: psycopg.Connection) -> list[LookupProvider]:
    """The ACRA registry we hold (free, local) first, then EQC when it is configured."""
    providers: list[LookupProvider] = [AcraRegistryProvider(conn)]
    if settings.eqc_base_url and settings.eqc_token is not None:
        from acra_enrich.resolve.eqc import EqcProvider

        providers.append(EqcProvider(settings))
    else:
        log.info("EQC lookups off: EQC_BASE_URL and EQC_TOKEN are not both set")
    return providers


@contextmanager
def open_service(
    settings: Settings,
    conn: psycopg.Connection,
    *,
    plan: WritePlan | None = None,
    sync_lookup_budget: int | None = None,
    lease_s: float = DEFAULT_LEASE_S,
    providers: list[LookupProvider] | None = None,
) -> Iterator[CompanyEnrichmentService]:
    """A service on `conn` (which it commits on), with the configured providers.

    `sync_lookup_budget` defaults to WDH_COMPANY_SYNC_LOOKUP_LIMIT; `plan` turns every
    write into a plan entry.
    """
    chain = ChainProvider(providers if providers is not None else lookup_providers(settings, conn))
    try:
        yield CompanyEnrichmentService(
            MappingStore(conn, plan=plan),
            LookupQueue.from_settings(conn, settings, lease_s=lease_s, plan=plan),
            chain,
            sync_lookup_budget=settings.wdh_company_sync_lookup_limit if sync_lookup_budget is None
            else sync_lookup_budget,
            enabled=settings.wdh_company_enrichment_enabled,
        )
    finally:
        chain.close()
