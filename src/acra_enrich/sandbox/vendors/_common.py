"""Scripted faults rendered in each vendor's own error shape."""

from __future__ import annotations

from collections.abc import Callable

from acra_enrich.sandbox.http import SandboxResponse
from acra_enrich.sandbox.responses import hang

RETRY_AFTER_S = "1"  # short, so tests of backoff stay fast

ErrorBody = Callable[[int], SandboxResponse]  # HTTP status -> that vendor's error response


def fault_response(mode: str, error: ErrorBody) -> SandboxResponse:
    """The answer for a fault mode from sandbox.faults.FAULT_MODES.

    429 carries Retry-After; 5xx use the vendor's error body; "timeout" hangs past any client
    timeout; "bad_json" is a 200 whose body is cut off mid-document; "202" is an empty 202
    (DuckDuckGo renders its own anomaly page instead)."""
    if mode == "timeout":
        return hang()
    if mode == "bad_json":
        return SandboxResponse(200, {"Content-Type": "application/json"}, b'{"partial": [1, 2, ')
    if mode == "202":
        return SandboxResponse(202, {"Content-Type": "application/json"}, b"{}")
    status = int(mode)
    response = error(status)
    if status == 429:
        response.headers["Retry-After"] = RETRY_AFTER_S
    return response
