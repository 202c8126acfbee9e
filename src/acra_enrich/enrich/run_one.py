"""Enrich one company by UEN or domain: what `acra-enrich enrich one` runs."""

from __future__ import annotations

from acra_enrich.config import Settings
from acra_enrich.db import connect, make_pool
from acra_enrich.enrich.deps import open_pipeline
from acra_enrich.enrich.discover.find_domain import Company
from acra_enrich.enrich.pipeline import EnrichmentResult, enrich_company
from acra_enrich.enrich.sites import registrable_domain
from acra_enrich.errors import InputFileError
from acra_enrich.registry.company_sync import upsert_company
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.enrich.sql", "persist.sql")


def find_company(settings: Settings, key: str) -> Company:
    """The company a user means by a UEN (upserted from staging if needed) or a domain."""
    key = key.strip()
    with connect(settings) as conn:
        looks_like_domain = "." in key
        if not looks_like_domain:
            upsert_company(conn, key)
            row = conn.execute(_Q["company_by_uen"], {"key": key.upper()}).fetchone()
        else:
            row = conn.execute(_Q["company_by_domain"], {"key": registrable_domain(key)}).fetchone()
    if row is None:
        what = "domain" if looks_like_domain else "UEN"
        raise InputFileError(f"no company with {what} {key!r} (load the registry with `acra-enrich ingest acra` "
                             "and `acra-enrich sync companies` first)")
    return Company(*row)


async def enrich_one(settings: Settings, key: str) -> EnrichmentResult:
    company = find_company(settings, key)
    with make_pool(settings, min_size=1) as pool:
        async with open_pipeline(settings, pool) as deps:
            return await enrich_company(deps, company)
