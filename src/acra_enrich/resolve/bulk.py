"""`resolve file`: resolve every mention of a CSV and write the results beside the input.

Mention columns are found by header (case-insensitive): `customer_name` (or `name`),
`plan_code`, `account_name`, `uen`; at least one must be present. The output has every
input column, plus `company_id`, `status`, `source`, `temp_id` (overwritten when the
input already has them, so a result file can be resolved again to settle its pending
rows). Rows stream through `resolve_many` in order, one chunk in memory at a time, so a
file of any length runs in the same memory; the output appears atomically when done.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from acra_enrich.errors import InputFileError
from acra_enrich.resolve.csvfiles import ProgressCallback, open_csv
from acra_enrich.resolve.models import Mention
from acra_enrich.resolve.service import CompanyEnrichmentService

MENTION_COLUMNS: dict[str, str] = {
    "customer_name": "customer_name",
    "name": "customer_name",
    "plan_code": "plan_code",
    "account_name": "account_name",
    "uen": "uen",
}
RESULT_COLUMNS = ("company_id", "status", "source", "temp_id")
PROGRESS_ROWS = 1000


@dataclass
class FileReport:
    input: str
    output: str
    rows: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    external_lookups: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"input": self.input, "output": self.output, "rows": self.rows, "statuses": dict(self.statuses),
                "external_lookups": self.external_lookups, "seconds": round(self.seconds, 3)}


def default_output(path: Path) -> Path:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    stem = name[:-4] if name.lower().endswith(".csv") else name
    return path.with_name(f"{stem}.resolved.csv")


def _mention_fields(columns: list[str]) -> dict[str, str]:
    """field -> column; `customer_name` wins over `name` when both are present."""
    fields: dict[str, str] = {}
    for column in sorted(columns, key=lambda c: c != "customer_name"):
        target = MENTION_COLUMNS.get(column)
        if target is not None and target not in fields:
            fields[target] = column
    return fields


def resolve_file(
    service: CompanyEnrichmentService,
    path: Path,
    output: Path | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> FileReport:
    started = time.monotonic()
    target = output or default_output(path)
    report = FileReport(str(path), str(target))
    budget_before = service.budget_left
    with open_csv(path) as csv_in:
        fields = _mention_fields(csv_in.columns)
        if not fields:
            raise InputFileError(f"{path}: no mention column; expected one of {', '.join(MENTION_COLUMNS)}")
        extra = [c for c in RESULT_COLUMNS if c not in csv_in.columns]
        header = csv_in.header + extra
        positions = {c: (csv_in.columns.index(c) if c in csv_in.columns else len(csv_in.header) + extra.index(c))
                     for c in RESULT_COLUMNS}
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                writer = csv.writer(out)
                writer.writerow(header)
                # resolve_many reads a chunk ahead of the results it yields: the rows read
                # but not yet written wait here (two chunks at most).
                waiting: deque[list[str]] = deque()

                blanks = [""] * len(extra)
                field_at = {f: csv_in.columns.index(c) for f, c in fields.items()}

                def mentions() -> Iterator[Mention]:
                    for record in csv_in.records():
                        waiting.append(record + blanks)
                        yield Mention.of(**{f: record[i] for f, i in field_at.items()})

                for result in service.resolve_many(mentions()):
                    values = waiting.popleft()
                    for column, value in zip(RESULT_COLUMNS, (result.company_id, result.status.value,
                                                              result.source, result.temp_id)):
                        values[positions[column]] = value or ""
                    writer.writerow(values)
                    report.statuses[result.status.value] += 1
                    report.rows += 1
                    if progress and report.rows % PROGRESS_ROWS == 0:
                        progress(csv_in.position)
            if progress:
                progress(csv_in.position)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise
    report.external_lookups = budget_before - service.budget_left
    report.seconds = time.monotonic() - started
    return report
