"""SSIC 2020 code normalisation, hierarchy, file parsing and the bundled reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from acra_enrich.errors import InputFileError
from acra_enrich.registry.ssic import (
    SkippedRow,
    SsicFormatError,
    bundled_reference,
    bundled_subclasses,
    load_ssic_file,
    normalise_ssic_code,
    parent_code,
    read_ssic_file,
    section_of,
    ssic_level,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("62011", "62011"),
        ("62.011", "62011"),
        (" 6201 1 ", "62011"),
        ("62011.0", "62011"),
        ("6201.00", "6201"),
        ("01111", "01111"),
        ("46", "46"),
        ("a", "A"),
        ("A", "A"),
        (" g ", "G"),
        ("", None),
        ("   ", None),
        ("na", None),
        ("NA", None),
        ("N/A", None),
        ("-", None),
        (None, None),
        ("abc", None),
        ("1", None),  # no SSIC level has one digit
        ("123456", None),  # nor six
    ],
)
def test_normalise_ssic_code(raw: str | None, expected: str | None) -> None:
    assert normalise_ssic_code(raw) == expected


@pytest.mark.parametrize(
    ("code", "level", "parent", "section"),
    [
        ("J", "section", None, "J"),
        ("62", "division", "J", "J"),
        ("620", "group", "62", "J"),
        ("6201", "class", "620", "J"),
        ("62011", "subclass", "6201", "J"),
        ("01111", "subclass", "0111", "A"),
        ("01", "division", "A", "A"),
        ("09", "division", "B", "B"),
        ("10", "division", "C", "C"),
        ("32", "division", "C", "C"),
        ("35", "division", "D", "D"),
        ("38", "division", "E", "E"),
        ("64", "division", "K", "K"),
        ("68", "division", "L", "L"),
        ("82", "division", "N", "N"),
        ("99", "division", "U", "U"),
        # Not SSIC 2020 divisions (ISIC has them; SSIC 2020 folds them elsewhere).
        ("33", "division", None, None),
        ("39", "division", None, None),
    ],
)
def test_level_parent_and_section(code: str, level: str, parent: str | None, section: str | None) -> None:
    assert ssic_level(code) == level
    assert parent_code(code) == parent
    assert section_of(code) == section


@pytest.mark.parametrize("bad", ["", "1", "123456", "6201a", "AB"])
def test_ssic_level_rejects_unnormalised(bad: str) -> None:
    with pytest.raises(ValueError):
        ssic_level(bad)


def _write_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_with_preamble_rows(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "ssic2020.csv",
        "Singapore Standard Industrial Classification 2020,,\n"  # row 1
        "Source: Department of Statistics,,\n"  # row 2
        ",,\n"  # row 3
        "SSIC 2020,SSIC 2020 Title,Detailed Definitions\n"  # row 4: header
        "A,AGRICULTURE AND FISHING,\n"  # 5
        "01,AGRICULTURE AND RELATED SERVICE ACTIVITIES,\n"  # 6
        "01111,Growing of leafy and fruit vegetables,Includes ...\n"  # 7
        ",,\n"  # 8: blank, ignored
        "na,Some note,\n"  # 9: skipped
        '62.011,"Development of software and applications (except games and cybersecurity)",\n'  # 10
        "62011,Duplicate,\n"  # 11: skipped (duplicate)
        "64202,,\n"  # 12: skipped (no title)
        "Notes: see website,,\n",  # 13: skipped
    )
    result = load_ssic_file(path)
    assert [(e.code, e.level, e.parent_code, e.section) for e in result.entries] == [
        ("A", "section", None, "A"),
        ("01", "division", "A", "A"),
        ("01111", "subclass", "0111", "A"),
        ("62011", "subclass", "6201", "J"),
    ]
    assert result.entries[1].title == "AGRICULTURE AND RELATED SERVICE ACTIVITIES"
    assert [(s.row_number, s.raw_code) for s in result.skipped] == [
        (9, "na"),
        (11, "62011"),
        (12, "64202"),
        (13, "Notes: see website"),
    ]
    assert "duplicate" in result.skipped[1].reason
    assert "no title" in result.skipped[2].reason


def test_csv_with_bom_and_plain_headers(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "ref.csv", "\ufeffCode,Description\n62011,Software\n", "utf-8")
    assert [(e.code, e.title) for e in read_ssic_file(path)] == [("62011", "Software")]


def test_csv_cp1252_fallback(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "win.csv",
        "SSIC Code,Title\n47712,Retail sale of children and infants\u2019 clothing\n",
        "cp1252",
    )
    (entry,) = list(read_ssic_file(path))
    assert entry.title == "Retail sale of children and infants\u2019 clothing"


def test_csv_float_text_from_spreadsheet_restores_zero(tmp_path: Path) -> None:
    # pandas writes a float column as "1111.0": the number lost its zero on the way.
    path = _write_csv(tmp_path / "f.csv", "code,title\n1111.0,Growing of leafy and fruit vegetables\n62011.0,Software\n")
    assert [e.code for e in read_ssic_file(path)] == ["01111", "62011"]


def test_on_skip_callback_receives_rows(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "s.csv", "code,title\nxx,Nothing\n62011,Software\n")
    skipped: list[SkippedRow] = []
    entries = list(read_ssic_file(path, on_skip=skipped.append))
    assert [e.code for e in entries] == ["62011"]
    assert skipped == [SkippedRow(2, "xx", "no SSIC code in the code column")]


def _xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def test_xlsx_hierarchical_with_numeric_cells(tmp_path: Path) -> None:
    # Excel stores codes typed as numbers without their leading zero.
    path = _xlsx(
        tmp_path / "ssic2020.xlsx",
        {
            "Read me": [["About this file"], ["Nothing to see"]],  # no header: next sheet
            "SSIC2020": [
                ["Singapore Standard Industrial Classification 2020"],
                [None],
                ["SSIC 2020", "SSIC 2020 Title"],
                ["A", "AGRICULTURE AND FISHING"],
                [1, "AGRICULTURE AND RELATED SERVICE ACTIVITIES"],
                [11, "GROWING OF CROPS, MARKET GARDENING AND HORTICULTURE"],
                [111, "Growing of Food Crops (Non-Hydroponics)"],
                [1111, "Growing of leafy and fruit vegetables"],
                [None, None],
                ["C", "MANUFACTURING"],
                [10, "MANUFACTURE OF FOOD PRODUCTS"],
                [1010.0, "Processing and Preserving of Meat"],
                [10101, "Slaughtering of livestock and poultry"],
                [11, "MANUFACTURE OF BEVERAGES"],
                ["62011", "Development of software and applications (except games and cybersecurity)"],
            ],
        },
    )
    result = load_ssic_file(path)
    assert result.skipped == []
    assert [e.code for e in result.entries] == [
        "A", "01", "011", "0111", "01111", "C", "10", "1010", "10101", "11", "62011",
    ]
    assert result.entries[4].parent_code == "0111"
    assert result.entries[9].parent_code == "C"


def test_xlsx_flat_numeric_subclasses_cross_divisions(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "flat.xlsx",
        {"Sheet1": [["Code", "Title"], [1111, "a"], [3101, "b"], [8101, "c"], [10101, "d"]]},
    )
    assert [e.code for e in read_ssic_file(path)] == ["01111", "03101", "08101", "10101"]


def test_no_header_raises_naming_the_file(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "not-ssic.csv", "uen,entity_name\n1234567X,ACME PTE. LTD.\n")
    with pytest.raises(SsicFormatError) as info:
        read_ssic_file(path)  # raised before iteration, so the CLI fails fast
    assert "not-ssic.csv" in str(info.value)
    assert "header" in info.value.message
    assert isinstance(info.value, InputFileError)  # exit code 2 via the CLI's error mapping


def test_xlsx_without_header_raises(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "empty.xlsx", {"Sheet1": [["hello"], [1, 2]]})
    with pytest.raises(SsicFormatError, match="empty.xlsx"):
        read_ssic_file(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SsicFormatError, match="not found"):
        read_ssic_file(tmp_path / "nope.csv")


def test_bundled_reference_is_consistent() -> None:
    entries = bundled_reference()
    by_code = {e.code: e for e in entries}
    assert len(by_code) == len(entries)
    sections = [e for e in entries if e.level == "section"]
    assert [e.code for e in sections] == list("ABCDEFGHIJKLMNOPQRSTU")
    divisions = [e for e in entries if e.level == "division"]
    assert len(divisions) == 81  # SSIC 2020 has 81 divisions
    for entry in entries:
        assert entry.title.strip() == entry.title and entry.title
        assert "\ufffd" not in entry.title
        assert entry.section is not None


def test_every_bundled_subclass_reaches_a_bundled_section() -> None:
    by_code = {e.code: e for e in bundled_reference()}
    subclasses = bundled_subclasses()
    assert 60 <= len(subclasses) <= 150
    assert {"62011", "46900", "56111", "64202", "70201"} <= {e.code for e in subclasses}
    for entry in subclasses:
        assert entry.level == "subclass"
        code: str | None = entry.code
        chain = []
        while code is not None and ssic_level(code) != "section":
            chain.append(code)
            code = parent_code(code)
        assert code is not None, f"{entry.code} has no section ({chain})"
        assert code in by_code and code == entry.section
        assert entry.code[:2] in by_code, f"division of {entry.code} not bundled"
