"""SIGINT/SIGTERM for long-running runners: a graceful stop request, not a KeyboardInterrupt."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable


def on_stop_signals(callback: Callable[[signal.Signals], None]) -> Callable[[], None]:
    """Call `callback(sig)` on SIGINT and SIGTERM in the running loop; returns the function that
    removes the handlers. Outside the main thread nothing is installed: the caller (a test, an
    embedding program) stops the runner through its stop event instead."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, callback, sig)
            installed.append(sig)
        except (RuntimeError, ValueError):
            continue

    def uninstall() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return uninstall
