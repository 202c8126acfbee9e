"""`ingest acra`: stream an ACRA entity file into `staging_acra_companies`.

One pass over the file: each record is parsed and checked in Python, good rows are
re-serialised into a `COPY` into a session-local table, bad rows go to a spooled rejects
file; then one set-based statement merges into staging by UEN and row hash. The file is
never held in memory, and the whole file commits in one transaction, so a crash leaves
staging exactly as it was and a re-run starts clean.
"""

from __future__ import annotations

import csv
import gzip
import io
import operator
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import psycopg
from psycopg import sql

from acra_enrich.errors import InputFileError
from acra_enrich.registry.acra_columns import (
    ABSENT_VALUES,
    DATE_COLUMNS,
    FULL_COLUMNS,
    REQUIRED_COLUMNS,
    canonical_name,
)
from acra_enrich.sqlfiles import load_queries

_Q = load_queries("acra_enrich.registry.sql", "acra_ingest.sql")

# ACRA publishes one record per physical line (addresses are split into columns), so a
# quoted field that runs past its line is an unterminated quote: rejecting that one line
# and resuming on the next keeps one stray quote from swallowing the rest of the file.
MAX_RECORD_LINES = 1
COPY_FLUSH_BYTES = 1 << 20
_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2})?)?")

ProgressCallback = Callable[[int], None]


@dataclass
class LoadReport:
    file: str
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    reject_reasons: Counter[str] = field(default_factory=Counter)
    ignored_columns: list[str] = field(default_factory=list)
    absent_columns: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "reject_reasons": dict(self.reject_reasons),
            "ignored_columns": self.ignored_columns,
            "seconds": round(self.seconds, 3),
        }


class _RecordTooLong(Exception):
    pass


class _LineTap:
    """Feeds physical lines to csv.reader while remembering the raw text of the current record.

    Lines are decoded one by one so that bad bytes are pinned to the record they sit in,
    and lines can be pushed back so parsing resumes right after a broken record.
    """

    def __init__(self, binary_lines: Iterator[bytes]) -> None:
        self._source = binary_lines
        self._pushback: list[tuple[int, str, bool]] = []  # (line_no, text, bad) in reverse order
        self.line_no = 0  # physical line number of the last line handed out
        self.record: list[tuple[int, str, bool]] = []

    def __iter__(self) -> "_LineTap":
        return self

    def __next__(self) -> str:
        if len(self.record) >= MAX_RECORD_LINES:
            raise _RecordTooLong
        if self._pushback:
            item = self._pushback.pop()
        else:
            raw = next(self._source)
            self.line_no += 1
            try:
                item = (self.line_no, raw.decode("utf-8"), False)
            except UnicodeDecodeError:
                item = (self.line_no, raw.decode("utf-8", "surrogateescape"), True)
        self.record.append(item)
        return item[1]

    def take_record(self) -> tuple[int, str, bool]:
        """(first line number, raw text, has undecodable bytes) of the record just parsed."""
        lines = self.record
        self.record = []
        if len(lines) == 1:
            return lines[0]
        return lines[0][0], "".join(text for _, text, _ in lines), any(bad for _, _, bad in lines)

    def reject_first_line_and_rewind(self) -> tuple[int, str, bool]:
        """Give up on the current record's first line; re-read the lines after it."""
        first, *rest = self.record
        self.record = []
        self._pushback.extend(reversed(rest))
        return first


def _open_binary(path: Path) -> tuple[BinaryIO, BinaryIO]:
    """(stream to read lines from, underlying file whose position measures progress)."""
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot open ({exc.strerror})") from None
    if raw.read(2) == b"\x1f\x8b":
        raw.seek(0)
        return gzip.GzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[return-value]
    raw.seek(0)
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


@dataclass(frozen=True)
class _Layout:
    """How the file's header maps onto staging columns."""

    width: int
    present: tuple[str, ...]  # canonical columns the file has, in FULL_COLUMNS order
    indexes: tuple[int, ...]  # their positions in a record
    uen_index: int
    date_checks: tuple[tuple[int, str], ...]
    ignored: tuple[str, ...]


def _layout(path: Path, header: list[str]) -> _Layout:
    position: dict[str, int] = {}
    ignored: list[str] = []
    for i, cell in enumerate(header):
        name = canonical_name(cell)
        if name in FULL_COLUMNS and name not in position:
            position[name] = i
        else:
            ignored.append(cell)
    missing = [c for c in REQUIRED_COLUMNS if c not in position]
    if missing:
        raise InputFileError(
            f"{path}: required column(s) missing from the header: {', '.join(missing)} "
            f"(header has: {', '.join(header[:12])}{' …' if len(header) > 12 else ''})"
        )
    present = tuple(c for c in FULL_COLUMNS if c in position)
    return _Layout(
        width=len(header),
        present=present,
        indexes=tuple(position[c] for c in present),
        uen_index=position["uen"],
        date_checks=tuple((position[c], c) for c in DATE_COLUMNS if c in position),
        ignored=tuple(ignored),
    )


def _merge_statement(present: tuple[str, ...]) -> sql.Composed:
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in FULL_COLUMNS)
    select_list = sql.SQL(", ").join(
        sql.SQL("{}.{} AS {}").format(sql.Identifier("t" if c in present else "e"), sql.Identifier(c), sql.Identifier(c))
        for c in FULL_COLUMNS
    )
    update_list = sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in FULL_COLUMNS)
    return sql.SQL(_Q["merge_into_staging"]).format(columns=columns, select_list=select_list, update_list=update_list)


