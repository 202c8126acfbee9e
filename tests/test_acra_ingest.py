"""`ingest acra` against a real PostgreSQL, on files from the sample generator."""

from __future__ import annotations

import csv
import gzip
import io
from pathlib import Path

import psycopg
import pytest

from acra_enrich.errors import InputFileError
from acra_enrich.registry.acra_columns import FULL_COLUMNS, NARROW_COLUMNS
from acra_enrich.registry.acra_ingest import load_acra_file
from acra_enrich.registry.sample import MALFORMED_KINDS, write_acra_csv


def _generate(path: Path, **kwargs: object) -> object:
    with open(path, "wb") as handle:
        return write_acra_csv(handle, **kwargs)  # type: ignore[arg-type]


def _count(conn: psycopg.Connection, table: str) -> int:
    return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608 - fixed names


def test_load_counts_then_second_load_changes_nothing(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "acra.csv"
    manifest = _generate(path, rows=3000, seed=11)
    first = load_acra_file(db, path)
    assert first.read == 3000 == manifest.good_rows  # type: ignore[attr-defined]
    assert (first.inserted, first.updated, first.rejected) == (3000, 0, 0)
    assert _count(db, "staging_acra_companies") == 3000
    loaded_at = db.execute("SELECT max(changed_at) FROM staging_acra_companies").fetchone()[0]

    second = load_acra_file(db, path)
    assert (second.read, second.inserted, second.updated, second.unchanged) == (3000, 0, 0, 3000)
    # Untouched really means untouched: no row was rewritten.
    assert db.execute("SELECT max(changed_at) FROM staging_acra_companies").fetchone()[0] == loaded_at


def test_values_land_in_the_right_columns(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "acra.csv"
    _generate(path, rows=200, seed=5)
    load_acra_file(db, path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows[:: 37]:
        stored = db.execute(
            "SELECT entity_name, entity_status_description, primary_ssic_code, postal_code, source_line "
            "FROM staging_acra_companies WHERE uen = %s", (row["uen"],)
        ).fetchone()
        assert stored[:4] == tuple(row[c] or None for c in (
            "entity_name", "entity_status_description", "primary_ssic_code", "postal_code"))
        assert stored[4] == rows.index(row) + 2


def test_an_edited_row_is_updated_and_nothing_else(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "acra.csv"
    _generate(path, rows=500, seed=3)
    load_acra_file(db, path)
    lines = path.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode()]))
    record = next(csv.reader([lines[10].decode()]))
    record[header.index("entity_status_description")] = "Struck Off"
    record[header.index("street_name")] = "NEW STREET"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(record)
    lines[10] = buffer.getvalue().encode()
    path.write_bytes(b"\n".join(lines))
    before = dict(db.execute("SELECT uen, changed_at FROM staging_acra_companies").fetchall())

    report = load_acra_file(db, path)

    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 499)
    uen = record[header.index("uen")]
    after = dict(db.execute("SELECT uen, changed_at FROM staging_acra_companies").fetchall())
    assert [u for u in after if after[u] != before[u]] == [uen]
    assert db.execute(
        "SELECT entity_status_description, street_name FROM staging_acra_companies WHERE uen = %s", (uen,)
    ).fetchone() == ("Struck Off", "NEW STREET")


