"""The resume point of a sweep that works on several rows at once.

Rows are taken in increasing id order, but with concurrency above 1 they finish in any
order. The marker is the highest id below which every row is finished (or was never to be
worked on), so a restart from it repeats at most the rows that were in flight and never
skips one that was not done.
"""

from __future__ import annotations


class Watermark:
    def __init__(self, start_after: int) -> None:
        self._covered = start_after  # every id up to here was taken (or passed over)
        self._in_flight: set[int] = set()

    def take(self, row_id: int) -> None:
        if row_id <= self._covered:
            raise ValueError(f"row {row_id} taken out of order (already past {self._covered})")
        self._in_flight.add(row_id)
        self._covered = row_id

    def pass_over(self, upto_id: int) -> None:
        """Rows up to `upto_id` that were not taken need no work (excluded, skipped)."""
        self._covered = max(self._covered, upto_id)

    def finish(self, row_id: int) -> None:
        self._in_flight.discard(row_id)

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def marker(self) -> int:
        return min(self._in_flight) - 1 if self._in_flight else self._covered
