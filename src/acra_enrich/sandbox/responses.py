"""Response helpers shared by site and vendor handlers, and the two instructions a handler can
leave for the server (which owns all timing and encoding):

- `HANG_HEADER`: hold the connection for the server's hang time before answering (a vendor
  "timeout" fault); the header itself is never sent.
- `GZIP_HEADER`: gzip the body when the client accepts it (the header is never sent).
- `CUT_HEADER`: announce the whole body (Content-Length) but send only this many bytes of
  it, then close the connection: a transfer dropped midway (the header is never sent).
"""

from __future__ import annotations

from acra_enrich.sandbox.http import SandboxResponse

HANG_HEADER = "X-Sandbox-Hang"
GZIP_HEADER = "X-Sandbox-Gzip"
CUT_HEADER = "X-Sandbox-Cut-After"


def hang(status: int = 504, body: bytes = b"upstream request timeout") -> SandboxResponse:
    """An answer the server sends only after its hang time: longer than any client timeout."""
    return SandboxResponse(status, {HANG_HEADER: "1", "Content-Type": "text/plain"}, body)


def redirect(location: str, status: int = 301) -> SandboxResponse:
    return SandboxResponse(status, {"Location": location, "Content-Type": "text/html; charset=utf-8"},
                           f'<html><body>Moved to <a href="{location}">{location}</a></body></html>'.encode())


def gzip_ok(response: SandboxResponse) -> SandboxResponse:
    response.headers[GZIP_HEADER] = "1"
    return response


def bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    return value[7:].strip() or None if value[:7].lower() == "bearer " else None


def key_ok(key: str | None) -> bool:
    """Every emulation accepts any non-empty key that does not contain the word "invalid"."""
    return bool(key) and "invalid" not in key.lower()  # type: ignore[union-attr]
