"""`company_mapping` access: internal lookups, caching provider answers, TEMP placeholders.

This is the service's `loader`. A batch of mentions is looked up in one statement
(`find_many`), a single mention in one statement of its own (`find`, with the same order
of trust); writes are set-based upserts keyed on (match_type, alias) that report which
rows they changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence, TypeVar

import psycopg

from acra_enrich.resolve.dbutil import own_unit, run
from acra_enrich.resolve.models import (
    DEFAULT_PRIORITY,
    TEMP_SOURCE,
    KeySlots,
    MappingEntry,
    MappingHit,
    Mention,
    alias_key,
    fits_key,
)
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.resolve.providers import CompanyMatch
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.resolve.sql", "mappings.sql")

Key = tuple[str, str]  # (match_type, alias)
# find_one's and find_many's parameters, one per slot of a mention's `KeySlots`.
_SLOT_PARAMS = ("uen", "plan_code", "account_name", "customer_name", "name_key", "account_key")
# Between a slot's aliases in find_many's parameters: never in an alias, as clean_text and
# the name normaliser make every whitespace character (this one included) a space.
_SLOT_SEPARATOR = "\x1f"


def _join_slot(aliases: Sequence[str], count: int) -> str:
    joined = _SLOT_SEPARATOR.join(aliases)
    if joined.count(_SLOT_SEPARATOR) != count - 1:
        raise ValueError(f"an alias contains the separator {_SLOT_SEPARATOR!r}; aliases must be clean_text")
    return joined


def entry_arrays(entries: Sequence[MappingEntry]) -> dict[str, list[Any]]:
    """Mapping rows as the parallel arrays the upserts unnest (one array, one type: an
    int confidence travels as a float)."""
    return {
        "aliases": [e.alias for e in entries],
        "types": [e.match_type for e in entries],
        "priorities": [e.priority for e in entries],
        "company_ids": [e.company_id for e in entries],
        "sources": [e.source for e in entries],
        "confidences": [None if e.confidence is None else float(e.confidence) for e in entries],
    }


def dedupe_entries(entries: Sequence[MappingEntry]) -> list[MappingEntry]:
    """One statement may not touch a row twice; the last entry for a key wins."""
    by_key = {(e.match_type, e.alias): e for e in entries}
    return list(by_key.values())


def answer_entries(name: str, match: CompanyMatch, *, normalized: str | None = None) -> list[MappingEntry]:
    """The aliases a provider's answer is remembered under: the name as asked, its
    normalised form (`normalized`, when the caller has it already), the official name's
    normalised form, and the UEN (each one that can be a key: see MAX_KEY_CHARS)."""
    name_key = normalized if normalized is not None else alias_key("normalized_name", name)
    official_key = name_key if match.name == name else alias_key("normalized_name", match.name)
    keys: list[tuple[str, str | None]] = [
        ("customer_name", alias_key("customer_name", name)),
        ("normalized_name", name_key),
        ("normalized_name", official_key),
        ("uen", alias_key("uen", match.uen)),
    ]
    return [
        MappingEntry(t, alias, match.company_id, match.source, DEFAULT_PRIORITY[t], match.confidence)
        for t, a in keys if (alias := fits_key(a)) is not None
    ]


@dataclass(frozen=True)
class Found:
    """What company_mapping (and the registry) say about one mention."""

    hit: MappingHit | None = None  # its most trusted mapping, real before placeholder
    registry_uen: bool = False  # no real mapping, but the ACRA registry we hold knows its UEN

    @property
    def real_hit(self) -> MappingHit | None:
        """Its mapping when that is a real one (not a TEMP placeholder): then it is the answer."""
        return self.hit if self.hit is not None and not self.hit.is_placeholder else None


@dataclass(frozen=True)
class ChunkKeys:
    """A chunk's key slots, one per mention, and find_many's parameters for them: each slot
    one string of the chunk's aliases (an array parameter costs Python a step per element)."""

    slotsets: list[KeySlots]
    params: dict[str, str]

    @classmethod
    def of(cls, mentions: Sequence[Mention]) -> ChunkKeys:
        slotsets = [m.key_slots() for m in mentions]
        params = {name: _join_slot(aliases, len(slotsets)) for name, aliases in zip(_SLOT_PARAMS, zip(*slotsets))}
        return cls(slotsets, params)


@dataclass(frozen=True)
class FoundChunk:
    """What one find_many statement said of a chunk of mentions: a row for each mention
    that found a mapping, in mention order, as fetched (plain tuples; no object is made per
    mention unless a miss needs it). A row: (index, *MappingHit)."""

    size: int
    rows: list[tuple[Any, ...]]

    def all_real(self) -> bool:
        """Whether every mention found a real mapping (a chunk decided without writing)."""
        return len(self.rows) == self.size and all(row[4] != TEMP_SOURCE for row in self.rows)


T = TypeVar("T")


