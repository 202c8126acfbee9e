"""Failure-spike detection for long-running work: one alert per window, not one per failure.

The direct sweep takes the failure ratio over the last `window` outcomes
(FailureSpikeMonitor); the express lane over the last `window_s` seconds
(TimedFailureMonitor). When the ratio exceeds the threshold the monitor fires once and then
stays quiet for a window, so a lasting outage alerts once per window rather than flooding
the channel.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

MIN_SAMPLES = 10  # below this a single failure would look like a spike


@dataclass(frozen=True)
class Spike:
    failures: int
    total: int
    threshold_pct: float
    top_errors: list[tuple[str, int]]
    runner: str = "direct"
    window_text: str = ""  # how the window reads in the message; empty = "the last N companies"

    @property
    def ratio_pct(self) -> float:
        return 100.0 * self.failures / self.total

    def message(self, run_id: int | None) -> str:
        errors = "\n".join(f"• {count}× {error}" for error, count in self.top_errors) or "• (no error text)"
        scope = self.window_text or f"the last {self.total}"
        return (f":rotating_light: acra-enrich {self.runner} run {run_id}: {self.failures} of {scope} "
                f"companies failed ({self.ratio_pct:.0f}% > {self.threshold_pct:g}%).\n{errors}")


def _top_errors(failures: Iterable[str]) -> list[tuple[str, int]]:
    return Counter(e.splitlines()[0][:160] for e in failures).most_common(3)


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
        return Spike(len(failures), total, self.threshold_pct, _top_errors(failures))


class TimedFailureMonitor:
    """The failure ratio over the last `window_s` seconds; after an alert, quiet for `window_s`."""

    def __init__(self, window_s: float, threshold_pct: float, runner: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self.threshold_pct = threshold_pct
        self.runner = runner
        self._clock = clock
        self._outcomes: deque[tuple[float, str | None]] = deque()
        self._quiet_until = float("-inf")

    def record(self, error: str | None, failed: bool) -> Spike | None:
        now = self._clock()
        self._outcomes.append((now, (error or "unknown error") if failed else None))
        while self._outcomes and self._outcomes[0][0] <= now - self.window_s:
            self._outcomes.popleft()
        if now < self._quiet_until or len(self._outcomes) < MIN_SAMPLES:
            return None
        failures = [e for _, e in self._outcomes if e is not None]
        if 100.0 * len(failures) / len(self._outcomes) <= self.threshold_pct:
            return None
        self._quiet_until = now + self.window_s
        return Spike(len(failures), len(self._outcomes), self.threshold_pct, _top_errors(failures),
                     runner=self.runner, window_text=f"{len(self._outcomes)} in the last {self.window_s / 60:g} min")
