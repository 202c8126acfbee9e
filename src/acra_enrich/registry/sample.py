"""Seeded generator of ACRA "Information on Corporate Entities" CSV files (see SCHEMA.md).

No copy of the real bulk files exists on our machines, so tests and benchmarks run on files
from here. Rows follow the published format and the quirks documented for it (three UEN
formats with real check letters, `na`/empty dates, stray SSIC codes, names needing CSV
quoting, non-ASCII), and can be seeded with malformed records of known kinds at known lines.

Guarantees the tests and the ingest can rely on:
- same (rows, seed, malformed_rate, shape) -> identical bytes; nothing depends on time or
  on the global `random` state;
- shapes (acra_columns.SHAPES): `full` (the 94-column collection files), `registered`
  ("Entities Registered with ACRA": `*_desc` columns, status Registered / Deregistered) and
  `narrow` (an older 8-column extract);
- every record, good or malformed, is exactly one physical line (no value holds a line
  break), so data row i (0-based) is on line i + 2;
- good rows: right column count, valid UTF-8, no NUL, a UEN passing `stdnum.sg.uen`,
  UENs unique in the file, dates `YYYY-MM-DD`, `na` or empty;
- the record after an `unterminated_quote` line is always a good one, so a reader can resync;
- the entities do not depend on `malformed_rate` or `shape`: malformation draws from its
  own random stream, and the narrower shapes are projections of the full record (the
  registered shape reduces the status to Registered / Deregistered).
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from operator import itemgetter
from typing import BinaryIO, ClassVar, Generic, Literal, TypeVar

from stdnum.sg import uen as stdnum_uen

from acra_enrich.registry.acra_columns import FULL_COLUMNS, SHAPES, canonical_name
from acra_enrich.registry.ssic import bundled_subclasses

__all__ = ["MALFORMED_KINDS", "SampleManifest", "iter_good_records", "registered_status", "write_acra_csv"]

MALFORMED_KINDS: tuple[str, ...] = (
    "wrong_column_count", "undecodable_bytes", "missing_uen", "impossible_date",
    "unterminated_quote", "nul_byte",
)


@dataclass
class SampleManifest:
    rows_written: int = 0
    good_rows: int = 0
    # (physical line number, 1-based with the header on line 1; kind from MALFORMED_KINDS)
    malformed: list[tuple[int, str]] = field(default_factory=list)


# --------------------------------------------------------------------------- value pools

# Fixed, not today's year: output must not change with the clock. Entities are registered
# up to _LAST_YEAR; filing dates run into _DATA_YEAR, the year the "extract" is from.
_LAST_YEAR = 2024
_DATA_YEAR = _LAST_YEAR + 1

_IX = {name: i for i, name in enumerate(FULL_COLUMNS)}
# The generator writes these column groups as slices; fail loudly if the contract moves them.
for _group in (
    ("address_type", "block", "street_name", "level_no", "unit_no", "building_name", "postal_code",
     "other_address_line1", "other_address_line2"),
    ("primary_ssic_code", "primary_ssic_description", "primary_user_described_activity"),
    ("secondary_ssic_code", "secondary_ssic_description", "secondary_user_described_activity"),
    ("former_entity_name1", "former_entity_name2"),
    tuple(f"paid_up_capital{i}_{p}" for i in (1, 2)
          for p in ("currency", "ordinary", "preference", "others")),
    ("uen_of_audit_firm1", "name_of_audit_firm1"),
):
    assert [_IX[c] for c in _group] == list(range(_IX[_group[0]], _IX[_group[0]] + len(_group))), _group
del _group


_T = TypeVar("_T")
_Rand = Callable[[], float]  # rng.random, bound once: every draw goes through it


class _Weighted(Generic[_T]):
    """Weighted choice by bisect on cumulative weights (much cheaper than random.choices)."""

    def __init__(self, pairs: Sequence[tuple[_T, float]]) -> None:
        self.items = [item for item, _ in pairs]
        self.cum = list(accumulate(w for _, w in pairs))
        self.total = self.cum[-1]

    def pick(self, r: _Rand) -> _T:
        return self.items[bisect.bisect_right(self.cum, r() * self.total)]


def _pick(pool: Sequence[str], r: _Rand) -> str:
    return pool[int(r() * len(pool))]


def _grow(years: range, power: float = 2.0) -> _Weighted[int]:
    # Registrations grew steadily, so recent years are much more common.
    return _Weighted([(y, (y - years[0] + 8) ** power) for y in years])


_LOCAL_COMPANY_STATUS = _Weighted([
    ("Live Company", 62), ("Struck Off", 18), ("Gazetted to be Struck Off", 2),
    ("Amalgamated", 1), ("Converted", 0.8), ("Cancelled", 0.4),
    ("In Liquidation - Members' Voluntary Winding Up", 1),
    ("In Liquidation - Creditors' Voluntary Winding Up", 0.5),
    ("In Liquidation - Compulsory Winding Up", 0.5),
    ("Dissolved - Members' Voluntary Winding Up", 3),
    ("Dissolved - Compulsory Winding Up", 1.5),
    ("Dissolved - Creditors' Voluntary Winding Up", 1), ("", 0.4),
])
_BUSINESS_STATUS = _Weighted([
    ("Live", 52), ("Ceased Registration", 28), ("Cancelled", 10), ("Expired", 8),
    ("Registered", 1), ("", 0.4),
])
_LLP_STATUS = _Weighted([
    ("Live", 66), ("Struck Off", 20), ("Gazetted to be Struck Off", 3), ("Converted", 2),
    ("Cancelled", 1), ("Dissolved - Members' Voluntary Winding Up", 1), ("", 0.4),
])
_LP_STATUS = _Weighted([("Live", 65), ("Ceased Registration", 25), ("Cancelled", 8), ("", 0.4)])
_FOREIGN_STATUS = _Weighted([
    ("Registered", 58), ("Cancelled", 25), ("Ceased Registration", 8), ("Struck Off", 6),
    ("In Liquidation - Compulsory Winding Up", 1), ("", 0.4),
])
_PAF_STATUS = _Weighted([("Registered", 70), ("Live", 10), ("Cancelled", 18), ("", 0.4)])

_COMPANY_TYPES = _Weighted([
    ("Exempt Private Company Limited by Shares", 70),
    ("Private Company Limited by Shares", 25),
    ("Public Company Limited by Shares", 2.5),
    ("Public Company Limited by Guarantee", 2.5),
])
_PRIVATE_SUFFIX = _Weighted([
    ("PTE. LTD.", 72), ("PTE LTD", 14), ("PRIVATE LIMITED", 10), ("PTE. LIMITED", 3),
    ("(PTE.) LTD.", 1),
])
_PUBLIC_SUFFIX = _Weighted([("LIMITED", 80), ("LTD.", 15), ("LTD", 5)])
_FOREIGN_SUFFIX = _Weighted([
    ("LIMITED", 30), ("INC.", 12), ("CORPORATION", 10), ("CO., LTD.", 12), ("GMBH", 5),
    ("SDN. BHD.", 10), ("B.V.", 4), ("PLC", 4), ("AG", 3), ("S.A.", 3), ("PTY LTD", 7),
])

_WORDS = (
    "ALPHA", "APEX", "ASIA", "ATLAS", "BLUE OCEAN", "BRIGHT", "CAPITAL", "CENTRAL", "CHUAN",
    "CRYSTAL", "DRAGON", "EAGLE", "EAST", "EASTERN", "ELITE", "EVERGREEN", "FORTUNE", "GLOBAL",
    "GOLDEN", "GRAND", "GREEN", "HAPPY", "HARMONY", "HOCK SENG", "HUP", "JADE", "KIM", "LION",
    "LION CITY", "LOTUS", "MERLION", "METRO", "NEW", "NOBLE", "NOVA", "OCEAN", "ORCHID",
    "ORIENT", "PACIFIC", "PHOENIX", "PRIME", "RAFFLES", "ROYAL", "SIN", "SUNRISE", "SUPREME",
    "TAN", "LIM", "ONG", "WEE", "TEO", "GOH", "NG", "KOH", "CHUA", "LEE", "WONG", "AH HUAT",
    "SRI", "MURUGAN", "RAJ", "MUTHU", "AL-AMIN", "BISMILLAH", "NUSANTARA", "STAR", "TRINITY",
    "UNITED", "UNIVERSAL", "VERTEX", "VICTORY", "VISION", "WISDOM", "ZENITH", "KAIZEN",
    "SAKURA", "SEOUL", "MEKONG", "BORNEO", "SENTOSA", "MARINA", "TIONG BAHRU", "KATONG",
)
# Invented brand words, one per name, make accidental duplicate names rare (see _Brands).
_ONSETS = ("B", "CH", "D", "F", "G", "H", "J", "K", "L", "M", "N", "P", "R", "S", "T", "V", "W",
           "Y", "Z", "TR")
_SYLLABLES = tuple(c + v for c in _ONSETS for v in "AEIOU")  # 100 consonant(s)+vowel syllables
_CODAS = ("", "", "N", "X", "S", "R", "L")
_ACTIVITIES = (
    "TRADING", "ENGINEERING", "CONSTRUCTION", "HOLDINGS", "TECHNOLOGIES", "TECHNOLOGY",
    "LOGISTICS", "CONSULTANCY", "SERVICES", "ENTERPRISE", "INVESTMENTS", "INVESTMENT", "F&B",
    "FOOD", "MARINE", "SOLUTIONS", "DESIGN & BUILD", "RENOVATION", "EDUCATION CENTRE",
    "VENTURES", "BEAUTY", "MEDICAL CLINIC", "REALTY", "SUPPLIES", "IMPORT & EXPORT", "M&E",
    "INTERNATIONAL", "GROUP", "ASIA PACIFIC", "SYSTEMS", "ELECTRICAL", "PLUMBING", "CATERING",
    "TRANSPORT", "TRAVEL", "DIGITAL", "MEDIA", "STUDIO", "PROPERTIES", "DEVELOPMENT",
    "MANAGEMENT", "PARTNERS", "ADVISORY", "RESOURCES", "INDUSTRIES", "MANUFACTURING",
    "AUTOMOBILE", "SHIPPING", "SECURITY", "CLEANING SERVICES", "FLORIST", "BAKERY", "KITCHEN",
    "COFFEE", "ROBOTICS", "FINTECH", "BIOTECH", "HEALTHCARE", "FITNESS", "TUITION",
)
_BUSINESS_TAILS = ("ENTERPRISE", "TRADING", "SERVICES", "& CO.", "CONSTRUCTION", "FOOD STALL",
                   "DESIGN", "AGENCY", "STORE", "MINI MART", "MOTOR", "RENOVATION WORKS")
_REGION_TAGS = ("(S)", "(SINGAPORE)", "(ASIA)", "(ASIA PACIFIC)", "(SEA)", "(INTERNATIONAL)")
_DIGIT_TAGS = ("88", "1", "3D", "A1", "1ST", "24/7", "99", "2000", "360", "8", "168", "3")
# Real names carry accents, CJK and typographic apostrophes; each of these exercises UTF-8.
_NON_ASCII = ("CAFÉ", "MAISON DÉCOR", "新加坡", "京华", "ÉTOILE", "JOHN’S", "NAÏVE", "GRÜN",
              "MÉTIS", "龙凤", "SÃO PAULO", "KÖNIG", "MARY’S")
_QUOTED = ('"SUNNY"', '"THE BEST"', '"A"', '"GOLDEN BOY"')
_SURNAMES = ("TAN", "LIM", "LEE", "NG", "ONG", "WONG", "GOH", "CHUA", "KUMAR", "SMITH",
             "RAHMAN", "LOW", "YEO", "CHAN")

_HDB_STREETS = (
    "ANG MO KIO AVENUE 3", "ANG MO KIO AVENUE 10", "BEDOK NORTH STREET 1", "BEDOK NORTH ROAD",
    "BUKIT BATOK WEST AVENUE 6", "BUKIT MERAH VIEW", "CHOA CHU KANG AVENUE 4", "CLEMENTI AVENUE 2",
    "HOUGANG AVENUE 8", "JURONG WEST STREET 42", "JURONG EAST STREET 21", "PASIR RIS DRIVE 6",
    "PUNGGOL FIELD", "SENGKANG EAST WAY", "SERANGOON AVENUE 2", "TAMPINES STREET 92",
    "TAMPINES AVENUE 5", "TOA PAYOH LORONG 1", "WOODLANDS DRIVE 14", "YISHUN RING ROAD",
    "JALAN BUKIT MERAH", "MARINE PARADE CENTRAL", "BISHAN STREET 13", "CIRCUIT ROAD",
    "SEMBAWANG CRESCENT", "GEYLANG BAHRU", "BOON LAY DRIVE", "WHAMPOA DRIVE",
)
_COMMERCIAL = (
    ("ANSON ROAD", "INTERNATIONAL PLAZA"), ("RAFFLES PLACE", "ONE RAFFLES PLACE"),
    ("TEMASEK BOULEVARD", "SUNTEC TOWER ONE"), ("ROBINSON ROAD", "ROBINSON 77"),
    ("CECIL STREET", "THE OCTAGON"), ("SHENTON WAY", "UIC BUILDING"),
    ("UBI AVENUE 1", "OXLEY BIZHUB"), ("KAKI BUKIT ROAD 1", "EUNOS TECHNOPARK"),
    ("WOODLANDS INDUSTRIAL PARK E1", "WOODLANDS BIZHUB"), ("ORCHARD ROAD", "WHEELOCK PLACE"),
    ("NORTH BRIDGE ROAD", "HIGH STREET CENTRE"), ("BEACH ROAD", "THE CONCOURSE"),
    ("SCIENCE PARK ROAD", "THE ALPHA"), ("TAI SENG STREET", ""), ("PAYA LEBAR ROAD", ""),
    ("CHANGI BUSINESS PARK CRESCENT", "SIGNATURE"), ("GUL CIRCLE", ""), ("TUAS AVENUE 2", ""),
    ("BUKIT TIMAH ROAD", ""), ("MACPHERSON ROAD", ""), ("SIN MING LANE", "MIDVIEW CITY"),
    ("TANJONG PAGAR ROAD", ""), ("AMOY STREET", ""), ("ALEXANDRA ROAD", "MAPLETREE ANSON"),
    ("JALAN KILANG BARAT", "KEWALRAM HOUSE"), ("MANDAI ESTATE", "INNOVATION PLACE"),
)
_HDB_BUILDINGS = ("", "", "", "", "", "", "", "PUNGGOL VIEW", "CITY VIEW @ BOON KENG",
                  "SKYVILLE @ DAWSON", "TAMPINES GREENRIDGES")
# Postal sectors are the first two digits of a postal code; 74 is unused.
_POSTAL_SECTORS = tuple(f"{s:02d}" for s in range(1, 83) if s != 74)
_FOREIGN_ADDRESSES = (
    ("88 QUEEN'S ROAD CENTRAL", "HONG KONG"), ("1 JALAN AMPANG", "KUALA LUMPUR 50450, MALAYSIA"),
    ("350 FIFTH AVENUE, SUITE 4200", "NEW YORK, NY 10118, USA"),
    ("2-1 MARUNOUCHI, CHIYODA-KU", "TOKYO 100-0005, JAPAN"), ("10 DOWNING STREET", "LONDON SW1A 2AA"),
    ("JL. JEND. SUDIRMAN KAV. 52-53", "JAKARTA 12190, INDONESIA"),
)
_CURRENCIES = _Weighted([
    ("SINGAPORE, DOLLARS", 92), ("UNITED STATES OF AMERICA, DOLLARS", 5), ("EURO", 0.8),
    ("MALAYSIA, RINGGITS", 0.7), ("CHINA, YUAN RENMINBI", 0.6), ("HONG KONG, DOLLARS", 0.5),
    ("JAPAN, YEN", 0.4),
])
_CAPITALS = ("1", "2", "10", "100", "1000", "1000", "10000", "10000", "50000", "100000",
             "100000", "200000", "500000", "1000000", "2500000", "10000000")
_USER_ACTIVITIES = (
    "TRADING OF BUILDING MATERIALS", "SOFTWARE DEVELOPMENT AND IT CONSULTANCY",
    "GENERAL CONTRACTOR", "ONLINE RETAIL OF APPAREL", "CAFE & BAKERY", "HOLDING COMPANY",
    "MANAGEMENT CONSULTANCY SERVICES", "IMPORT AND EXPORT OF FOOD PRODUCTS", "TUITION CENTRE",
    "RENOVATION AND INTERIOR DESIGN", "Event management", "e-commerce platform",
)
_POPULAR_SSIC = ("46900", "70201", "62011", "64202", "56111", "47910", "41002", "43301",
                 "68104", "62021", "46100", "56112", "49213", "66302", "73100")
_PAF_CONSTITUTIONS = ("Sole Proprietorship", "Partnership", "Limited Liability Partnership")
_IMPOSSIBLE_DATES = ("2021-02-30", "2019-13-01", "2023-04-31", "2022-00-10", "2018-02-29",
                     "2020-06-00", "2017-11-31")


@dataclass(frozen=True, eq=False)
class _Kind:
    entity_type: str
    uen_format: Literal["roc", "rob", "other"]
    type_code: str  # the two letters of an "other" UEN (LL, LP, FC, PF); "" otherwise
    years: _Weighted[int]  # registration year; for "rob" the UEN does not encode it
    status: _Weighted[str]


# Mix roughly like the register: companies and sole proprietorships dominate.
_COMPANY = _Kind("Local Company", "roc", "", _grow(range(1965, _LAST_YEAR + 1)), _LOCAL_COMPANY_STATUS)
_BUSINESS = _Kind("Sole Proprietorship/ Partnership", "rob", "", _grow(range(1975, _LAST_YEAR + 1)),
                  _BUSINESS_STATUS)
_LLP = _Kind("Limited Liability Partnership", "other", "LL", _grow(range(2005, _LAST_YEAR + 1), 1.5),
             _LLP_STATUS)  # the LLP Act dates from 2005
_LP = _Kind("Limited Partnership", "other", "LP", _grow(range(2009, _LAST_YEAR + 1), 1.0), _LP_STATUS)
_FOREIGN = _Kind("Foreign Company", "other", "FC", _grow(range(1950, _LAST_YEAR + 1), 1.5),
                 _FOREIGN_STATUS)
_PAF = _Kind("Public Accounting Firm", "other", "PF", _grow(range(1990, _LAST_YEAR + 1), 1.0), _PAF_STATUS)
_KIND_PICK = _Weighted([(_COMPANY, 55), (_BUSINESS, 35), (_LLP, 5.5), (_LP, 0.7), (_FOREIGN, 3.3),
                        (_PAF, 0.5)])
# Business (ROB) numbers: 2-digit historical prefix + 6-digit serial; 53/52 dominate today.
_ROB_PREFIXES = _Weighted([("53", 55), ("52", 20), ("47", 6), ("45", 5), ("41", 4),
                           ("35", 4), ("26", 3), ("00", 3)])


# --------------------------------------------------------------------------------- UENs

class _UenAllocator:
    """Unique UENs without remembering issued ones.

    Each bucket (format, year or ROB prefix, type code) counts how many serials it handed
    out; an affine map n -> (n * mult + offset) mod capacity is a bijection when mult is
    coprime with the (power-of-ten) capacity, so serials look random yet never repeat.
    Buckets are disjoint in the UEN string, hence UENs are unique across the file.
    """

    _CAPACITY: ClassVar[dict[str, int]] = {"roc": 100_000, "rob": 1_000_000, "other": 10_000}

    def __init__(self, seed: int) -> None:
        self._seed = seed
        setup = random.Random(f"acra-sample-uen:{seed}")  # own stream: keeps rows' draws intact
        self._mult = {
            fmt: 10 * setup.randrange(max(cap // 10, 1)) + setup.choice((1, 3, 7, 9))
            for fmt, cap in self._CAPACITY.items()
        }
        self._used: dict[tuple[str, str, str], int] = {}
        self._offset: dict[tuple[str, str, str], int] = {}

    def _serial(self, key: tuple[str, str, str]) -> int | None:
        """Next serial of this bucket, None once the bucket is full."""
        fmt = key[0]
        cap = self._CAPACITY[fmt]
        n = self._used.get(key, 0)
        if n >= cap:
            return None
        self._used[key] = n + 1
        offset = self._offset.get(key)
        if offset is None:
            offset = self._offset[key] = random.Random(f"{self._seed}:{key}").randrange(cap)
        return (n * self._mult[fmt] + offset) % cap

    def _free(self, fmt: str, wanted: str, others: Sequence[object], code: str) -> tuple[str, int] | None:
        """(bucket, serial) from the wanted bucket, else from the first of `others` with room."""
        serial = self._serial((fmt, wanted, code))
        if serial is not None:
            return wanted, serial
        for other in others:  # only reached once a bucket is full: a very large file
            serial = self._serial((fmt, str(other), code))
            if serial is not None:
                return str(other), serial
        return None

    def issue(self, kind: _Kind, year: int, r: _Rand) -> tuple[str, _Kind, int]:
        """UEN for an entity of `kind` registered in `year` -> (uen, kind, year). A full
        bucket moves the entity to another year; only when its whole kind is exhausted does
        it become a business (whose numbers have by far the most room)."""
        if kind.uen_format == "roc":
            got = self._free("roc", str(year), kind.years.items, "")
            if got is not None:
                body = f"{got[0]}{got[1]:05d}"
                return body + stdnum_uen.calc_local_company_check_digit(body), kind, int(got[0])
        elif kind.uen_format == "other":
            got = self._free("other", str(year), kind.years.items, kind.type_code)
            if got is not None:
                y = int(got[0])  # T = 20yy, S = 19yy
                body = f"{'T' if y >= 2000 else 'S'}{y % 100:02d}{kind.type_code}{got[1]:04d}"
                return body + stdnum_uen.calc_other_check_digit(body), kind, y
        if kind.uen_format != "rob":
            kind = _BUSINESS
            year = kind.years.pick(r)
        got = self._free("rob", _ROB_PREFIXES.pick(r), _ROB_PREFIXES.items, "")
        if got is None:
            raise ValueError("more rows than this generator has distinct UENs for")
        body = f"{got[0]}{got[1]:06d}"
        return body + stdnum_uen.calc_business_check_digit(body), kind, year


# ------------------------------------------------------------------------------ helpers

def _dates_by_year(first: int, last: int) -> dict[int, tuple[str, ...]]:
    """Every YYYY-MM-DD string per year, so a date costs one random draw."""
    out: dict[int, tuple[str, ...]] = {}
    for year in range(first, last + 1):
        start = dt.date(year, 1, 1).toordinal()
        days = dt.date(year + 1, 1, 1).toordinal() - start
        out[year] = tuple(dt.date.fromordinal(start + d).isoformat() for d in range(days))
    return out


class _SsicPool:
    """(code, description) pairs drawn from the bundled SSIC 2020 sub-classes, with the
    irregularities seen in registry extracts: stray characters around the code, a code the
    reference does not know, upper vs mixed case descriptions, nothing at all."""

    def __init__(self) -> None:
        entries = bundled_subclasses()
        self.codes = [e.code for e in entries]
        titles = [" ".join(e.title.split()) for e in entries]  # never a line break in a record
        self.upper = [t.upper() for t in titles]
        # Mixed case: the reference title as published (sentence case), else Title Case.
        self.mixed = [t if t != t.upper() else t.title() for t in titles]
        known = set(self.codes)
        self.popular = [self.codes.index(c) for c in _POPULAR_SSIC if c in known]
        # Plausible codes outside the reference: a known sub-class with another last digit.
        self.unknown: list[tuple[str, str]] = []
        for code, title in zip(self.codes, self.upper):
            for digit in "98765":
                candidate = code[:4] + digit
                if candidate not in known:
                    base = title.removesuffix(" N.E.C.").removeprefix("OTHER ")
                    self.unknown.append((candidate, f"OTHER {base} N.E.C."))
                    break

    def pick(self, r: _Rand) -> tuple[str, str]:
        n = len(self.codes)
        if not n:
            return "", ""
        x = r()
        if x < 0.012:
            return "", ""
        if x < 0.02 and self.unknown:
            return self.unknown[int(r() * len(self.unknown))]
        i = self.popular[int(r() * len(self.popular))] if x < 0.35 and self.popular else int(r() * n)
        code = self.codes[i]
        desc = self.upper[i] if r() < 0.88 else self.mixed[i]
        if x > 0.985:  # stray characters, as left by spreadsheets and manual entry
            code = (f"{code} ", f" {code}", f"{code[:2]}.{code[2:]}", f"{code}.0")[int(r() * 4)]
        return code, desc


class _Brands:
    """Invented words like KATRAZEN, distinct for the first million names of a file.

    n counts up from a seeded start and n -> n * mult mod 10**6 (mult coprime with 10) is a
    bijection on any million consecutive n; the result's three base-100 digits pick three
    consonant+vowel syllables, which split back unambiguously (cut after each vowel), and
    the optional final consonant comes after the last vowel, so distinct n give distinct
    words. Past a million names words repeat, and so may names.
    """

    def __init__(self, seed: int) -> None:
        setup = random.Random(f"acra-sample-brands:{seed}")
        self._mult = 10 * setup.randrange(100_000) + setup.choice((1, 3, 7, 9))
        self._n = setup.randrange(1_000_000)

    def next(self, r: _Rand) -> str:
        k = self._n * self._mult % 1_000_000
        self._n += 1
        s = _SYLLABLES
        return s[k // 10_000] + s[k // 100 % 100] + s[k % 100] + _pick(_CODAS, r)


def _name(kind: _Kind, company_type: str, brand: str, r: _Rand) -> str:
    """An upper-case entity name with the legal suffix its entity type requires."""
    x = r()
    if x < 0.05:  # a plain common name: these recur in the register like real ones do
        core = f"{_pick(_WORDS, r)} {_pick(_WORDS, r)}"
    elif x < 0.35:
        core = f"{_pick(_WORDS, r)} {brand}"
    elif x < 0.5:
        core = f"{brand} {_pick(_WORDS, r)}"
    else:
        core = brand
    x = r()  # at most one flourish per name, each exercising something in the reader
    if x < 0.04:
        core = f"{_pick(_DIGIT_TAGS, r)} {core}"
    elif x < 0.07:
        core = f"{core} & {_pick(_SURNAMES, r)}"
    elif x < 0.08:
        core = f"{_pick(_SURNAMES, r)}, {core} & {_pick(_SURNAMES, r)}"
    elif x < 0.09:
        core = f"{_pick(_NON_ASCII, r)} {core}"
    elif x < 0.095:
        core = f"{_pick(_QUOTED, r)} {core}"
    fmt = kind.uen_format
    if fmt == "rob":
        return f"{core} {_pick(_BUSINESS_TAILS, r)}"
    if kind.type_code == "PF":
        return f"{core} {('& CO.', 'ASSURANCE', '& ASSOCIATES', 'CHARTERED ACCOUNTANTS')[int(r() * 4)]}"
    activity = _pick(_ACTIVITIES, r)
    region = f" {_pick(_REGION_TAGS, r)}" if x > 0.94 else ""
    if fmt == "roc":
        suffix = _PRIVATE_SUFFIX if company_type.startswith(("Exempt", "Private")) else _PUBLIC_SUFFIX
        return f"{core} {activity}{region} {suffix.pick(r)}"
    if kind.type_code == "FC":
        return f"{core} {activity} {_FOREIGN_SUFFIX.pick(r)}"
    return f"{core} {activity}{region} {'LLP' if kind.type_code == 'LL' else 'LP'}"


# ------------------------------------------------------------------------------ records

def _records(seed: int) -> Iterator[list[str]]:
    """Endless stream of full-shape records (lists of 94 strings), fully determined by seed."""
    rng = random.Random(seed)
    r = rng.random
    alloc = _UenAllocator(seed)
    dates = _dates_by_year(1950, _DATA_YEAR)
    ssic = _SsicPool()
    brands = _Brands(seed)
    firms = [  # audit firms are LLPs or public accounting corporations (companies)
        (alloc.issue(_LLP, 2010 + i, r)[0], f"{name} LLP") if i % 2 == 0
        else (alloc.issue(_COMPANY, 2005 + i, r)[0], f"{name} PAC")
        for i, name in enumerate(("TAN WEE & PARTNERS", "ASSURANCE ALLIANCE", "LIM & ASSOCIATES",
                                  "MERIDIAN AUDIT", "ONG, KOH & CO", "STRAITS ASSURANCE",
                                  "PRIMUS ACCOUNTING", "HARBOUR AUDIT"))
    ]
    # Some names per (entity type, company type), for re-use: the suffix must still fit.
    recent: dict[tuple[str, str], list[str]] = {}
    ix = _IX
    i_uen, i_name = ix["uen"], ix["entity_name"]
    i_type, i_status = ix["entity_type_description"], ix["entity_status_description"]
    i_reg, i_issue = ix["registration_incorporation_date"], ix["uen_issue_date"]
    i_ctype, i_addr = ix["company_type_description"], ix["address_type"]
    i_ssic1, i_ssic2 = ix["primary_ssic_code"], ix["secondary_ssic_code"]
    i_former, i_cap = ix["former_entity_name1"], ix["paid_up_capital1_currency"]
    i_audit = ix["uen_of_audit_firm1"]
    template = [""] * len(FULL_COLUMNS)
    template[ix["issuance_agency_id"]] = "ACRA"

    while True:
        row = template.copy()
        kind = _KIND_PICK.pick(r)
        uen, kind, year = alloc.issue(kind, kind.years.pick(r), r)
        fmt = kind.uen_format
        row[i_uen] = uen
        row[i_type] = kind.entity_type
        status = kind.status.pick(r)
        row[i_status] = status
        company_type = _COMPANY_TYPES.pick(r) if fmt == "roc" else ""
        row[i_ctype] = company_type

        # A few names are re-used by another entity, as in the real register.
        pool = recent.setdefault((kind.entity_type, company_type), [])
        if pool and r() < 0.004:
            name = _pick(pool, r)
        else:
            name = _name(kind, company_type, brands.next(r), r)
            if len(pool) < 64:
                pool.append(name)
            else:
                pool[int(r() * 64)] = name
        row[i_name] = name

        x = r()
        reg = "na" if x < 0.012 else "" if x < 0.02 else _pick(dates[year], r)
        row[i_reg] = reg
        row[i_issue] = reg if x < 0.95 else ("", "na")[int(r() * 2)]

        # Address: mostly local, HDB blocks or commercial buildings; rarely foreign or none.
        x = r()
        if x < (0.15 if kind.type_code == "FC" else 0.01):
            line1, line2 = _FOREIGN_ADDRESSES[int(r() * len(_FOREIGN_ADDRESSES))]
            row[i_addr:i_addr + 9] = ["FOREIGN", "", "", "", "", "", "", line1, line2]
        elif x < 0.985:
            if r() < 0.55:  # HDB block, sometimes lettered (e.g. 123A)
                block = str(1 + int(r() * 999))
                if r() < 0.08:
                    block += ("A", "B", "C", "D")[int(r() * 4)]
                street, building = _pick(_HDB_STREETS, r), _pick(_HDB_BUILDINGS, r)
            else:
                block = str(1 + int(r() * 300))
                street, building = _COMMERCIAL[int(r() * len(_COMMERCIAL))]
            if r() < 0.9:
                level, unit = f"{1 + int(r() * 30):02d}", f"{1 + int(r() * 400):02d}"
            else:
                level = unit = ""
            postal = _pick(_POSTAL_SECTORS, r) + f"{int(r() * 10000):04d}"
            row[i_addr:i_addr + 9] = ["LOCAL", block, street, level, unit, building, postal, "", ""]

        code, desc = ssic.pick(r)
        row[i_ssic1], row[i_ssic1 + 1] = code, desc
        if r() < 0.06:
            row[i_ssic1 + 2] = _pick(_USER_ACTIVITIES, r)
        if r() < (0.35 if fmt == "roc" else 0.12):
            code, desc = ssic.pick(r)
            row[i_ssic2], row[i_ssic2 + 1] = code, desc
            if r() < 0.03:
                row[i_ssic2 + 2] = _pick(_USER_ACTIVITIES, r)

        if r() < (0.12 if fmt == "roc" else 0.04):
            row[i_former] = _name(kind, company_type, brands.next(r), r)
            if r() < 0.15:
                row[i_former + 1] = _name(kind, company_type, brands.next(r), r)

        if fmt == "roc":
            live = status == "Live Company"
            row[ix["no_of_charges"]] = "0" if r() < 0.85 else str(1 + int(r() * 5))
            row[ix["no_of_officers"]] = str(1 + int(r() * 9))
            x = r()
            if x < 0.06:
                row[ix["annual_return_date"]] = "na"
            elif x > 0.1:  # the first return is filed the year after incorporation at the earliest
                lo = max(year + 1, 2010)
                row[ix["annual_return_date"]] = _pick(dates[lo + int(r() * (_DATA_YEAR + 1 - lo))], r)
            if live:
                row[ix["account_due_date"]] = _pick(dates[_DATA_YEAR - 1 + int(r() * 2)], r)
            else:
                row[ix["account_due_date"]] = ("", "na")[int(r() * 2)]
            if r() < 0.97:
                row[i_cap:i_cap + 4] = [_CURRENCIES.pick(r), _pick(_CAPITALS, r), "0", "0"]
                if r() < 0.03:
                    usd = "UNITED STATES OF AMERICA, DOLLARS"
                    row[i_cap + 4:i_cap + 8] = [usd, _pick(_CAPITALS, r), "0", ""]
            if r() < (0.6 if company_type.startswith("Public") else 0.03):
                row[i_audit], row[i_audit + 1] = firms[int(r() * len(firms))]
        elif fmt == "rob":
            row[ix["business_constitution_description"]] = "Sole-Proprietor" if r() < 0.75 else "Partnership"
        elif kind.type_code == "PF":
            row[ix["paf_constitution_description"]] = _pick(_PAF_CONSTITUTIONS, r)

        yield row


def iter_good_records(seed: int) -> Iterator[dict[str, str]]:
    """The entities `write_acra_csv(rows=n, seed=seed)` writes (malformed_rate=0), in order,
    keyed by full-shape column name; endless, so callers take as many as they wrote."""
    for record in _records(seed):
        yield dict(zip(FULL_COLUMNS, record))


# Statuses under which an entity has left the register; "Entities Registered with ACRA"
# publishes those as Deregistered and every other one (in liquidation included) as Registered.
_DEREGISTERED = ("Dissolved", "Struck Off", "Cancelled", "Ceased Registration", "Expired",
                 "Amalgamated", "Converted", "Terminated")


def registered_status(full_status: str) -> str:
    """The "Entities Registered with ACRA" status of an entity with this full-shape status."""
    return "Deregistered" if full_status.startswith(_DEREGISTERED) else "Registered"


# --------------------------------------------------------------------------- malforming

class _Layout:
    """Where the malformations go in one output shape."""

    def __init__(self, columns: Sequence[str]) -> None:
        pos = {canonical_name(c): i for i, c in enumerate(columns)}
        self.width = len(columns)
        self.uen = pos["uen"]
        self.name = pos["entity_name"]
        self.date = pos.get("registration_incorporation_date", pos["uen_issue_date"])


def _malform(row: list[str], kind: str, layout: _Layout, r: _Rand) -> list[str] | str:
    """The broken version of `row`: a list for the csv writer, or a raw line (with its \\n)."""
    name = row[layout.name] or "X"
    mid = len(name) // 2
    if kind == "wrong_column_count":
        if r() < 0.5:  # truncated record
            return row[: 1 + int(r() * (layout.width - 1))]
        # an unquoted comma in the name: one column too many (or more, with padding)
        head, _, tail = name.partition(" ")
        return row[: layout.name] + [head, tail] + row[layout.name + 1:] + [""] * int(r() * 3)
    if kind == "undecodable_bytes":
        # lone surrogates become the raw bytes ff fe when the buffer is encoded with
        # errors="surrogateescape"; no valid UTF-8 sequence starts with 0xff.
        row[layout.name] = name[:mid] + "\udcff\udcfe" + name[mid:]
    elif kind == "missing_uen":
        row[layout.uen] = ""
    elif kind == "impossible_date":
        row[layout.date] = _pick(_IMPOSSIBLE_DATES, r)
    elif kind == "nul_byte":
        row[layout.name] = name[:mid] + "\x00" + name[mid:]
    elif kind == "unterminated_quote":
        # The only '"' on the line opens the name field and is never closed; no other field
        # may need quoting, or its quotes would pair up with this one.
        cells = [c.replace('"', "").replace(",", " ") for c in row]
        cells[layout.name] = '"' + cells[layout.name]
        return ",".join(cells) + "\n"
    else:  # pragma: no cover - guarded by MALFORMED_KINDS
        raise ValueError(kind)
    return row


# ------------------------------------------------------------------------------- writer

def write_acra_csv(
    out: BinaryIO,
    *,
    rows: int,
    seed: int,
    malformed_rate: float = 0.0,
    shape: Literal["full", "registered", "narrow"] = "full",
) -> SampleManifest:
    """Write a header and `rows` ACRA records to `out` (UTF-8, `\\n`), streaming.

    With malformed_rate > 0 each record independently becomes malformed with that
    probability, the kinds taken in turn from MALFORMED_KINDS; the record after an
    unterminated quote is always good (so readers can resync) and the last record is never
    an unterminated quote.
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    if not 0.0 <= malformed_rate <= 1.0:
        raise ValueError("malformed_rate must be within [0, 1]")
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}")
    columns = SHAPES[shape]
    # Narrower shapes are projections of the full record, so all describe the same entities.
    project = None if shape == "full" else itemgetter(*(_IX[canonical_name(c)] for c in columns))
    status_at = columns.index("uen_status_desc") if shape == "registered" else None
    layout = _Layout(columns)
    # Its own stream, so that the entities are the same at any malformed_rate.
    bad = random.Random(f"acra-sample-malformed:{seed}").random

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writerow = writer.writerow
    writerow(columns)

    def flush() -> None:
        out.write(buf.getvalue().encode("utf-8", "surrogateescape"))
        buf.seek(0)
        buf.truncate()

    manifest = SampleManifest(rows_written=rows)
    records = _records(seed)
    turn = 0
    resync = False
    for i in range(rows):
        record = next(records)
        row = record if project is None else list(project(record))
        if status_at is not None:
            row[status_at] = registered_status(row[status_at])
        if malformed_rate and not resync and bad() < malformed_rate:
            kind = MALFORMED_KINDS[turn % len(MALFORMED_KINDS)]
            turn += 1
            if kind == "unterminated_quote" and i == rows - 1:
                kind = MALFORMED_KINDS[turn % len(MALFORMED_KINDS)]
            broken = _malform(row, kind, layout, bad)
            if isinstance(broken, str):
                buf.write(broken)
            else:
                writerow(broken)
            manifest.malformed.append((i + 2, kind))  # one physical line per record
            resync = kind == "unterminated_quote"
        else:
            writerow(row)
            resync = False
        if i & 1023 == 1023:
            flush()
    flush()
    manifest.good_rows = rows - len(manifest.malformed)
    return manifest