def load_acra_file(
    conn: psycopg.Connection,
    path: Path,
    *,
    progress: ProgressCallback | None = None,
) -> LoadReport:
    """Load one plain or gzipped ACRA CSV into staging. Commits once, at the end."""
    started = time.monotonic()
    source_file = path.name
    report = LoadReport(file=str(path))
    stream, underlying = _open_binary(path)
    with stream, underlying:
        tap = _LineTap(iter(stream))
        reader = csv.reader(tap)
        try:
            header = next(reader)
        except StopIteration:
            raise InputFileError(f"{path}: the file is empty (expected a header line)") from None
        except (csv.Error, _RecordTooLong) as exc:
            raise InputFileError(f"{path}: the header line cannot be parsed as CSV ({exc})") from None
        tap.take_record()
        layout = _layout(path, header)
        report.ignored_columns = list(layout.ignored)
        report.absent_columns = len(FULL_COLUMNS) - len(layout.present)

        with conn.transaction():
            conn.execute(
                sql.SQL(_Q["create_load_table"]).format(
                    column_defs=sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in FULL_COLUMNS)
                )
            )
            conn.execute(_Q["create_reject_table"])
            copy_columns = sql.SQL(", ").join(sql.Identifier(c) for c in (*layout.present, "line_no"))
            with tempfile.SpooledTemporaryFile(max_size=4 << 20, mode="w+", encoding="utf-8", newline="") as spool:
                rejects = csv.writer(spool)

                def reject(line_no: int, reason: str, raw: str) -> None:
                    report.rejected += 1
                    report.reject_reasons[reason.split(":")[0]] += 1
                    rejects.writerow((line_no, reason, _printable(raw.rstrip("\r\n"))))

                with conn.cursor().copy(
                    sql.SQL("COPY acra_load ({}) FROM STDIN (FORMAT csv)").format(copy_columns)
                ) as copy:
                    _stream_records(tap, reader, layout, copy, reject, report, progress, underlying)
                spool.seek(0)
                with conn.cursor().copy("COPY acra_reject (line_no, reason, raw_text) FROM STDIN (FORMAT csv)") as copy:
                    while chunk := spool.read(COPY_FLUSH_BYTES):
                        copy.write(chunk)

            superseded = conn.execute(_Q["supersede_duplicate_uens"]).rowcount
            if superseded > 0:
                report.rejected += superseded
                report.reject_reasons["duplicate UEN in file"] += superseded
            inserted, updated = conn.execute(_merge_statement(layout.present), {"source_file": source_file}).fetchone()
            conn.execute(_Q["clear_file_rejects"], {"source_file": source_file})
            conn.execute(_Q["save_file_rejects"], {"source_file": source_file})
    report.inserted, report.updated = int(inserted), int(updated)
    report.unchanged = report.read - report.rejected - report.inserted - report.updated
    report.seconds = time.monotonic() - started
    return report


def _stream_records(
    tap: _LineTap,
    reader: Iterator[list[str]],
    layout: _Layout,
    copy: psycopg.Copy,
    reject: Callable[[int, str, str], None],
    report: LoadReport,
    progress: ProgressCallback | None,
    underlying: BinaryIO,
) -> None:
    project = operator.itemgetter(*layout.indexes)
    width, uen_index, date_checks = layout.width, layout.uen_index, layout.date_checks
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    read = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            if tap.record:  # end of file inside a quoted field
                line_no, raw, _ = tap.reject_first_line_and_rewind()
                read += 1
                reject(line_no, "unterminated quoted field (runs past the end of the file)", raw)
                reader = csv.reader(tap)
                continue
            break
        except (_RecordTooLong, csv.Error) as exc:
            line_no, raw, _ = tap.reject_first_line_and_rewind()
            read += 1
            reason = "unterminated quoted field (runs past the end of its line)" if isinstance(exc, _RecordTooLong) else f"CSV error: {exc}"
            reject(line_no, reason, raw)
            reader = csv.reader(tap)
            continue
        line_no, raw, bad_bytes = tap.take_record()
        read += 1
        if len(record) != width:
            if not record or (len(record) == 1 and not record[0].strip()):
                read -= 1  # a blank line is not a record
                continue
            reject(line_no, f"wrong column count: {len(record)} fields, header has {width}", raw)
            continue
        if bad_bytes:
            reject(line_no, "undecodable bytes: not valid UTF-8", raw)
            continue
        if "\x00" in raw:
            reject(line_no, "NUL byte in a field", raw)
            continue
        uen = record[uen_index].strip().upper()
        if not uen or uen.lower() in ABSENT_VALUES:
            reject(line_no, "missing UEN", raw)
            continue
        problem = None
        for index, column in date_checks:
            value = record[index]
            if value and (why := _bad_date(value)):
                problem = f"{why}: {column}={value!r}"
                break
        if problem:
            reject(line_no, problem, raw)
            continue
        record[uen_index] = uen
        out.writerow((*project(record), line_no) if len(layout.indexes) > 1 else (project(record), line_no))
        if buffer.tell() >= COPY_FLUSH_BYTES:
            copy.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
            if progress:
                progress(underlying.tell())
    if buffer.tell():
        copy.write(buffer.getvalue())
    if progress:
        progress(underlying.tell())
    report.read = read
