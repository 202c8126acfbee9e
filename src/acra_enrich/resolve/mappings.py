"""`company_mapping` access: internal lookups, caching provider answers, TEMP placeholders.

This is the service's `loader`. Lookups are one indexed query per mention (or per chunk
of mentions in bulk); writes are upserts keyed on (match_type, alias).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import psycopg

from acra_enrich.resolve.dbutil import run
from acra_enrich.resolve.models import DEFAULT_PRIORITY, MATCH_TYPES, TEMP_SOURCE, MappingEntry, MappingHit, Mention
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.resolve.sql", "mappings.sql")
_TYPE_ORDER = list(MATCH_TYPES)


def _hit(row: Sequence[Any]) -> MappingHit:
    match_type, alias, company_id, source, priority, confidence = row
    return MappingHit(str(match_type), str(alias), str(company_id), str(source), int(priority),
                      None if confidence is None else float(confidence))


def _dedupe(entries: Sequence[MappingEntry]) -> list[MappingEntry]:
    # One statement may not touch a row twice; the last entry for a key wins.
    by_key = {(e.match_type, e.alias): e for e in entries}
    return list(by_key.values())


@dataclass
class CacheOutcome:
    inserted: int = 0
    updated: int = 0
    kept: int = 0  # an existing row was left alone (same answer, or owned by an import)


class MappingStore:
    def __init__(self, conn: psycopg.Connection, *, plan: WritePlan | None = None) -> None:
        self.conn = conn
        self.plan = plan

    # --- reads -----------------------------------------------------------------

    def find(self, mention: Mention) -> MappingHit | None:
        """The most trusted mapping for any of the mention's keys (real before placeholder)."""
        keys = mention.keys()
        if not keys:
            return None
        rows = run(self.conn, _Q["find_best"], {
            "types": [t for t, _ in keys], "aliases": [a for _, a in keys],
            "temp_source": TEMP_SOURCE, "type_order": _TYPE_ORDER,
        })
        return _hit(rows[0]) if rows else None

    def find_many(self, mentions: Sequence[Mention]) -> list[MappingHit | None]:
        """`find` for a chunk of mentions in one round trip (same answers, in order)."""
        idx: list[int] = []
        types: list[str] = []
        aliases: list[str] = []
        for i, mention in enumerate(mentions):
            for match_type, alias in mention.keys():
                idx.append(i)
                types.append(match_type)
                aliases.append(alias)
        hits: list[MappingHit | None] = [None] * len(mentions)
        if not idx:
            return hits
        rows = run(self.conn, _Q["find_best_many"], {
            "idx": idx, "types": types, "aliases": aliases,
            "temp_source": TEMP_SOURCE, "type_order": _TYPE_ORDER,
        })
        for row in rows:
            hits[int(row[0])] = _hit(row[1:])
        return hits

    def known_uen(self, uen: str) -> bool:
        """Whether the registry (companies or staging) knows this UEN."""
        return bool(run(self.conn, _Q["known_uen"], {"uen": uen})[0][0])

    # --- writes ----------------------------------------------------------------

    def cache(self, entries: Sequence[MappingEntry]) -> CacheOutcome:
        """Upsert a provider's answer. It refreshes rows of the same source and replaces
        TEMP placeholders, and never overwrites an import or another provider's answer."""
        entries = _dedupe(entries)
        outcome = CacheOutcome()
        if not entries:
            return outcome
        if self.plan is not None:
            return self._plan_cache(entries)
        rows = run(self.conn, _Q["cache_upsert"], {
            "aliases": [e.alias for e in entries],
            "types": [e.match_type for e in entries],
            "priorities": [e.priority for e in entries],
            "company_ids": [e.company_id for e in entries],
            "sources": [e.source for e in entries],
            "confidences": [e.confidence for e in entries],
            "temp_source": TEMP_SOURCE,
        })
        outcome.inserted = sum(1 for r in rows if r[2])
        outcome.updated = len(rows) - outcome.inserted
        outcome.kept = len(entries) - len(rows)
        return outcome

    def _plan_cache(self, entries: list[MappingEntry]) -> CacheOutcome:
        assert self.plan is not None
        outcome = CacheOutcome()
        rows = run(self.conn, _Q["existing_for_keys"], {
            "types": [e.match_type for e in entries], "aliases": [e.alias for e in entries],
        })
        existing = {(r[0], r[1]): r for r in rows}
        for e in entries:
            current = existing.get((e.match_type, e.alias))
            values = dict(match_type=e.match_type, alias=e.alias, company_id=e.company_id, source=e.source,
                          priority=e.priority, confidence=e.confidence)
            if current is None or current[2] is None:
                self.plan.record("company_mapping", "insert", **values)
                outcome.inserted += 1
            elif current[3] in (e.source, TEMP_SOURCE) and (current[2], current[3], current[4]) != (
                    e.company_id, e.source, e.priority):
                self.plan.record("company_mapping", "update", previous_company_id=current[2], **values)
                outcome.updated += 1
            else:
                outcome.kept += 1
        return outcome

    def add_placeholders(self, keys: Sequence[tuple[str, str]], temp_id: str) -> None:
        """Remember a TEMP id under these keys unless they are mapped already (first wins)."""
        if not keys:
            return
        if self.plan is not None:
            rows = run(self.conn, _Q["existing_for_keys"], {
                "types": [t for t, _ in keys], "aliases": [a for _, a in keys]})
            for match_type, alias, company_id, *_ in rows:
                if company_id is None:
                    self.plan.record("company_mapping", "insert", match_type=match_type, alias=alias,
                                     company_id=temp_id, source=TEMP_SOURCE, priority=DEFAULT_PRIORITY[match_type])
            return
        run(self.conn, _Q["placeholder_insert"], {
            "aliases": [a for _, a in keys],
            "types": [t for t, _ in keys],
            "priorities": [DEFAULT_PRIORITY[t] for t, _ in keys],
            "company_ids": [temp_id] * len(keys),
            "sources": [TEMP_SOURCE] * len(keys),
        })
