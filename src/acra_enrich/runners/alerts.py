"""Failure-spike detection for a long sweep: one alert per window, not one per failure.

The failure ratio is taken over the last `window` outcomes. When it exceeds the threshold
the monitor fires once; it stays quiet until `window` more outcomes have come in, so a
lasting outage alerts once per window of companies rather than flooding the channel.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass

MIN_SAMPLES = 10  # below this a single failure would look like a spike


@dataclass(frozen=True)
class Spike:
    failures: int
    total: int
    threshold_pct: float
    top_errors: list[tuple[str, int]]

    @property
    def ratio_pct(self) -> float:
        return 100.0 * self.failures / self.total

    def message(self, run_id: int | None) -> str:
        errors = "\n".join(f"• {count}× {error}" for error, count in self.top_errors) or "• (no error text)"
        return (f":rotating_light: acra-enrich direct run {run_id}: {self.failures} of the last {self.total} "
                f"companies failed ({self.ratio_pct:.0f}% > {self.threshold_pct:g}%).\n{errors}")


class FailureSpikeMonitor:
    def __init__(self, window: int, threshold_pct: float) -> None:
        self.window = window
        self.threshold_pct = threshold_pct
        self._outcomes: deque[str | None] = deque(maxlen=window)  # error text of a failure, None for success
        self._quiet_for = 0
        self.consecutive = 0  # spikes with no calm evaluation between them (drives pause backoff)

    def record(self, error: str | None, failed: bool) -> Spike | None:
        """Add one outcome; a Spike when this outcome makes the window cross the threshold."""
        self._outcomes.append((error or "unknown error") if failed else None)
        if self._quiet_for > 0:
            self._quiet_for -= 1
            return None
        total = len(self._outcomes)
        failures = [e for e in self._outcomes if e is not None]
        if total < min(MIN_SAMPLES, self.window):
            return None
        if 100.0 * len(failures) / total <= self.threshold_pct:
            self.consecutive = 0
            return None
        self._quiet_for = self.window
        self.consecutive += 1
        top = Counter(e.splitlines()[0][:160] for e in failures).most_common(3)
        return Spike(len(failures), total, self.threshold_pct, top)
