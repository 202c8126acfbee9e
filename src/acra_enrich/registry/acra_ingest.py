"""`ingest acra`: stream an ACRA entity file into `staging_acra_companies`.

The file is read in chunks of lines. Every record is parsed and checked in Python (on its
bytes, split at commas once its well-formed quoted fields are masked; the csv module judges
any line that is not that plain); good records go to PostgreSQL as the very bytes they
arrived as (plus their line number and a hash of the line), through `COPY` into a
session-local table; bad ones go to a spooled rejects file. One set-based statement then
merges into staging by UEN, touching only rows whose hash changed. Nothing is held in
memory beyond a chunk, and each file commits once, so a crash leaves staging as it was and
a re-run starts clean.

A monthly refresh is mostly lines loaded before, so a load into a non-empty staging table
first sends PostgreSQL only the hash of each line: a line whose hash a staging row already
carries is that row's very line, already checked and stored, and needs nothing more. Only
the other lines - new, changed or malformed - are read again, parsed and merged.

Passing lines through untouched is what keeps us near raw `COPY` speed; re-serialising
94 fields per row in Python costs several times more. It is safe because a record must
fit on one line and parse cleanly with Python's csv module first. The one case where
Python and PostgreSQL read a line differently - a quote inside an unquoted field, which
PostgreSQL treats as the start of a quoted section - makes COPY fail; the load is then
redone in careful mode, which checks every quoted line and re-writes the odd ones.
"""

from __future__ import annotations

import binascii
import csv
import gzip
import hashlib
import io
import mmap
import multiprocessing
import os
import operator
import re
import struct
import tempfile
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, TypeVar

import psycopg
from psycopg import sql

from acra_enrich.errors import InputFileError
from acra_enrich.registry.acra_columns import (
    ABSENT_VALUES,
    DATE_COLUMNS,
    FULL_COLUMNS,
    REQUIRED_COLUMNS,
    STATUS_COLUMN,
    canonical_name,
)
from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.registry.sql", "acra_ingest.sql")

CHUNK_BYTES = 1 << 20
# Below this size forking parser processes costs more than it saves.
PARALLEL_FROM_BYTES = 32 << 20
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2})?)?")
# A line PostgreSQL's CSV parser reads exactly as Python's: every field either unquoted
# without quotes, or fully quoted with quotes doubled inside.
_FIELD = rb'(?:"(?:[^"]|"")*+"|[^",\r\n]*+)'
_CANONICAL_LINE = re.compile(rb"(?:" + _FIELD + rb",)*+" + _FIELD + rb"\r?\n?")
# A quoted field as both readers read it: the whole field, from a separator to a separator,
# within one line, every quote inside doubled.
# (The quote comes first so the engine looks for it before any lookbehind.)
_QUOTED_FIELD = re.compile(rb'"(?<![^,\n]")[^"\n]*+(?:""[^"\n]*+)*+"(?![^,\r\n])')
# A line's key: the first 8 bytes of its md5, as the signed bigint staging's line_key holds.
_LINE_KEY = struct.Struct(">q")

ProgressCallback = Callable[[int], None]


@dataclass
class LoadReport:
    file: str
    read: int = 0
    parsed: int = 0  # records parsed and checked: a merge skips the lines staging already holds
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reject_reasons: Counter[str] = field(default_factory=Counter)
    ignored_columns: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    careful_mode: bool = False
    load_id: int | None = None  # registry_loads row; staging rows this load inserted or changed carry it
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "read": self.read,
            "parsed": self.parsed,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "reject_reasons": dict(self.reject_reasons),
            "ignored_columns": self.ignored_columns,
            "warnings": self.warnings,
            "load_id": self.load_id,
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True)
class _Layout:
    """How the file's header maps onto staging columns."""

    width: int
    load_columns: tuple[str, ...]  # one name per file column: canonical, or _ignored_N
    present: frozenset[str]
    uen_index: int
    date_checks: tuple[tuple[int, str], ...]
    ignored: tuple[str, ...]

    def warnings(self, path: Path) -> list[str]:
        if STATUS_COLUMN in self.present:
            return []
        return [
            f"{path}: no entity status column (uen_status_desc, entity_status_description or uen_status): "
            "every row of this file counts as live unless staging already holds its status, so "
            "deregistered entities may be enriched"
        ]


