"""What a fetch returns: the answer or the reason there is none (failures are returned, never raised)."""

from __future__ import annotations

from dataclasses import dataclass, field

from acra_enrich.web.redact import redact_url

# Reason codes in `FetchResult.error`; the pipeline records them as they are.
SSRF_BLOCKED = "ssrf_blocked"
ROBOTS_DISALLOWED = "robots_disallowed"
TOO_LARGE = "too_large"
DECOMPRESSION_BOMB = "decompression_bomb"
DECODING_ERROR = "decoding_error"  # a body that does not decode as its Content-Encoding says
TIMEOUT = "timeout"
TOO_MANY_REDIRECTS = "too_many_redirects"
CONNECT_ERROR = "connect_error"
PROXY_ERROR = "proxy_error"
HTTP_STATUS = "http_status"  # a non-2xx answer after retries; `status` is set
INVALID_URL = "invalid_url"
# The name does not resolve: NXDOMAIN or no address, or the proxy said it could not resolve it.
# Nothing was (or will for a while be) sent to it; not retried, no https -> http second try.
NAME_NOT_RESOLVED = "name_not_resolved"

REASONS = frozenset({
    SSRF_BLOCKED, ROBOTS_DISALLOWED, TOO_LARGE, DECOMPRESSION_BOMB, DECODING_ERROR, TIMEOUT,
    TOO_MANY_REDIRECTS, CONNECT_ERROR, PROXY_ERROR, HTTP_STATUS, INVALID_URL, NAME_NOT_RESOLVED,
})

# Reasons meaning no HTTP answer came back at all (get_site falls back to http:// on these).
NO_ANSWER = frozenset({CONNECT_ERROR, PROXY_ERROR, TIMEOUT})


@dataclass
class FetchResult:
    url: str  # as requested (with any query parameters the caller added)
    final_url: str
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    content: bytes = b""
    text: str = ""
    encoding: str | None = None
    elapsed_s: float = 0.0
    redirects: list[str] = field(default_factory=list)  # every URL redirected to, in order
    attempts: int = 0  # tries of the last hop (1 = no retry; 0 = nothing was sent)
    error: str | None = None  # one of REASONS
    proxy_status: int | None = None  # the status a proxy refused a CONNECT (https tunnel) with
    detail: str = ""  # human-readable, secrets redacted

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def __repr__(self) -> str:
        # URLs may carry vendor keys in the query string: never let a log line show them.
        return (
            f"FetchResult(url={redact_url(self.url)!r}, final_url={redact_url(self.final_url)!r}, "
            f"status={self.status}, error={self.error!r}, detail={self.detail!r}, bytes={len(self.content)}, "
            f"attempts={self.attempts}, redirects={len(self.redirects)}, elapsed_s={self.elapsed_s:.3f})"
        )