def test_malformed_rows_go_to_rejects_with_their_line_numbers(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    manifest = _generate(path, rows=4000, seed=7, malformed_rate=0.05)
    expected = dict(manifest.malformed)  # type: ignore[attr-defined]
    assert {kind for kind in expected.values()} == set(MALFORMED_KINDS)

    report = load_acra_file(db, path)

    rejects = dict(db.execute(
        "SELECT line_no, reason FROM staging_acra_rejects WHERE source_file = %s", (path.name,)
    ).fetchall())
    assert set(rejects) == set(expected)
    assert report.rejected == len(expected)
    assert report.read == 4000
    assert report.inserted == manifest.good_rows == _count(db, "staging_acra_companies")  # type: ignore[attr-defined]
    reason_for_kind = {
        "wrong_column_count": "wrong column count",
        "undecodable_bytes": "undecodable bytes",
        "missing_uen": "missing UEN",
        "impossible_date": "impossible date",
        "unterminated_quote": "unterminated quoted field",
        "nul_byte": "NUL byte",
    }
    for line_no, kind in expected.items():
        assert rejects[line_no].startswith(reason_for_kind[kind]), (line_no, kind, rejects[line_no])
    # The raw text is kept, printable, for every reject.
    raw = db.execute(
        "SELECT raw_text FROM staging_acra_rejects WHERE reason LIKE 'undecodable%%' LIMIT 1"
    ).fetchone()[0]
    assert "\\x" in raw


def test_reloading_a_dirty_file_keeps_one_reject_per_line(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    manifest = _generate(path, rows=600, seed=8, malformed_rate=0.1)
    load_acra_file(db, path)
    load_acra_file(db, path)
    assert _count(db, "staging_acra_rejects") == len(manifest.malformed)  # type: ignore[attr-defined]


def test_gzipped_file_loads_like_the_plain_one(db: psycopg.Connection, tmp_path: Path) -> None:
    plain = tmp_path / "acra.csv"
    _generate(plain, rows=300, seed=9)
    packed = tmp_path / "acra.csv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    report = load_acra_file(db, packed)
    assert (report.read, report.inserted) == (300, 300)
    assert load_acra_file(db, plain).unchanged == 300


def test_narrow_shape_maps_by_header_and_keeps_columns_it_lacks(db: psycopg.Connection, tmp_path: Path) -> None:
    full = tmp_path / "full.csv"
    narrow = tmp_path / "narrow.csv"
    _generate(full, rows=200, seed=21)
    _generate(narrow, rows=200, seed=21, shape="narrow")
    assert narrow.read_text().split("\n", 1)[0] == ",".join(NARROW_COLUMNS)

    load_acra_file(db, full)
    ssic_before = db.execute("SELECT count(primary_ssic_code) FROM staging_acra_companies").fetchone()[0]
    report = load_acra_file(db, narrow)

    # Same entities: no new rows. The lines differ from the full file's, so the rows count
    # as updated, but the columns the narrow file lacks are kept, not blanked.
    assert (report.read, report.inserted, report.updated) == (200, 0, 200)
    assert db.execute("SELECT count(primary_ssic_code) FROM staging_acra_companies").fetchone()[0] == ssic_before > 0


def test_narrow_shape_alone_fills_the_renamed_columns(db: psycopg.Connection, tmp_path: Path) -> None:
    narrow = tmp_path / "narrow.csv"
    _generate(narrow, rows=50, seed=4, shape="narrow")
    load_acra_file(db, narrow)
    with open(narrow, newline="", encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    stored = db.execute(
        "SELECT entity_status_description, entity_type_description, street_name, postal_code "
        "FROM staging_acra_companies WHERE uen = %s", (first["uen"],)
    ).fetchone()
    assert stored == tuple(first[c] or None for c in ("uen_status", "entity_type", "reg_street_name", "reg_postal_code"))


def test_columns_in_any_order_and_unknown_columns_are_reported(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "shuffled.csv"
    path.write_text(
        "Entity_Name,something_new,UEN,registration_incorporation_date\n"
        '"ALPHA & SONS PTE. LTD.",x,201912345N,2019-05-01\n',
        encoding="utf-8",
    )
    report = load_acra_file(db, path)
    assert report.ignored_columns == ["something_new"]
    assert db.execute(
        "SELECT entity_name, registration_incorporation_date FROM staging_acra_companies WHERE uen = '201912345N'"
    ).fetchone() == ("ALPHA & SONS PTE. LTD.", "2019-05-01")


def test_missing_required_columns_are_named(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "bad_header.csv"
    path.write_text("entity_name,entity_status_description\nX,Live\n", encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad_header\.csv.*required column\(s\) missing.*uen"):
        load_acra_file(db, path)
    assert _count(db, "staging_acra_companies") == 0


def test_duplicate_uen_in_one_file_last_wins_and_earlier_is_rejected(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text(
        "uen,entity_name\n201912345N,FIRST NAME\n201912346N,OTHER\n201912345N,SECOND NAME\n", encoding="utf-8"
    )
    report = load_acra_file(db, path)
    assert (report.read, report.inserted, report.rejected) == (3, 2, 1)
    assert db.execute(
        "SELECT entity_name, source_line FROM staging_acra_companies WHERE uen = '201912345N'"
    ).fetchone() == ("SECOND NAME", 4)
    assert db.execute("SELECT line_no, reason FROM staging_acra_rejects").fetchone() == (
        2, "duplicate UEN 201912345N in file: superseded by line 4")


def _staging_indexes(conn: psycopg.Connection) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT indexdef FROM pg_indexes WHERE tablename = 'staging_acra_companies'")}


@pytest.mark.parametrize("duplicate", [False, True])
def test_a_first_load_rebuilds_exactly_the_indexes_it_dropped(db: psycopg.Connection, tmp_path: Path,
                                                              duplicate: bool) -> None:
    # The first load into an empty table drops staging's indexes and builds them after the
    # copy; a UEN twice makes the rebuild fail and the load start again through the merge.
    migrated = _staging_indexes(db)
    path = tmp_path / "acra.csv"
    _generate(path, rows=500, seed=4)
    if duplicate:
        with open(path, "ab") as handle:
            handle.write(path.read_bytes().split(b"\n")[1] + b"\n")
    report = load_acra_file(db, path)
    assert report.inserted == 500 and report.rejected == int(duplicate)
    assert _staging_indexes(db) == migrated and len(migrated) == 4


def test_a_failed_load_leaves_staging_as_it_was(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "acra.csv"
    _generate(path, rows=100, seed=1)
    load_acra_file(db, path)

    def explode(_: int) -> None:
        raise RuntimeError("power cut")

    big = tmp_path / "big.csv"
    _generate(big, rows=20000, seed=2)
    with pytest.raises(RuntimeError):
        load_acra_file(db, big, progress=explode)
    db.rollback()
    assert _count(db, "staging_acra_companies") == 100


def test_full_header_is_the_published_one(tmp_path: Path) -> None:
    path = tmp_path / "acra.csv"
    _generate(path, rows=1, seed=1)
    assert path.read_text().split("\n", 1)[0] == ",".join(FULL_COLUMNS)


def test_parallel_parsing_gives_the_same_result(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "dirty.csv"
    manifest = _generate(path, rows=6000, seed=13, malformed_rate=0.03)
    report = load_acra_file(db, path, workers=2)
    rejects = {r[0] for r in db.execute("SELECT line_no FROM staging_acra_rejects")}
    assert rejects == {line for line, _ in manifest.malformed}  # type: ignore[attr-defined]
    assert report.inserted == manifest.good_rows  # type: ignore[attr-defined]
    assert db.execute("SELECT count(DISTINCT source_line) FROM staging_acra_companies").fetchone()[0] == report.inserted
    assert load_acra_file(db, path, workers=2).unchanged == report.inserted


def test_parallel_parsing_of_short_lines_whose_output_outgrows_a_shared_slot(db: psycopg.Connection,
                                                                            tmp_path: Path) -> None:
    # A worker leaves its output in a shared slot of 4 x a block; two-column lines grow ~7 x
    # (hash, key, line number, file, load), so these blocks come back the slow way, in order.
    path = tmp_path / "uens.csv"
    rows = 150_000
    path.write_bytes(b"uen,entity_name\n" + b"".join(b"2019%06dK,A\n" % i for i in range(rows)))
    report = load_acra_file(db, path, workers=2)
    assert (report.inserted, report.rejected) == (rows, 0)
    assert db.execute(
        "SELECT count(*) FROM staging_acra_companies WHERE source_line <> substr(uen, 5, 6)::int + 2"
    ).fetchone()[0] == 0


def test_a_quote_inside_an_unquoted_field_is_loaded_as_written(db: psycopg.Connection, tmp_path: Path) -> None:
    # Python's csv reads `O"NEIL` literally; PostgreSQL's COPY would start a quoted section
    # there. The load must neither fail nor swallow the next line.
    path = tmp_path / "stray.csv"
    path.write_text(
        'uen,entity_name,entity_status_description\n'
        '201912345N,O"NEIL TRADING PTE. LTD.,Live\n'
        '201912346N,"NEXT, LINE PTE. LTD.",Live\n',
        encoding="utf-8",
    )
    report = load_acra_file(db, path)
    assert (report.read, report.inserted, report.rejected) == (2, 2, 0)
    assert dict(db.execute("SELECT uen, entity_name FROM staging_acra_companies").fetchall()) == {
        "201912345N": 'O"NEIL TRADING PTE. LTD.',
        "201912346N": "NEXT, LINE PTE. LTD.",
    }


def test_uens_are_tidied_and_blank_lines_skipped(db: psycopg.Connection, tmp_path: Path) -> None:
    path = tmp_path / "tidy.csv"
    path.write_text("uen,entity_name\n 201912345n ,ALPHA\n\n201912346N,BETA\r\n", encoding="utf-8")
    report = load_acra_file(db, path)
    assert (report.read, report.inserted) == (2, 2)
    assert {r[0] for r in db.execute("SELECT uen FROM staging_acra_companies")} == {"201912345N", "201912346N"}


# Lines the byte-level first-load path must judge exactly as the csv module does: quoted
# fields with commas and doubled quotes (in the fields it checks and after them), quotes
# PostgreSQL reads differently, UENs and dates quoted or needing a look, a bare CR, CRLF.
_TRICKY_HEADER = b"entity_name,uen,uen_issue_date,street_name,entity_status_description\n"
_TRICKY_LINES = [
    b'"SMITH, JONES PTE. LTD.",201912345N,2019-01-02,"1 ROAD, #02-01",Live',
    b'"SAY ""HI"" PTE. LTD.",201912346N,2019-01-02,,Live',
    b'O"NEIL,201912347N,2019-01-02,,Live',
    b'"A" ,201912348N,2019-01-02,,Live',
    b'A,"201912349N",2019-01-02,,Live',
    b'A,201912350n,2019-01-02,,Live',
    b'A, 201912351N,2019-01-02,,Live',
    b'A,2019123520,2019-01-02,,Live',
    b'A,201912353N,"2019-01-02",,Live',
    b'A,201912354N,2019-02-30,,Live',
    b'A,201912355N,02/01/2019,,Live',
    b'A,201912356N,na,,Live',
    b'A,201912357N,2019-01-02,,Live,extra',
    b'A,201912358N,2019-01-02,"",Live',
    b'A,201912359N,2019-01-02,x\ry,Live',
    b'A,201912360N,2019-01-02,"x\ry",Live',
    b'',
    b'A,201912361N,2019-01-02,"""",Live',
    b'A,201912362N,2019-01-02,"a""",Live',
    b'A,201912363N,2019-01-02,"a"b",Live',
    b'A,201912364N,2019-01-02,"unterminated,Live',
    b'A,201912365N,2019-01-02,,Live',
    b'A,201912366N,2019-01-02,"Q, R",Live\r',
    b'A,,2019-01-02,,Live',
    b'A,201912367N,2019-01-02,"a","b"',
    b'A,201912368N,2019-01-02,"a",Live,',
    b'A,201912369N,2019-01-02,"end of file inside a quote,Live',
]


@pytest.mark.parametrize("careful", [False, True])
def test_the_byte_level_first_load_reads_every_line_as_the_csv_module_does(careful: bool, tmp_path: Path) -> None:
    from acra_enrich.registry.acra_ingest import _ChunkParser, _layout, _lines_of

    class Counting(_ChunkParser):
        lines_to_csv = 0

        def parse(self, lines: list[bytes], first_line_no: int):  # type: ignore[no-untyped-def]
            self.lines_to_csv += len(lines)
            return super().parse(lines, first_line_no)

    path = tmp_path / "tricky.csv"
    good = [b"OK %d PTE. LTD.,2019%05dK,2019-01-02,\"%d ROAD, #01-01\",Live" % (i, i, i) for i in range(40)]
    block = b"\n".join(_TRICKY_LINES[:-1] + good + _TRICKY_LINES[-1:])
    layout = _layout(path, next(csv.reader([_TRICKY_HEADER.decode()])))
    fast = Counting(layout, careful, b",x")
    reference = _ChunkParser(layout, careful, b",x").parse(_lines_of(block), 2)
    result = fast.parse_block(block, 2, None)
    assert (result.data, result.read, result.rejects) == (reference.data, reference.read, reference.rejects)
    assert len(reference.rejects) >= 6 and reference.read > 40
    # The plain lines never reached the csv module: the comparison is of two different readers.
    assert fast.lines_to_csv < len(_TRICKY_LINES)


# ----------------------------------------------------------------- the unchanged fast path


def _edit_line(path: Path, line_no: int, **changes: str) -> str:
    """Rewrite one line of the file with some fields changed; the line's UEN."""
    lines = path.read_bytes().split(b"\n")
    header = next(csv.reader([lines[0].decode()]))
    record = next(csv.reader([lines[line_no - 1].decode()]))
    for column, value in changes.items():
        record[header.index(column)] = value
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(record)
    lines[line_no - 1] = buffer.getvalue().encode()
    path.write_bytes(b"\n".join(lines))
    return record[header.index("uen")]


def _row_versions(conn: psycopg.Connection) -> dict[str, tuple[str, str]]:
    return {uen: (ctid, xmin) for uen, ctid, xmin in conn.execute(
        "SELECT uen, ctid::text, xmin::text FROM staging_acra_companies")}


@pytest.mark.parametrize("workers", [1, 2])
def test_a_reload_parses_and_rewrites_only_the_lines_that_changed(db: psycopg.Connection, tmp_path: Path,
                                                                   workers: int) -> None:
    path = tmp_path / "acra.csv"
    _generate(path, rows=3000, seed=41, malformed_rate=0.01)
    first = load_acra_file(db, path, workers=workers)
    assert first.parsed == first.read == 3000
    versions = _row_versions(db)

    same = load_acra_file(db, path, workers=workers)
    # Only the malformed lines (never stored) are read again; no row is rewritten.
    assert (same.parsed, same.rejected) == (first.rejected, first.rejected)
    assert (same.read, same.inserted, same.updated, same.unchanged) == (3000, 0, 0, first.inserted)
    assert _row_versions(db) == versions

    edited = {_edit_line(path, line, street_name=f"EDITED {line}") for line in (5, 1500, 2999)}
    changed = load_acra_file(db, path, workers=workers)
    assert (changed.parsed, changed.updated, changed.inserted) == (first.rejected + 3, 3, 0)
    after = _row_versions(db)
    assert {uen for uen in after if after[uen] != versions[uen]} == edited
    assert db.execute("SELECT count(*) FROM staging_acra_rejects").fetchone()[0] == first.rejected
    # Every row's key is its hash's first 8 bytes, as migration 0008 computes it for older rows.
    assert db.execute("SELECT count(*) FROM staging_acra_companies "
                      "WHERE line_key IS DISTINCT FROM ('x' || substr(row_hash, 1, 16))::bit(64)::bigint").fetchone()[0] == 0


def test_rows_carry_the_load_that_last_changed_them_and_sync_reads_only_those(
        db: psycopg.Connection, tmp_path: Path) -> None:
    from acra_enrich.registry.company_sync import sync_companies

    path = tmp_path / "acra.csv"
    _generate(path, rows=1200, seed=42)
    first = load_acra_file(db, path)
    assert first.load_id is not None
    assert db.execute("SELECT status, rows_read, inserted FROM registry_loads WHERE load_id = %s",
                      (first.load_id,)).fetchone() == ("done", 1200, 1200)
    assert sync_companies(db).seen == 1200

    uen = _edit_line(path, 700, entity_status_description="Struck Off")
    second = load_acra_file(db, path)
    assert second.load_id != first.load_id
    assert dict(db.execute("SELECT load_id, count(*) FROM staging_acra_companies GROUP BY 1").fetchall()) == {
        first.load_id: 1199, second.load_id: 1}
    synced = sync_companies(db)
    assert (synced.loads, synced.seen, synced.updated, synced.skipped) == ([second.load_id], 1, 1, 1199)
    assert db.execute("SELECT status FROM companies WHERE uen = %s", (uen,)).fetchone() == ("Struck Off",)
    assert sync_companies(db).seen == 0  # every load taken


@pytest.mark.parametrize(("order", "kept"), [
    ("same line twice", "the later copy"),
    ("stored line, then a changed one", "the changed line"),
    ("changed line, then the stored one", "the stored line"),
])
def test_a_uen_twice_in_a_reload_keeps_its_last_line(db: psycopg.Connection, tmp_path: Path, order: str,
                                                     kept: str) -> None:
    path = tmp_path / "acra.csv"
    path.write_text("uen,entity_name,street_name\n201912345N,ALPHA PTE. LTD.,OLD ROAD\n"
                    "201912346N,BETA PTE. LTD.,ANY ROAD\n", encoding="utf-8")
    load_acra_file(db, path)
    stored, changed = "201912345N,ALPHA PTE. LTD.,OLD ROAD", "201912345N,ALPHA PTE. LTD.,NEW ROAD"
    lines = {"same line twice": [stored, stored], "stored line, then a changed one": [stored, changed],
             "changed line, then the stored one": [changed, stored]}[order]
    path.write_text("uen,entity_name,street_name\n" + lines[0] + "\n201912346N,BETA PTE. LTD.,ANY ROAD\n"
                    + lines[1] + "\n", encoding="utf-8")

    report = load_acra_file(db, path)

    assert (report.read, report.rejected) == (3, 1)
    assert db.execute("SELECT line_no, reason FROM staging_acra_rejects").fetchall() == [
        (2, "duplicate UEN 201912345N in file: superseded by line 4")]
    street, line = db.execute("SELECT street_name, source_line FROM staging_acra_companies "
                              "WHERE uen = '201912345N'").fetchone()
    assert street == lines[1].rsplit(",", 1)[1]
    assert report.updated == (1 if lines[1] == changed else 0)
    # The row keeps the line it came from when the stored line won.
    assert line == (4 if lines[1] == changed else 2)
