"""Reading the CSV files the resolve commands take (plain or .gz, UTF-8 with or without BOM)."""

from __future__ import annotations

import csv
import gzip
import io
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from acra_enrich.errors import InputFileError

ProgressCallback = Callable[[int], None]  # compressed/raw bytes read so far


class CsvInput:
    """A DictReader over a file, with the header (lower-cased) and the raw byte position."""

    def __init__(self, raw: BinaryIO, text: io.TextIOWrapper, path: Path) -> None:
        self._raw = raw
        self.path = path
        self.reader = csv.reader(text)
        try:
            header = next(self.reader)
        except StopIteration:
            raise InputFileError(f"{path}: empty file (expected a header line)") from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputFileError(f"{path}: unreadable header: {exc}") from None
        self.header = [h.strip() for h in header]
        self.columns = [h.lower() for h in self.header]

    @property
    def line_no(self) -> int:
        return self.reader.line_num

    @property
    def position(self) -> int:
        return self._raw.tell()

    def records(self) -> Iterator[list[str]]:
        """Each data row as a list of the header's width (short rows padded with '', long
        ones cut); blank lines skipped."""
        width = len(self.columns)
        try:
            for record in self.reader:
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue
                yield (record + [""] * width)[:width] if len(record) != width else record
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputFileError(f"{self.path}: line {self.reader.line_num}: {exc}") from None

    def rows(self) -> Iterator[dict[str, str]]:
        """Each data row as {lower-case column: value} (see `records`)."""
        for record in self.records():
            yield dict(zip(self.columns, record))


@contextmanager
def open_csv(path: Path) -> Iterator[CsvInput]:
    if not path.is_file():
        raise InputFileError(f"no such file: {path}")
    raw = open(path, "rb")
    try:
        stream: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if path.suffix == ".gz" else raw  # type: ignore[assignment]
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        yield CsvInput(raw, text, path)
    finally:
        raw.close()
