"""External lookup providers behind one interface, and the ACRA registry provider.

A provider answers `lookup(name) -> LookupResult`: found (with one `CompanyMatch`),
not found, or ambiguous (several candidates equally good: we report them rather than
guess). Transport trouble is raised as a typed `LookupFailed` (rate-limited, server
error, auth, unavailable) so callers can queue the name and retry later.

The canonical `company_id` is the company's UEN whenever one is known ("UEN-backed"),
so the registry provider and the EQC-style provider agree on the id of the same
company; an external record without a UEN keeps the provider's own id.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Literal, Protocol, Sequence

import psycopg
from rapidfuzz import fuzz, process

from acra_enrich.resolve.dbutil import run
from acra_enrich.resolve.normalize import normalize_name
from acra_enrich.sqlfiles import load_queries

log = logging.getLogger(__name__)
_Q = load_queries("acra_enrich.resolve.sql", "registry.sql")

DEFAULT_THRESHOLD = 90.0  # rapidfuzz token_sort_ratio on normalised names, 0..100
DEFAULT_TIE_MARGIN = 1.0  # candidates within this many points of the best are a tie
LIVE_STATUSES = ("live", "live company", "registered")


# --- errors ---------------------------------------------------------------------------


class LookupFailed(Exception):
    """The provider could not answer now; the name is worth trying again later."""


class LookupRateLimited(LookupFailed):
    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class LookupServerError(LookupFailed):
    """The provider answered 5xx."""


class LookupAuthError(LookupFailed):
    """Missing, wrong or expired credentials."""


class LookupUnavailable(LookupFailed):
    """No answer at all: timeout, connection refused, unreadable response."""


# --- results --------------------------------------------------------------------------


@dataclass(frozen=True)
class CompanyMatch:
    company_id: str
    name: str
    uen: str | None
    source: str  # the provider's name; recorded as company_mapping.source
    confidence: float  # 0..1


@dataclass(frozen=True)
class Candidate:
    key: str  # the provider's id for the record (UEN for the registry)
    name: str
    uen: str | None = None
    live: bool | None = None


@dataclass(frozen=True)
class LookupResult:
    outcome: Literal["found", "not_found", "ambiguous"]
    match: CompanyMatch | None = None
    candidates: tuple[Candidate, ...] = field(default=())  # the tie, when ambiguous

    @property
    def found(self) -> bool:
        return self.outcome == "found"

    def describe(self) -> str:
        if self.outcome == "ambiguous":
            shown = "; ".join(f"{c.name} ({c.uen or c.key})" for c in self.candidates[:5])
            return f"ambiguous: {len(self.candidates)} equally good candidates: {shown}"
        if self.outcome == "not_found":
            return "no candidate above the confidence threshold"
        assert self.match is not None
        return f"found {self.match.company_id} ({self.match.name})"


class LookupProvider(Protocol):
    name: str

    def lookup(self, name: str) -> LookupResult: ...


# --- choosing among candidates ------------------------------------------------------------


@dataclass(frozen=True)
class Pick:
    outcome: Literal["found", "not_found", "ambiguous"]
    best: Candidate | None = None
    score: float = 0.0
    tied: tuple[Candidate, ...] = ()


def pick_best(
    query: str,
    candidates: Sequence[Candidate],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    tie_margin: float = DEFAULT_TIE_MARGIN,
) -> Pick:
    """The one candidate whose normalised name matches `query` best, above `threshold`.

    Candidates within `tie_margin` of the best that are different companies make the
    answer ambiguous, except that a single live entity beats struck-off/dissolved ones
    with the same name (ACRA reuses names of dead companies).
    """
    key = normalize_name(query)
    if not key or not candidates:
        return Pick("not_found")
    names = [normalize_name(c.name) for c in candidates]
    scored = process.extract(key, names, scorer=fuzz.token_sort_ratio, processor=None,
                             score_cutoff=threshold, limit=None)
    if not scored:
        return Pick("not_found")
    best_score = max(score for _, score, _ in scored)
    top: dict[str, Candidate] = {}
    for _, score, index in scored:
        if score >= best_score - tie_margin:
            candidate = candidates[index]
            top.setdefault(candidate.uen or candidate.key, candidate)
    if len(top) == 1:
        return Pick("found", next(iter(top.values())), best_score)
    live = [c for c in top.values() if c.live]
    if len(live) == 1:
        return Pick("found", live[0], best_score)
    return Pick("ambiguous", score=best_score, tied=tuple(top.values()))


# --- the ACRA registry provider -----------------------------------------------------------

_WORD = re.compile(r"[^\W_]+")


def _search_word(normalized: str) -> str | None:
    """The name's most distinctive word (the longest) to narrow the registry scan."""
    words = _WORD.findall(normalized)
    return max(words, key=len) if words else None


def _like_pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class AcraRegistryProvider:
    """Match a name against the ACRA registry we hold (staging and companies).

    Free and local, so it is tried before any paid provider. Returns the UEN as the
    company id, only above the confidence threshold, and reports ties as ambiguous.
    """

    name = "acra_registry"

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        threshold: float = DEFAULT_THRESHOLD,
        tie_margin: float = DEFAULT_TIE_MARGIN,
        max_candidates: int = 5000,
    ) -> None:
        self.conn = conn
        self.threshold = threshold
        self.tie_margin = tie_margin
        self.max_candidates = max_candidates

    def lookup(self, name: str) -> LookupResult:
        word = _search_word(normalize_name(name))
        if word is None:
            return LookupResult("not_found")
        rows = run(self.conn, _Q["candidates"], {"pattern": _like_pattern(word), "limit": self.max_candidates})
        if len(rows) == self.max_candidates:
            log.info("registry lookup for %r hit the candidate cap (%d)", name, self.max_candidates)
        by_uen: dict[str, Candidate] = {}
        for uen, entity_name, status in rows:
            by_uen.setdefault(uen, Candidate(uen, entity_name, uen, (status or "").strip().lower() in LIVE_STATUSES))
        pick = pick_best(name, list(by_uen.values()), threshold=self.threshold, tie_margin=self.tie_margin)
        if pick.outcome == "ambiguous":
            return LookupResult("ambiguous", candidates=pick.tied)
        if pick.best is None:
            return LookupResult("not_found")
        return LookupResult("found", CompanyMatch(pick.best.key, pick.best.name, pick.best.uen, self.name,
                                                  round(pick.score / 100, 4)))


# --- several providers, in order --------------------------------------------------------


class ChainProvider:
    """Ask providers in order; the first that finds the company answers.

    When none finds it: a failure (e.g. the paid provider rate-limited us) is raised so
    the name is retried later, a rate limit before any other failure; otherwise the
    result is ambiguous if any provider saw a tie, else not found.
    """

    def __init__(self, providers: Sequence[LookupProvider]) -> None:
        if not providers:
            raise ValueError("a chain needs at least one provider")
        self.providers = list(providers)
        self.name = "+".join(p.name for p in providers)

    def lookup(self, name: str) -> LookupResult:
        failures: list[LookupFailed] = []
        ambiguous: LookupResult | None = None
        for provider in self.providers:
            try:
                result = provider.lookup(name)
            except LookupFailed as exc:
                failures.append(exc)
                continue
            if result.found:
                return result
            if result.outcome == "ambiguous" and ambiguous is None:
                ambiguous = result
        if failures:
            raise next((f for f in failures if isinstance(f, LookupRateLimited)), failures[0])
        return ambiguous or LookupResult("not_found")

    def close(self) -> None:
        for provider in self.providers:
            close = getattr(provider, "close", None)
            if close is not None:
                close()