def _layout(path: Path, header: list[str]) -> _Layout:
    load_columns: list[str] = []
    ignored: list[str] = []
    for i, cell in enumerate(header):
        name = canonical_name(cell)
        if name in FULL_COLUMNS and name not in load_columns:
            load_columns.append(name)
        else:
            load_columns.append(f"_ignored_{i}")
            ignored.append(cell)
    missing = [c for c in REQUIRED_COLUMNS if c not in load_columns]
    if missing:
        raise InputFileError(
            f"{path}: required column(s) missing from the header: {', '.join(missing)} "
            f"(header has: {', '.join(header[:12])}{' …' if len(header) > 12 else ''})"
        )
    return _Layout(
        width=len(header),
        load_columns=tuple(load_columns),
        present=frozenset(c for c in load_columns if c in FULL_COLUMNS),
        uen_index=load_columns.index("uen"),
        date_checks=tuple((load_columns.index(c), c) for c in DATE_COLUMNS if c in load_columns),
        ignored=tuple(ignored),
    )


def _open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(stream to read lines from, underlying file whose position measures progress)."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror})") from None
    magic = raw.read(2)
    raw.seek(0)
    if magic == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    return raw, raw


def _printable(text: str) -> str:
    """Raw text as it can be stored: bad bytes as \\xNN, NUL spelled out."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace").replace("\x00", "\\x00")


def _bad_date(value: str) -> str | None:
    """None when the value is an absent marker or a real date; else why it is not."""
    if value.lower() in ABSENT_VALUES:
        return None
    match = _ISO_DATE.fullmatch(value.strip())
    if not match:
        return "unrecognised date format"
    try:
        date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return "impossible date"
    return None


@dataclass
class ParsedChunk:
    data: bytes | memoryview  # good lines, ready for COPY (a view: valid until the next chunk is asked for)
    read: int  # records seen, good and rejected
    rejects: list[tuple[int, str, str]]  # (line number, reason, raw text)
    lines: int  # physical lines consumed


class _ChunkParser:
    """Checks the records of a chunk of lines and emits the good ones for COPY.

    The loop is the hot path of a multi-million-row load: the common case costs a few
    C-level calls per record, and anything unusual drops into `_diagnose`.
    """

    def __init__(self, layout: _Layout, careful: bool, suffix: bytes) -> None:
        self.layout = layout
        self.careful = careful
        self.suffix = suffix  # appended to every emitted line, after hash and line number
        self.read = 0
        self.rejects: list[tuple[int, str, str]] = []
        # Dates repeat endlessly across two million rows: check each distinct value once.
        self._good_dates: set[str] = {"", *ABSENT_VALUES, *(v.upper() for v in ABSENT_VALUES)}
        # itemgetter with one index returns a bare value: repeat it to always get a tuple.
        indexes = [i for i, _ in layout.date_checks]
        self._dates_of = operator.itemgetter(*indexes, *indexes[:1]) if indexes else None
        self._buffer = io.StringIO()
        self._rewrite = csv.writer(self._buffer, lineterminator="\n")
        # The byte-level fast path splits a line only as far as the last field it checks.
        needed = max([layout.uen_index, *indexes])
        self._splits = min(needed + 1, layout.width - 1)
        self._good_date_bytes: set[bytes] = {v.encode() for v in self._good_dates}

    def parse(self, lines: list[bytes], first_line_no: int) -> ParsedChunk:
        self.read, self.rejects = 0, []
        try:
            texts = [line.decode("utf-8") for line in lines]
            undecodable: set[int] = set()
        except UnicodeDecodeError:
            texts, undecodable = _decode_one_by_one(lines)
        out: list[bytes] = []
        emit = out.append
        width, uen_index, suffix = self.layout.width, self.layout.uen_index, self.suffix
        dates_of, good_dates = self._dates_of, self._good_dates
        md5, careful = hashlib.md5, self.careful
        i, count = 0, len(lines)
        while i < count:
            reader = csv.reader(texts if i == 0 else texts[i:])
            base = i
            try:
                for record in reader:
                    start = i
                    i = base + reader.line_num
                    if i - start != 1:
                        # A quoted field ran past its line: give up on that line only and
                        # read the following lines afresh, so one stray quote costs one row.
                        self._reject(first_line_no + start, UNTERMINATED, texts[start])
                        i = start + 1
                        break
                    line = lines[start]
                    uen = record[uen_index] if len(record) == width else ""
                    if (
                        not uen
                        or start in undecodable
                        or b"\x00" in line
                        or (dates_of is not None and not good_dates.issuperset(dates_of(record)))
                        or (i == count and ("\n" in record[-1] or "\r" in record[-1]))
                        or uen != uen.strip().upper()
                    ):
                        fixed = self._diagnose(record, texts[start], first_line_no + start, start in undecodable, line)
                        if fixed is None:
                            continue
                        line = fixed
                    self.read += 1
                    body = line.rstrip(b"\r\n")
                    if careful and b'"' in body and not _CANONICAL_LINE.fullmatch(body):
                        body = self._rewritten(record)
                    # The hash is of the line as published: an unchanged line is an unchanged row. Its
                    # first 8 bytes, as a bigint, are the key staging's hash index is searched by.
                    digest = md5(lines[start].rstrip(b"\r\n")).digest()
                    emit(b"%s,%s,%d,%d%s\n" % (body, digest.hex().encode(), int.from_bytes(digest[:8], "big", signed=True),
                                               first_line_no + start, suffix))
            except csv.Error as exc:
                self._reject(first_line_no + i, f"CSV error: {exc}", texts[i])
                i += 1
        return ParsedChunk(b"".join(out), self.read, self.rejects, len(lines))

    def parse_block(self, block: bytes, first_line_no: int, wanted: list[int] | None) -> ParsedChunk:
        """Like `parse` on the block's lines, or on the lines at the offsets in `wanted` (sorted) only."""
        if wanted is None:
            if b"\x00" not in block and _is_utf8(block):
                return self._parse_plain_block(block, first_line_no)
            return self.parse(_lines_of(block), first_line_no)
        lines = block.split(b"\n")
        data, read, rejects = [], 0, []
        start = 0
        while start < len(wanted):
            end = start
            while end + 1 < len(wanted) and wanted[end + 1] == wanted[end] + 1:
                end += 1
            run = [line + b"\n" for line in lines[wanted[start]:wanted[end] + 1]]
            if wanted[end] == len(lines) - 1:  # the file's last line, which has no line break
                run[-1] = run[-1][:-1]
            chunk = self.parse(run, first_line_no + wanted[start])
            data.append(chunk.data)
            read += chunk.read
            rejects.extend(chunk.rejects)
            start = end + 1
        return ParsedChunk(b"".join(data), read, rejects, len(lines))

    def _parse_plain_block(self, block: bytes, first_line_no: int) -> ParsedChunk:
        """`parse` for a block of valid UTF-8 without NUL bytes (nearly every block), on bytes.

        A line is taken as it is when its quoted fields are well formed (so Python's csv module
        and PostgreSQL read it as the same fields) and its field count, UEN and dates check out
        on a split at commas. Any other line goes through `parse`, alone: the reference, whose
        verdict (reject, tidy, or load) it then gets. Two thirds of the csv path's cost per line.
        """
        width, splits, uen_index, suffix = self.layout.width, self._splits, self.layout.uen_index, self.suffix
        dates_of, good_dates, known_good = self._dates_of, self._good_date_bytes, self._known_good
        md5, hexlify, key_of = hashlib.md5, binascii.hexlify, _LINE_KEY.unpack_from
        out: list[bytes | memoryview] = []
        emit = out.append
        read, rejects = 0, []
        lines = block.split(b"\n")
        # Every well-formed quoted field made one NUL byte (the block has none): what remains of
        # a line splits at its commas into the very fields csv and PostgreSQL read, and a quote
        # left in it is one they might read differently.
        plain = _QUOTED_FIELD.sub(b"\x00", block).split(b"\n") if b'"' in block else lines
        ends_with_break = lines[-1] == b""
        if ends_with_break:
            lines.pop()
        bodies, inner_cr = lines, set()
        if b"\r" in block:  # CRLF line breaks; a bare CR inside a line is for csv to judge
            bodies = [line.rstrip(b"\r") for line in lines]
            inner_cr = {i for i, body in enumerate(bodies) if b"\r" in body}
        commas = width - 1
        line_no = first_line_no - 1
        for i, body in enumerate(bodies):
            line_no += 1
            if not body:
                continue  # a blank line is not a record
            unquoted = plain[i]
            if unquoted.count(b",") == commas and b'"' not in unquoted and not (inner_cr and i in inner_cr):
                fields = unquoted.split(b",", splits)
                uen = fields[uen_index]
                # An ASCII-alphanumeric upper-case UEN needs no tidying (all-digit ones go the slow
                # way); a quoted UEN or date is a NUL here, which no check passes.
                if uen.isalnum() and uen.isupper() and (
                    dates_of is None or good_dates.issuperset(dates_of(fields)) or known_good(dates_of(fields))
                ):
                    digest = md5(body).digest()
                    emit(b"%s,%s,%d,%d%s\n" % (body, hexlify(digest), key_of(digest)[0], line_no, suffix))
                    read += 1
                    continue
            odd = self.parse([lines[i] if i == len(lines) - 1 and not ends_with_break else lines[i] + b"\n"], line_no)
            emit(odd.data)
            read += odd.read
            rejects.extend(odd.rejects)
        self.read, self.rejects = read, rejects
        return ParsedChunk(b"".join(out), read, rejects, len(lines))

    def _known_good(self, values: tuple[bytes, ...]) -> bool:
        """Whether every value is a real date or an absent marker; each good one is remembered."""
        for value in values:
            if value not in self._good_date_bytes:
                if _bad_date(value.decode("utf-8")):
                    return False
                self._good_date_bytes.add(value)
        return True

    def _reject(self, line_no: int, reason: str, raw: str) -> None:
        self.read += 1
        self.rejects.append((line_no, reason, raw))

    def _diagnose(self, record: list[str], text: str, line_no: int, undecodable: bool, line: bytes) -> bytes | None:
        """Reject the record (None) or return the line to load, rewritten if its UEN needed tidying."""
        layout = self.layout
        if not record or (len(record) == 1 and not record[0].strip()):
            return None  # a blank line is not a record
        if "\n" in record[-1] or "\r" in record[-1]:  # the chunk ended inside a quoted field
            self._reject(line_no, UNTERMINATED, text)
            return None
        if len(record) != layout.width:
            self._reject(line_no, f"wrong column count: {len(record)} fields, header has {layout.width}", text)
            return None
        if undecodable:
            self._reject(line_no, "undecodable bytes: not valid UTF-8", text)
            return None
        if b"\x00" in line:
            self._reject(line_no, "NUL byte in a field", text)
            return None
        uen = record[layout.uen_index].strip().upper()
        if not uen or uen.lower() in ABSENT_VALUES:
            self._reject(line_no, "missing UEN", text)
            return None
        for index, column in layout.date_checks:
            value = record[index]
            if value not in self._good_dates:
                why = _bad_date(value)
                if why:
                    self._reject(line_no, f"{why}: {column}={value!r}", text)
                    return None
                self._good_dates.add(value)
        if uen != record[layout.uen_index]:
            record[layout.uen_index] = uen
            return self._rewritten(record)
        return line

    def _rewritten(self, record: list[str]) -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._rewrite.writerow(record)
        return self._buffer.getvalue().rstrip("\n").encode("utf-8")


