"""Scripted failures for vendor emulations: tests ask for "the next 3 ZeroBounce calls answer 429"."""

from __future__ import annotations

import threading
from collections import defaultdict, deque

# What an emulation understands; each vendor module documents how it renders a mode.
FAULT_MODES = ("429", "500", "502", "503", "202", "403", "timeout", "bad_json")


class Faults:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, deque[str]] = defaultdict(deque)

    def inject(self, vendor: str, mode: str, count: int = 1) -> None:
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; expected one of {', '.join(FAULT_MODES)}")
        with self._lock:
            self._plans[vendor].extend([mode] * count)

    def take(self, vendor: str) -> str | None:
        """The fault to answer this call with, or None to answer normally."""
        with self._lock:
            plan = self._plans.get(vendor)
            return plan.popleft() if plan else None

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()
