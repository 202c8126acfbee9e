"""Writing SSIC entries into `ssic_ref`."""

from __future__ import annotations

from typing import Iterable

import psycopg

from acra_enrich.registry.ssic import SsicEntry, bundled_reference
from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.registry.sql", "ssic.sql")
BUNDLED_SOURCE = "bundled SSIC 2020 reference"


def save_ssic_entries(conn: psycopg.Connection, entries: Iterable[SsicEntry], *, source: str) -> tuple[int, int]:
    """Upsert entries by code; returns (inserted, updated). A later duplicate code wins."""
    with conn.transaction():
        conn.execute(_Q["create_ssic_load_table"])
        # Duplicates within a file are legal (repeated header blocks); keep the last title.
        latest = {entry.code: entry for entry in entries}
        with conn.cursor().copy("COPY ssic_load (code, title, level, parent_code, section) FROM STDIN") as copy:
            for e in latest.values():
                copy.write_row((e.code, e.title, e.level, e.parent_code, e.section))
        inserted, updated = fetch_one(conn, _Q["merge_ssic"], {"source": source})
    return int(inserted), int(updated)


def ensure_bundled_ssic(conn: psycopg.Connection) -> None:
    """Load the bundled reference into an empty ssic_ref, so a fresh database can normalise codes."""
    if fetch_one(conn, _Q["ssic_ref_is_empty"])[0]:
        save_ssic_entries(conn, bundled_reference(), source=BUNDLED_SOURCE)
    conn.commit()
