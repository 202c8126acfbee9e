"""Plan-only mode: the writes an operation would make, recorded instead of made.

Every resolution component that writes takes an optional `WritePlan`. With one, it
still reads the database (so the plan is exact: "would insert", "would update",
"already queued"), records each write it would have made and makes none. Counts are
kept for all writes; the write records themselves only up to `keep`, so a plan over a
100,000-row file stays small.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class PlannedWrite:
    table: str
    action: str  # insert, update, upsert, claim, allocate, ...
    values: dict[str, Any]

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"{self.action} {self.table}: {shown}"


@dataclass
class WritePlan:
    keep: int = 1000
    writes: list[PlannedWrite] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def record(self, table: str, action: str, **values: Any) -> None:
        self.counts[(table, action)] += 1
        if len(self.writes) < self.keep:
            self.writes.append(PlannedWrite(table, action, values))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_writes": self.total,
            "counts": [{"table": t, "action": a, "rows": n} for (t, a), n in sorted(self.counts.items())],
            "writes": [{"table": w.table, "action": w.action, "values": w.values} for w in self.writes],
            "writes_shown": len(self.writes),
        }
