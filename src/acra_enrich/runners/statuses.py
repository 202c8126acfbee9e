"""Which registry statuses count as live: every runner selects the same way."""

from __future__ import annotations

from collections.abc import Iterable


def excluded_status_patterns(statuses: Iterable[str]) -> list[str]:
    """Excluded statuses as lower-case LIKE prefixes (wildcards in a status taken literally);
    none excludes nothing (`LIKE ANY` of an empty array is false)."""

    def escape(s: str) -> str:
        return s.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    return [escape(s) + "%" for s in statuses]
