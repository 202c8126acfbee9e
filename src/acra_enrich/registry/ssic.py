"""SSIC 2020 (Singapore Standard Industrial Classification) codes, hierarchy and file parser.

Pure Python: no database code. The loader/CLI decides what to do with the entries and with
the rows this module reports as skipped.

Levels: a section is a letter; divisions, groups, classes and sub-classes are 2, 3, 4 and 5
digits, and each code's parent is the code one digit shorter (a division's parent is its
section letter). Leading zeros matter: "01111" is a sub-class of division 01, "1111" would be
a class of division 11.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from acra_enrich.errors import InputFileError

SsicLevel = Literal["section", "division", "group", "class", "subclass"]

_LEVEL_BY_LENGTH: dict[int, SsicLevel] = {2: "division", 3: "group", 4: "class", 5: "subclass"}

# Division ranges of SSIC 2020, checked against a full SSIC 2020 listing (81 divisions).
# Unlike ISIC Rev. 4, SSIC 2020 has no division 33 (repair is folded into the "manufacture
# and repair of ..." classes) and no division 39 (remediation sits in 382), so C ends at 32
# and E at 38: a code in 33/39 is not SSIC 2020 and gets no section.
_SECTION_RANGES: tuple[tuple[str, int, int], ...] = (
    ("A", 1, 3), ("B", 8, 9), ("C", 10, 32), ("D", 35, 35), ("E", 36, 38),
    ("F", 41, 43), ("G", 46, 47), ("H", 49, 53), ("I", 55, 56), ("J", 58, 63),
    ("K", 64, 66), ("L", 68, 68), ("M", 69, 75), ("N", 77, 82), ("O", 84, 84),
    ("P", 85, 85), ("Q", 86, 88), ("R", 90, 93), ("S", 94, 96), ("T", 97, 97),
    ("U", 99, 99),
)
_DIVISION_SECTION: dict[str, str] = {
    f"{n:02d}": letter for letter, lo, hi in _SECTION_RANGES for n in range(lo, hi + 1)
}
_FIRST_DIVISION: dict[str, str] = {letter: f"{lo:02d}" for letter, lo, _hi in _SECTION_RANGES}

# Older SSIC editions had a section V; accept it as a letter so such files still parse.
_SECTION_RE = re.compile(r"^[A-Va-v]$")
# "62011.0": a number that went through a spreadsheet or pandas float column.
_FLOAT_INT_RE = re.compile(r"^\s*(\d+)\.0+\s*$")
_EMPTY_MARKERS = frozenset({"", "na", "n/a", "n.a.", "nil", "none", "null", "-", "--"})

HEADER_SCAN_ROWS = 30


class SsicFormatError(InputFileError):
    """The file cannot be read as an SSIC reference at all (e.g. no header row found)."""

    def __init__(self, path: Path | str, message: str) -> None:
        self.path = Path(path)
        self.message = message
        super().__init__(f"{self.path}: {message}")


@dataclass(frozen=True)
class SsicEntry:
    code: str
    title: str
    level: SsicLevel
    parent_code: str | None
    section: str | None


@dataclass(frozen=True)
class SkippedRow:
    row_number: int  # 1-based row in the file (sheet row for XLSX)
    raw_code: str
    reason: str


@dataclass
class SsicFileResult:
    entries: list[SsicEntry] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


# --------------------------------------------------------------------------- codes


def normalise_ssic_code(raw: str | None) -> str | None:
    """Canonical code text, or None when the value holds no usable code.

    Digits only ("62.011", " 6201 1 ", "62011.0" -> "62011"); a single section letter is
    upper-cased. A leading zero already lost upstream ("1111" for "01111") cannot be told
    apart from a real 4-digit class here; the file reader restores it for numeric cells,
    where it knows the value was a number (see ``_code_from_number``).
    """
    if raw is None:
        return None
    text = str(raw).strip()
    if text.lower() in _EMPTY_MARKERS:
        return None
    if _SECTION_RE.match(text):
        return text.upper()
    float_int = _FLOAT_INT_RE.match(text)
    digits = float_int.group(1) if float_int else re.sub(r"\D", "", text)
    if len(digits) not in _LEVEL_BY_LENGTH:
        return None
    return digits


def ssic_level(code: str) -> SsicLevel:
    if _SECTION_RE.match(code):
        return "section"
    if code.isdigit() and len(code) in _LEVEL_BY_LENGTH:
        return _LEVEL_BY_LENGTH[len(code)]
    raise ValueError(f"not a normalised SSIC code: {code!r}")


def section_of(code: str) -> str | None:
    """Section letter a code belongs to; None if its division is not an SSIC 2020 division."""
    if ssic_level(code) == "section":
        return code.upper()
    return _DIVISION_SECTION.get(code[:2])


def parent_code(code: str) -> str | None:
    level = ssic_level(code)
    if level == "section":
        return None
    if level == "division":
        return _DIVISION_SECTION.get(code)
    return code[:-1]


def make_entry(code: str, title: str) -> SsicEntry:
    return SsicEntry(
        code=code,
        title=title,
        level=ssic_level(code),
        parent_code=parent_code(code),
        section=section_of(code),
    )


def _code_from_number(value: int | float, floor_division: str | None) -> str | None:
    """Code from a numeric cell, restoring the leading zero the number cannot hold.

    A number like 1111 may be class "1111" (division 11) or sub-class "01111" (division 01).
    The official structure file lists codes in ascending order, so we take the reading whose
    division is not below ``floor_division`` (the previous row's division, or the first
    division of a section row just passed), preferring the nearer one: after "01" rows 1111
    is "01111"; after section C or "10" rows, 11 is division "11". With no floor the nearer
    reading is the zero-padded one. One-digit numbers are always divisions 01-09.
    """
    if isinstance(value, float):
        digits = str(int(value)) if value.is_integer() else re.sub(r"\D", "", repr(value))
    else:
        digits = str(value)
    if not digits.isdigit() or len(digits) > 5:
        return None
    candidates = [c for c in (digits, "0" + digits) if len(c) in _LEVEL_BY_LENGTH]
    candidates = [c for c in candidates if c[:2] in _DIVISION_SECTION]
    if floor_division is not None:
        candidates = [c for c in candidates if c[:2] >= floor_division]
    if not candidates:
        return digits if len(digits) in _LEVEL_BY_LENGTH else None
    return min(candidates, key=lambda c: c[:2])


# --------------------------------------------------------------------------- files

Cell = str | int | float | None

_CODE_HEADERS = frozenset({"ssic 2020", "ssic2020", "ssic", "code", "ssic 2020 code", "ssic code"})


def _norm_header(cell: Cell) -> str:
    return " ".join(str(cell).strip().lower().split()) if cell is not None else ""


def _is_code_header(text: str) -> bool:
    return text in _CODE_HEADERS or (text.endswith(" code") and "title" not in text)


def _is_title_header(text: str) -> bool:
    return "title" in text or "description" in text


def _find_header(rows: Sequence[Sequence[Cell]]) -> tuple[int, int, int] | None:
    """(row index, code column, title column) of the first row naming both, or None."""
    for index, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        texts = [_norm_header(c) for c in row]
        code_col = next((i for i, t in enumerate(texts) if _is_code_header(t)), None)
        title_col = next((i for i, t in enumerate(texts) if _is_title_header(t)), None)
        if code_col is not None and title_col is not None and code_col != title_col:
            return index, code_col, title_col
    return None


def _read_csv_rows(path: Path) -> list[list[Cell]]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # DOS and data.gov.sg downloads re-saved in Excel on Windows come out as cp1252.
        text = data.decode("cp1252", errors="replace")
    return [list(row) for row in csv.reader(io.StringIO(text, newline=""))]


def _read_xlsx_sheets(path: Path) -> list[tuple[str, list[list[Cell]]]]:
    from openpyxl import load_workbook  # heavy import; only XLSX input needs it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several unrelated types for bad files
        raise SsicFormatError(path, f"cannot open as XLSX: {exc}") from exc
    try:
        return [
            (ws.title, [list(row) for row in ws.iter_rows(values_only=True)])
            for ws in workbook.worksheets
        ]
    finally:
        workbook.close()


def _is_xlsx(path: Path) -> bool:
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return True
    if path.suffix.lower() == ".csv":
        return False
    with path.open("rb") as fh:
        return fh.read(2) == b"PK"  # a zip container, i.e. an Office Open XML workbook


def _cell_text(cell: Cell) -> str:
    return "" if cell is None else str(cell).strip()


def _entries_from_rows(
    rows: list[list[Cell]],
    header: tuple[int, int, int],
    on_skip: Callable[[SkippedRow], None],
) -> Iterator[SsicEntry]:
    header_index, code_col, title_col = header
    seen: set[str] = set()
    floor_division: str | None = None  # see _code_from_number
    for index in range(header_index + 1, len(rows)):
        row = rows[index]
        row_number = index + 1
        if all(_cell_text(c) == "" for c in row):
            continue
        raw = row[code_col] if code_col < len(row) else None
        raw_text = _cell_text(raw)
        title = " ".join(_cell_text(row[title_col] if title_col < len(row) else None).split())
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            code = _code_from_number(raw, floor_division)
        elif _FLOAT_INT_RE.match(raw_text):
            code = _code_from_number(int(raw_text.strip().split(".")[0]), floor_division)
        else:
            code = normalise_ssic_code(raw_text)
        if code is None:
            on_skip(SkippedRow(row_number, raw_text, "no SSIC code in the code column"))
            continue
        if not title:
            on_skip(SkippedRow(row_number, raw_text, f"code {code} has no title"))
            continue
        if code in seen:
            on_skip(SkippedRow(row_number, raw_text, f"duplicate code {code}"))
            continue
        seen.add(code)
        floor_division = code[:2] if code[:2].isdigit() else _FIRST_DIVISION.get(code)
        yield make_entry(code, title)


def read_ssic_file(
    path: Path, on_skip: Callable[[SkippedRow], None] | None = None
) -> Iterator[SsicEntry]:
    """Entries of an SSIC reference file (CSV or XLSX), in file order.

    The header row is found among the first 30 rows (the DOS file has title and notes rows
    above it); a missing header raises SsicFormatError at once, before iteration. Rows whose
    code does not normalise, rows with no title and repeated codes are passed to ``on_skip``
    rather than dropped silently; use ``load_ssic_file`` to get them collected.
    """
    path = Path(path)
    if not path.is_file():
        raise SsicFormatError(path, "file not found")
    tables = _read_xlsx_sheets(path) if _is_xlsx(path) else [("", _read_csv_rows(path))]
    for _sheet, rows in tables:  # the first sheet with a recognisable header wins
        header = _find_header(rows)
        if header is not None:
            return _entries_from_rows(rows, header, on_skip or (lambda _row: None))
    raise SsicFormatError(
        path,
        f"no header row in the first {HEADER_SCAN_ROWS} rows naming both a code column "
        "(e.g. 'SSIC 2020', 'SSIC Code', 'code') and a title column "
        "(e.g. 'SSIC 2020 Title', 'Title', 'Description')",
    )


def load_ssic_file(path: Path) -> SsicFileResult:
    result = SsicFileResult()
    result.entries.extend(read_ssic_file(path, on_skip=result.skipped.append))
    return result


# --------------------------------------------------------------------------- bundled data


@lru_cache(maxsize=1)
def _bundled() -> tuple[SsicEntry, ...]:
    resource = resources.files("acra_enrich").joinpath("registry").joinpath("data")
    with resources.as_file(resource.joinpath("ssic2020.csv")) as csv_path:
        result = load_ssic_file(csv_path)
    if result.skipped:  # the shipped file is ours: a bad row is a packaging bug, not input
        raise RuntimeError(f"bundled ssic2020.csv has bad rows: {result.skipped}")
    return tuple(result.entries)


def bundled_reference() -> list[SsicEntry]:
    """The SSIC 2020 reference shipped with the package: all sections and divisions, and
    the sub-classes common among Singapore companies (a subset; load the DOS file for all)."""
    return list(_bundled())


def bundled_subclasses() -> list[SsicEntry]:
    return [e for e in _bundled() if e.level == "subclass"]
