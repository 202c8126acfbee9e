"""The seeded ACRA sample generator: determinism, format, realism and malformed records."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from functools import cache

import pytest
from stdnum.sg import uen as stdnum_uen

from acra_enrich.registry import sample
from acra_enrich.registry.acra_columns import FULL_COLUMNS, NARROW_COLUMNS
from acra_enrich.registry.sample import MALFORMED_KINDS, SampleManifest, write_acra_csv

COL = {name: i for i, name in enumerate(FULL_COLUMNS)}
LIVE = {"Live Company", "Live", "Registered"}
PRIVATE_SUFFIXES = ("PTE. LTD.", "PTE LTD", "PRIVATE LIMITED", "PTE. LIMITED", "(PTE.) LTD.")
GONE_PREFIXES = ("Struck Off", "Dissolved", "Cancelled", "Ceased Registration", "Expired")


def generate(rows: int, seed: int, **kw: object) -> tuple[bytes, SampleManifest]:
    out = io.BytesIO()
    manifest = write_acra_csv(out, rows=rows, seed=seed, **kw)  # type: ignore[arg-type]
    return out.getvalue(), manifest


@cache
def clean_file(rows: int = 20_000, seed: int = 7) -> bytes:
    return generate(rows, seed)[0]


def lines_of(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n")
    return data[:-1].split(b"\n")


def parse_line(line: bytes) -> list[str]:
    (record,) = list(csv.reader([line.decode("utf-8")], strict=True))
    return record


def is_date_or_absent(value: str) -> bool:
    if value in ("", "na"):
        return True
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return len(value) == 10


def good_rows(data: bytes) -> list[list[str]]:
    return [parse_line(line) for line in lines_of(data)[1:]]


# ----------------------------------------------------------------------------- basics

def test_same_seed_same_bytes_and_different_seed_differs() -> None:
    a, _ = generate(3000, 42, malformed_rate=0.05)
    b, _ = generate(3000, 42, malformed_rate=0.05)
    c, _ = generate(3000, 43, malformed_rate=0.05)
    assert a == b
    assert a != c
    assert generate(500, 1, shape="narrow")[0] == generate(500, 1, shape="narrow")[0]


def test_headers_match_the_column_contract() -> None:
    full, _ = generate(3, 1)
    narrow, _ = generate(3, 1, shape="narrow")
    assert parse_line(lines_of(full)[0]) == list(FULL_COLUMNS)
    assert parse_line(lines_of(narrow)[0]) == list(NARROW_COLUMNS)
    assert generate(0, 1)[0] == full.split(b"\n", 1)[0] + b"\n"


def test_one_physical_line_per_record_and_manifest_counts() -> None:
    data = clean_file()
    lines = lines_of(data)
    assert len(lines) == 20_001
    assert b"\r" not in data
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    next(reader)
    for number, record in enumerate(reader, start=2):  # nothing spans lines
        assert reader.line_num == number and len(record) == 94
    assert reader.line_num == 20_001
    _, manifest = generate(100, 3)
    assert manifest == SampleManifest(rows_written=100, good_rows=100, malformed=[])


def test_good_rows_are_well_formed_with_valid_unique_uens() -> None:
    rows = good_rows(clean_file())
    assert len(rows) == 20_000
    uens = [r[COL["uen"]] for r in rows]
    assert len(set(uens)) == len(uens)
    for r in rows:
        assert len(r) == 94
        assert r[COL["issuance_agency_id"]] == "ACRA"
        assert stdnum_uen.is_valid(r[COL["uen"]]), r[COL["uen"]]
        assert r[COL["entity_name"]] and r[COL["entity_name"]] == r[COL["entity_name"]].upper()
        assert "\x00" not in "".join(r)
        for name in ("registration_incorporation_date", "uen_issue_date", "account_due_date",
                     "annual_return_date"):
            assert is_date_or_absent(r[COL[name]]), (name, r[COL[name]])
        postal = r[COL["postal_code"]]
        assert postal == "" or (len(postal) == 6 and postal.isdigit())


def test_entity_type_matches_uen_format_and_dates_match_uen_year() -> None:
    seen: Counter[str] = Counter()
    for r in good_rows(clean_file()):
        uen, etype = r[COL["uen"]], r[COL["entity_type_description"]]
        name, reg = r[COL["entity_name"]], r[COL["registration_incorporation_date"]]
        seen[etype] += 1
        if len(uen) == 9:
            assert etype == "Sole Proprietorship/ Partnership"
            assert r[COL["company_type_description"]] == ""
            year = None
        elif uen[0].isdigit():
            assert etype == "Local Company"
            ctype = r[COL["company_type_description"]]
            assert ctype.endswith(("Limited by Shares", "Limited by Guarantee"))
            if "Private" in ctype:
                assert name.endswith(PRIVATE_SUFFIXES)
            else:
                assert name.endswith(("LIMITED", "LTD.", "LTD"))
            year = int(uen[:4])
        else:
            assert uen[0] in "ST"
            code = uen[3:5]
            assert etype == {"LL": "Limited Liability Partnership", "LP": "Limited Partnership",
                             "FC": "Foreign Company", "PF": "Public Accounting Firm"}[code]
            if code == "LL":
                assert name.endswith(" LLP")
            year = (2000 if uen[0] == "T" else 1900) + int(uen[1:3])
        if year is not None and reg not in ("", "na"):
            assert int(reg[:4]) == year, (uen, reg)
            annual_return = r[COL["annual_return_date"]]
            if annual_return not in ("", "na"):
                assert annual_return > reg
    assert {"Local Company", "Sole Proprietorship/ Partnership", "Limited Liability Partnership",
            "Foreign Company"} <= set(seen)
    assert seen["Local Company"] > seen["Limited Liability Partnership"] > 0


def test_status_mix_has_live_and_gone_and_some_empty() -> None:
    statuses = Counter(r[COL["entity_status_description"]] for r in good_rows(clean_file()))
    live = sum(n for s, n in statuses.items() if s in LIVE)
    gone = sum(n for s, n in statuses.items() if s.startswith(GONE_PREFIXES))
    assert live > 0.45 * 20_000
    assert gone > 0.15 * 20_000
    assert statuses[""] > 0
    assert any(s.startswith("In Liquidation - ") for s in statuses)
    assert {"Struck Off", "Gazetted to be Struck Off", "Amalgamated", "Converted", "Expired",
            "Dissolved - Members' Voluntary Winding Up"} <= set(statuses)


def test_values_exercise_the_readers_edge_cases() -> None:
    data = clean_file()
    rows = good_rows(data)
    names = [r[COL["entity_name"]] for r in rows]
    assert any(not n.isascii() for n in names)
    assert any('"' in n for n in names) and b'""' in data  # quotes inside quoted fields
    assert any("," in n for n in names) and any("&" in n for n in names)
    assert any("(" in n for n in names) and any(c.isdigit() for n in names for c in n)
    dup = [n for n, k in Counter(names).items() if k > 1]
    assert dup  # a few names shared by different UENs, as in the real register
    codes = [r[COL["primary_ssic_code"]] for r in rows]
    assert "" in codes
    assert any(c and (not c.isdigit() or len(c) != 5) for c in codes)  # stray characters
    descs = [r[COL["primary_ssic_description"]] for r in rows if r[COL["primary_ssic_description"]]]
    upper = sum(d == d.upper() for d in descs)
    assert 0.75 * len(descs) < upper < len(descs)
    types = Counter(r[COL["address_type"]] for r in rows)
    assert types["LOCAL"] > 0.9 * len(rows) and types["FOREIGN"] > 0
    for col, lo, hi in (("former_entity_name1", 0.02, 0.2), ("former_entity_name3", 0, 0),
                        ("paid_up_capital1_currency", 0.3, 0.7), ("paid_up_capital3_currency", 0, 0),
                        ("uen_of_audit_firm1", 0.0005, 0.05), ("other_address_line1", 0.001, 0.05)):
        share = sum(bool(r[COL[col]]) for r in rows) / len(rows)
        assert lo <= share <= hi, (col, share)
    assert {"na", ""} <= {r[COL["registration_incorporation_date"]] for r in rows}


def test_unknown_ssic_codes_are_plausible_but_not_in_the_reference() -> None:
    from acra_enrich.registry.ssic import bundled_subclasses

    known = {e.code for e in bundled_subclasses()}
    codes = {r[COL["primary_ssic_code"]] for r in good_rows(clean_file())}
    unknown = {c for c in codes if len(c) == 5 and c.isdigit() and c not in known}
    assert unknown


def test_narrow_shape_is_a_projection_of_the_full_record() -> None:
    full = good_rows(generate(2000, 5)[0])
    narrow = good_rows(generate(2000, 5, shape="narrow")[0])
    for f, n in zip(full, narrow, strict=True):
        assert len(n) == len(NARROW_COLUMNS)
        assert n == [f[COL[c]] for c in ("uen", "issuance_agency_id", "entity_status_description",
                                        "entity_name", "entity_type_description", "uen_issue_date",
                                        "street_name", "postal_code")]


def test_output_is_streamed_in_bounded_chunks() -> None:
    class Sink:
        def __init__(self) -> None:
            self.calls = 0
            self.largest = 0

        def write(self, chunk: bytes) -> int:
            self.calls += 1
            self.largest = max(self.largest, len(chunk))
            return len(chunk)

    sink = Sink()
    write_acra_csv(sink, rows=30_000, seed=2)  # type: ignore[arg-type]
    assert sink.calls >= 25
    assert sink.largest < 2_000_000


def test_uens_stay_unique_when_year_buckets_fill_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tiny buckets force the overflow path (other years, then business numbers).
    monkeypatch.setattr(sample._UenAllocator, "_CAPACITY", {"roc": 10, "rob": 1_000_000, "other": 10})
    rows = good_rows(generate(5000, 11)[0])
    uens = [r[COL["uen"]] for r in rows]
    assert len(set(uens)) == len(uens)
    assert all(stdnum_uen.is_valid(u) for u in uens)
    companies = [u for u in uens if len(u) == 10 and u[0].isdigit()]
    room = 10 * len(sample._COMPANY.years.items)
    assert room - 10 <= len(companies) <= room  # all buckets full (a few went to audit firms)
    assert sum(len(u) == 9 for u in uens) > 0.7 * len(uens)


def test_arguments_are_checked() -> None:
    for kw in ({"rows": -1}, {"malformed_rate": 1.5}, {"shape": "wide"}):
        args: dict[str, object] = {"rows": 1, "seed": 1, **kw}
        with pytest.raises(ValueError):
            write_acra_csv(io.BytesIO(), **args)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- malformed

def is_malformed_as(line: bytes, kind: str, width: int, date_col: int) -> bool:
    if kind == "undecodable_bytes":
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return True
        return False
    if kind == "nul_byte":
        return b"\x00" in line
    if kind == "unterminated_quote":
        try:
            list(csv.reader([line.decode("utf-8")], strict=True))
        except csv.Error:
            return line.count(b'"') == 1
        return False
    record = parse_line(line)
    if kind == "wrong_column_count":
        return len(record) != width
    assert len(record) == width
    if kind == "missing_uen":
        return record[0 if width == len(NARROW_COLUMNS) else COL["uen"]] == ""
    if kind == "impossible_date":
        return not is_date_or_absent(record[date_col])
    raise AssertionError(kind)


@pytest.mark.parametrize("shape", ["full", "narrow"])
def test_manifest_points_at_really_malformed_lines(shape: str) -> None:
    rows = 6000
    data, manifest = generate(rows, 9, malformed_rate=0.3, shape=shape)
    columns = FULL_COLUMNS if shape == "full" else NARROW_COLUMNS
    width = len(columns)
    date_col = columns.index("registration_incorporation_date" if shape == "full" else "uen_issue_date")
    lines = lines_of(data)
    assert len(lines) == rows + 1
    assert parse_line(lines[0]) == list(columns)
    bad = dict(manifest.malformed)
    assert len(bad) == len(manifest.malformed)
    assert manifest.rows_written == rows and manifest.good_rows == rows - len(bad)
    kinds = Counter(bad.values())
    assert set(kinds) == set(MALFORMED_KINDS)
    assert all(n > 0.03 * rows for n in kinds.values()), kinds
    assert 0.25 * rows < len(bad) < 0.35 * rows
    for number, line in enumerate(lines[1:], start=2):
        kind = bad.get(number)
        if kind is None:
            record = parse_line(line)
            assert len(record) == width and b"\x00" not in line
            uen = record[columns.index("uen")]
            assert stdnum_uen.is_valid(uen)
            assert is_date_or_absent(record[date_col])
        else:
            assert is_malformed_as(line, kind, width, date_col), (number, kind, line)
            if kind == "unterminated_quote":  # the reader can resync on the next line
                assert number + 1 not in bad and number < rows + 1


def test_malformed_rows_do_not_change_the_other_rows() -> None:
    clean = lines_of(generate(3000, 4)[0])
    dirty_data, manifest = generate(3000, 4, malformed_rate=0.2)
    dirty = lines_of(dirty_data)
    bad = {n for n, _ in manifest.malformed}
    assert len(clean) == len(dirty)
    for number, (a, b) in enumerate(zip(clean, dirty), start=1):
        assert (a == b) == (number not in bad)


def test_every_row_may_be_malformed() -> None:
    data, manifest = generate(600, 2, malformed_rate=1.0)
    resync = sum(k == "unterminated_quote" for _, k in manifest.malformed)
    assert manifest.good_rows == resync  # only the forced-good line after each one
    assert manifest.malformed[-1][1] != "unterminated_quote"
    assert len(lines_of(data)) == 601