UNTERMINATED = "unterminated quoted field (runs past the end of its line)"


def _is_utf8(block: bytes) -> bool:
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_one_by_one(lines: list[bytes]) -> tuple[list[str], set[int]]:
    texts, bad = [], set()
    for i, line in enumerate(lines):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(line.decode("utf-8", "surrogateescape"))
            bad.add(i)
    return texts, bad


def _merge_statement(present: frozenset[str]) -> sql.Composed:
    def source(column: str) -> sql.Composable:
        table = "t" if column in present else "e"
        return sql.SQL("{}.{}").format(sql.Identifier(table), sql.Identifier(column))

    return sql.SQL(_Q["merge_into_staging"]).format(
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in FULL_COLUMNS),
        select_list=sql.SQL(", ").join(
            sql.SQL("{} AS {}").format(source(c), sql.Identifier(c)) for c in FULL_COLUMNS
        ),
        update_list=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in FULL_COLUMNS),
    )


def _read_header(path: Path, stream: BinaryIO) -> list[str]:
    line = stream.readline()
    if not line.strip():
        raise InputFileError(f"{path}: the file is empty (expected a header line)")
    try:
        text = line.decode("utf-8-sig")
        return next(csv.reader([text]))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputFileError(f"{path}: the header line cannot be read as UTF-8 CSV ({exc})") from None