@dataclass
class CacheOutcome:
    inserted: int = 0
    updated: int = 0
    kept: int = 0  # an existing row was left alone (same answer, or owned by an import)
    changed: list[MappingHit] = field(default_factory=list)  # rows as written (never in plan mode)


@dataclass(frozen=True)
class Placeholder:
    """A TEMP id to remember under a nameless mention's keys."""

    keys: tuple[Key, ...]
    temp_id: str


class MappingStore:
    def __init__(self, conn: psycopg.Connection, *, plan: WritePlan | None = None) -> None:
        self.conn = conn
        self.plan = plan

    # --- reads -----------------------------------------------------------------

    def find(self, slots: KeySlots) -> Found:
        """What company_mapping says of one mention (one round trip, and no planning on each call)."""
        params: dict[str, str | None] = {name: alias or None for name, alias in zip(_SLOT_PARAMS, slots)}
        [(*hit, registry_uen)] = run(self.conn, _Q["find_one"], {**params, "temp_source": TEMP_SOURCE})
        return Found(None if hit[0] is None else MappingHit._make(hit), registry_uen)

    def find_many(self, keys: ChunkKeys) -> FoundChunk:
        """Each mention's best mapping, in one round trip."""
        found, _ = self.find_many_while(keys, lambda: None)
        return found

    def find_many_while(self, keys: ChunkKeys, meanwhile: Callable[[], T]) -> tuple[FoundChunk, T]:
        """`find_many`, and `meanwhile()` run while PostgreSQL looks: the statement goes out
        in pipeline mode and its rows are read after. `meanwhile` must not use the connection."""
        if not keys.slotsets:
            return FoundChunk(0, []), meanwhile()
        with own_unit(self.conn), self.conn.pipeline():
            cursor = self.conn.execute(_Q["find_many"], {**keys.params, "temp_source": TEMP_SOURCE})
            other = meanwhile()
        return FoundChunk(len(keys.slotsets), cursor.fetchall()), other

    def found_per_mention(self, keys: ChunkKeys, found: FoundChunk) -> list[Found]:
        """Each mention's `Found`: its mapping, and, for a mention with a UEN but no real
        mapping, whether the ACRA registry we hold knows that UEN (one statement more, when
        the chunk has such a mention)."""
        hits: list[MappingHit | None] = [None] * found.size
        for row in found.rows:
            hits[row[0]] = MappingHit._make(row[1:])
        unmapped_uens = [slots[0] for slots, hit in zip(keys.slotsets, hits)
                         if slots[0] and (hit is None or hit.is_placeholder)]
        known: set[str] = set()
        if unmapped_uens:
            known = {uen for (uen,) in run(self.conn, _Q["registry_uens"], {"uens": unmapped_uens})}
        return [Found(hit, (hit is None or hit.is_placeholder) and slots[0] in known)
                for slots, hit in zip(keys.slotsets, hits)]

    # --- writes ----------------------------------------------------------------

    def cache(self, entries: Sequence[MappingEntry]) -> CacheOutcome:
        """Upsert a provider's answer. It refreshes rows of the same source and replaces
        TEMP placeholders, and never overwrites an import or another provider's answer."""
        entries = dedupe_entries(entries)
        if not entries:
            return CacheOutcome()
        if self.plan is not None:
            return self._plan_cache(entries)
        rows = run(self.conn, _Q["cache_upsert"], {**entry_arrays(entries), "temp_source": TEMP_SOURCE})
        inserted = sum(1 for r in rows if r[-1])
        return CacheOutcome(inserted=inserted, updated=len(rows) - inserted, kept=len(entries) - len(rows),
                            changed=[MappingHit._make(r[:-1]) for r in rows])

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

    def add_placeholders(self, placeholders: Sequence[Placeholder]) -> set[Key]:
        """Remember TEMP ids under their keys unless the keys are mapped already (first
        wins), in one statement; the keys that were taken already."""
        keys = [(key, p.temp_id) for p in placeholders for key in p.keys]
        if not keys:
            return set()
        if self.plan is not None:
            rows = run(self.conn, _Q["existing_for_keys"], {
                "types": [t for (t, _), _ in keys], "aliases": [a for (_, a), _ in keys]})
            for ((match_type, alias), temp_id), (_, _, company_id, *_) in zip(keys, rows):
                if company_id is None:
                    self.plan.record("company_mapping", "insert", match_type=match_type, alias=alias,
                                     company_id=temp_id, source=TEMP_SOURCE, priority=DEFAULT_PRIORITY[match_type])
            return set()
        inserted = run(self.conn, _Q["placeholder_insert"], {
            "aliases": [a for (_, a), _ in keys],
            "types": [t for (t, _), _ in keys],
            "priorities": [DEFAULT_PRIORITY[t] for (t, _), _ in keys],
            "company_ids": [temp_id for _, temp_id in keys],
            "temp_source": TEMP_SOURCE,
        })
        return {key for key, _ in keys} - {(str(t), str(a)) for t, a in inserted}
