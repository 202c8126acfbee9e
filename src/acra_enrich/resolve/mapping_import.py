"""`resolve import-mappings`: load alias -> company_id rows from a CSV into company_mapping.

Columns (header names, any order, case-insensitive): `alias`, `match_type`,
`company_id`, and optionally `priority` (default: the match type's rank), `source`
(default: the command's --source) and `confidence` (0..1). `normalized_name` aliases
may be given as written; they are normalised on the way in. Malformed rows are reported
with their line numbers and skipped; the rest is merged in one transaction (all or
nothing), the last row of the file winning for a repeated key. An import is a human
decision, so it overwrites whatever the key mapped to before, provider answers included.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg

from acra_enrich.errors import InputFileError
from acra_enrich.resolve.csvfiles import ProgressCallback, open_csv
from acra_enrich.resolve.models import (
    DEFAULT_PRIORITY,
    MATCH_TYPES,
    MAX_ID_CHARS,
    MAX_KEY_CHARS,
    TEMP_SOURCE,
    alias_key,
    fits_key,
)
from acra_enrich.resolve.plan import WritePlan
from acra_enrich.sqlfiles import fetch_one, load_queries

_Q = load_queries("acra_enrich.resolve.sql", "mappings.sql")
REQUIRED = ("alias", "match_type", "company_id")
MAX_REJECT_SAMPLES = 50


@dataclass
class ImportReport:
    rows_read: int = 0
    rejected: int = 0
    distinct_keys: int = 0
    inserted: int = 0
    updated: int = 0
    reject_samples: list[dict[str, object]] = field(default_factory=list)
    planned: bool = False

    @property
    def unchanged(self) -> int:
        return self.distinct_keys - self.inserted - self.updated

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["unchanged"] = self.unchanged
        return data


def _parse(row: dict[str, str], default_source: str) -> tuple[tuple[object, ...] | None, str | None]:
    match_type = row.get("match_type", "").strip().lower()
    if match_type not in MATCH_TYPES:
        return None, f"match_type {match_type!r} is not one of {', '.join(MATCH_TYPES)}"
    alias = alias_key(match_type, row.get("alias"))
    if alias is None:
        return None, "empty alias"
    if fits_key(alias) is None:
        return None, f"alias longer than {MAX_KEY_CHARS} characters"
    company_id = row.get("company_id", "").strip()
    if not company_id:
        return None, "empty company_id"
    if len(company_id) > MAX_ID_CHARS:
        return None, f"company_id longer than {MAX_ID_CHARS} characters"
    priority = DEFAULT_PRIORITY[match_type]
    if row.get("priority", "").strip():
        try:
            priority = int(row["priority"])
        except ValueError:
            return None, f"priority {row['priority']!r} is not an integer"
    source = row.get("source", "").strip() or default_source
    if len(source) > MAX_ID_CHARS:
        return None, f"source longer than {MAX_ID_CHARS} characters"
    if source == TEMP_SOURCE:
        return None, f"source {TEMP_SOURCE!r} is reserved for TEMP placeholders"
    confidence = None
    if row.get("confidence", "").strip():
        try:
            confidence = float(row["confidence"])
        except ValueError:
            return None, f"confidence {row['confidence']!r} is not a number"
        if not (0.0 <= confidence <= 1.0) or math.isnan(confidence):
            return None, f"confidence {confidence} is outside 0..1"
    return (alias, match_type, priority, company_id, source, confidence), None


def import_mappings(
    conn: psycopg.Connection,
    path: Path,
    *,
    source: str = "import",
    plan: WritePlan | None = None,
    progress: ProgressCallback | None = None,
) -> ImportReport:
    report = ImportReport(planned=plan is not None)
    with open_csv(path) as csv_in:
        missing = [c for c in REQUIRED if c not in csv_in.columns]
        if missing:
            raise InputFileError(f"{path}: missing column(s) {', '.join(missing)} "
                                 f"(expected {', '.join(REQUIRED)}[, priority, source, confidence])")
        with conn.transaction():
            conn.execute(_Q["import_stage_create"])
            with conn.cursor().copy(
                "COPY mapping_import_stage (line_no, alias, match_type, priority, company_id, source, confidence) "
                "FROM STDIN"
            ) as copy:
                for row in csv_in.rows():
                    report.rows_read += 1
                    parsed, reason = _parse(row, source)
                    if parsed is None:
                        report.rejected += 1
                        if len(report.reject_samples) < MAX_REJECT_SAMPLES:
                            report.reject_samples.append({"line": csv_in.line_no, "reason": reason})
                        continue
                    copy.write_row((csv_in.line_no, *parsed))
                    if progress and report.rows_read % 5000 == 0:
                        progress(csv_in.position)
            if plan is None:
                report.inserted, report.updated, report.distinct_keys = fetch_one(conn, _Q["import_merge"])
            else:
                _plan_import(conn, plan, report)
    if progress:
        progress(path.stat().st_size)
    return report


def _plan_import(conn: psycopg.Connection, plan: WritePlan, report: ImportReport) -> None:
    report.distinct_keys = fetch_one(conn, _Q["import_distinct_keys"])[0]
    with conn.cursor(name="mapping_import_plan") as cur:
        cur.itersize = 5000
        cur.execute(_Q["import_classify"])
        for match_type, alias, company_id, priority, source, confidence, action, previous in cur:
            values = dict(match_type=match_type, alias=alias, company_id=company_id, priority=priority,
                          source=source, confidence=confidence)
            if action == "insert":
                report.inserted += 1
                plan.record("company_mapping", "insert", **values)
            else:
                report.updated += 1
                plan.record("company_mapping", "update", previous_company_id=previous, **values)