def check_header(path: Path) -> list[str]:
    """The file's header, when it is one `ingest acra` accepts; InputFileError naming the
    missing columns otherwise (a download is checked so before it takes its final name)."""
    stream, underlying = _open_binary(path)
    try:
        with stream, underlying:
            header = _read_header(path, stream)
    except (OSError, EOFError) as exc:  # a gzip stream cut short, unreadable bytes
        raise InputFileError(f"{path}: cannot read the header ({exc})") from None
    _layout(path, header)
    return header


def load_acra_file(
    conn: psycopg.Connection,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
    load_id: int | None = None,
) -> LoadReport:
    """Load one plain or gzipped ACRA CSV into staging. Commits once, at the end.

    The load is recorded in `registry_loads` as done in the same commit (the row `load_id`,
    already started by the caller, or a new one), and every staging row it inserted or
    changed carries its id: `sync companies` and the express lane find them by it.

    Into an empty staging table the lines are copied straight in (the first load of a
    fresh database is the big one); otherwise they go through a session table and a merge.
    Either attempt can be refused by PostgreSQL for a reason only it can see - a UEN twice
    in the file for the direct copy, a line it reads differently from Python - and the
    load is then redone in the slower mode that handles it.
    """
    started = time.monotonic()
    if workers is None:
        workers = min(os.cpu_count() or 1, 4) if path.stat().st_size >= PARALLEL_FROM_BYTES else 1
    direct, careful = True, False
    while True:
        try:
            report = _load(conn, path, progress, direct=direct, careful=careful, workers=workers, load_id=load_id)
            break
        except psycopg.errors.UniqueViolation:
            conn.rollback()
            if not direct:
                raise
            direct = False
        except psycopg.errors.DataError:
            conn.rollback()
            if careful:
                raise
            careful = True
    report.seconds = time.monotonic() - started
    return report


