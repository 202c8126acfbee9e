"""Retries on transient failures only, with stamina's jittered exponential backoff.

An attempt that should be retried raises `Transient`; its `retry_after` (from the server's
Retry-After) replaces the computed backoff through stamina's backoff hook.
"""

from __future__ import annotations

import datetime
import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import stamina

# 429 and the gateway family: the server (or a proxy in front of it) says "not now".
TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})
DEFAULT_ATTEMPTS = 3

T = TypeVar("T")


class Transient(Exception, Generic[T]):
    """The attempt's outcome is worth another try; carries the outcome for when tries run out."""

    def __init__(self, outcome: T, retry_after: float | None = None) -> None:
        super().__init__()
        self.outcome = outcome
        self.retry_after = retry_after

    def __repr__(self) -> str:
        # stamina logs repr(error) on every retry: say nothing that could carry a URL.
        return f"Transient(retry_after={self.retry_after})"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" parses zone-less; HTTP dates are GMT anyway
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _backoff_hook(exc: Exception) -> bool | float:
    if isinstance(exc, Transient):
        return True if exc.retry_after is None else exc.retry_after
    return False


async def with_retries(attempt: Callable[[int], Awaitable[T]], *, attempts: int, backoff_s: float) -> tuple[T, int]:
    """Run `attempt(n)` until it returns or its Transient tries run out; (outcome, tries made)."""
    tries = 0
    try:
        async for retry in stamina.retry_context(
            on=_backoff_hook,
            attempts=attempts,
            timeout=None,  # each attempt has its own wall-clock cap
            wait_initial=backoff_s,
            wait_max=max(backoff_s * 2 ** attempts, backoff_s),
            wait_jitter=backoff_s,
        ):
            with retry:
                tries += 1
                return await attempt(tries), tries
    except Transient as exc:
        return exc.outcome, tries
    raise AssertionError("stamina.retry_context yielded no attempt")  # unreachable: attempts >= 1
