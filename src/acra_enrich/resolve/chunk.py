"""One chunk of mentions resolved with a handful of statements, with the answers that
one `resolve_company_id` call per mention, in the same order, would give.

1. One statement finds every mention's best mapping: `MappingStore.find_many`. When every
   mention found a real mapping, that is the chunk's answer (`internal_results`), and
   nothing is written. Otherwise one statement more asks the registry about the UENs of
   mentions without a real mapping (`MappingStore.found_per_mention`).
2. The mentions are then decided in order, in memory. What an earlier mention of the
   chunk writes changes what a later one would find, so every row the chunk changes is
   kept in an overlay that later mentions consult beside what the statement found: an
   external answer cached (written at once, as the lookup is), or a TEMP id remembered
   under a nameless mention's plan code / account name (written at the end). Should an
   earlier write replace the very row a later mention found, that mention is looked up
   again (it cannot know its runner-up).
3. At the end, one statement numbers all new TEMP ids, one remembers them, and one
   queues every name still unresolved.

A single call is a chunk of one: one statement on an internal hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence, Union

from acra_enrich.resolve.mappings import Found, FoundChunk, Key, Placeholder, answer_entries
from acra_enrich.resolve.models import (
    DEFAULT_PRIORITY,
    MAX_KEY_CHARS,
    SLOT_TYPES,
    TEMP_SOURCE,
    CompanyIdResult,
    KeySlots,
    MappingHit,
    Mention,
    ResolutionStatus,
    fits_key,
    keys_of,
    placeholder_keys,
)

if TYPE_CHECKING:
    from acra_enrich.resolve.service import CompanyEnrichmentService, LookupBudget


@dataclass(frozen=True)
class _SlotHit:
    """A TEMP id this chunk hands out, as a placeholder row under one of its keys; the id
    itself is numbered at the end of the chunk."""

    slot: int
    match_type: str
    alias: str
    priority: int
    is_placeholder = True


@dataclass(frozen=True)
class _Slot:
    slots: KeySlots  # the mention's keys, to look it up again should its placeholder lose a race
    remember: tuple[Key, ...]  # where the TEMP id is remembered (nowhere when disabled)
    source: str
    detail: str


@dataclass(frozen=True)
class _Temp:
    slot: int
    match_type: str | None = None  # a later mention that found the slot's placeholder


@dataclass(frozen=True)
class _Queued:
    position: int  # in the chunk's list of names to queue
    detail: str | None


_Hit = Union[MappingHit, _SlotHit]
_Pending = Union[CompanyIdResult, _Temp, _Queued]


def internal_result(hit: MappingHit) -> CompanyIdResult:
    return CompanyIdResult(hit.company_id, ResolutionStatus.SUCCESS_INTERNAL, hit.match_type,
                           match_type=hit.match_type, confidence=hit.confidence)


def internal_results(found: FoundChunk) -> list[CompanyIdResult]:
    """The results of a chunk whose every mention found a real mapping (`found.all_real()`):
    `internal_result` of each, made straight from the rows."""
    success = ResolutionStatus.SUCCESS_INTERNAL
    results = []
    for _, match_type, _, company_id, source, _, confidence in found.rows:
        assert source != TEMP_SOURCE, "internal_results of a chunk with misses"
        results.append(CompanyIdResult(company_id, success, match_type, None, match_type, None, confidence))
    return results


def _rank(hit: _Hit, position: int) -> tuple[bool, int, int]:
    # The order of trust of mappings.sql's find_many: real before placeholder, priority, key order.
    return hit.is_placeholder, hit.priority, position


class _Chunk:
    def __init__(self, service: CompanyEnrichmentService, budget: LookupBudget) -> None:
        self.service = service
        self.budget = budget
        self.overlay: dict[Key, _Hit] = {}  # rows this chunk changed, as later mentions must see them
        self.overlay_aliases: set[str] = set()  # their aliases, for a quick first look
        self.slots: list[_Slot] = []
        self.to_queue: list[tuple[str, str]] = []  # (name, normalised name)

    def resolve(self, mentions: Sequence[Mention], slotsets: Sequence[KeySlots],
                found: Sequence[Found]) -> list[CompanyIdResult]:
        pending: list[_Pending] = []
        for mention, slots, f in zip(mentions, slotsets, found):
            if f.real_hit is not None and not self._overlaid(slots):
                pending.append(internal_result(f.real_hit))  # the common case, decided without more ado
            else:
                pending.append(self._decide(mention, slots, f))
        temp_ids = self._number_slots()
        requests = self.service.queue.enqueue_many(self.to_queue) if self.to_queue else []
        results = []
        for p in pending:
            if isinstance(p, _Temp):
                slot, temp_id = self.slots[p.slot], temp_ids[p.slot]
                if p.match_type is None:
                    p = CompanyIdResult(temp_id, ResolutionStatus.TEMP_ASSIGNED, slot.source, temp_id=temp_id,
                                        detail=slot.detail)
                else:
                    p = CompanyIdResult(temp_id, ResolutionStatus.TEMP_ASSIGNED, "temp", temp_id=temp_id,
                                        match_type=p.match_type)
            elif isinstance(p, _Queued):
                p = CompanyIdResult(None, ResolutionStatus.PENDING_LOOKUP, "queued",
                                    request_id=requests[p.position].request_id, detail=p.detail)
            results.append(p)
        return results

    def _overlaid(self, slots: KeySlots) -> bool:
        """Whether this chunk has changed a row under one of the mention's keys."""
        if self.overlay_aliases.isdisjoint(slots):  # most mentions: no alias in common
            return False
        return any((t, a) in self.overlay for t, a in zip(SLOT_TYPES, slots) if a)

    def _change(self, hit: _Hit) -> None:
        self.overlay[(hit.match_type, hit.alias)] = hit
        self.overlay_aliases.add(hit.alias)

    def _best(self, slots: KeySlots, keys: list[Key], found: Found) -> tuple[_Hit | None, bool]:
        """The mention's best mapping now: what the chunk's statement found, unless this
        chunk has changed a row under one of its keys since."""
        hit: _Hit | None = found.hit
        if not self._overlaid(slots):
            return hit, found.registry_uen
        registry_uen = found.registry_uen
        if hit is not None and (hit.match_type, hit.alias) in self.overlay:
            # The row it found was replaced; the database (which has the replacement) knows its runner-up.
            again = self.service.loader.find(slots)
            hit, registry_uen = again.hit, again.registry_uen
        candidates = [] if hit is None else [(_rank(hit, keys.index((hit.match_type, hit.alias))), hit)]
        candidates += [(_rank(self.overlay[k], i), self.overlay[k]) for i, k in enumerate(keys) if k in self.overlay]
        return min(candidates, key=lambda c: c[0])[1], registry_uen

    def _decide(self, mention: Mention, slots: KeySlots, found: Found) -> _Pending:
        service = self.service
        keys = keys_of(slots)
        hit, registry_uen = self._best(slots, keys, found)
        if isinstance(hit, MappingHit) and not hit.is_placeholder:
            return internal_result(hit)
        if registry_uen:
            uen = slots[0]
            return CompanyIdResult(uen, ResolutionStatus.SUCCESS_INTERNAL, "registry_uen", match_type="uen")
        key = slots[4]  # the customer name's key ('' without one, or for a name too long to be one)
        name = mention.customer_name if key else None
        if hit is not None and (name is None or not service.enabled):
            # The mention's TEMP id from an earlier call (or mention): same mention, same id.
            if isinstance(hit, _SlotHit):
                return _Temp(hit.slot, match_type=hit.match_type)
            return CompanyIdResult(hit.company_id, ResolutionStatus.TEMP_ASSIGNED, "temp", temp_id=hit.company_id,
                                   match_type=hit.match_type)
        if name is None:
            too_long = mention.customer_name is not None and fits_key(mention.customer_name) is None
            why = f"customer name longer than {MAX_KEY_CHARS} characters: not a name" if too_long else "no customer name"
            return self._new_temp(slots, keys, why, remember=True, source="generated")
        if not service.enabled:
            return self._new_temp(slots, keys, "company enrichment disabled", remember=False, source="disabled")

        detail = None
        if service.lookup_client is not None and self.budget.take():
            result, detail = service.lookup(name)
            if result is not None and result.match is not None:
                cached = service.loader.cache(answer_entries(name, result.match))
                for row in cached.changed:
                    self._change(row)
                match = result.match
                return CompanyIdResult(match.company_id, ResolutionStatus.SUCCESS_EXTERNAL, match.source,
                                       confidence=match.confidence)
        elif service.lookup_client is None:
            detail = "no lookup provider configured"
        else:
            detail = "sync lookup budget spent"
        self.to_queue.append((name, key))
        return _Queued(len(self.to_queue) - 1, detail)

    def _new_temp(self, slots: KeySlots, keys: list[Key], why: str, *, remember: bool, source: str) -> _Temp:
        slot = len(self.slots)
        remembered = placeholder_keys(keys) if remember else ()
        self.slots.append(_Slot(slots, remembered, source, why))
        if self.service.loader.plan is None:  # in plan mode nothing is written, so nothing is found later either
            for match_type, alias in remembered:
                self._change(_SlotHit(slot, match_type, alias, DEFAULT_PRIORITY[match_type]))
        return _Temp(slot)

    def _number_slots(self) -> list[str]:
        if not self.slots:
            return []
        loader = self.service.loader
        temp_ids = self.service.temp_ids.allocate(len(self.slots))
        taken = loader.add_placeholders(
            [Placeholder(s.remember, temp_id) for s, temp_id in zip(self.slots, temp_ids) if s.remember])
        for number, slot in enumerate(self.slots):
            if taken.intersection(slot.remember):
                # Another caller placed its TEMP id under these keys first: theirs wins.
                winner = loader.find(slot.slots)
                if winner.hit is not None and winner.hit.is_placeholder:
                    temp_ids[number] = winner.hit.company_id
        return temp_ids


def resolve_chunk(service: CompanyEnrichmentService, mentions: Sequence[Mention], budget: LookupBudget,
                  slotsets: Sequence[KeySlots], found: Sequence[Found]) -> list[CompanyIdResult]:
    """The chunk's results, in order, given each mention's key slots and what
    company_mapping said of them just before."""
    return _Chunk(service, budget).resolve(mentions, slotsets, found)
