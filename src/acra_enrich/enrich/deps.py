"""Assembling the pipeline's collaborators from settings (vendor clients, stages)."""

from __future__ import annotations

from psycopg_pool import ConnectionPool

from acra_enrich.config import Settings
from acra_enrich.enrich.pipeline import PipelineDeps
from acra_enrich.web import WebClient


async def pipeline_deps(settings: Settings, web: WebClient, pool: ConnectionPool) -> PipelineDeps:
    return PipelineDeps(settings=settings, web=web, pool=pool)