def _load(
    conn: psycopg.Connection,
    path: Path,
    progress: ProgressCallback | None,
    *,
    direct: bool,
    careful: bool,
    workers: int,
    load_id: int | None,
) -> LoadReport:
    source_file = path.name
    report = LoadReport(file=str(path), careful_mode=careful)
    stream, underlying = _open_binary(path)
    with stream, underlying, conn.transaction():
        layout = _layout(path, _read_header(path, stream))
        report.ignored_columns = list(layout.ignored)
        report.warnings = layout.warnings(path)
        conn.execute(_Q["lock_staging_for_load"])
        if load_id is None:
            load_id = fetch_one(conn, _Q["start_load"], {"kind": "acra", "source_file": source_file})[0]
        report.load_id = load_id
        direct = direct and not layout.ignored and fetch_one(conn, _Q["staging_is_empty"])[0]
        conn.execute(_Q["create_reject_table"])
        if direct:
            conn.execute(_Q["drop_staging_indexes"])
            target = sql.Identifier("staging_acra_companies")
            columns = [*layout.load_columns, "row_hash", "line_key", "source_line", "source_file", "load_id"]
            suffix = b"," + _csv_quote(source_file) + b",%d" % load_id
            wanted: bytearray | None = None
        else:
            conn.execute(_Q["merge_memory"])
            conn.execute(sql.SQL(_Q["create_load_table"]).format(column_defs=sql.SQL(", ").join(
                sql.SQL("{} text").format(sql.Identifier(c)) for c in layout.load_columns)))
            target = sql.Identifier("acra_load")
            columns = [*layout.load_columns, "row_hash", "line_key", "line_no"]
            suffix = b""
            # Pass one: the hash of every line. Lines staging already holds are done with.
            seen = _unknown_lines(conn, stream, underlying, workers, _halved(progress, 0))
            wanted, repeated = seen.unknown, seen.repeated
            report.read += seen.known
            stream.close()
            underlying.close()
            stream, underlying = _open_binary(path)
            _read_header(path, stream)
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv{})").format(
            target, sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.SQL(", FREEZE" if direct else "")
        )
        with tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+", encoding="utf-8", newline="") as spool:
            rejects = csv.writer(spool)

            def reject(line_no: int, reason: str, raw: str) -> None:
                report.rejected += 1
                report.reject_reasons[reason.split(":")[0]] += 1
                rejects.writerow((line_no, reason, _printable(raw.rstrip("\r\n"))))

            shown = progress if direct else _halved(progress, path.stat().st_size // 2)
            with conn.cursor().copy(copy_sql) as copy:
                parser = _ChunkParser(layout, careful, suffix)
                plain_file = underlying.fileno() if stream is underlying else None
                for chunk in _parsed_chunks(stream, parser, workers, wanted, plain_file):
                    copy.write(chunk.data)
                    report.read += chunk.read
                    report.parsed += chunk.read
                    for rejected in chunk.rejects:
                        reject(*rejected)
                    if shown:
                        shown(underlying.tell())
            spool.seek(0)
            with conn.cursor().copy("COPY acra_reject (line_no, reason, raw_text) FROM STDIN (FORMAT csv)") as copy:
                while block := spool.read(CHUNK_BYTES):
                    copy.write(block)

        if direct:
            conn.execute(_Q["restore_staging_indexes"])
            inserted, updated = report.read - report.rejected, 0
        else:
            for query in ("supersede_duplicate_uens", "supersede_repeated_known_lines", "find_loaded_and_known_lines",
                          "supersede_loaded_by_known_lines", "supersede_known_by_loaded_lines"):
                if query == "supersede_repeated_known_lines" and not repeated:
                    continue  # no line occurs twice: the search over every line's hash is not needed
                superseded = conn.execute(_Q[query]).rowcount
                if superseded > 0 and query.startswith("supersede"):
                    report.rejected += superseded
                    report.reject_reasons["duplicate UEN in file"] += superseded
            inserted, updated = fetch_one(conn, _merge_statement(layout.present),
                                          {"source_file": source_file, "load_id": load_id})
        report.inserted, report.updated = int(inserted), int(updated)
        report.unchanged = report.read - report.rejected - report.inserted - report.updated
        conn.execute(_Q["clear_file_rejects"], {"source_file": source_file})
        conn.execute(_Q["save_file_rejects"], {"source_file": source_file})
        conn.execute(_Q["finish_load"], {
            "load_id": load_id, "status": "done", "rows_read": report.read, "inserted": report.inserted,
            "updated": report.updated, "unchanged": report.unchanged, "rejected": report.rejected, "error": None,
        })
        # ON COMMIT DROP is not enough when the caller's transaction outlives this load.
        conn.execute(_Q["drop_load_tables"])
    return report


def _halved(progress: ProgressCallback | None, offset: int) -> ProgressCallback | None:
    """Progress of one of a load's two passes over the file: half the file's bytes each."""
    if progress is None:
        return None
    return lambda position: progress(offset + position // 2)


@dataclass
class _Seen:
    """What pass one learnt: a flag per line number for the lines staging does not hold, how
    many lines it does hold, and whether any line occurs twice in the file."""

    unknown: bytearray
    known: int
    repeated: bool


def _unknown_lines(conn: psycopg.Connection, stream: BinaryIO, underlying: BinaryIO, workers: int,
                   progress: ProgressCallback | None) -> _Seen:
    """Pass one of a merge: only a hash and a line number per line reach PostgreSQL; the
    flags are one byte per line."""
    conn.execute(_Q["create_seen_table"])
    lines = 0
    prefixes = [bytearray() for _ in range(_PREFIX_BUCKETS)]
    with conn.cursor().copy("COPY acra_seen (row_hash, line_key, line_no) FROM STDIN (FORMAT csv)") as copy:
        plain_file = underlying.fileno() if stream is underlying else None
        for hashed in _hashed_blocks(stream, workers, plain_file):
            copy.write(hashed.data)
            lines += hashed.count
            for bucket, packed in zip(prefixes, hashed.prefixes):
                bucket += packed
            if progress:
                progress(underlying.tell())
    last_line = fetch_one(conn, _Q["last_seen_line"])[0] or 1
    flags = bytearray(last_line + 1)  # indexed by line number; the header is line 1
    unknown = 0
    with conn.cursor(name="acra_unknown_lines") as cursor:
        cursor.itersize = 100_000
        for (line_no,) in cursor.execute(_Q["unknown_lines"]):
            flags[line_no] = 1
            unknown += 1
    return _Seen(flags, lines - unknown, _any_repeated(prefixes))


def _any_repeated(buckets: list[bytearray]) -> bool:
    """Whether some 8-byte hash prefix occurs twice: a line repeated (or, rarely, a prefix
    shared). Bucketed by the prefix's first bits, so at most a quarter of them is a set at once."""
    for bucket in buckets:
        keys = memoryview(bucket).cast("q")
        if len(set(keys)) != len(keys):
            return True
    return False


def _parsed_chunks(stream: BinaryIO, parser: _ChunkParser, workers: int,
                   wanted: bytearray | None = None, plain_file: int | None = None) -> Iterator[ParsedChunk]:
    """Parsed chunks of the stream, in file order; with `wanted` (a flag per line number),
    only the flagged lines are parsed, and blocks without one are skipped unparsed.

    With workers, parsing runs in forked processes while this one feeds PostgreSQL, so
    Python's checks and PostgreSQL's storing use every core (threads would share one GIL).
    At most a few chunks are in flight: memory stays flat whichever side is slower.
    Parsing all of an uncompressed file (`plain_file`: its descriptor, `stream` reads it),
    the workers read their blocks from the file and leave their output in shared memory.
    """
    if workers > 1 and wanted is None and plain_file is not None:
        yield from _parsed_in_place(stream, parser, workers, plain_file)
        return
    # A block without a wanted line has nothing to parse: it is not even handed to a worker.
    tasks = (task for task in _tasks(stream, wanted) if task[2] != [])
    if workers <= 1:
        for block, first_line_no, offsets in tasks:
            yield parser.parse_block(block, first_line_no, offsets)
        return

    def here(task: tuple[bytes, int, list[int] | None]) -> ParsedChunk | None:
        # A few lines of a block are parsed quicker than the block is sent to a worker.
        block, first_line_no, offsets = task
        if offsets is not None and len(offsets) * _SPARSE < block.count(b"\n"):
            return parser.parse_block(block, first_line_no, offsets)
        return None

    yield from _in_workers(tasks, workers, _parse_in_worker, _adopt_parser, (parser,), here=here)


_SLOT_BYTES = 4 * CHUNK_BYTES  # a parsed block's output: its lines plus ~70 bytes each


def _parsed_in_place(stream: BinaryIO, parser: _ChunkParser, workers: int, plain_file: int) -> Iterator[ParsedChunk]:
    """`_parsed_chunks` of a whole uncompressed file without sending its bytes through pipes
    (pickled both ways, they cost this process alone 0.4 s of CPU per million rows).

    This process still reads the file, to count lines; a worker reads its block again with
    pread and writes its output into one of a ring of shared slots, which this process hands
    to COPY as a view. A slot is reused 2 x workers blocks later: by then `_in_workers` has
    been asked for the chunk after it, so COPY is done with it.
    """
    slots = 2 * workers  # _in_workers' blocks in flight
    shared = mmap.mmap(-1, slots * _SLOT_BYTES)  # anonymous and shared: the forked workers write into it
    view = memoryview(shared)

    def tasks() -> Iterator[tuple[int, int, int, int]]:
        offset = stream.tell()
        for number, (block, first_line_no, _) in enumerate(_tasks(stream, None)):
            yield offset, len(block), first_line_no, number % slots
            offset += len(block)

    for chunk, slot, size in _in_workers(tasks(), workers, _parse_in_place, _adopt_parser,
                                         (parser, plain_file, shared)):
        if slot is not None:
            chunk.data = view[slot * _SLOT_BYTES:slot * _SLOT_BYTES + size]
        yield chunk


def _tasks(stream: BinaryIO, wanted: bytearray | None) -> Iterator[tuple[bytes, int, list[int] | None]]:
    """(block, its first line number, offsets of the wanted lines in it or None for all)."""
    first_line_no = 2
    for block in _blocks(stream):
        count = block.count(b"\n") + (not block.endswith(b"\n"))
        offsets = None
        if wanted is not None:
            offsets = []
            at = wanted.find(1, first_line_no, first_line_no + count)
            while at != -1:
                offsets.append(at - first_line_no)
                at = wanted.find(1, at + 1, first_line_no + count)
        yield block, first_line_no, offsets
        first_line_no += count


_T = TypeVar("_T")
_Task = tuple[Any, ...]
_SPARSE = 8  # a block with fewer wanted lines than 1 in this many is parsed in the main process


def _in_workers(tasks: Iterator[_Task], workers: int, work: Callable[..., _T],
                initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = (),
                here: Callable[[_Task], _T | None] | None = None) -> Iterator[_T]:
    """`work(*task)` for each task in forked processes, results in task order, a few in flight;
    `here` may do a task in this process instead (its result, or None to send it off)."""
    pending: deque[Future[_T]] = deque()
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=initializer, initargs=initargs) as pool:
        try:
            for task in tasks:
                done = here(task) if here is not None else None
                if done is not None:
                    future: Future[_T] = Future()
                    future.set_result(done)
                    pending.append(future)
                else:
                    # One bytes object per task: pickling it is a copy, not 3,000 objects.
                    pending.append(pool.submit(work, *task))
                if len(pending) >= workers * 2:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_PREFIX_BUCKETS = 4


@dataclass
class _Hashed:
    data: bytes  # `hash,key,line_no` lines for COPY
    count: int  # lines hashed
    prefixes: tuple[bytes, ...]  # the first 8 bytes of each hash, by bucket (its first 2 bits)


def _hashed_blocks(stream: BinaryIO, workers: int, plain_file: int | None = None) -> Iterator[_Hashed]:
    """The hashes of the stream's lines, a block at a time, in file order. Workers read the
    blocks of an uncompressed file (`plain_file`) themselves, rather than have them pickled."""
    first_line_no = 2
    offset = stream.tell()

    def tasks() -> Iterator[tuple[bytes, int]]:
        nonlocal first_line_no
        for block in _blocks(stream):
            yield block, first_line_no
            first_line_no += block.count(b"\n") + (not block.endswith(b"\n"))

    def places() -> Iterator[tuple[int, int, int]]:
        nonlocal offset
        for block, first in tasks():
            yield offset, len(block), first
            offset += len(block)

    if workers <= 1:
        for block, first in tasks():
            yield _hash_block(block, first)
    elif plain_file is not None:
        yield from _in_workers(places(), workers, _hash_in_place, _adopt_file, (plain_file,))
    else:
        yield from _in_workers(tasks(), workers, _hash_block)


def _adopt_file(plain_file: int) -> None:
    global _WORKER_FILE
    _WORKER_FILE = plain_file


def _hash_in_place(offset: int, length: int, first_line_no: int) -> _Hashed:
    assert _WORKER_FILE is not None, "worker started without a file"
    return _hash_block(os.pread(_WORKER_FILE, length, offset), first_line_no)


def _hash_block(block: bytes, first_line_no: int) -> _Hashed:
    # The hash the parser stores: md5 of the line as published, without its line break.
    md5 = hashlib.md5
    out: list[bytes] = []
    buckets: list[list[bytes]] = [[] for _ in range(_PREFIX_BUCKETS)]
    for i, line in enumerate(block.split(b"\n")):
        if line and line != b"\r":
            digest = md5(line.rstrip(b"\r")).digest()
            out.append(b"%s,%d,%d\n" % (digest.hex().encode(), int.from_bytes(digest[:8], "big", signed=True),
                                          first_line_no + i))
            buckets[digest[0] >> 6].append(digest[:8])
    return _Hashed(b"".join(out), len(out), tuple(b"".join(b) for b in buckets))


def _blocks(stream: BinaryIO) -> Iterator[bytes]:
    """About CHUNK_BYTES of whole lines at a time."""
    while block := stream.read(CHUNK_BYTES):
        if not block.endswith(b"\n"):
            block += stream.readline()
        yield block


def _lines_of(block: bytes) -> list[bytes]:
    lines = block.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
        return [line + b"\n" for line in lines]
    return [line + b"\n" for line in lines[:-1]] + [lines[-1]]


_WORKER_PARSER: _ChunkParser | None = None
_WORKER_FILE: int | None = None
_WORKER_SLOTS: mmap.mmap | None = None


def _adopt_parser(parser: _ChunkParser, plain_file: int | None = None, slots: mmap.mmap | None = None) -> None:
    # Called in a forked worker: the descriptor and the shared mapping are inherited, not pickled.
    global _WORKER_PARSER, _WORKER_FILE, _WORKER_SLOTS
    _WORKER_PARSER, _WORKER_FILE, _WORKER_SLOTS = parser, plain_file, slots


def _parse_in_place(offset: int, length: int, first_line_no: int, slot: int) -> tuple[ParsedChunk, int | None, int]:
    """Parse the file's block at `offset`; the output in shared slot `slot` when it fits:
    (the chunk without its data, the slot or None, the output's size)."""
    assert _WORKER_PARSER is not None and _WORKER_FILE is not None and _WORKER_SLOTS is not None
    chunk = _WORKER_PARSER.parse_block(os.pread(_WORKER_FILE, length, offset), first_line_no, None)
    size = len(chunk.data)
    if size > _SLOT_BYTES:  # a block of very short lines: its output goes back the slow way
        return chunk, None, size
    _WORKER_SLOTS[slot * _SLOT_BYTES:slot * _SLOT_BYTES + size] = chunk.data
    chunk.data = b""
    return chunk, slot, size


def _parse_in_worker(block: bytes, first_line_no: int, offsets: list[int] | None) -> ParsedChunk:
    assert _WORKER_PARSER is not None, "worker started without a parser"
    return _WORKER_PARSER.parse_block(block, first_line_no, offsets)


def _csv_quote(value: str) -> bytes:
    return b'"' + value.replace('"', '""').encode("utf-8") + b'"'
