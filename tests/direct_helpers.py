"""The direct runner's tests' oracle: which staging rows are eligible, computed in Python
from staging and the configured exclusion list, independently of the runner's SQL."""

from __future__ import annotations

from typing import NamedTuple

import psycopg

from acra_enrich.config import load_settings


class StagingRow(NamedTuple):
    id: int
    uen: str
    status: str | None


def staging(conn: psycopg.Connection) -> list[StagingRow]:
    return [StagingRow(*r) for r in conn.execute(
        "SELECT id, uen, entity_status_description FROM staging_acra_companies ORDER BY id")]


def is_live(status: str | None, excluded: list[str]) -> bool:
    text = (status or "").strip().lower()
    return not text or not any(text.startswith(e.lower()) for e in excluded)


def eligible(conn: psycopg.Connection, after_id: int = 0) -> list[StagingRow]:
    """Live staging rows above `after_id` under the configured exclusion list."""
    excluded = load_settings().excluded_statuses
    return [r for r in staging(conn) if r.id > after_id and is_live(r.status, excluded)]
