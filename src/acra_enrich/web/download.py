"""Large-file downloads through the web client: streamed to a file, resumable with Range.

A page fetch keeps its body in memory under a small cap; a registry file is hundreds of
megabytes, so `WebClient.download` writes each chunk to the caller's file as it arrives,
under its own size and wall-clock caps, and can continue a partial file: it asks for
`Range: bytes=N-` and appends on 206, or starts over on a 200 (a server that ignores
ranges). Bytes are stored as sent (`Accept-Encoding: identity` is asked for, so offsets
are offsets in the file). It never retries: a cut transfer is resumed by the caller, which
knows whether the partial file is still worth keeping.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from acra_enrich.web.redact import redact_url

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", re.IGNORECASE)


@dataclass
class DownloadResult:
    url: str
    final_url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    start: int = 0  # file offset the body was written at (0 unless a range was granted)
    written: int = 0  # bytes written by this call
    total: int | None = None  # the whole file's size, when the server said
    error: str | None = None  # a web.result reason code
    detail: str = ""
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        """The transfer ended normally (the caller still checks size and contents)."""
        return self.error is None and self.status in (200, 206)

    @property
    def size(self) -> int:
        """Bytes in the file now."""
        return self.start + self.written

    @property
    def complete(self) -> bool:
        return self.ok and self.total is not None and self.size == self.total

    def __repr__(self) -> str:
        # Download URLs are signed: the signature must never reach a log line.
        return (f"DownloadResult(url={redact_url(self.url)!r}, status={self.status}, start={self.start}, "
                f"written={self.written}, total={self.total}, error={self.error!r}, detail={self.detail!r})")


def content_range(value: str | None) -> tuple[int, int | None] | None:
    """(first byte, total size or None) from a 206's Content-Range, None when unreadable."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if match is None:
        return None
    return int(match[1]), None if match[3] == "*" else int(match[3])
